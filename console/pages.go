package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"chainlog"
)

// nodeRow is one node on the overview.
type nodeRow struct {
	ID       string
	HeadSeq  int64
	LastAt   string
	Verified int64 // verified through this seq; 0: not yet
	Status   string
	Break    *chainlog.Break
	Pruned   int64
}

type checkpointView struct {
	Origin  string
	Size    int64
	Root    string
	At      string
	Signers []string // every signature's key name: the log's, then witnesses'
}

type overviewData struct {
	Events     int64
	Nodes      []nodeRow
	Report     *chainlog.Report
	VerifiedAt string
	Full       bool
	Checkpoint *checkpointView
	Pruned     int64
	Prunes     []chainlog.PruneSummary
	Rate       chart
	Queue      chart
	QueueNow   int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	heads, err := c.cfg.Store.Heads(ctx, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	prunes, err := c.cfg.Store.Prunes(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := overviewData{}
	pruned := map[string]int64{}
	for _, a := range prunes {
		if a.Prune != nil {
			pruned[a.Prune.NodeID] += a.Prune.Count
			d.Pruned += a.Prune.Count
			d.Prunes = append(d.Prunes, chainlog.PruneSummary{PruneRange: *a.Prune, Seq: a.Seq, At: a.At, Actor: a.Actor, Reason: a.Reason})
		}
	}
	var nodeReports map[string]chainlog.NodeReport
	if c.cfg.LastVerification != nil {
		var at time.Time
		d.Report, at, d.Full = c.cfg.LastVerification()
		if d.Report != nil {
			d.VerifiedAt = at.UTC().Format(time.RFC3339)
			nodeReports = map[string]chainlog.NodeReport{}
			for _, n := range d.Report.Nodes {
				nodeReports[n.NodeID] = n
			}
		}
	}
	for _, h := range heads {
		if strings.HasPrefix(h.NodeID, chainlog.ReservedNodePrefix) {
			continue
		}
		row := nodeRow{ID: h.NodeID, HeadSeq: h.Seq, LastAt: h.UpdatedAt, Pruned: pruned[h.NodeID], Status: "not verified yet"}
		if n, ok := nodeReports[h.NodeID]; ok {
			row.Verified, row.Status, row.Break = n.HeadSeq, n.Status, n.Break
		}
		d.Events += h.Seq - row.Pruned
		d.Nodes = append(d.Nodes, row)
	}
	if d.Checkpoint, err = c.checkpoint(r); err != nil {
		c.fail(w, r, err)
		return
	}
	d.Rate, d.Queue, d.QueueNow = c.hourCharts()
	c.render(w, r, http.StatusOK, "overview", "Overview", d)
}

// checkpoint returns the last signed checkpoint, with its cosignatures
// when Config.Checkpoint gives them; nil when there is none.
func (c *Console) checkpoint(r *http.Request) (*checkpointView, error) {
	signed, err := c.signedCheckpoint(r)
	if err != nil || signed == nil {
		return nil, err
	}
	cp, err := chainlog.ParseSignedCheckpoint(signed)
	if err != nil {
		return nil, err
	}
	v := &checkpointView{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:])}
	if v.At, err = c.cfg.Store.CheckpointTime(r.Context()); err != nil {
		return nil, err
	}
	if _, sigs, ok := bytes.Cut(signed, []byte("\n\n")); ok {
		for _, line := range strings.Split(string(sigs), "\n") {
			if name, ok := strings.CutPrefix(line, "— "); ok {
				name, _, _ = strings.Cut(name, " ")
				v.Signers = append(v.Signers, name)
			}
		}
	}
	return v, nil
}

func (c *Console) signedCheckpoint(r *http.Request) ([]byte, error) {
	if c.cfg.Checkpoint != nil {
		return c.cfg.Checkpoint()
	}
	return c.cfg.Store.LatestCheckpoint(r.Context())
}

// eventsData is one page of events.
type eventsData struct {
	Filter  chainlog.EventFilter
	Events  []eventRow
	From    int64 // the window read: rows after From
	Upto    int64 // through Upto
	Last    int64 // the newest row
	Next    string
	First   string
	Elapsed string
}

type eventRow struct {
	chainlog.StoredEvent
	Session string
	Cost    string
	Tokens  string
	ModelN  string
}

