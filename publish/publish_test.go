package publish_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"chainlog"
	"chainlog/publish"
)

// note returns a signed-note-shaped checkpoint of the given size.
func note(size string) []byte {
	return []byte("chainlog/test/store\n" + size + "\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— chainlog/test/store c2lnbmF0dXJl" + size + "\n")
}

func TestFileAppendsAndLast(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db.checkpoints")
	f := publish.File{Path: path}
	if !strings.Contains(f.String(), path) {
		t.Errorf("String() = %q; want it to name the file", f.String())
	}
	// A missing file has no last checkpoint.
	if last, err := f.Last(); err != nil || last != nil {
		t.Fatalf("Last() of a missing file = %q, %v; want nil, nil", last, err)
	}
	// So has an empty one.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if last, err := f.Last(); err != nil || last != nil {
		t.Fatalf("Last() of an empty file = %q, %v; want nil, nil", last, err)
	}
	var want []byte
	for i, size := range []string{"1", "5", "12"} {
		n := note(size)
		if err := f.Publish(ctx, n); err != nil {
			t.Fatalf("Publish #%d: %v", i+1, err)
		}
		want = append(want, n...)
		last, err := f.Last()
		if err != nil || string(last) != string(n) {
			t.Errorf("Last() after #%d = %q, %v; want %q", i+1, last, err, n)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("file =\n%s\nwant the three notes appended in order:\n%s", got, want)
	}
	if notes := chainlog.SplitNotes(got); len(notes) != 3 || string(notes[0]) != string(note("1")) {
		t.Errorf("SplitNotes(file) = %q; want the three notes", notes)
	}
	// A file in a missing directory cannot be published to.
	bad := publish.File{Path: filepath.Join(t.TempDir(), "missing", "x")}
	if err := bad.Publish(ctx, note("1")); err == nil {
		t.Error("Publish to a missing directory: no error")
	}
	// A directory is not a checkpoint file.
	if _, err := (publish.File{Path: t.TempDir()}).Last(); err == nil {
		t.Error("Last() of a directory: no error")
	}
}

func TestCommandGetsNoteOnStdin(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	c := publish.Command{Argv: []string{"sh", "-c", `cat > "$0"`, out}}
	if !strings.Contains(c.String(), "sh") {
		t.Errorf("String() = %q; want it to name the command", c.String())
	}
	n := note("7")
	if err := c.Publish(t.Context(), n); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil || string(got) != string(n) {
		t.Errorf("the command read %q, %v; want %q", got, err, n)
	}
}

func TestCommandFailure(t *testing.T) {
	t.Parallel()
	c := publish.Command{Argv: []string{"sh", "-c", "cat >/dev/null; echo 'no space left' >&2; exit 3"}}
	err := c.Publish(t.Context(), note("1"))
	if err == nil {
		t.Fatal("Publish with a failing command: no error")
	}
	if !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error %q; want the exit status and the command's stderr", err)
	}
	if err := (publish.Command{}).Publish(t.Context(), note("1")); err == nil {
		t.Error("Publish with no command: no error")
	}
	if err := (publish.Command{Argv: []string{filepath.Join(t.TempDir(), "no-such-program")}}).Publish(t.Context(), note("1")); err == nil {
		t.Error("Publish with a missing program: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := (publish.Command{Argv: []string{"sh", "-c", "cat >/dev/null"}}).Publish(ctx, note("1")); err == nil {
		t.Error("Publish with a cancelled context: no error")
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	var types []string
	status := http.StatusCreated
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		bodies = append(bodies, string(b))
		types = append(types, r.Header.Get("Content-Type"))
		w.WriteHeader(status)
		io.WriteString(w, "  server says hi\n")
	}))
	defer srv.Close()
	h := publish.HTTP{URL: srv.URL + "/checkpoints", Client: srv.Client()}
	if !strings.Contains(h.String(), "/checkpoints") {
		t.Errorf("String() = %q; want the URL", h.String())
	}
	n := note("3")
	if err := h.Publish(t.Context(), n); err != nil {
		t.Fatalf("Publish (201): %v", err)
	}
	mu.Lock()
	if len(bodies) != 1 || bodies[0] != string(n) || !strings.HasPrefix(types[0], "text/plain") {
		t.Errorf("server got %q with type %q; want the note as text/plain", bodies, types)
	}
	status = http.StatusInternalServerError
	mu.Unlock()
	err := h.Publish(t.Context(), n)
	if err == nil {
		t.Fatal("Publish (500): no error")
	}
	if !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "server says hi") {
		t.Errorf("error %q; want the status and the body", err)
	}
	// The default client works too.
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	if err := (publish.HTTP{URL: srv.URL}).Publish(t.Context(), n); err != nil {
		t.Errorf("Publish with the default client (200): %v", err)
	}
	// A server that is gone.
	gone := httptest.NewServer(http.NotFoundHandler())
	url := gone.URL
	gone.Close()
	if err := (publish.HTTP{URL: url}).Publish(t.Context(), n); err == nil {
		t.Error("Publish to a closed server: no error")
	}
	if err := (publish.HTTP{URL: "::not a url"}).Publish(t.Context(), n); err == nil {
		t.Error("Publish to a bad URL: no error")
	}
	var _ publish.Publisher = h
	var _ publish.Publisher = publish.File{}
	var _ publish.Publisher = publish.Command{}
}

// TestFileLastReadsTheTail checks Last on files past the tail it reads
// first: many checkpoints, and a last note longer than that tail.
func TestFileLastReadsTheTail(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		last []byte
	}{
		{"many checkpoints", note("3000")},
		{"a long last note", append([]byte("chainlog/test/store\n3001\nAAAA=\n"+strings.Repeat("ext line\n", 20000)+"\n"), []byte("— chainlog/test/store c2ln\n— witness.example/w c2ln\n")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := publish.File{Path: filepath.Join(t.TempDir(), "store.db.checkpoints")}
			for i := range 2999 {
				if err := f.Publish(ctx, note(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Publish(ctx, tc.last); err != nil {
				t.Fatal(err)
			}
			got, err := f.Last()
			if err != nil || string(got) != string(tc.last) {
				t.Fatalf("Last() = %.200q…, %v; want %.200q…", got, err, tc.last)
			}
		})
	}
}
