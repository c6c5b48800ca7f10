//go:build !unix

package cli

import "os"

// peakKiB is 0 where the system does not report a process's peak
// resident memory.
func peakKiB(*os.ProcessState) int64 { return 0 }
