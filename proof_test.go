package chainlog

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// flipBit returns h with bit i (0..255) flipped.
func flipBit(h tlog.Hash, i int) tlog.Hash {
	h[i/8] ^= 1 << (i % 8)
	return h
}

// testKey returns a fresh Ed25519 signer and verifier named name.
func testKey(tb testing.TB, name string) (note.Signer, note.Verifier) {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		tb.Fatalf("GenerateKey(%q): %v", name, err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, v
}

// exhaustiveStore is the tree of merkleLeaf(0..99) with its roots by size.
func exhaustiveStore(tb testing.TB) (memHashes, []tlog.Hash, []tlog.Hash) {
	tb.Helper()
	leaves := merkleLeafHashes(100)
	store := storeOf(tb, leaves)
	roots := []tlog.Hash{tlog.Hash(emptyTreeHash)}
	var b TreeBuilder
	for _, h := range leaves {
		b.Add(h)
		roots = append(roots, b.Root())
	}
	return store, leaves, roots
}

// TestProveRecordExhaustive checks every inclusion proof in every tree of up
// to 100 leaves, as tlog's own tests do: each verifies, and flipping a bit
// in any byte of any proof hash makes it fail. Which bit of a byte is
// flipped rotates with the tree size, the leaf and the byte, so that every
// bit position is exercised across the trees.
func TestProveRecordExhaustive(t *testing.T) {
	t.Parallel()
	store, leaves, roots := exhaustiveStore(t)
	checks := 0
	for size := int64(1); size <= 100; size++ {
		th := roots[size]
		for n := int64(0); n < size; n++ {
			p, err := tlog.ProveRecord(size, n, store)
			if err != nil {
				t.Fatalf("ProveRecord(%d, %d): %v", size, n, err)
			}
			if err := tlog.CheckRecord(p, size, th, n, leaves[n]); err != nil {
				t.Fatalf("CheckRecord(leaf %d of %d): %v", n, size, err)
			}
			for i := range p {
				for byteAt := 0; byteAt < tlog.HashSize; byteAt++ {
					bit := byteAt*8 + (byteAt+i+int(n)+int(size))%8
					bad := append(tlog.RecordProof(nil), p...)
					bad[i] = flipBit(bad[i], bit)
					checks++
					if err := tlog.CheckRecord(bad, size, th, n, leaves[n]); err == nil {
						t.Fatalf("leaf %d of %d: proof hash %d with bit %d flipped verifies", n, size, i, bit)
					}
				}
			}
			bit := int(n+size) % 256
			if err := tlog.CheckRecord(p, size, th, n, flipBit(leaves[n], bit)); err == nil {
				t.Errorf("leaf %d of %d: a leaf hash with bit %d flipped verifies", n, size, bit)
			}
			if err := tlog.CheckRecord(p, size, flipBit(th, bit), n, leaves[n]); err == nil {
				t.Errorf("leaf %d of %d: a root with bit %d flipped verifies", n, size, bit)
			}
			if size > 1 {
				if err := tlog.CheckRecord(p, size, th, (n+1)%size, leaves[n]); err == nil {
					t.Errorf("leaf %d of %d: the proof verifies at index %d", n, size, (n+1)%size)
				}
				if err := tlog.CheckRecord(p[:len(p)-1], size, th, n, leaves[n]); err == nil {
					t.Errorf("leaf %d of %d: the proof without its last hash verifies", n, size)
				}
			}
			if err := tlog.CheckRecord(append(p[:len(p):len(p)], th), size, th, n, leaves[n]); err == nil {
				t.Errorf("leaf %d of %d: the proof with an extra hash verifies", n, size)
			}
		}
	}
	t.Logf("%d tampered inclusion proofs rejected", checks)
}

// TestProveTreeExhaustive checks every consistency proof between trees of
// up to 100 leaves, with a bit flipped in each byte of each proof hash.
func TestProveTreeExhaustive(t *testing.T) {
	t.Parallel()
	store, _, roots := exhaustiveStore(t)
	checks := 0
	for size := int64(1); size <= 100; size++ {
		th := roots[size]
		for n := int64(1); n <= size; n++ {
			h := roots[n]
			p, err := tlog.ProveTree(size, n, store)
			if err != nil {
				t.Fatalf("ProveTree(%d, %d): %v", size, n, err)
			}
			if err := tlog.CheckTree(p, size, th, n, h); err != nil {
				t.Fatalf("CheckTree(%d -> %d): %v", n, size, err)
			}
			for i := range p {
				for byteAt := 0; byteAt < tlog.HashSize; byteAt++ {
					bit := byteAt*8 + (byteAt+i+int(n)+int(size))%8
					bad := append(tlog.TreeProof(nil), p...)
					bad[i] = flipBit(bad[i], bit)
					checks++
					if err := tlog.CheckTree(bad, size, th, n, h); err == nil {
						t.Fatalf("%d -> %d: proof hash %d with bit %d flipped verifies", n, size, i, bit)
					}
				}
			}
			bit := int(n+size) % 256
			if err := tlog.CheckTree(p, size, th, n, flipBit(h, bit)); err == nil {
				t.Errorf("%d -> %d: an old root with bit %d flipped verifies", n, size, bit)
			}
			if err := tlog.CheckTree(p, size, flipBit(th, bit), n, h); err == nil {
				t.Errorf("%d -> %d: a new root with bit %d flipped verifies", n, size, bit)
			}
			if len(p) > 0 {
				if err := tlog.CheckTree(p[:len(p)-1], size, th, n, h); err == nil {
					t.Errorf("%d -> %d: the proof without its last hash verifies", n, size)
				}
			}
		}
	}
	t.Logf("%d tampered consistency proofs rejected", checks)
}

// proofFixture is a small log: events on three nodes, their tree, and a
// signing key named after the origin.
type proofFixture struct {
	origin   string
	signer   note.Signer
	verifier note.Verifier
	events   []ProvenEvent
	store    memHashes
	roots    []tlog.Hash // by size
}

func sp2(s string) *string { return &s }

// provenEvent returns a stamped event seq on node, linked to prev.
func provenEvent(node string, seq int64, prev string, withDigest bool) ProvenEvent {
	p := ProvenEvent{
		ID: fmt.Sprintf("%s/ev-%d", node, seq), AgentType: "claude_code", NodeID: node, AgentID: "main",
		SessionID: sp2("s-1"), WorkspaceID: nil, EventType: "tool_call",
		TS:       fmt.Sprintf("2026-01-01T00:%02d:%02dZ", seq/60%60, seq%60),
		ChainSeq: seq, ChainPrevHash: prev,
	}
	if seq%4 == 0 {
		p.WorkspaceID = sp2("ws-1")
	}
	id := p.Identity()
	var h Hasher
	p.ChainHash = h.SumStored(prev, &id)
	if withDigest {
		d := sha256.Sum256([]byte("payload " + p.ID))
		p.PayloadDigest = hex.EncodeToString(d[:])
	}
	return p
}

func newProofFixture(tb testing.TB, n int) *proofFixture {
	tb.Helper()
	f := &proofFixture{origin: "chainlog/test-host/events.db"}
	f.signer, f.verifier = testKey(tb, f.origin)
	prev := map[string]string{}
	seq := map[string]int64{}
	var b TreeBuilder
	f.roots = append(f.roots, b.Root())
	for i := 0; i < n; i++ {
		node := []string{"node-a", "node-b", "node-c"}[i%3]
		if _, ok := prev[node]; !ok {
			prev[node] = GenesisHash
		}
		seq[node]++
		ev := provenEvent(node, seq[node], prev[node], i%5 != 2)
		prev[node] = ev.ChainHash
		f.events = append(f.events, ev)
		l := ev.Leaf()
		h := LeafHash(&l)
		f.store.appendRecord(tb, int64(i), h)
		b.Add(h)
		f.roots = append(f.roots, b.Root())
	}
	return f
}

func (f *proofFixture) checkpoint(size int64) Checkpoint {
	return Checkpoint{Origin: f.origin, Size: size, Root: f.roots[size]}
}

func (f *proofFixture) signed(tb testing.TB, size int64) []byte {
	tb.Helper()
	msg, err := SignCheckpoint(f.checkpoint(size), f.signer)
	if err != nil {
		tb.Fatalf("SignCheckpoint(%d): %v", size, err)
	}
	return msg
}

func (f *proofFixture) bundle(tb testing.TB, size, index int64) *ProofBundle {
	tb.Helper()
	p, err := tlog.ProveRecord(size, index, f.store)
	if err != nil {
		tb.Fatalf("ProveRecord(%d, %d): %v", size, index, err)
	}
	return &ProofBundle{Event: f.events[index], Index: index, Proof: p, Checkpoint: f.signed(tb, size)}
}

// sameBundle reports whether a and b say the same thing (an empty proof
// and a nil one are the same).
func sameBundle(a, b *ProofBundle) bool {
	return reflect.DeepEqual(a.Event, b.Event) && a.Index == b.Index &&
		equalHashes(a.Proof, b.Proof) && bytes.Equal(a.Checkpoint, b.Checkpoint)
}

func marshalBundle(tb testing.TB, b *ProofBundle) []byte {
	tb.Helper()
	data, err := b.Marshal()
	if err != nil {
		tb.Fatalf("Marshal: %v", err)
	}
	return data
}

func TestProofBundleRoundTripAndVerify(t *testing.T) {
	f := newProofFixture(t, 37)
	for _, size := range []int64{1, 2, 5, 16, 17, 37} {
		for _, index := range []int64{0, size / 2, size - 1} {
			b := f.bundle(t, size, index)
			data := marshalBundle(t, b)
			if !bytes.HasPrefix(data, []byte(ProofHeader+"\nextra ")) {
				t.Errorf("size %d index %d: bundle starts %q", size, index, data[:min(len(data), 40)])
			}
			if want := fmt.Sprintf("\nindex %d\n", index); !bytes.Contains(data, []byte(want)) {
				t.Errorf("size %d index %d: bundle has no %q line", size, index, want)
			}
			got, err := ParseProofBundle(data)
			if err != nil {
				t.Fatalf("size %d index %d: ParseProofBundle: %v\n%s", size, index, err, data)
			}
			if !sameBundle(got, b) {
				t.Errorf("size %d index %d: round trip:\n got %+v\nwant %+v", size, index, got, b)
			}
			if again := marshalBundle(t, got); !bytes.Equal(again, data) {
				t.Errorf("size %d index %d: Marshal(Parse(x)) != x:\n got %q\nwant %q", size, index, again, data)
			}
			c, err := VerifyProofBundle(got, f.verifier)
			if err != nil {
				t.Fatalf("size %d index %d: VerifyProofBundle: %v", size, index, err)
			}
			if want := f.checkpoint(size); c != want {
				t.Errorf("size %d index %d: checkpoint got %+v, want %+v", size, index, c, want)
			}
		}
	}
}

// eventMutations change one bit of one field of a proven event each.
var eventMutations = []struct {
	name string
	mut  func(p *ProvenEvent)
}{
	{"id", func(p *ProvenEvent) { p.ID = flipStringBit(p.ID) }},
	{"agent_type", func(p *ProvenEvent) { p.AgentType = flipStringBit(p.AgentType) }},
	{"node_id", func(p *ProvenEvent) { p.NodeID = flipStringBit(p.NodeID) }},
	{"agent_id", func(p *ProvenEvent) { p.AgentID = flipStringBit(p.AgentID) }},
	{"session_id", func(p *ProvenEvent) { p.SessionID = sp2(flipStringBit(*p.SessionID)) }},
	{"session_id null", func(p *ProvenEvent) { p.SessionID = nil }},
	{"workspace_id set", func(p *ProvenEvent) { p.WorkspaceID = sp2("") }},
	{"event_type", func(p *ProvenEvent) { p.EventType = flipStringBit(p.EventType) }},
	{"ts", func(p *ProvenEvent) { p.TS = flipStringBit(p.TS) }},
	{"chain_seq", func(p *ProvenEvent) { p.ChainSeq ^= 1 }},
	{"chain_seq high bit", func(p *ProvenEvent) { p.ChainSeq ^= 1 << 40 }},
	{"chain_prev_hash", func(p *ProvenEvent) { p.ChainPrevHash = flipStringBit(p.ChainPrevHash) }},
	{"chain_hash", func(p *ProvenEvent) { p.ChainHash = flipStringBit(p.ChainHash) }},
	{"payload_digest", func(p *ProvenEvent) { p.PayloadDigest = flipStringBit(p.PayloadDigest) }},
	{"payload_digest removed", func(p *ProvenEvent) { p.PayloadDigest = "" }},
}

// flipStringBit flips the lowest bit of the last byte of s (or makes an
// empty s "\x01").
func flipStringBit(s string) string {
	if s == "" {
		return "\x01"
	}
	b := []byte(s)
	b[len(b)-1] ^= 1
	return string(b)
}

func TestProofBundleTampered(t *testing.T) {
	f := newProofFixture(t, 37)
	for _, tc := range []struct{ size, index int64 }{{1, 0}, {5, 3}, {16, 0}, {37, 20}, {37, 36}} {
		good := f.bundle(t, tc.size, tc.index)
		if good.Event.PayloadDigest == "" {
			t.Fatalf("fixture: event %d has no payload digest", tc.index)
		}
		verifyFails := func(what string, b *ProofBundle) {
			t.Helper()
			// Through the text form, as a verifier receives it.
			parsed, err := ParseProofBundle(marshalBundle(t, b))
			if err != nil {
				t.Fatalf("size %d index %d, %s: ParseProofBundle: %v", tc.size, tc.index, what, err)
			}
			if _, err := VerifyProofBundle(parsed, f.verifier); !errors.Is(err, ErrProof) {
				t.Errorf("size %d index %d, %s: VerifyProofBundle: got %v, want ErrProof", tc.size, tc.index, what, err)
			}
		}
		for i := range good.Proof {
			for byteAt := 0; byteAt < tlog.HashSize; byteAt++ {
				b := *good
				b.Proof = append(tlog.RecordProof(nil), good.Proof...)
				bit := byteAt*8 + (byteAt+i)%8
				b.Proof[i] = flipBit(b.Proof[i], bit)
				verifyFails(fmt.Sprintf("proof hash %d bit %d", i, bit), &b)
			}
		}
		for bit := 0; bit < 63; bit++ {
			b := *good
			b.Index ^= 1 << bit
			verifyFails(fmt.Sprintf("index bit %d (index %d)", bit, b.Index), &b)
		}
		for _, m := range eventMutations {
			b := *good
			m.mut(&b.Event)
			if reflect.DeepEqual(b.Event, good.Event) {
				t.Fatalf("mutation %s changes nothing", m.name)
			}
			verifyFails("event "+m.name, &b)
		}
		if len(good.Proof) > 0 {
			b := *good
			b.Proof = append(good.Proof[:len(good.Proof):len(good.Proof)], good.Proof...)
			verifyFails("proof doubled", &b)
			b.Proof = good.Proof[1:]
			verifyFails("proof without its first hash", &b)
		}
		b := *good
		b.Proof = append(append(tlog.RecordProof(nil), good.Proof...), f.roots[tc.size])
		verifyFails("the root added to the proof", &b)
		b = *good
		b.Event = f.events[(tc.index+1)%int64(len(f.events))]
		verifyFails("another event", &b)
	}
}

func TestProofBundleCheckpoint(t *testing.T) {
	f := newProofFixture(t, 9)
	good := f.bundle(t, 9, 4)

	// Signed by another key of the same name.
	other, _ := testKey(t, f.origin)
	b := *good
	var err error
	b.Checkpoint, err = SignCheckpoint(f.checkpoint(9), other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyProofBundle(&b, f.verifier); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("checkpoint by another key: got %v, want ErrCheckpointSignature", err)
	}

	// A checkpoint of another size: the proof is not for that tree.
	b = *good
	b.Checkpoint = f.signed(t, 8)
	if _, err := VerifyProofBundle(&b, f.verifier); !errors.Is(err, ErrProof) {
		t.Errorf("checkpoint of size 8 for a proof in 9: got %v, want ErrProof", err)
	}

	// The event is past the checkpoint.
	b = *good
	b.Checkpoint = f.signed(t, 4)
	if _, err := VerifyProofBundle(&b, f.verifier); !errors.Is(err, ErrProof) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("index 4 in a tree of 4: got %v, want ErrProof (outside)", err)
	}

	// The signed checkpoint's body altered.
	b = *good
	b.Checkpoint = bytes.Replace(bytes.Clone(good.Checkpoint), []byte("\n9\n"), []byte("\n10\n"), 1)
	if _, err := VerifyProofBundle(&b, f.verifier); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("altered checkpoint: got %v, want ErrCheckpointSignature", err)
	}

	// A negative index (not from the text form).
	b = *good
	b.Index = -1
	if _, err := VerifyProofBundle(&b, f.verifier); !errors.Is(err, ErrProof) {
		t.Errorf("index -1: got %v, want ErrProof", err)
	}
}

