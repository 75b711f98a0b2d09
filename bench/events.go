package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"chainlog"
	"chainlog/pricing"
)

// The payload shapes of generated events (Config.Payload).
const (
	// PayloadSmall is a ~100-byte data object: a tool name and a file
	// position. The runs recorded in docs/performance.md before the
	// realistic shape used it.
	PayloadSmall = "small"
	// PayloadRealistic is shaped as Claude Code's tool calls as the
	// transcript mapper stores them: the tool_use block with its input (a
	// shell command, a file path, an edit), the message and request ids,
	// and usage with its four token counts; the event carries the model,
	// the token count and the price table's cost. Data is 400-700 bytes.
	PayloadRealistic = "realistic"
)

// source yields the events of one measurement, one at a time.
type source interface {
	next(e *chainlog.Event)
}

// events returns a fresh source of the run's events: the events file's,
// replayed, or generated ones of the configured shape. Every measurement
// of a run that takes its events here sees the same events.
func (cfg Config) events() source {
	if cfg.fileEvents != nil {
		return &replay{evs: cfg.fileEvents}
	}
	return cfg.generated(cfg.Nodes, 1)
}

// checkPayload refuses a payload shape that is neither small nor
// realistic; the empty string is realistic.
func checkPayload(p string) error {
	switch p {
	case "", PayloadSmall, PayloadRealistic:
		return nil
	}
	return fmt.Errorf("bench: payload %q: want %s or %s", p, PayloadSmall, PayloadRealistic)
}

// replay yields the events of a file in order, from the first again once
// the last is given.
type replay struct {
	evs []chainlog.Event
	i   int
}

func (r *replay) next(e *chainlog.Event) {
	*e = r.evs[r.i%len(r.evs)]
	r.i++
}

// LoadEvents reads the events of an NDJSON file as `chainlog export`
// writes it, each line decoded with chainlog.DecodeStoredEvent, and keeps
// only what a client sends: the chain stamp, payload digest, leaf index
// and created_at are dropped, so the events can be ingested again into a
// new store. It fails on an empty file, on a line that is not an exported
// event, on an id that repeats, and on the store's own events (a node
// export of the trail), which ingest refuses.
func LoadEvents(path string) ([]chainlog.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("events file: %w", err)
	}
	defer f.Close()
	evs, err := readEvents(f)
	if err != nil {
		return nil, fmt.Errorf("events file %s: %w", path, err)
	}
	return evs, nil
}

// readEvents decodes exported events, one a line, as LoadEvents does.
func readEvents(r io.Reader) ([]chainlog.Event, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	seen := make(map[string]bool)
	var evs []chainlog.Event
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			se, derr := chainlog.DecodeStoredEvent(line)
			if derr != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, derr)
			}
			if err := chainlog.CheckUserNodeID(se.NodeID); err != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, err)
			}
			if seen[se.ID] {
				return nil, fmt.Errorf("line %d: id %q repeats an earlier line's", lineNo, se.ID)
			}
			seen[se.ID] = true
			evs = append(evs, se.Event)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(evs) == 0 {
		return nil, errors.New("no events")
	}
	return evs, nil
}

// Claude Code's tool calls, as the realistic generator writes them.
var (
	ccModels = []string{"claude-sonnet-4-20250514", "claude-opus-4-1-20250805", "claude-3-5-haiku-20241022"}
	ccFiles  = []string{"internal/server/handler.go", "sqlite/ingest.go", "docs/architecture.md",
		"cmd/chainlog/main.go", "web/src/components/EventTable.tsx", "README.md"}
	ccCommands = []string{
		"go test ./sqlite/ -run 'TestIngest|TestVerify' -count=1 2>&1 | tail -40",
		"git status --short && git diff --stat HEAD~1",
		"grep -rn \\\"ChainHash\\\" --include=*.go . | head -20",
		"npm run build && npm test -- --watchAll=false",
	}
	ccPrices = pricing.Default()
)

// nextRealistic fills e's type and mutable fields with a Claude Code tool
// call: Bash, Read, Edit or Grep, its usage and its cost.
func (g *generator) nextRealistic(e *chainlog.Event) {
	r := g.rng
	model := ccModels[r.IntN(len(ccModels))]
	file := ccFiles[r.IntN(len(ccFiles))]
	var name, input string
	switch r.IntN(4) {
	case 0:
		name = "Bash"
		input = fmt.Sprintf(`{"command":"%s","description":"Run the checks after the change","timeout":120000}`, ccCommands[r.IntN(len(ccCommands))])
	case 1:
		name = "Read"
		input = fmt.Sprintf(`{"file_path":"/home/dev/src/project/%s","limit":200,"offset":%d}`, file, r.IntN(900))
	case 2:
		name = "Edit"
		input = fmt.Sprintf(`{"file_path":"/home/dev/src/project/%s","new_string":"\tif err := st.Ingest(ctx, batch); err != nil {\n\t\treturn fmt.Errorf(\"ingest batch %d: %%w\", err)\n\t}","old_string":"\tif err := st.Ingest(ctx, batch); err != nil {\n\t\treturn err\n\t}","replace_all":false}`, file, r.IntN(500))
	default:
		name = "Grep"
		input = fmt.Sprintf(`{"-n":true,"output_mode":"content","path":"/home/dev/src/project/%s","pattern":"func \\(s \\*Store\\) [A-Z]\\w+"}`, file)
	}
	in, out := int64(1+r.IntN(8)), int64(40+r.IntN(900))
	cw, cr := int64(r.IntN(4000)), int64(20000+r.IntN(120000))
	e.EventType = "tool_use"
	e.AgentType = "claude_code"
	e.Data = fmt.Appendf(nil, `{"message_id":"msg_01%s","model":%q,"request_id":"req_011%s","tool_use":{"id":"toolu_01%s","input":%s,"name":%q,"type":"tool_use"},"usage":{"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"input_tokens":%d,"output_tokens":%d}}`,
		g.token(22), model, g.token(21), g.token(22), input, name, cw, cr, in, out)
	tokens := in + out + cw + cr
	e.TokenCount, e.Model = &tokens, &model
	if p, ok := ccPrices.Lookup(model); ok {
		cost := (float64(in)*p.Input + float64(out)*p.Output + float64(cw)*p.CacheWrite + float64(cr)*p.CacheRead) / 1e6
		e.CostUSD = &cost
	}
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// token is n random base-62 characters, as Anthropic's message, request
// and tool call ids end.
func (g *generator) token(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[g.rng.IntN(len(base62))]
	}
	return string(b)
}

// generated returns a generator of the configured shape, seeded with seed:
// for the measurements that need events beyond the run's own (the
// incremental check's new events, the HTTP loads), also when the run's
// events come from a file.
func (cfg Config) generated(nodes int, seed uint64) *generator {
	g := seededGenerator(nodes, seed)
	g.realistic = cfg.Payload != PayloadSmall
	return g
}

// payloadName is the shape the run's events have, for its result.
func (cfg Config) payloadName() string {
	switch {
	case cfg.EventsFile != "":
		return "file"
	case cfg.Payload == "":
		return PayloadRealistic
	}
	return cfg.Payload
}

// loadEvents checks the payload shape and reads the events file, if any,
// once for the whole run; the run then measures the file's count.
func (cfg *Config) loadEvents() error {
	if err := checkPayload(cfg.Payload); err != nil {
		return err
	}
	if cfg.EventsFile == "" {
		return nil
	}
	evs, err := LoadEvents(cfg.EventsFile)
	if err != nil {
		return err
	}
	cfg.fileEvents, cfg.Events = evs, len(evs)
	return nil
}
