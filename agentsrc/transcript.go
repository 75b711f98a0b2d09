package agentsrc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"chainlog"
	"chainlog/pricing"
)

// Format is a transcript format.
type Format int

// The transcript formats.
const (
	ClaudeCode Format = iota + 1 // ~/.claude/projects/<slug>/<session>.jsonl
	Codex                        // ~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl
	OpenClaw                     // OpenClaw and pi-coding-agent session files
)

// String gives the format's agent type: "claude_code", "codex", "openclaw".
func (f Format) String() string {
	switch f {
	case ClaudeCode:
		return agentClaudeCode
	case Codex:
		return agentCodex
	case OpenClaw:
		return chainlog.DefaultAgentType
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Transcript maps one session file's lines, in file order. It keeps the
// state a file needs across lines (session id and model from a header
// line, Claude Code responses split over several lines).
type Transcript struct {
	format  Format
	path    string
	file    string // the file's base name, in each event's data
	node    string
	agentID string
	prices  *pricing.Table

	line    int    // lines seen
	end     int64  // offset past the last line seen
	safe    int64  // see Safe
	lastTS  string // the latest record time seen, for records without one
	mtime   string // the file's modification time, read once when needed
	session string // from the header line, else the file name
	model   string // the current model (Codex turn_context, OpenClaw model_change)

	tools   map[string]string // tool call id → tool name (Claude Code)
	pending *ccResponse       // Claude Code: the response still being written
	codex   codexTotals
}

// NewTranscript maps the lines of the session file at path, in format f.
// m gives the node id and the prices; nil is a Mapper with neither.
func NewTranscript(f Format, path string, m *Mapper) *Transcript {
	if m == nil {
		m = &Mapper{}
	}
	t := &Transcript{
		format: f, path: path, file: filepath.Base(path),
		node: orDefault(m.NodeID, unknownNode), prices: m.prices(),
		tools: map[string]string{},
	}
	t.session = sessionFromPath(f, t.file)
	t.agentID = agentFromPath(f, path)
	return t
}

var uuidAtEnd = regexp.MustCompile(`([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(\.[^.]*)*\.jsonl$`)

// sessionFromPath is the session a file's name gives, for records that
// carry none: a Claude Code or OpenClaw file is named after its session,
// a Codex rollout ends in the session's UUID.
func sessionFromPath(f Format, file string) string {
	if m := uuidAtEnd.FindStringSubmatch(file); m != nil {
		return strings.ToLower(m[1])
	}
	if f == Codex {
		return ""
	}
	return strings.TrimSuffix(file, ".jsonl")
}

// agentFromPath gives the agent of an OpenClaw session file,
// .../agents/<agent>/sessions/<id>.jsonl; "" elsewhere.
func agentFromPath(f Format, path string) string {
	if f != OpenClaw {
		return ""
	}
	dir := filepath.Dir(path)
	if filepath.Base(dir) != "sessions" {
		return ""
	}
	parent := filepath.Dir(dir)
	if filepath.Base(filepath.Dir(parent)) != "agents" {
		return ""
	}
	return filepath.Base(parent)
}

// Line maps one complete line (without its newline); end is the file
// offset just past the line's newline. A line that is not JSON returns an
// error naming the line's problem (the caller logs file and line and goes
// on). Unknown record types become generic events, never errors.
func (t *Transcript) Line(line []byte, end int64) ([]chainlog.Event, error) {
	t.line++
	start := t.end
	t.end = end
	defer t.updateSafe()
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, nil
	}
	rec, err := decodeLine(line)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", t.line, err)
	}
	switch t.format {
	case ClaudeCode:
		return t.claudeLine(rec, start), nil
	case Codex:
		return t.codexLine(rec), nil
	case OpenClaw:
		return t.openclawLine(rec), nil
	}
	return nil, fmt.Errorf("line %d: unknown transcript format %d", t.line, int(t.format))
}

