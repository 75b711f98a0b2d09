package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"chainlog"
)

// maxRetryTime bounds how long one batch is retried on 503.
const maxRetryTime = 2 * time.Minute

// postIngest sends the input's valid lines to a daemon in NDJSON batches,
// retrying a batch that gets 503 after its Retry-After. The daemon stores
// each batch atomically and answers only after committing it.
func (c *ingestCmd) postIngest(ctx context.Context, in *input, sum *ingestSummary) error {
	url := strings.TrimSuffix(c.server, "/") + "/v1/events"
	client, err := c.tls.client(2 * time.Minute)
	if err != nil {
		return err
	}
	bar := newProgress(c.env, in.size, "posting")
	defer bar.finish()
	r := chainlog.NewReader(in, c.maxLine, c.defaultNode())
	check := in.recheck()
	var body bytes.Buffer
	var lines []int // the input line of each event in body
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		if err := check.batch(); err != nil {
			return err
		}
		res, err := c.post(ctx, client, url, body.Bytes(), lines)
		if err != nil {
			return err
		}
		sum.Inserted += res.Accepted
		sum.Duplicates += res.Duplicates
		sum.Committed = true
		body.Reset()
		lines = lines[:0]
		bar.set(r.BytesRead())
		return nil
	}
	for {
		_, err := r.Next()
		if err == io.EOF {
			if err := flush(); err != nil {
				return err
			}
			return check.end()
		}
		if err != nil {
			if err := check.bad(err); err != nil {
				return err
			}
			if err := c.collect(err, sum); err != nil {
				return err
			}
			continue
		}
		check.line(r.Raw())
		body.Write(r.Raw())
		body.WriteByte('\n')
		lines = append(lines, r.Line())
		if len(lines) == ingestBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

type postResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

func (c *ingestCmd) post(ctx context.Context, client *http.Client, url string, body []byte, lines []int) (postResult, error) {
	var res postResult
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(maxRetryTime)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return res, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return res, fmt.Errorf("post to %s: %w", url, err)
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			if err := json.Unmarshal(data, &res); err != nil {
				return res, fmt.Errorf("post to %s: unreadable answer: %v", url, err)
			}
			return res, nil
		case resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline):
			// Retry-After, plus a random share of the backoff so that
			// clients turned away together do not come back together.
			wait := time.Duration(rand.Int64N(int64(backoff)))
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait += time.Duration(s) * time.Second
			}
			backoff = min(2*backoff, 5*time.Second)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return res, ctx.Err()
			}
		case resp.StatusCode == http.StatusBadRequest:
			return res, badRequest(data, lines)
		default:
			return res, fmt.Errorf("post to %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
		}
	}
}

// badRequest turns the daemon's per-event errors into input line numbers.
func badRequest(data []byte, lines []int) error {
	var out struct {
		Error  string `json:"error"`
		Errors []struct {
			Index int    `json:"index"`
			Field string `json:"field"`
			Error string `json:"error"`
		} `json:"errors"`
	}
	if json.Unmarshal(data, &out) != nil || len(out.Errors) == 0 {
		return fmt.Errorf("the daemon refused a batch: %s", bytes.TrimSpace(data))
	}
	var msgs []string
	for _, e := range out.Errors {
		le := chainlog.LineError{Field: e.Field, Msg: e.Error}
		if e.Index >= 0 && e.Index < len(lines) {
			le.Line = lines[e.Index]
		}
		msgs = append(msgs, le.Error())
	}
	return errors.New("the daemon refused a batch: " + strings.Join(msgs, "; "))
}
