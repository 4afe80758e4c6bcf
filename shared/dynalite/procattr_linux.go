package dynalite

import "syscall"

// childProcAttr puts dynalite in its own process group, so Stop can end
// the whole group, and asks the kernel to kill it when its parent thread
// dies, so a crashed parent leaves no server behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
