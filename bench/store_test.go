package bench

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// vmRSS is this process's resident set size now, in KiB.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatal("no VmRSS line")
	return 0
}

func TestVMHWM(t *testing.T) {
	before, err := vmHWM(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Touch 64 MiB more than the peak so far: the peak must grow by it.
	// Earlier tests of the package may have left the peak above what is
	// resident now, so the gap is touched too.
	gapKiB := max(0, before-vmRSS(t))
	buf := make([]byte, 64<<20+int(gapKiB)<<10)
	for i := range buf {
		if i%4096 == 0 {
			buf[i] = 1
		}
	}
	after, err := vmHWM(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 60<<10 {
		t.Errorf("VmHWM went from %d to %d KiB after touching 64 MiB", before, after)
	}
	buf[len(buf)-1] = 2 // keep buf alive until after the second read

	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	if kib, err := vmHWM(cmd.Process.Pid); err == nil {
		t.Errorf("VmHWM of an exited, reaped process = %d KiB, want an error", kib)
	}
}
