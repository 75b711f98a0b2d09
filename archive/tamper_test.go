package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"chainlog"
	"chainlog/internal/chainlogtest"

	"golang.org/x/mod/sumdb/note"
)

// editLines rewrites the lines of one file of the archive.
func editLines(t testing.TB, dir, name string, fn func(lines [][]byte) [][]byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if err := os.WriteFile(filepath.Join(dir, name), bytes.Join(fn(lines), nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the index of the line of events.jsonl with the event id.
func lineOf(t testing.TB, lines [][]byte, id string) int {
	t.Helper()
	i := slices.IndexFunc(lines, func(l []byte) bool { return bytes.Contains(l, []byte(`{"id":"`+id+`"`)) })
	if i < 0 {
		t.Fatalf("no line of event %q", id)
	}
	return i
}

// editEvent rewrites event id's line with fn.
func editEvent(t testing.TB, dir, id string, fn func(e *chainlog.StoredEvent)) {
	t.Helper()
	editLines(t, dir, EventsFile, func(lines [][]byte) [][]byte {
		i := lineOf(t, lines, id)
		e, err := chainlog.DecodeStoredEvent(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		fn(&e)
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = append(b, '\n')
		return lines
	})
}

type tamper struct {
	name string
	edit func(t testing.TB, dir string)
	// fix writes the edited files' digests into the manifest, as a
	// forger would; without it the content check must still come first.
	fix bool
	// want: the event named, or else the file, and words of the reason.
	event, file, reason string
}

func tampers(other note.Signer) []tamper {
	return []tamper{
		{name: "payload edited", fix: true, event: "node-a/2", reason: "payload digest",
			edit: func(t testing.TB, dir string) {
				editEvent(t, dir, "node-a/2", func(e *chainlog.StoredEvent) { e.Data = []byte(`{"i":22,"html":"<b>&</b>"}`) })
			}},
		{name: "payload edited, digests left", event: "node-a/2", reason: "payload digest",
			edit: func(t testing.TB, dir string) {
				editEvent(t, dir, "node-a/2", func(e *chainlog.StoredEvent) { e.Data = []byte(`{"i":22,"html":"<b>&</b>"}`) })
			}},
		{name: "amended model edited", fix: true, event: "node-a/3", reason: "payload digest",
			edit: func(t testing.TB, dir string) {
				editEvent(t, dir, "node-a/3", func(e *chainlog.StoredEvent) { e.Model = chainlogtest.Ptr("m-x") })
			}},
		{name: "identity edited", fix: true, event: "node-a/2", reason: chainlog.ReasonHashMismatch,
			edit: func(t testing.TB, dir string) {
				editEvent(t, dir, "node-a/2", func(e *chainlog.StoredEvent) { e.TS = "2026-06-02T12:00:01Z" })
			}},
		{name: "event id edited", fix: true, event: "node-a/x", reason: chainlog.ReasonHashMismatch,
			edit: func(t testing.TB, dir string) {
				editEvent(t, dir, "node-a/2", func(e *chainlog.StoredEvent) { e.ID = "node-a/x" })
			}},
		{name: "dropped from the middle", fix: true, event: "node-a/4", reason: "chain_seq skips",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, EventsFile, func(l [][]byte) [][]byte {
					return slices.Delete(l, lineOf(t, l, "node-a/3"), lineOf(t, l, "node-a/3")+1)
				})
			}},
		{name: "dropped from the end", fix: true, event: "node-b/4", reason: "events are missing",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, EventsFile, func(l [][]byte) [][]byte {
					return slices.Delete(l, lineOf(t, l, "node-b/5"), lineOf(t, l, "node-b/5")+1)
				})
			}},
		{name: "added, a copy", fix: true, event: "node-b/2", reason: "fork",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, EventsFile, func(l [][]byte) [][]byte {
					i := lineOf(t, l, "node-b/2")
					return slices.Insert(l, i+1, l[i])
				})
			}},
		{name: "added, another node's", fix: true, event: "node-c/3", reason: "no cut",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, EventsFile, func(l [][]byte) [][]byte {
					i := lineOf(t, l, "node-b/2")
					e, _ := chainlog.DecodeStoredEvent(l[i])
					e.ID, e.NodeID = "node-c/3", "node-c"
					b, _ := e.MarshalJSON()
					return slices.Insert(l, i+1, append(b, '\n'))
				})
			}},
		{name: "reordered in a node", fix: true, event: "node-a/3", reason: "chain_seq skips",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, EventsFile, func(l [][]byte) [][]byte {
					i, j := lineOf(t, l, "node-a/2"), lineOf(t, l, "node-a/3")
					l[i], l[j] = l[j], l[i]
					return l
				})
			}},
		{name: "reordered across nodes", fix: true, event: "node-a/1", reason: "commit order",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, EventsFile, func(l [][]byte) [][]byte {
					i, j := lineOf(t, l, "node-a/1"), lineOf(t, l, "node-b/1")
					l[i], l[j] = l[j], l[i]
					return l
				})
			}},
		{name: "manifest digest changed", file: ManifestFile, reason: "events.jsonl is not the one",
			edit: func(t testing.TB, dir string) {
				m := readTestManifest(t, dir)
				m.Files[0].SHA256 = strings.Repeat("0", 64)
				writeTestManifest(t, dir, m)
			}},
		{name: "checkpoint from another key", fix: true, file: CheckpointFile, reason: "not signed",
			edit: func(t testing.TB, dir string) {
				path := filepath.Join(dir, CheckpointFile)
				signed, _ := os.ReadFile(path)
				c, err := chainlog.ParseSignedCheckpoint(signed)
				if err != nil {
					t.Fatal(err)
				}
				forged, err := chainlog.SignCheckpoint(c, other)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(path, forged, 0o644)
			}},
		{name: "anchor moved", event: "node-a/5", reason: "anchor",
			edit: func(t testing.TB, dir string) {
				m := readTestManifest(t, dir)
				m.Nodes[0].Anchor = m.Nodes[1].Anchor
				writeTestManifest(t, dir, m)
			}},
		{name: "cut shortened", event: "node-a/5", reason: "outside its node's cut",
			edit: func(t testing.TB, dir string) {
				m := readTestManifest(t, dir)
				m.Nodes[0].LastSeq, m.Nodes[0].Count, m.Events = 4, 4, m.Events-1
				writeTestManifest(t, dir, m)
			}},
		{name: "tree hash forged", fix: true, file: TreeFile, reason: "checkpoint's root",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, TreeFile, func(l [][]byte) [][]byte {
					p, _, _ := decodePiece(bytes.TrimSuffix(l[0], []byte("\n")))
					p.Hash = base64.StdEncoding.EncodeToString(make([]byte, 32))
					l[0] = appendPieceLine(nil, &p)
					return l
				})
			}},
		{name: "chain rewritten to a new anchor", fix: true, file: TreeFile, reason: "checkpoint's root",
			edit: func(t testing.TB, dir string) {
				var hash string
				editEvent(t, dir, "node-a/5", func(e *chainlog.StoredEvent) {
					e.TS = "2026-06-05T12:00:01Z"
					var h chainlog.Hasher
					e.Hash = h.SumStored(e.PrevHash, &e.Event)
					hash = e.Hash
				})
				m := readTestManifest(t, dir)
				m.Nodes[0].Anchor = hash
				writeTestManifest(t, dir, m)
			}},
		{name: "amendment dropped", fix: true, event: "node-a/3", reason: "payload digest",
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, AmendmentsFile, func(l [][]byte) [][]byte { return l[:len(l)-1] })
			}},
		{name: "amendment edited", fix: true, file: AmendmentsFile, reason: chainlog.ReasonAmendHash,
			edit: func(t testing.TB, dir string) {
				editLines(t, dir, AmendmentsFile, func(l [][]byte) [][]byte {
					l[0] = bytes.Replace(l[0], []byte(`"reason":"fix"`), []byte(`"reason":"fixed"`), 1)
					return l
				})
			}},
		{name: "events cut short", file: EventsFile, reason: "cut short",
			edit: func(t testing.TB, dir string) {
				path := filepath.Join(dir, EventsFile)
				data, _ := os.ReadFile(path)
				os.WriteFile(path, data[:len(data)-1], 0o644)
			}},
		{name: "another file", file: "notes.txt", reason: "not a file of an archive",
			edit: func(t testing.TB, dir string) { os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644) }},
	}
}

