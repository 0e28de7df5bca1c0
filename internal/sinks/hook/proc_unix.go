//go:build unix

package hook

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the hook in its own process group and makes a
// timeout kill the whole group, so `sh -c 'sleep 100 &'` cannot outlive it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