func rowOf(e *chainlog.StoredEvent) eventRow {
	r := eventRow{StoredEvent: *e, Cost: "", Tokens: ""}
	if e.SessionID != nil {
		r.Session = *e.SessionID
	}
	if e.CostUSD != nil {
		r.Cost = fmt.Sprintf("$%.4f", *e.CostUSD)
	}
	if e.TokenCount != nil {
		r.Tokens = chainlog.Thousands(*e.TokenCount)
	}
	if e.Model != nil {
		r.ModelN = *e.Model
	}
	return r
}

// pageSize is the events a page shows.
const pageSize = 50

func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	v := r.URL.Query()
	q := chainlog.EventFilter{NodeID: v.Get("node"), SessionID: v.Get("session"), AgentID: v.Get("agent"),
		EventType: v.Get("type"), Since: v.Get("since"), Until: v.Get("until"), Limit: pageSize}
	if raw := v.Get("after"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			c.render(w, r, http.StatusBadRequest, "error", "Bad request", errorData{Message: "after: want a cursor from a previous page"})
			return
		}
		q.After = n
	}
	last, err := c.cfg.Store.LastCursor(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	filtered := q.NodeID != "" || q.SessionID != "" || q.AgentID != "" || q.EventType != "" || q.Since != "" || q.Until != ""
	if filtered {
		// Filters read a window of rows, never the whole table: a page
		// that finds few matches in it links on to the next window.
		q.Upto = min(q.After+c.cfg.Window, last)
	}
	events, next, err := c.cfg.Store.Events(r.Context(), q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := eventsData{Filter: q, From: q.After, Upto: q.Upto, Last: last}
	for i := range events {
		d.Events = append(d.Events, rowOf(&events[i]))
	}
	if next == 0 && filtered && q.Upto < last {
		next = q.Upto
	}
	if next != 0 {
		d.Next = eventsURL(q, next)
	}
	if q.After != 0 {
		d.First = eventsURL(q, 0)
	}
	d.Elapsed = time.Since(start).Round(time.Microsecond).String()
	c.render(w, r, http.StatusOK, "events", "Events", d)
}

// eventsURL is the events page of q's filters after the cursor.
func eventsURL(q chainlog.EventFilter, after int64) string {
	v := url.Values{}
	for k, s := range map[string]string{"node": q.NodeID, "session": q.SessionID, "agent": q.AgentID,
		"type": q.EventType, "since": q.Since, "until": q.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	if len(v) == 0 {
		return "/events"
	}
	return "/events?" + v.Encode()
}

// eventData is one event's page.
type eventData struct {
	Row        eventRow
	Identity   []field
	Payload    string
	Prev, Next string // ids of the node's previous and next events; "" if none
	PrevPruned bool   // the previous event was pruned
	Session    string // the session timeline's page around the event
	History    []chainlog.Amendment
	CanProve   bool
}

type field struct{ Name, Value string }

func (c *Console) event(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	e, err := c.cfg.Store.Event(ctx, id)
	if errors.Is(err, chainlog.ErrPruned) || (err == nil && e.Husk()) {
		// A husk is no event: its prune record stands for it.
		c.render(w, r, http.StatusGone, "error", "Pruned event", errorData{Message: fmt.Sprintf("Event %q was pruned: its prune record, on the overview, stands for it.", id)})
		return
	}
	if errors.Is(err, chainlog.ErrNotFound) {
		c.render(w, r, http.StatusNotFound, "error", "No such event", errorData{Message: fmt.Sprintf("No event with id %q.", id)})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := eventData{Row: rowOf(e), Payload: pretty(e.Data)}
	d.Identity = []field{{"id", e.ID}, {"agent_type", e.AgentType}, {"node_id", e.NodeID}, {"agent_id", e.AgentID},
		{"session_id", deref(e.SessionID)}, {"workspace_id", deref(e.WorkspaceID)}, {"event_type", e.EventType}, {"ts", e.TS},
		{"created_at", e.CreatedAt}, {"chain_seq", strconv.FormatInt(e.Seq, 10)}, {"chain_prev_hash", e.PrevHash},
		{"chain_hash", e.Hash}, {"payload_digest", e.PayloadDigest}}
	if e.Seq > 0 {
		if d.Prev, err = c.neighbour(r, e.NodeID, e.Seq-1); err != nil {
			c.fail(w, r, err)
			return
		}
		d.PrevPruned = d.Prev == "" && e.Seq > 1
		if d.Next, err = c.neighbour(r, e.NodeID, e.Seq+1); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	if d.History, err = c.cfg.Store.Amendments(ctx, id); err != nil {
		c.fail(w, r, err)
		return
	}
	d.CanProve = e.LeafIndex != nil
	if e.SessionID != nil {
		cur, err := c.cfg.Store.Cursor(ctx, id)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		after := max(0, cur-1-c.sessionWindow()/2)
		d.Session = "/session?" + url.Values{"id": {*e.SessionID}, "after": {strconv.FormatInt(after, 10)}}.Encode()
	}
	c.render(w, r, http.StatusOK, "event", "Event "+id, d)
}

// neighbour returns the id of node's event at seq, or "" when there is
// none (or it was pruned).
func (c *Console) neighbour(r *http.Request, node string, seq int64) (string, error) {
	var id string
	err := c.cfg.Store.ChainEvents(r.Context(), node, seq, seq, func(e *chainlog.StoredEvent) error {
		id = strings.Clone(e.ID)
		return nil
	})
	return id, err
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// pretty indents a JSON payload; what is not JSON is shown as it is.
func pretty(data []byte) string {
	if data == nil {
		return "null"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return string(data)
	}
	return buf.String()
}

// proof downloads the event's proof bundle against the last signed
// checkpoint: what `chainlog prove --id` writes.
func (c *Console) proof(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	signed, err := c.cfg.Store.LatestCheckpoint(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if signed == nil {
		c.render(w, r, http.StatusConflict, "error", "No checkpoint", errorData{Message: "The store has no signed checkpoint yet: a proof needs one. Configure a signer key."})
		return
	}
	data, err := chainlog.ProveBundle(r.Context(), c.cfg.Store, id, signed)
	switch {
	case errors.Is(err, chainlog.ErrNotFound), errors.Is(err, chainlog.ErrPruned):
		c.render(w, r, http.StatusNotFound, "error", "No such event", errorData{Message: err.Error()})
		return
	case errors.Is(err, chainlog.ErrNotInTree):
		c.render(w, r, http.StatusConflict, "error", "Not in the checkpoint yet", errorData{Message: err.Error() + ". Try again after the next checkpoint."})
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", proofFileName(id)))
	w.Write(data)
}

// proofFileName is the download's name: the id's safe characters.
func proofFileName(id string) string {
	b := []byte(id)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			b[i] = '_'
		}
	}
	return "proof-" + string(b) + ".txt"
}

// sessionData is a session's timeline over one window of rows.
type sessionData struct {
	ID            string
	Steps         []eventRow
	Cost          string
	Tokens        string
	From, Upto    int64 // the rows read: after From, through Upto
	Next, Earlier string
}

// sessionWindow is how many rows a session page reads at most: a session's
// steps are close together in commit order.
func (c *Console) sessionWindow() int64 { return 5 * c.cfg.Window }

func (c *Console) sessionPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	q := chainlog.EventFilter{SessionID: id, Limit: chainlog.MaxQueryLimit}
	if raw := r.URL.Query().Get("after"); raw != "" {
		q.After, _ = strconv.ParseInt(raw, 10, 64)
		q.After = max(0, q.After)
	}
	last, err := c.cfg.Store.LastCursor(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q.Upto = min(q.After+c.sessionWindow(), last)
	events, next, err := c.cfg.Store.Events(r.Context(), q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := sessionData{ID: id, From: q.After, Upto: q.Upto}
	var cost float64
	var tokens int64
	for i := range events {
		e := &events[i]
		d.Steps = append(d.Steps, rowOf(e))
		if e.CostUSD != nil {
			cost += *e.CostUSD
		}
		if e.TokenCount != nil {
			tokens += *e.TokenCount
		}
	}
	d.Cost, d.Tokens = fmt.Sprintf("$%.4f", cost), chainlog.Thousands(tokens)
	if next == 0 && q.Upto < last {
		next = q.Upto
	}
	link := func(after int64) string {
		return "/session?" + url.Values{"id": {id}, "after": {strconv.FormatInt(after, 10)}}.Encode()
	}
	if next != 0 {
		d.Next = link(next)
	}
	if q.After > 0 {
		d.Earlier = link(max(0, q.After-c.sessionWindow()))
	}
	c.render(w, r, http.StatusOK, "session", "Session "+id, d)
}

type errorData struct{ Message string }

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusNotFound, "error", "Not found", errorData{Message: "No page at " + r.URL.Path + "."})
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	c.cfg.Logger.Error("console: page failed", "path", r.URL.Path, "err", err)
	c.render(w, r, http.StatusInternalServerError, "error", "Error", errorData{Message: err.Error()})
}
