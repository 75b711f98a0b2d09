package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"chainlog"
	"chainlog/agentsrc"
	"chainlog/server"
	"chainlog/sqlite"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// load is what the clients of one HTTP measurement send: the requests'
// bodies, where, and how an answer says how many events it acknowledged.
type load struct {
	name        string // for the store's file name
	path        string
	contentType string
	bodies      [][]byte
	events      []int // events (records) in each body
	// acked reads a 200 answer's body and returns the events it
	// acknowledged, of n sent.
	acked func(body []byte, n int) (int, error)
}

// ndjsonLoad is total generated events as NDJSON bodies of perRequest
// events, for POST /v1/events.
func ndjsonLoad(total, perRequest int) (*load, error) {
	l := &load{name: "ndjson", path: "/v1/events", contentType: "application/x-ndjson", acked: eventsAcked}
	gen := newGenerator(4)
	var buf bytes.Buffer
	var ev chainlog.Event
	for i := 0; i < total; i++ {
		gen.next(&ev)
		line, err := eventLine(&ev)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
		if (i+1)%perRequest == 0 || i == total-1 {
			l.bodies = append(l.bodies, bytes.Clone(buf.Bytes()))
			l.events = append(l.events, (i%perRequest)+1)
			buf.Reset()
		}
	}
	return l, nil
}

func eventsAcked(body []byte, _ int) (int, error) {
	var r struct{ Accepted, Duplicates int }
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, err
	}
	return r.Accepted + r.Duplicates, nil
}

// otlpLoad is total log records, shaped as Claude Code's OTLP events (a
// tool result each, with its session, tool and timing attributes), as
// binary protobuf ExportLogsServiceRequest bodies of perRequest records,
// for POST /v1/logs.
func otlpLoad(total, perRequest int) (*load, error) {
	l := &load{name: "otlp", path: "/v1/logs", contentType: "application/x-protobuf", acked: logsAcked}
	gen := newGenerator(4)
	var ev chainlog.Event
	for done := 0; done < total; {
		n := min(perRequest, total-done)
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "claude-code")
		rl.Resource().Attributes().PutStr("host.name", gen.nodes[len(l.bodies)%len(gen.nodes)])
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("com.anthropic.claude_code.events")
		for range n {
			gen.next(&ev)
			ts, err := time.Parse(time.RFC3339Nano, ev.TS)
			if err != nil {
				return nil, err
			}
			lr := sl.LogRecords().AppendEmpty()
			lr.SetEventName("claude_code.tool_result")
			lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
			lr.Body().SetStr("claude_code.tool_result")
			a := lr.Attributes()
			a.PutStr("session.id", *ev.SessionID)
			a.PutStr("tool_use_id", ev.ID)
			a.PutStr("tool_name", tools[gen.rng.IntN(len(tools))])
			a.PutBool("success", true)
			a.PutInt("duration_ms", int64(gen.rng.IntN(5000)))
			a.PutStr("event.timestamp", ev.TS)
		}
		body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			return nil, err
		}
		l.bodies, l.events = append(l.bodies, body), append(l.events, n)
		done += n
	}
	return l, nil
}

// logsAcked reads an ExportLogsServiceResponse: every record is
// acknowledged unless partial_success rejected some.
func logsAcked(body []byte, n int) (int, error) {
	resp := plogotlp.NewExportResponse()
	if err := resp.UnmarshalProto(body); err != nil {
		return 0, err
	}
	if r := resp.PartialSuccess().RejectedLogRecords(); r != 0 {
		return 0, fmt.Errorf("bench: %d of %d records rejected: %s", r, n, resp.PartialSuccess().ErrorMessage())
	}
	return n, nil
}

// httpRun starts the daemon's handler on a loopback port over a new store,
// has clients send l's bodies, and returns acknowledged events per second.
// Every request is answered only after its commit, as in production.
func httpRun(ctx context.Context, dir string, l *load, clients int) (float64, error) {
	path := filepath.Join(dir, fmt.Sprintf("http-%s-%d-%d.db", l.name, l.events[0], clients))
	defer removeStore(path)
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	ro, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return 0, err
	}
	defer ro.Close()
	w := server.NewWriter(st, server.WriterConfig{MaxBatch: 5000})
	go w.Run(ctx)
	defer w.Close()
	srv := server.New(server.Config{Writer: w, Reader: ro, Monitor: chainlog.NewMonitor(), NodeID: "bench",
		OTLP: &agentsrc.Mapper{NodeID: "bench"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + l.path
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}

	total := 0
	for _, n := range l.events {
		total += n
	}
	var next, acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(l.bodies)) {
					return
				}
				n, err := postOnce(ctx, client, url, l, int(i))
				if err != nil {
					errs <- err
					return
				}
				acked.Add(int64(n))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if acked.Load() != int64(total) {
		return 0, fmt.Errorf("bench: %d of %d events acknowledged", acked.Load(), total)
	}
	// Every event was new: the measure counts inserts, not duplicates.
	if th, err := st.TreeHead(ctx); err != nil || th.Size != int64(total) {
		return 0, fmt.Errorf("bench: %d events in the tree after %d acknowledged (%v)", th.Size, total, err)
	}
	return float64(total) / elapsed.Seconds(), nil
}

// postOnce sends body i of l until it is answered other than 503, and
// returns the events its answer acknowledged.
func postOnce(ctx context.Context, client *http.Client, url string, l *load, i int) (int, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(l.bodies[i]))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", l.contentType)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return l.acked(data, l.events[i])
		case http.StatusServiceUnavailable:
			time.Sleep(10 * time.Millisecond)
		default:
			return 0, fmt.Errorf("bench: %s: %s", resp.Status, data)
		}
	}
}
