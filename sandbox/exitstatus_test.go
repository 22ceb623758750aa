package sandbox

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// A process a signal killed exits 128+N (a shell's way), not 255.
func TestExitStatusOfASignal(t *testing.T) {
	cmd := exec.Command("sh", "-c", "kill -KILL $$")
	_ = cmd.Run()
	if got := exitStatus(cmd.ProcessState); got != 128+int(unix.SIGKILL) {
		t.Fatalf("killed by SIGKILL: status %d", got)
	}
	cmd = exec.Command("sh", "-c", "exit 7")
	_ = cmd.Run()
	if got := exitStatus(cmd.ProcessState); got != 7 {
		t.Fatalf("exit 7: status %d", got)
	}
}
