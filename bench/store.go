package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
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

// verifyRSS runs `chainlog verify-integrity` on the store in a child
// process and returns its peak resident memory in MiB. It needs the
// running binary to be chainlog.
func verifyRSS(ctx context.Context, path string) (float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, exe, "verify-integrity", "--store", path, "--json")
	if out, err := cmd.Output(); err != nil {
		return 0, fmt.Errorf("verify-integrity in a child process: %v: %s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, fmt.Errorf("no resource usage for the child process")
	}
	return float64(ru.Maxrss) / 1024, nil // Linux reports KiB
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
	gen := newGenerator(cfg.Nodes)
	gen.n = cfg.Events // other timestamps and sessions than the first events
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
