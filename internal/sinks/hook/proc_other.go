//go:build !unix

package hook

import "os/exec"

// setProcessGroup is a no-op where process groups do not exist; a timeout
// kills the hook process itself.
func setProcessGroup(*exec.Cmd) {}
