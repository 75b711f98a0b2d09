package watch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"chainlog"
)

// HTTPSink commits to a chainlog daemon: POST /v1/events with the events
// as NDJSON. The daemon keeps no cursors for it, so they are kept in a
// local state file (StateFile), written after the daemon acknowledged the
// events, and only then.
//
// A crash between the acknowledgement and the state file's write leaves
// the older cursors in the file: the lines after them are read and sent
// again at the next start, and the daemon drops their events as duplicates
// by id. Nothing acknowledged is lost, and nothing is stored twice.
type HTTPSink struct {
	URL       string       // the daemon's base URL
	Token     string       // bearer token; empty for none
	StateFile string       // where the cursors are kept, per daemon URL
	Client    *http.Client // default: a client with a two-minute timeout
	// MaxBody bounds a request's body; a batch larger than that is sent
	// in several requests, the cursors recorded after the last one is
	// acknowledged. Default 4 MiB (the daemon's default limit is 16).
	MaxBody int

	mu    sync.Mutex
	state *stateFile
}

// stateFile is the JSON form of the state file: the cursors of each
// daemon URL.
type stateFile struct {
	Servers map[string][]stateCursor `json:"servers"`
}

type stateCursor struct {
	Source string `json:"source"`
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	FileID string `json:"file_id,omitempty"`
	Size   int64  `json:"size"`
}

func (s *HTTPSink) key() string { return strings.TrimSuffix(s.URL, "/") }

// load reads the state file once; a missing one is empty.
func (s *HTTPSink) load() error {
	if s.state != nil {
		return nil
	}
	st := &stateFile{Servers: map[string][]stateCursor{}}
	b, err := os.ReadFile(s.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("state file: %w", err)
	default:
		if err := json.Unmarshal(b, st); err != nil {
			return fmt.Errorf("state file %s: %w (remove it to send every transcript again; the daemon drops what it has)", s.StateFile, err)
		}
		if st.Servers == nil {
			st.Servers = map[string][]stateCursor{}
		}
	}
	s.state = st
	return nil
}

// Cursors returns the cursors of source kept for this daemon.
func (s *HTTPSink) Cursors(ctx context.Context, source string) ([]chainlog.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	var out []chainlog.Cursor
	for _, c := range s.state.Servers[s.key()] {
		if source == "" || c.Source == source {
			out = append(out, chainlog.Cursor{Source: c.Source, Path: c.Path, Offset: c.Offset, FileID: c.FileID, Size: c.Size})
		}
	}
	return out, nil
}

// Commit posts events and, once the daemon acknowledged them, records
// cursors in the state file.
func (s *HTTPSink) Commit(ctx context.Context, events []chainlog.Event, cursors ...chainlog.Cursor) (chainlog.IngestResult, error) {
	for i := range cursors {
		if err := cursors[i].Validate(); err != nil {
			return chainlog.IngestResult{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return chainlog.IngestResult{}, err
	}
	var res chainlog.IngestResult
	if len(events) > 0 {
		var err error
		if res, err = s.post(ctx, events); err != nil {
			return res, err
		}
	}
	if len(cursors) > 0 {
		if err := s.save(cursors); err != nil {
			return res, err
		}
	}
	return res, nil
}

// post sends events in requests of at most MaxBody bytes (an event larger
// than that alone in its request), and adds up the acknowledgements.
func (s *HTTPSink) post(ctx context.Context, events []chainlog.Event) (chainlog.IngestResult, error) {
	limit := s.MaxBody
	if limit <= 0 {
		limit = 4 << 20
	}
	var res chainlog.IngestResult
	var body bytes.Buffer
	for i := range events {
		b, err := chainlog.StoredEvent{Event: events[i]}.MarshalJSON()
		if err != nil {
			return res, fmt.Errorf("event %q: %w", events[i].ID, err)
		}
		if body.Len() > 0 && body.Len()+len(b)+1 > limit {
			r, err := s.postBody(ctx, body.Bytes())
			res.Add(r)
			if err != nil {
				return res, err
			}
			body.Reset()
		}
		body.Write(b)
		body.WriteByte('\n')
	}
	r, err := s.postBody(ctx, body.Bytes())
	res.Add(r)
	return res, err
}

func (s *HTTPSink) postBody(ctx context.Context, body []byte) (chainlog.IngestResult, error) {
	var res chainlog.IngestResult
	url := s.key() + "/v1/events"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, fmt.Errorf("post to %s: %w", url, err)
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("post to %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	var ack struct {
		Accepted   int `json:"accepted"`
		Duplicates int `json:"duplicates"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return res, fmt.Errorf("post to %s: unreadable answer: %v", url, err)
	}
	return chainlog.IngestResult{Inserted: ack.Accepted, Duplicates: ack.Duplicates}, nil
}

// save upserts cursors into the state and writes the file: a temporary
// file synced, then renamed over it.
func (s *HTTPSink) save(cursors []chainlog.Cursor) error {
	k := s.key()
	list := slices.Clone(s.state.Servers[k])
	for _, c := range cursors {
		sc := stateCursor{Source: c.Source, Path: c.Path, Offset: c.Offset, FileID: c.FileID, Size: c.Size}
		i := slices.IndexFunc(list, func(o stateCursor) bool { return o.Source == c.Source && o.Path == c.Path })
		if i < 0 {
			list = append(list, sc)
		} else {
			list[i] = sc
		}
	}
	slices.SortFunc(list, func(a, b stateCursor) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Path, b.Path))
	})
	next := &stateFile{Servers: map[string][]stateCursor{}}
	for u, l := range s.state.Servers {
		next.Servers[u] = l
	}
	next.Servers[k] = list
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.StateFile, append(b, '\n')); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	s.state = next
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".watch-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