// updateSafe moves Safe past the line just mapped, or holds it at the
// start of the first line of a response still pending.
func (t *Transcript) updateSafe() {
	if t.pending != nil {
		t.safe = t.pending.start
		return
	}
	t.safe = t.end
}

// Flush returns the events held back waiting for a later line (the last
// part of a split response), e.g. when the file has been idle or is
// finished.
func (t *Transcript) Flush() []chainlog.Event {
	var evs []chainlog.Event
	if t.pending != nil {
		evs = append(evs, t.pending.event(t))
		t.pending = nil
	}
	t.safe = t.end
	return evs
}

// Safe is the offset up to which every line's events have been returned by
// Line or Flush. A reader that restarts creates a new Transcript, feeds it
// the lines before Safe again (discarding their events) to rebuild its
// state, then goes on from Safe; the events it repeats have the same ids,
// so the store drops them as duplicates.
func (t *Transcript) Safe() int64 { return t.safe }

// recordTS is a record's time: the first of the given fields that parses
// (RFC 3339, or epoch milliseconds), else the latest earlier record's
// time, else the file's modification time. It remembers the time for the
// records that follow.
func (t *Transcript) recordTS(vals ...any) string {
	for _, v := range vals {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case fmt.Stringer: // json.Number
			s = x.String()
		default:
			continue
		}
		if tm, ok := parseTS(s); ok {
			t.lastTS = formatTS(tm)
			return t.lastTS
		}
	}
	if t.lastTS != "" {
		return t.lastTS
	}
	return t.fileTime()
}

// fileTime is the file's modification time, read once; the epoch if the
// file cannot be read.
func (t *Transcript) fileTime() string {
	if t.mtime == "" {
		t.mtime = "1970-01-01T00:00:00Z"
		if fi, err := os.Stat(t.path); err == nil {
			t.mtime = formatTS(fi.ModTime())
		}
	}
	return t.mtime
}

// newFields starts an event of this transcript.
func (t *Transcript) newFields(eventType, ts, session string) eventFields {
	return eventFields{
		agentType: t.format.String(), node: t.node, agentID: t.agentID,
		session: session, eventType: eventType, ts: ts,
	}
}

// source is the "transcript" member of every event's data: where the
// record was read.
func (t *Transcript) source() obj {
	return obj{"format": t.format.String(), "file": t.file, "line": t.line}
}

// recordEvent is the event of a whole record: its id is kind and key when
// key is set, else the hash of the record's content; its data is
// {"record": the record, "transcript": where it was read}.
func (t *Transcript) recordEvent(f eventFields, rec obj, kind, key string) chainlog.Event {
	content := marshalData(rec)
	if key == "" {
		kind, key = kindContent, contentKey(content)
	}
	f.id = eventID(f.agentType, f.session, kind, key)
	src := marshalData(t.source())
	data := make([]byte, 0, len(content)+len(src)+27)
	data = append(data, `{"record":`...)
	data = append(data, content...)
	data = append(data, `,"transcript":`...)
	data = append(data, src...)
	f.data = append(data, '}')
	return f.event()
}

// partEvent is the event of a part of a record (a tool call, a tool
// result): its id is kind and key when key is set, else the hash of data;
// data gets the transcript member.
func (t *Transcript) partEvent(f eventFields, data obj, kind, key string) chainlog.Event {
	if key == "" {
		kind, key = kindContent, contentKey(marshalData(data))
	}
	f.id = eventID(f.agentType, f.session, kind, key)
	data["transcript"] = t.source()
	f.data = marshalData(data)
	return f.event()
}

// usageCost fills tokens, cost and model: the reported cost, else the
// price table's.
func (t *Transcript) usageCost(f *eventFields, u pricing.Usage, tokens int64, model string, cost float64, hasCost bool) {
	f.tokens = &tokens
	if model != "" {
		f.model = model
	}
	if hasCost {
		f.cost = &cost
		return
	}
	if p, ok := t.prices.Lookup(model); ok && model != "" {
		c := p.Cost(u)
		f.cost = &c
	}
}
