package console

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"chainlog"
)

// verifyJob is the verification the verify button started: one at a time,
// in the background, its progress read by the page while it runs.
type verifyJob struct {
	mu       sync.Mutex
	running  bool
	started  time.Time
	finished time.Time
	total    int64 // rows expected: every node's head seq when it started
	rows     atomic.Int64
	report   *chainlog.Report
	err      string
}

// verifyView is what the verify page and its status show.
type verifyView struct {
	Running  bool             `json:"running"`
	Rows     int64            `json:"rows"`
	Total    int64            `json:"total"`
	Percent  int              `json:"percent"`
	Started  string           `json:"started,omitempty"`
	Finished string           `json:"finished,omitempty"`
	Status   string           `json:"status,omitempty"`
	Error    string           `json:"error,omitempty"`
	Report   *chainlog.Report `json:"-"`
	Elapsed  string           `json:"elapsed,omitempty"`
}

func (j *verifyJob) view() verifyView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := verifyView{Running: j.running, Rows: j.rows.Load(), Total: j.total, Report: j.report, Error: j.err}
	if !j.started.IsZero() {
		v.Started = j.started.UTC().Format(time.RFC3339)
	}
	if !j.finished.IsZero() {
		v.Finished = j.finished.UTC().Format(time.RFC3339)
		v.Elapsed = j.finished.Sub(j.started).Round(time.Millisecond).String()
	}
	if j.report != nil {
		v.Status = j.report.Status
	}
	if v.Total > 0 {
		v.Percent = int(min(100, v.Rows*100/v.Total))
	}
	if !v.Running && v.Report != nil {
		v.Percent = 100
	}
	return v
}

// start runs a verification unless one is running; it reports whether it
// started one.
func (c *Console) startJob(total int64) bool {
	j := &c.verify
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running || c.cfg.Verify == nil {
		return false
	}
	j.running, j.started, j.finished, j.total, j.report, j.err = true, c.cfg.Now(), time.Time{}, total, nil, ""
	j.rows.Store(0)
	c.baseMu.Lock()
	ctx := c.base
	c.baseMu.Unlock()
	go func() {
		rep, err := c.cfg.Verify(ctx, func(rows int64) { j.rows.Store(rows) })
		j.mu.Lock()
		defer j.mu.Unlock()
		j.running, j.finished, j.report = false, c.cfg.Now(), rep
		if err != nil {
			j.err = err.Error()
			c.cfg.Logger.Error("console: verification failed", "err", err)
		}
	}()
	return true
}

func (c *Console) startVerify(w http.ResponseWriter, r *http.Request) {
	if !c.checkPost(r) {
		http.Error(w, "the form's CSRF token is missing or wrong: reload the page", http.StatusForbidden)
		return
	}
	heads, err := c.cfg.Store.Heads(r.Context(), "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var total int64
	for _, h := range heads {
		total += h.Seq
	}
	c.startJob(total)
	http.Redirect(w, r, "/verify", http.StatusSeeOther)
}

func (c *Console) verifyStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(c.verify.view())
}

func (c *Console) verifyPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "verify", "Verify", c.verify.view())
}