func TestVerifyTampered(t *testing.T) {
	other, _ := chainlogtest.NewKey(t, "test/archive")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, vk, cp := setup(t, b)
			good := filepath.Join(t.TempDir(), "good")
			if _, err := Write(ctx, st, good, plan(t, st, 6), cp); err != nil {
				t.Fatal(err)
			}
			verifyOK(t, good, vk)
			for _, tc := range tampers(other) {
				t.Run(tc.name, func(t *testing.T) {
					dir := copyDir(t, good)
					tc.edit(t, dir)
					if tc.fix {
						refreshDigests(t, dir)
					}
					_, err := Verify(ctx, dir, Options{Verifiers: []note.Verifier{vk}})
					var ae *Error
					if !errors.As(err, &ae) || !errors.Is(err, ErrInvalid) {
						t.Fatalf("got %v, want an *Error", err)
					}
					if tc.event != "" && ae.EventID != tc.event {
						t.Errorf("event %q, want %q: %v", ae.EventID, tc.event, err)
					}
					if tc.event != "" && (ae.NodeID == "" || ae.Seq == 0) {
						t.Errorf("the error does not name the event's node and seq: %v", err)
					}
					if tc.file != "" && ae.File != tc.file {
						t.Errorf("file %q, want %q: %v", ae.File, tc.file, err)
					}
					if !strings.Contains(err.Error(), tc.reason) {
						t.Errorf("got %v, want a reason with %q", err, tc.reason)
					}
				})
			}
		})
	}
}

// TestCheckStoreMismatch: an archive of less, or of other ranges, than
// the prune the store recorded is refused, naming the node.
func TestCheckStoreMismatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, _, cp := setup(t, b)
			cuts := plan(t, st, 6)
			part := filepath.Join(t.TempDir(), "part")
			if _, err := Write(ctx, st, part, cuts[1:], cp); err != nil {
				t.Fatal(err)
			}
			shorter := filepath.Join(t.TempDir(), "shorter")
			if _, err := Write(ctx, st, shorter, plan(t, st, 5), cp); err != nil {
				t.Fatal(err)
			}
			prune(t, st, cuts, 6)
			for _, tc := range []struct {
				dir, node, reason string
			}{
				{part, "node-a", "which the archive lacks"},
				{shorter, "node-a", "is not what the store's prune record"},
			} {
				err := CheckStore(ctx, tc.dir, st)
				var ae *Error
				if !errors.As(err, &ae) || ae.NodeID != tc.node || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s: got %v, want node %s: %s", filepath.Base(tc.dir), err, tc.node, tc.reason)
				}
			}
		})
	}
}
