package publish_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"chainlog/publish"

	sumnote "golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// growingStore signs checkpoints of a tree that grows by one between
// calls, and records the published checkpoint each call was given.
type growingStore struct {
	size  int
	given [][]byte
}

func (s *growingStore) Checkpoint(_ context.Context, _ sumnote.Signer, published []byte) ([]byte, error) {
	s.given = append(s.given, published)
	s.size++
	return note(string(rune('0' + s.size))), nil
}

func (s *growingStore) ProveConsistency(context.Context, int64, int64) (tlog.TreeProof, error) {
	return nil, nil
}

// failingDest is a destination that always fails.
type failingDest struct{ err error }

func (f failingDest) String() string                        { return "failing" }
func (f failingDest) Publish(context.Context, []byte) error { return f.err }

func testSigner(t *testing.T) sumnote.Signer {
	t.Helper()
	skey, _, err := sumnote.GenerateKey(nil, "chainlog/test/store")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sumnote.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckpointerFileFirstThenDestinations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db.checkpoints")
	boom := errors.New("destination down")
	c := publish.NewCheckpointer(publish.CheckpointerConfig{
		Signer: testSigner(t), File: path, Publish: []publish.Publisher{failingDest{boom}},
	})
	defer c.Close(time.Second)
	st := &growingStore{}
	if err := c.Run(t.Context(), st); !errors.Is(err, boom) {
		t.Fatalf("Run = %v; want the destination's failure", err)
	}
	// The file got the checkpoint before the destination failed, and the
	// next run proves consistency with it.
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, note("1")) {
		t.Fatalf("checkpoint file = %q, %v; want the first checkpoint", b, err)
	}
	_ = c.Run(t.Context(), st)
	if len(st.given) != 2 || st.given[0] != nil || !bytes.Equal(st.given[1], note("1")) {
		t.Fatalf("published checkpoints given to the store = %q; want none, then the first", st.given)
	}
}

func TestCheckpointerAsyncNeverBlocks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db.checkpoints")
	g := newGated()
	c := publish.NewCheckpointer(publish.CheckpointerConfig{
		Signer: testSigner(t), File: path, Publish: []publish.Publisher{g}, Async: true, Timeout: time.Minute,
	})
	st := &growingStore{}
	done := make(chan error, 1)
	go func() {
		for range 3 {
			if err := c.Run(t.Context(), st); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run blocked on a destination that does not answer")
	}
	<-g.entered // the first attempt is held by the gate
	g.finish <- nil
	c.Close(time.Second)
}

func TestCheckpointerWithoutSignerDoesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "store.db.checkpoints")
	c := publish.NewCheckpointer(publish.CheckpointerConfig{File: path})
	st := &growingStore{}
	if err := c.Run(t.Context(), st); err != nil || len(st.given) != 0 {
		t.Fatalf("Run = %v after %d calls; want nothing done", err, len(st.given))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("checkpoint file exists (%v); want none", err)
	}
}
