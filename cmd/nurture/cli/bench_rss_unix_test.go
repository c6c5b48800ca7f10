//go:build unix

package cli

import (
	"os"
	"syscall"
)

// peakKiB is a finished process's peak resident memory in KiB
// (getrusage's ru_maxrss, which Linux counts in KiB).
func peakKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
