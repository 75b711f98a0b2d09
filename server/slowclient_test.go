package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowClient: a client that trickles its body byte by byte is cut off
// by the http.Server's ReadTimeout, and while it trickles, other clients'
// requests are committed and answered at once: the body is read in full
// before the request reaches the writer, so a slow client never holds it.
// (Not parallel: it measures time.)
func TestSlowClient(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	d := newDaemon(t, daemonConfig{ReadTimeout: readTimeout})

	// The server's read deadline may start as soon as it accepts the
	// connection: the clock starts before the dial, so that a busy machine
	// never makes the cut look early.
	start := time.Now()
	conn, err := net.Dial("tcp", d.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := []byte(ev("slow"))
	fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: chainlog\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	const every = 30 * time.Millisecond // the whole body would take len(body)*30ms, about 3s
	trickled := make(chan int, 1)
	go func() {
		n := 0
		for ; n < len(body); n++ {
			if _, err := conn.Write(body[n : n+1]); err != nil {
				break
			}
			time.Sleep(every)
		}
		trickled <- n
	}()

	// Meanwhile, other clients.
	time.Sleep(2 * every)
	const fast = 8
	var wg sync.WaitGroup
	latencies := make([]time.Duration, fast)
	doneAt := make([]time.Duration, fast)
	for i := range fast {
		wg.Go(func() {
			t0 := time.Now()
			r, err := d.tryDo(t.Context(), http.MethodPost, "/v1/events", []byte(ev(fmt.Sprint("fast-", i))), "Content-Type", "application/json")
			latencies[i], doneAt[i] = time.Since(t0), time.Since(start)
			if err != nil || r.status != http.StatusOK {
				t.Errorf("fast client %d: %v %v", i, r, err)
			}
		})
	}
	if q := d.writer.Queued(); q > fast {
		t.Errorf("Queued() = %d while the slow client trickles; want only the fast clients' events", q)
	}
	wg.Wait()

	// The slow client gets at most an error answer, then the connection
	// is closed.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := io.ReadAll(conn)
	cutAt := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the slow client's connection is still open after %v", cutAt)
	}
	t.Logf("slow client cut off after %v (ReadTimeout %v), answer %q, read error %v", cutAt, readTimeout, firstLine(answer), err)
	if cutAt < readTimeout || cutAt > readTimeout+time.Second {
		t.Errorf("slow client cut off after %v; want about the ReadTimeout, %v", cutAt, readTimeout)
	}
	if len(answer) > 0 {
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(answer))), nil)
		if err != nil {
			t.Fatalf("answer to the slow client %q: %v", answer, err)
		}
		if resp.StatusCode == http.StatusOK {
			t.Errorf("the slow client got %s; want an error", resp.Status)
		}
	}
	conn.Close()
	if n := <-trickled; n == len(body) {
		t.Errorf("the slow client sent its whole body")
	}

	for i := range fast {
		if latencies[i] >= readTimeout {
			t.Errorf("fast client %d took %v; want well under the slow client's %v", i, latencies[i], readTimeout)
		}
		if doneAt[i] >= cutAt {
			t.Errorf("fast client %d answered at %v, after the slow client was cut off at %v", i, doneAt[i], cutAt)
		}
	}
	ids := storedIDs(t, d.path)
	if slices.Contains(ids, "slow") {
		t.Error("the slow client's event was stored")
	}
	if len(ids) != fast {
		t.Errorf("stored %d events; want the %d fast clients'", len(ids), fast)
	}
	// The daemon goes on serving.
	wantPosted(t, d.post(t, ev("after")), postResult{1, 0})
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}