// TestProofBundleTextBitFlips flips every bit of a bundle's text form: each
// altered bundle is rejected by the parser or the verifier, or else it says
// exactly what the original says (JSON keys match case-insensitively, and a
// note's signature base64 ignores its padding bits).
func TestProofBundleTextBitFlips(t *testing.T) {
	f := newProofFixture(t, 6)
	good := f.bundle(t, 6, 3)
	data := marshalBundle(t, good)
	want, err := VerifyProofBundle(good, f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for i := range data {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(data)
			bad[i] ^= 1 << bit
			b, err := ParseProofBundle(bad)
			if err != nil {
				continue
			}
			c, err := VerifyProofBundle(b, f.verifier)
			if err != nil {
				continue
			}
			accepted++
			if c != want || !reflect.DeepEqual(b.Event, good.Event) || b.Index != good.Index || !equalHashes(b.Proof, good.Proof) {
				t.Errorf("byte %d bit %d flipped: verifies and says something else:\n got %+v %+v\nwant %+v %+v", i, bit, c, b, want, good)
			}
		}
	}
	t.Logf("%d of %d single-bit flips still verify, all with the same meaning", accepted, 8*len(data))
}

func TestParseProofBundleErrors(t *testing.T) {
	f := newProofFixture(t, 3)
	good := marshalBundle(t, f.bundle(t, 3, 1))
	extraLine := strings.Split(string(good), "\n")[1]
	cp := f.signed(t, 3)
	hash := base64.StdEncoding.EncodeToString(make([]byte, 32))
	ev := func(json string) string { return "extra " + base64.StdEncoding.EncodeToString([]byte(json)) }
	tests := []struct {
		name, text, msg string
	}{
		{"empty", "", "no empty line"},
		{"no blank line", ProofHeader + "\n" + extraLine + "\nindex 1\n" + hash + "\n", "no empty line"},
		{"checkpoint only", string(cp), "first line"},
		{"wrong header", "c2sp.org/tlog-proof@v2\n" + extraLine + "\nindex 1\n\n", "first line"},
		{"header only", ProofHeader + "\n\n", "first line"},
		{"no index", ProofHeader + "\n" + extraLine + "\n\n", "first line"},
		{"extra missing", ProofHeader + "\nindex 1\n" + extraLine + "\n\n", "line 2"},
		{"extra not base64", ProofHeader + "\nextra ***\nindex 1\n\n", "not base64"},
		{"extra unpadded", ProofHeader + "\nextra " + strings.TrimRight(strings.TrimPrefix(ev(`{"id":"x"}`), "extra "), "=") + "\nindex 1\n\n", "not base64"},
		{"extra not JSON", ProofHeader + "\n" + ev("not json") + "\nindex 1\n\n", "extra"},
		{"extra array", ProofHeader + "\n" + ev(`[]`) + "\nindex 1\n\n", "extra"},
		{"extra unknown field", ProofHeader + "\n" + ev(`{"id":"x","extra":1}`) + "\nindex 1\n\n", "unknown field"},
		{"extra two objects", ProofHeader + "\n" + ev(`{"id":"x"} {}`) + "\nindex 1\n\n", "after the event"},
		{"extra trailing brace", ProofHeader + "\n" + ev(`{"id":"x"}}`) + "\nindex 1\n\n", "after the event"},
		{"extra trailing bracket", ProofHeader + "\n" + ev(`{"id":"x"}]`) + "\nindex 1\n\n", "after the event"},
		{"extra trailing garbage", ProofHeader + "\n" + ev(`{"id":"x"}}}garbage`) + "\nindex 1\n\n", "after the event"},
		{"extra seq not integer", ProofHeader + "\n" + ev(`{"chain_seq":1.5}`) + "\nindex 1\n\n", "extra"},
		{"extra id twice", ProofHeader + "\n" + ev(`{"id":"x","node_id":"n","id":"y"}`) + "\nindex 1\n\n", `extra: field "id": duplicate key`},
		{"extra id twice, escaped", ProofHeader + "\n" + ev(`{"id":"x","node_id":"n","i\u0064":"y"}`) + "\nindex 1\n\n", `extra: field "id": duplicate key`},
		{"extra chain_hash twice", ProofHeader + "\n" + ev(`{"chain_hash":"a","chain_hash":"b"}`) + "\nindex 1\n\n", `extra: field "chain_hash": duplicate key`},
		{"extra name in another case", ProofHeader + "\n" + ev(`{"id":"x","ID":"y"}`) + "\nindex 1\n\n", `extra: field "ID": unknown field`},
		{"extra lone surrogate", ProofHeader + "\n" + ev(`{"id":"x\ud800"}`) + "\nindex 1\n\n", `extra: field "id": lone UTF-16 surrogate escape \ud800`},
		{"extra invalid UTF-8", ProofHeader + "\n" + ev("{\"id\":\"x\xff\"}") + "\nindex 1\n\n", "extra: invalid UTF-8"},
		{"index missing value", ProofHeader + "\n" + extraLine + "\nindex \n\n", "line 3"},
		{"index leading zero", ProofHeader + "\n" + extraLine + "\nindex 01\n\n", "line 3"},
		{"index plus", ProofHeader + "\n" + extraLine + "\nindex +1\n\n", "line 3"},
		{"index negative", ProofHeader + "\n" + extraLine + "\nindex -1\n\n", "line 3"},
		{"index not a number", ProofHeader + "\n" + extraLine + "\nindex x\n\n", "line 3"},
		{"index overflow", ProofHeader + "\n" + extraLine + "\nindex 9223372036854775808\n\n", "line 3"},
		{"index two spaces", ProofHeader + "\n" + extraLine + "\nindex  1\n\n", "line 3"},
		{"short hash", ProofHeader + "\n" + extraLine + "\nindex 1\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n\n", "line 4"},
		{"long hash", ProofHeader + "\n" + extraLine + "\nindex 1\n" + hash + "\n" + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n\n", "line 5"},
		{"hash not base64", ProofHeader + "\n" + extraLine + "\nindex 1\n" + strings.Replace(hash, "A", "!", 1) + "\n\n", "line 4"},
		{"hash padding bits", ProofHeader + "\n" + extraLine + "\nindex 1\n" + hash[:42] + "B=\n\n", "line 4"},
		{"hash with space", ProofHeader + "\n" + extraLine + "\nindex 1\n" + hash + " \n\n", "line 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if strings.Contains(text, "\n\n") {
				text += string(cp)
			}
			b, err := ParseProofBundle([]byte(text))
			if err == nil {
				t.Fatalf("ParseProofBundle(%q) = %+v, want an error", tt.text, b)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestConsistencyProofRoundTripAndVerify(t *testing.T) {
	f := newProofFixture(t, 40)
	pairs := [][2]int64{{1, 1}, {1, 2}, {1, 40}, {2, 3}, {3, 7}, {4, 8}, {7, 8}, {8, 9}, {13, 40}, {16, 32}, {31, 33}, {39, 40}, {40, 40}}
	for _, pr := range pairs {
		old, new := pr[0], pr[1]
		tp, err := tlog.ProveTree(new, old, f.store)
		if err != nil {
			t.Fatalf("ProveTree(%d, %d): %v", new, old, err)
		}
		p := &ConsistencyProof{Old: old, New: new, Proof: tp}
		data := p.Marshal()
		if want := fmt.Sprintf("%s\nold %d\nnew %d\n", ConsistencyHeader, old, new); !bytes.HasPrefix(data, []byte(want)) {
			t.Errorf("%d -> %d: Marshal starts %q, want %q", old, new, data, want)
		}
		got, err := ParseConsistencyProof(data)
		if err != nil {
			t.Fatalf("%d -> %d: ParseConsistencyProof: %v\n%s", old, new, err, data)
		}
		if got.Old != old || got.New != new || !equalHashes(got.Proof, tp) {
			t.Errorf("%d -> %d: round trip: got %+v, want %+v", old, new, got, p)
		}
		if again := got.Marshal(); !bytes.Equal(again, data) {
			t.Errorf("%d -> %d: Marshal(Parse(x)):\n got %q\nwant %q", old, new, again, data)
		}
		older, newer := f.checkpoint(old), f.checkpoint(new)
		if err := VerifyConsistency(got, older, newer); err != nil {
			t.Fatalf("%d -> %d: VerifyConsistency: %v", old, new, err)
		}
		fails := func(what string, p *ConsistencyProof, older, newer Checkpoint) {
			t.Helper()
			if err := VerifyConsistency(p, older, newer); !errors.Is(err, ErrProof) {
				t.Errorf("%d -> %d, %s: got %v, want ErrProof", old, new, what, err)
			}
		}
		for i := range tp {
			for byteAt := 0; byteAt < tlog.HashSize; byteAt++ {
				bad := &ConsistencyProof{Old: old, New: new, Proof: append(tlog.TreeProof(nil), tp...)}
				bit := byteAt*8 + (byteAt+i)%8
				bad.Proof[i] = flipBit(bad.Proof[i], bit)
				// Through the text form.
				parsed, err := ParseConsistencyProof(bad.Marshal())
				if err != nil {
					t.Fatal(err)
				}
				fails(fmt.Sprintf("hash %d bit %d", i, bit), parsed, older, newer)
			}
		}
		badOld, badNew := older, newer
		badOld.Root = flipBit(badOld.Root, 7)
		badNew.Root = flipBit(badNew.Root, 200)
		fails("old root flipped", p, badOld, newer)
		fails("new root flipped", p, older, badNew)
		other := newer
		other.Origin += "x"
		fails("another origin", p, older, other)
		if old < new {
			fails("checkpoints swapped", p, newer, older)
		}
		if old > 1 {
			fails("older checkpoint of another size", p, f.checkpoint(old-1), newer)
		}
		if new < 40 {
			fails("newer checkpoint of another size", p, older, f.checkpoint(new+1))
		}
		if len(tp) > 0 {
			fails("a hash missing", &ConsistencyProof{Old: old, New: new, Proof: tp[1:]}, older, newer)
		}
		fails("a hash added", &ConsistencyProof{Old: old, New: new, Proof: append(tp[:len(tp):len(tp)], newer.Root)}, older, newer)
	}
}

func TestVerifyConsistencyFromEmpty(t *testing.T) {
	f := newProofFixture(t, 5)
	empty := f.checkpoint(0)
	if got, want := empty.Root, tlog.Hash(sha256.Sum256(nil)); got != want {
		t.Fatalf("fixture: empty root %x, want %x", got, want)
	}
	for _, size := range []int64{0, 1, 5} {
		p, err := ParseConsistencyProof(fmt.Appendf(nil, "%s\nold 0\nnew %d\n", ConsistencyHeader, size))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyConsistency(p, empty, f.checkpoint(size)); err != nil {
			t.Errorf("0 -> %d: %v", size, err)
		}
		badEmpty := empty
		badEmpty.Root = flipBit(badEmpty.Root, 0)
		if err := VerifyConsistency(p, badEmpty, f.checkpoint(size)); !errors.Is(err, ErrProof) {
			t.Errorf("0 -> %d with a non-empty old root: got %v, want ErrProof", size, err)
		}
		withHash := &ConsistencyProof{Old: 0, New: size, Proof: tlog.TreeProof{f.roots[size]}}
		if err := VerifyConsistency(withHash, empty, f.checkpoint(size)); !errors.Is(err, ErrProof) {
			t.Errorf("0 -> %d with a proof hash: got %v, want ErrProof", size, err)
		}
	}
	// Two empty trees: the newer must have the empty root too.
	p := &ConsistencyProof{}
	bad := empty
	bad.Root = f.roots[3]
	if err := VerifyConsistency(p, empty, bad); !errors.Is(err, ErrProof) {
		t.Errorf("0 -> 0 with a non-empty new root: got %v, want ErrProof", err)
	}
}

func TestParseConsistencyProofErrors(t *testing.T) {
	hash := base64.StdEncoding.EncodeToString(make([]byte, 32))
	h := ConsistencyHeader + "\n"
	tests := []struct {
		name, text, msg string
	}{
		{"empty", "", "newline"},
		{"no final newline", h + "old 1\nnew 2\n" + hash, "newline"},
		{"wrong header", "chainlog-consistency-proof@v2\nold 1\nnew 2\n", "first line"},
		{"header only", h, "first line"},
		{"no new", h + "old 1\n", "first line"},
		{"old and new swapped", h + "new 2\nold 1\n", "line 2"},
		{"old leading zero", h + "old 01\nnew 2\n", "line 2"},
		{"old negative", h + "old -1\nnew 2\n", "line 2"},
		{"old plus", h + "old +1\nnew 2\n", "line 2"},
		{"new not a number", h + "old 1\nnew x\n", "line 3"},
		{"new overflow", h + "old 1\nnew 9223372036854775808\n", "line 3"},
		{"new empty", h + "old 1\nnew \n", "line 3"},
		{"old larger", h + "old 3\nnew 2\n", "larger"},
		{"blank hash line", h + "old 1\nnew 2\n\n", "line 4"},
		{"short hash", h + "old 1\nnew 2\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", "line 4"},
		{"bad second hash", h + "old 1\nnew 3\n" + hash + "\n" + hash[:43] + "\n", "line 5"},
		{"hash padding bits", h + "old 1\nnew 2\n" + hash[:42] + "B=\n", "line 4"},
		{"CRLF", strings.ReplaceAll(h+"old 1\nnew 2\n", "\n", "\r\n"), "first line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseConsistencyProof([]byte(tt.text))
			if err == nil {
				t.Fatalf("ParseConsistencyProof(%q) = %+v, want an error", tt.text, p)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func FuzzParseProofBundle(f *testing.F) {
	fx := newProofFixture(f, 5)
	for _, tc := range [][2]int64{{1, 0}, {5, 2}, {5, 4}} {
		f.Add(marshalBundle(f, fx.bundle(f, tc[0], tc[1])))
	}
	f.Add([]byte(ProofHeader + "\nextra e30=\nindex 0\n\n"))
	f.Add([]byte(ProofHeader + "\nextra bnVsbA==\nindex 7\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n\n\n\n"))
	f.Add([]byte(ProofHeader + "\nextra eyJpZCI6IngifX0=\nindex 0\n\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseProofBundle(data)
		if err != nil {
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed bundle: %v", err)
		}
		b2, err := ParseProofBundle(out)
		if err != nil {
			t.Fatalf("Marshal(Parse(x)) does not parse: %v\nx = %q\nout = %q", err, data, out)
		}
		if !sameBundle(b, b2) {
			t.Fatalf("Parse(Marshal(Parse(x))) differs:\n got %+v\nwant %+v", b2, b)
		}
		if out2, _ := b2.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable:\n got %q\nwant %q", out2, out)
		}
		// Verifying must not panic either.
		VerifyProofBundle(b, fx.verifier)
	})
}

func FuzzParseConsistencyProof(f *testing.F) {
	fx := newProofFixture(f, 9)
	for _, pr := range [][2]int64{{1, 1}, {3, 9}, {8, 9}} {
		tp, err := tlog.ProveTree(pr[1], pr[0], fx.store)
		if err != nil {
			f.Fatal(err)
		}
		f.Add((&ConsistencyProof{Old: pr[0], New: pr[1], Proof: tp}).Marshal())
	}
	f.Add([]byte(ConsistencyHeader + "\nold 0\nnew 0\n"))
	f.Add([]byte(ConsistencyHeader + "\nold 2\nnew 1\n"))
	f.Add([]byte(ConsistencyHeader + "\nold 1\nnew 2\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseConsistencyProof(data)
		if err != nil {
			return
		}
		if p.Old < 0 || p.Old > p.New {
			t.Fatalf("parsed sizes %d, %d", p.Old, p.New)
		}
		out := p.Marshal()
		if !bytes.Equal(out, data) {
			t.Fatalf("Marshal(Parse(x)) != x:\n got %q\nwant %q", out, data)
		}
		p2, err := ParseConsistencyProof(out)
		if err != nil {
			t.Fatalf("Marshal(Parse(x)) does not parse: %v", err)
		}
		if p2.Old != p.Old || p2.New != p.New || !equalHashes(p2.Proof, p.Proof) {
			t.Fatalf("round trip: got %+v, want %+v", p2, p)
		}
		// Verifying against the fixture must not panic.
		if p.New <= 9 {
			VerifyConsistency(p, fx.checkpoint(p.Old), fx.checkpoint(p.New))
		}
	})
}
