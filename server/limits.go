package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chainlog"
)

// errBudget is the in-flight budget refusing a request.
var errBudget = errors.New("the daemon holds too many request bytes at once")

// budget bounds the bytes all requests hold at once: request bodies and
// pages of events.
type budget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes; it fails, reserving nothing, when they do not
// fit. More than the whole budget is taken when nothing else is held, so
// that a page holding one event larger than the budget (stored before the
// limits) can still be read.
func (b *budget) take(n int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > b.max && cur != 0 {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// takeUpTo reserves as much of n as is left, and returns it.
func (b *budget) takeUpTo(n int64) int64 {
	for {
		cur := b.used.Load()
		got := min(n, b.max-cur)
		if got <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(cur, cur+got) {
			return got
		}
	}
}

func (b *budget) give(n int64) { b.used.Add(-n) }

// budgetReader reserves bytes from a budget as they are read (a body
// whose length is not known in advance: chunked, or decompressed), in
// steps, and fails with errBudget when the budget is spent. held is what it
// reserved; the caller gives it back.
type budgetReader struct {
	r    io.Reader
	b    *budget
	held int64 // reserved
	read int64 // read so far
}

const budgetStep = 256 << 10

func (br *budgetReader) Read(p []byte) (int, error) {
	if need := br.read + int64(len(p)) - br.held; need > 0 {
		if br.b.take(max(budgetStep, need)) {
			br.held += max(budgetStep, need)
		} else {
			// Whatever fits is read first: a request that ends within
			// what is left is not refused.
			br.held += br.b.takeUpTo(need)
			if br.read >= br.held {
				// Nothing is left: refuse, unless the body has ended.
				var one [1]byte
				if n, err := br.r.Read(one[:]); n == 0 {
					return 0, err
				}
				return 0, errBudget
			}
			p = p[:br.held-br.read]
		}
	}
	n, err := br.r.Read(p)
	br.read += int64(n)
	return n, err
}

// readBody reads r whole into a buffer of the expected size, when known,
// so that a large body is not copied again and again as it grows.
func readBody(r io.Reader, expected int64) ([]byte, error) {
	var buf bytes.Buffer
	if expected > 0 {
		buf.Grow(int(expected) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// The columns export adds to an event, at their largest, for
// exportedSize: created_at, chain_seq, chain_prev_hash, chain_hash,
// payload_digest and leaf_index.
var (
	maxHash      = strings.Repeat("f", 64)
	maxCreatedAt = "9999-12-31T23:59:59.999999Z"
)

// exportedSize returns the length of the line export would write for ev
// once stored, taking the columns the store adds at their largest. Small
// events are answered by a bound, without encoding.
func exportedSize(ev *chainlog.Event) int {
	// Every string byte escapes to at most 6 bytes (\u00XX); a number is at
	// most 24 bytes; the field names and punctuation of a record are under
	// 400 bytes.
	bound := len(ev.Data) + 6*(len(ev.ID)+len(ev.AgentType)+len(ev.NodeID)+len(ev.AgentID)+
		len(ev.EventType)+len(ev.TS)) + 400 + 4*24 + 4*64 + len(maxCreatedAt)
	for _, s := range []*string{ev.SessionID, ev.WorkspaceID, ev.Model} {
		if s != nil {
			bound += 6 * len(*s)
		}
	}
	if bound <= smallEvent {
		return bound
	}
	leaf := int64(math.MaxInt64)
	st := chainlog.StoredEvent{Event: *ev, CreatedAt: maxCreatedAt, Seq: math.MaxInt64,
		PrevHash: maxHash, Hash: maxHash, PayloadDigest: maxHash, LeafIndex: &leaf}
	var cw countWriter
	enc := json.NewEncoder(&cw)
	enc.SetEscapeHTML(false) // as export encodes
	if err := enc.Encode(&st); err != nil {
		return bound
	}
	return int(cw) - 1 // without the newline
}

// smallEvent is the size below which exportedSize does not encode.
const smallEvent = 64 << 10

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// reclaimer gives memory back to the operating system after requests that
// held a lot of it, at most once a second and always once after the last
// such request: otherwise the heap a burst of large bodies grew stays
// resident long after the burst.
type reclaimer struct {
	mu        sync.Mutex
	last      time.Time
	scheduled bool
}

// reclaimAbove is the request size from which memory is given back.
const reclaimAbove = 4 << 20

func (r *reclaimer) after(n int64) {
	if n < reclaimAbove {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scheduled {
		return
	}
	r.scheduled = true
	time.AfterFunc(max(0, time.Second-time.Since(r.last)), func() {
		r.mu.Lock()
		r.scheduled = false
		r.last = time.Now()
		r.mu.Unlock()
		debug.FreeOSMemory()
	})
}
