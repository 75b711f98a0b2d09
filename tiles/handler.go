package tiles

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// Handler serves the tree as tlog-tiles under its root: GET /checkpoint,
// /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]. Full tiles never
// change and are served with a year's caching; partial tiles and the
// checkpoint must be fetched again.
type Handler struct {
	Source Source
	// Checkpoint returns the latest signed checkpoint; nil when there is
	// none yet (404).
	Checkpoint func() ([]byte, error)
	Logger     *slog.Logger // default: discard
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// ServeHTTP serves one resource. Paths are those of the tiles, relative
// to where the handler is mounted: mount it with http.StripPrefix when it
// is not at the root.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	if path == "checkpoint" {
		h.serveCheckpoint(w)
		return
	}
	t, err := ParsePath(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	size, _, err := h.Source.StoredTree(r.Context())
	if err != nil {
		h.logger().Error("tiles: read the stored tree", "err", err)
		http.Error(w, "cannot read the tree", http.StatusInternalServerError)
		return
	}
	data, err := Read(r.Context(), h.Source, size, t)
	switch {
	case errors.Is(err, ErrNoTile):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		h.logger().Error("tiles: read a tile", "tile", t.Path(), "err", err)
		http.Error(w, "cannot read "+t.Path(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if t.Full() {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func (h *Handler) serveCheckpoint(w http.ResponseWriter) {
	var cp []byte
	var err error
	if h.Checkpoint != nil {
		cp, err = h.Checkpoint()
	}
	switch {
	case err != nil:
		h.logger().Error("tiles: read the checkpoint", "err", err)
		http.Error(w, "cannot read the checkpoint", http.StatusInternalServerError)
		return
	case cp == nil:
		http.Error(w, "no signed checkpoint yet: the daemon signs one once it has a key and a tree", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(cp)))
	w.Write(cp)
}
