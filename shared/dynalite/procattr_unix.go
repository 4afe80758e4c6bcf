//go:build unix && !linux

package dynalite

import "syscall"

// childProcAttr puts dynalite in its own process group, so Stop can end
// the whole group. Other systems have no parent-death signal; Stop (and
// Main in tests) is what ends the child there.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
