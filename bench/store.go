package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"chainlog"
	"chainlog/sqlite"
)

// bytesPerEvent returns the store's size on disk (database and WAL) per
// event.
func bytesPerEvent(path string, events int) (float64, error) {
	var total int64
	for _, suffix := range []string{"", "-wal"} {
		fi, err := os.Stat(path + suffix)
		if err == nil {
			total += fi.Size()
		} else if !os.IsNotExist(err) {
			return 0, err
		}
	}
	return float64(total) / float64(events), nil
}

// verifyChild runs `chainlog verify-integrity --json` on the store in a
// child process, as a user would, checks that it reports the store valid
// with every event checked, and returns its rate in events per second
// (the child's wall time, start-up included) and its peak resident memory
// in MiB. It needs the running binary to be chainlog.
//
// The memory is the VmHWM that Linux keeps for the child's own address
// space, read from /proc/<pid>/status every 2 ms until the child exits.
// The rusage of a waited-for child is no measure here: its ru_maxrss
// includes the RSS of the parent when the child was started (Linux carries
// the high-water mark across fork and exec), and the bench holds far more
// memory than the verifier.
func verifyChild(ctx context.Context, path string, events int) (perSec, rssMiB float64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, exe, "verify-integrity", "--store", path, "--json")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("verify-integrity in a child process: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var peakKiB int64
	for {
		if kib, err := vmHWM(cmd.Process.Pid); err == nil {
			peakKiB = max(peakKiB, kib)
		}
		select {
		case err := <-done:
			elapsed := time.Since(start)
			if err != nil {
				return 0, 0, fmt.Errorf("verify-integrity in a child process: %v: %s%s", err, out.Bytes(), stderr.Bytes())
			}
			var rep struct {
				Status  string `json:"status"`
				Checked int64  `json:"checked"`
			}
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				return 0, 0, fmt.Errorf("verify-integrity in a child process: %v: %s", err, out.Bytes())
			}
			if rep.Status != string(chainlog.StatusValid) || rep.Checked != int64(events) {
				return 0, 0, fmt.Errorf("bench: verify-integrity says %s after %d events, want valid after %d", rep.Status, rep.Checked, events)
			}
			if peakKiB == 0 {
				return 0, 0, errors.New("verify-integrity in a child process: no VmHWM was read (is /proc mounted?)")
			}
			return float64(events) / elapsed.Seconds(), float64(peakKiB) / 1024, nil
		case <-tick.C:
		}
	}
}

// vmHWM reads the peak resident set size, in KiB, of process pid's
// address space from /proc. It fails once the process has exited.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM line")
}

// incrementalRun verifies the store fully with a Monitor, adds extra new
// events, and times the Monitor's next check, which reads only those. It
// returns the full and the incremental check's durations in milliseconds.
func incrementalRun(ctx context.Context, cfg Config, path string, extra int) (full, incr float64, err error) {
	ro, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	defer ro.Close()
	m := chainlog.NewMonitor()
	start := time.Now()
	if rep, err := m.Check(ctx, ro); err != nil || rep.Status != chainlog.StatusValid {
		return 0, 0, fmt.Errorf("bench: full monitor check: %v %v", rep, err)
	}
	full = ms(time.Since(start))
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	gen := cfg.generated(cfg.Nodes, 2) // other ids than the run's events
	gen.n = cfg.Events                 // other timestamps and sessions than the first events
	batch := make([]chainlog.Event, 0, cfg.Batch)
	for i := 0; i < extra; i++ {
		var ev chainlog.Event
		gen.next(&ev)
		if batch = append(batch, ev); len(batch) == cfg.Batch || i == extra-1 {
			if _, err := st.Ingest(ctx, batch); err != nil {
				return 0, 0, err
			}
			batch = batch[:0]
		}
	}
	start = time.Now()
	rep, err := m.Check(ctx, ro)
	if err != nil {
		return 0, 0, err
	}
	if rep.Status != chainlog.StatusValid || rep.Checked != int64(cfg.Events+extra) {
		return 0, 0, fmt.Errorf("bench: incremental check says %s after %d events, want valid after %d", rep.Status, rep.Checked, cfg.Events+extra)
	}
	return full, ms(time.Since(start)), nil
}

// cliIngestRuns writes the run's generated events to an NDJSON file and
// times `chainlog ingest` of it into a new store, in a child process, as a
// user runs it: a validation pass over the file, then the commits. It
// times it with everything on and with integrity off
// (CHAINLOG_INTEGRITY=off), everything on first when onFirst is set, and
// returns events per second for each. It needs the running binary to be
// chainlog.
func cliIngestRuns(ctx context.Context, cfg Config, dir string, onFirst bool) (on, off float64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	input := filepath.Join(dir, "events.ndjson")
	defer os.Remove(input)
	if err := writeNDJSON(input, cfg); err != nil {
		return 0, 0, err
	}
	run := func(integrity string) (float64, error) {
		path := filepath.Join(dir, "cli.db")
		defer removeStore(path)
		cmd := exec.CommandContext(ctx, exe, "ingest", "--store", path, input)
		cmd.Env = append(os.Environ(), "CHAINLOG_INTEGRITY="+integrity)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("chainlog ingest in a child process, CHAINLOG_INTEGRITY=%s: %v: %s", integrity, err, out)
		}
		return float64(cfg.Events) / time.Since(start).Seconds(), nil
	}
	for _, isOn := range []bool{onFirst, !onFirst} {
		if isOn {
			on, err = run("on")
		} else {
			off, err = run("off")
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return on, off, nil
}

// writeNDJSON writes cfg.Events generated events to path, one JSON object
// a line.
func writeNDJSON(path string, cfg Config) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen := cfg.events()
	var ev chainlog.Event
	for range cfg.Events {
		gen.next(&ev)
		line, err := eventLine(&ev)
		if err == nil {
			_, err = w.Write(append(line, '\n'))
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
