package inproc

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTime is CLOCK_THREAD_CPUTIME_ID: CPU time of the calling
// OS thread only, so time the machine gives to other processes (this
// machine is shared) does not count against either side of a comparison.
const clockThreadCPUTime = 3

// threadCPU returns the calling thread's CPU time. Callers lock their
// goroutine to its thread (runtime.LockOSThread) for the readings to be of
// one thread.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
