package main

import (
	"flag"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

var flagErrHelp = flag.ErrHelp

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a progress bar on stderr, shown only when stderr is a
// terminal; otherwise its methods do nothing.
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress starts a bar over total bytes (-1 when unknown).
func newProgress(e *env, total int64, what string) *progress {
	return newBar(e, total, what, true)
}

// newCountProgress starts a bar over total things counted one by one.
func newCountProgress(e *env, total int64, what string) *progress {
	return newBar(e, total, what, false)
}

func newBar(e *env, total int64, what string, bytes bool) *progress {
	if e.isTerminal == nil || !e.isTerminal(e.stderr) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) set(n int64) {
	if p.bar != nil {
		_ = p.bar.Set64(n)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
