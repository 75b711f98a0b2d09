package daemon

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chainlog"
	"chainlog/archive"
	"chainlog/sqlite"

	"golang.org/x/mod/sumdb/note"
)

// TestRunRetention: with a retention policy the daemon prunes what is
// older than its age, on its clock, while it keeps accepting; the store,
// its checkpoints and the daemon's own verifications stay VALID.
func TestRunRetention(t *testing.T) {
	cfg := testConfig(t)
	v := withSigner(t, &cfg)
	cfg.VerifyInterval, cfg.FullVerifyInterval, cfg.CheckpointInterval = 5*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	cfg.Verifier = v
	archives := filepath.Join(t.TempDir(), "archives")
	cfg.Retain = &Retention{Age: 30 * 24 * time.Hour, Text: "30d", Every: 10 * time.Millisecond, ArchiveDir: archives}
	// The clock is 2026-01-20: the events of 2026-01-01 (post's) are 19
	// days old and stay until the clock passes 2026-01-31.
	now := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	var clock atomicTime
	clock.Store(now)
	cfg.Now = clock.Load
	d := start(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log)
		}
	})
	if code, body := d.post(t, "r1", "r2", "r3"); code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, body)
	}
	time.Sleep(50 * time.Millisecond)
	if rep := verifyStore(t, cfg.Store); rep.Pruned != 0 {
		t.Fatalf("pruned %d events younger than the policy's age", rep.Pruned)
	}
	clock.Store(now.AddDate(0, 0, 12))
	waitFor(t, "the policy to prune the 3 events", func() bool { return verifyStore(t, cfg.Store).Pruned == 3 })
	// The daemon accepts on, and the next run prunes the new old event
	// too; its own verifications follow the prunes.
	if code, body := d.post(t, "r4"); code != http.StatusOK {
		t.Fatalf("POST after the prune: %d %s", code, body)
	}
	waitFor(t, "the policy to prune the 4th event", func() bool { return verifyStore(t, cfg.Store).Pruned == 4 })
	time.Sleep(100 * time.Millisecond) // several incremental and whole verifications
	if got := d.metric(t, "chainlog_last_verification_valid"); got != "1" {
		t.Fatalf("the daemon's verification after the prune: valid = %q\n%s", got, d.log)
	}
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	rep := verifyStore(t, cfg.Store)
	if rep.Status != chainlog.StatusValid || rep.Pruned != 4 || len(rep.Prunes) != 2 {
		t.Fatalf("after: %s, %d pruned, %+v", rep.Status, rep.Pruned, rep.BrokenAt)
	}
	if p := rep.Prunes[0]; p.Reason != "retention: policy 30d" || p.Actor != "chainlog serve" || p.Before != "2026-01-02T00:00:00Z" {
		t.Errorf("prune record: %+v", p)
	}
	if !strings.Contains(d.log.String(), "retention: pruned") {
		t.Errorf("the log does not report the prune:\n%s", d.log)
	}
	// Each prune wrote its archive first: each verifies alone, and is
	// what the store's records say was pruned.
	dirs, err := os.ReadDir(archives)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("archives: %v, %v; want 2", dirs, err)
	}
	ro, err := sqlite.OpenReadOnly(t.Context(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var events int64
	for _, dir := range dirs {
		path := filepath.Join(archives, dir.Name())
		rep, err := archive.Verify(t.Context(), path, archive.Options{Verifiers: []note.Verifier{v}})
		if err != nil {
			t.Fatalf("archive %s: %v", dir.Name(), err)
		}
		if err := archive.CheckStore(t.Context(), path, ro); err != nil {
			t.Errorf("archive %s against the store: %v", dir.Name(), err)
		}
		events += rep.Events
	}
	if events != 4 {
		t.Errorf("the archives hold %d events; want the 4 pruned", events)
	}
	// The last checkpoint covers the trail's anchors of the prune records.
	sizes := checkpointSizes(t, cfg.CheckpointFile, v)
	if last := sizes[len(sizes)-1]; last != 6 { // 4 events and 2 anchors
		t.Errorf("checkpoint sizes %v; want the last at 6", sizes)
	}
}

func TestRetentionConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Retention
		want string
	}{
		{"no age", Retention{Every: time.Hour, NoArchive: true}, "Age"},
		{"no schedule", Retention{Age: time.Hour, NoArchive: true}, "Every"},
		{"no archive choice", Retention{Age: time.Hour, Every: time.Hour}, "NoArchive set explicitly"},
		{"both", Retention{Age: time.Hour, Every: time.Hour, NoArchive: true, ArchiveDir: "a"}, "ArchiveDir and NoArchive"},
		{"archive without checkpoints", Retention{Age: time.Hour, Every: time.Hour, ArchiveDir: "a"}, "needs a Signer and its Verifier"},
	} {
		cfg := testConfig(t)
		cfg.Retain = &tc.r
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New: %v; want an error about %q", tc.name, err, tc.want)
		}
	}
}

// atomicTime is a clock the test sets while the daemon reads it.
type atomicTime struct{ v atomic.Int64 }

func (a *atomicTime) Store(t time.Time) { a.v.Store(t.UnixNano()) }
func (a *atomicTime) Load() time.Time   { return time.Unix(0, a.v.Load()).UTC() }
