package inproc

import (
	"syscall"
	"time"
)

// processCPU returns the process's CPU time (user and system, every
// thread): for work that runs on goroutines of its own, such as an HTTP
// client's connection reads and writes.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
