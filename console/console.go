// Package console is chainlog's console in the browser, served by the
// daemon at /: an overview of every chain and the last verification and
// checkpoint, the events with filters and keyset pagination, one event with
// its place in the chain, its amendment history and its proof bundle, a
// session's timeline, the costs per day as charts, and a button that runs
// a whole-store verification.
//
// Pages are rendered on the server with html/template; the style sheet,
// the one small script and the templates are embedded, so the console
// needs no network at run time. With a token, a login page asks for it
// once and keeps a session in an HttpOnly, SameSite=Strict cookie; the
// verify button posts a form with a CSRF token.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"chainlog"

	"golang.org/x/mod/sumdb/tlog"
)

// Store is what the console reads. Every method reads a bounded part of
// the store: the events page reads a window of rows (EventFilter.Upto),
// never the whole table.
type Store interface {
	Heads(ctx context.Context, nodeID string) ([]chainlog.Head, error)
	Events(ctx context.Context, q chainlog.EventFilter) ([]chainlog.StoredEvent, int64, error)
	Event(ctx context.Context, id string) (*chainlog.StoredEvent, error)
	Amendments(ctx context.Context, eventID string) ([]chainlog.Amendment, error)
	Prunes(ctx context.Context) ([]chainlog.Amendment, error)
	// ChainEvents streams nodeID's events fromSeq through toSeq, husks
	// left out; the *StoredEvent is reused between calls.
	ChainEvents(ctx context.Context, nodeID string, fromSeq, toSeq int64, fn func(*chainlog.StoredEvent) error) error
	ProveEvent(ctx context.Context, id string, size int64) (chainlog.ProvenEvent, int64, tlog.RecordProof, error)
	LatestCheckpoint(ctx context.Context) ([]byte, error)
	// CheckpointTime is when the kept checkpoint was signed; "" if none.
	CheckpointTime(ctx context.Context) (string, error)
	// Costs groups the events committed since a time by day, model and
	// agent.
	Costs(ctx context.Context, since time.Time) ([]chainlog.CostDay, error)
	// Cursor is the cursor of the event with id (chainlog.ErrNotFound).
	Cursor(ctx context.Context, id string) (int64, error)
	// LastCursor is the newest row's cursor; 0 when there is none.
	LastCursor(ctx context.Context) (int64, error)
}

// Config configures the console.
type Config struct {
	Store Store
	// Token, if set, is required: by a login page that sets a session
	// cookie, or as "Authorization: Bearer TOKEN".
	Token string
	// Verify runs a whole-store verification, calling progress with the
	// rows read so far.
	Verify func(ctx context.Context, progress func(rows int64)) (*chainlog.Report, error)
	// LastVerification returns the daemon's last verification, when it
	// ended and whether it was a whole-store one; nil before the first.
	LastVerification func() (*chainlog.Report, time.Time, bool)
	// Checkpoint, if set, returns the last signed checkpoint as the daemon
	// serves it, with the witnesses' cosignatures; nil: the store's.
	Checkpoint func() ([]byte, error)
	// QueueDepth returns the events waiting to be committed; nil: 0.
	QueueDepth func() int64
	// Window bounds the rows one events page reads when it filters;
	// default 20,000.
	Window int64
	// SampleEvery is how often Run samples the ingest rate and the queue
	// depth; default a minute.
	SampleEvery time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console is the console's HTTP handler.
type Console struct {
	cfg     Config
	mux     *http.ServeMux
	tmpl    map[string]*template.Template
	key     []byte // signs session cookies and CSRF tokens; new at each start
	verify  verifyJob
	samples sampler
	// base is the context the verify button's runs get: Run's, so that
	// they stop with the daemon.
	baseMu sync.Mutex
	base   context.Context
}

// New returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Window <= 0 {
		cfg.Window = 20000
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = time.Minute
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), tmpl: tmpl, key: make([]byte, 32), base: context.Background()}
	rand.Read(c.key)
	c.samples.max = int(time.Hour/cfg.SampleEvery) + 1
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.logout)
	c.mux.HandleFunc("GET /{$}", c.auth(c.overview))
	c.mux.HandleFunc("GET /events", c.auth(c.events))
	c.mux.HandleFunc("GET /event", c.auth(c.event))
	c.mux.HandleFunc("GET /event/proof", c.auth(c.proof))
	c.mux.HandleFunc("GET /session", c.auth(c.sessionPage))
	c.mux.HandleFunc("GET /costs", c.auth(c.costs))
	c.mux.HandleFunc("GET /verify", c.auth(c.verifyPage))
	c.mux.HandleFunc("POST /verify", c.auth(c.startVerify))
	c.mux.HandleFunc("GET /verify/status", c.auth(c.verifyStatus))
	c.mux.HandleFunc("/", c.auth(c.notFound))
	return c, nil
}

// ServeHTTP serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// Run samples the ingest rate and the queue depth until ctx ends.
// A verification the verify button started stops when ctx ends.
func (c *Console) Run(ctx context.Context) {
	c.baseMu.Lock()
	c.base = ctx
	c.baseMu.Unlock()
	c.sample(ctx)
	t := time.NewTicker(c.cfg.SampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sample(ctx)
		}
	}
}

// sign returns the hex HMAC of what under the console's key.
func (c *Console) sign(what string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(what))
	return hex.EncodeToString(m.Sum(nil))
}

// sampler keeps the last hour of samples.
type sampler struct {
	mu   sync.Mutex
	max  int
	list []sample
}

type sample struct {
	at     time.Time
	events int64 // chained events, all nodes
	queue  int64
}

func (c *Console) sample(ctx context.Context) {
	heads, err := c.cfg.Store.Heads(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			c.cfg.Logger.Warn("console: sample the ingest rate", "err", err)
		}
		return
	}
	var n int64
	for _, h := range heads {
		n += h.Seq
	}
	s := sample{at: c.cfg.Now(), events: n}
	if c.cfg.QueueDepth != nil {
		s.queue = c.cfg.QueueDepth()
	}
	c.samples.mu.Lock()
	defer c.samples.mu.Unlock()
	c.samples.list = append(c.samples.list, s)
	if len(c.samples.list) > c.samples.max {
		c.samples.list = c.samples.list[len(c.samples.list)-c.samples.max:]
	}
}

func (c *Console) lastHour() []sample {
	c.samples.mu.Lock()
	defer c.samples.mu.Unlock()
	return append([]sample(nil), c.samples.list...)
}
