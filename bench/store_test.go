package bench

import (
	"os"
	"os/exec"
	"testing"
)

func TestVMHWM(t *testing.T) {
	before, err := vmHWM(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Touch 64 MiB more than the peak so far: the peak must grow by it.
	buf := make([]byte, 64<<20)
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
