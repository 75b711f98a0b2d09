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
	"chainlog/server"
	"chainlog/sqlite"
)

// httpRun starts the daemon's handler on a loopback port over a new store,
// has clients post events in requests of perRequest events, and returns
// acknowledged events per second. Every request is answered only after its
// commit, as in production.
func httpRun(ctx context.Context, dir string, total, perRequest, clients int) (float64, error) {
	path := filepath.Join(dir, fmt.Sprintf("http-%d-%d.db", perRequest, clients))
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
	srv := server.New(server.Config{Writer: w, Reader: ro, Monitor: chainlog.NewMonitor(), NodeID: "bench"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/v1/events"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}

	bodies, err := requestBodies(total, perRequest)
	if err != nil {
		return 0, err
	}
	var next, acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return
				}
				n, err := postOnce(ctx, client, url, bodies[i])
				if err != nil {
					errs <- err
					return
				}
				acked.Add(int64(n))
			}
		}()
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
	return float64(total) / elapsed.Seconds(), nil
}

// requestBodies builds NDJSON bodies of perRequest generated events.
func requestBodies(total, perRequest int) ([][]byte, error) {
	gen := newGenerator(4)
	var bodies [][]byte
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
			bodies = append(bodies, bytes.Clone(buf.Bytes()))
			buf.Reset()
		}
	}
	return bodies, nil
}

func postOnce(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			var r struct{ Accepted, Duplicates int }
			if err := json.Unmarshal(data, &r); err != nil {
				return 0, err
			}
			return r.Accepted + r.Duplicates, nil
		case http.StatusServiceUnavailable:
			time.Sleep(10 * time.Millisecond)
		default:
			return 0, fmt.Errorf("bench: %s: %s", resp.Status, data)
		}
	}
}
