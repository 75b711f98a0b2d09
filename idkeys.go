package chainlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"slices"
)

// idKeys finds whether any two of a stream of 64-bit keys are equal, in
// bounded memory: it keeps up to idKeysRun keys, and sorts and writes each
// full run to a temporary file (unlinked at once, so that nothing is left
// behind), then merges the runs. Where no temporary file can be made, the
// keys stay in memory.
type idKeys struct {
	buf    []uint64
	runs   []*os.File
	noDisk bool
	err    error
}

// idKeysRun is how many keys one run holds: 2 MiB.
const idKeysRun = 1 << 18

func (k *idKeys) add(key uint64) {
	if len(k.buf) == idKeysRun && !k.noDisk && k.err == nil {
		k.spill()
	}
	k.buf = append(k.buf, key)
}

// spill writes the buffer, sorted, as a run.
func (k *idKeys) spill() {
	f, err := os.CreateTemp("", "chainlog-ids-*")
	if err != nil {
		k.noDisk = true // keep the keys in memory instead
		return
	}
	os.Remove(f.Name())
	slices.Sort(k.buf)
	w := bufio.NewWriter(f)
	var b [8]byte
	for _, x := range k.buf {
		binary.LittleEndian.PutUint64(b[:], x)
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		k.err = err
		return
	}
	k.runs = append(k.runs, f)
	k.buf = k.buf[:0]
}

// repeated reports whether any key was added twice, and closes the runs.
func (k *idKeys) repeated() (bool, error) {
	defer k.close()
	if k.err != nil {
		return false, k.err
	}
	slices.Sort(k.buf)
	if len(k.runs) == 0 {
		for i := 1; i < len(k.buf); i++ {
			if k.buf[i] == k.buf[i-1] {
				return true, nil
			}
		}
		return false, nil
	}
	srcs := []*runReader{{keys: k.buf}}
	for _, f := range k.runs {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
		srcs = append(srcs, &runReader{r: bufio.NewReader(f)})
	}
	for _, s := range srcs {
		if err := s.next(); err != nil {
			return false, err
		}
	}
	var last uint64
	first := true
	for {
		// The smallest head of the runs; there are few runs.
		var min *runReader
		for _, s := range srcs {
			if s.ok && (min == nil || s.head < min.head) {
				min = s
			}
		}
		if min == nil {
			return false, nil
		}
		if !first && min.head == last {
			return true, nil
		}
		first, last = false, min.head
		if err := min.next(); err != nil {
			return false, err
		}
	}
}

func (k *idKeys) close() {
	for _, f := range k.runs {
		f.Close()
	}
	k.runs, k.buf = nil, nil
}

// runReader reads one sorted run: from a file, or from memory.
type runReader struct {
	r    *bufio.Reader
	keys []uint64
	head uint64
	ok   bool
}

func (s *runReader) next() error {
	if s.r == nil {
		s.ok = len(s.keys) > 0
		if s.ok {
			s.head, s.keys = s.keys[0], s.keys[1:]
		}
		return nil
	}
	var b [8]byte
	_, err := io.ReadFull(s.r, b[:])
	if errors.Is(err, io.EOF) {
		s.ok = false
		return nil
	}
	if err != nil {
		return err
	}
	s.head, s.ok = binary.LittleEndian.Uint64(b[:]), true
	return nil
}
