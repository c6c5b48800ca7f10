package cli

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// benchPeakEnv names a file that the nurture command, run by a benchmark
// as a process of its own, writes its peak resident memory to (in KiB)
// as it ends.
//
// The process reads it itself, from /proc/self/status's VmHWM, because
// the parent's view of it is wrong: getrusage's ru_maxrss survives
// execve, and Go starts a child sharing the parent's memory until the
// exec, so a child of a benchmark holding 300 MB of rows reported 300 MB
// whatever it used. VmHWM belongs to the memory the exec made. Where
// there is no /proc the file is not written and the peak reads as 0.
const benchPeakEnv = "NURTURE_BENCH_PEAK_FILE"

// mainWithPeak is Main for the test binary's nurture command.
func mainWithPeak() int {
	code := Main()
	if path := os.Getenv(benchPeakEnv); path != "" {
		if kib := vmHWM(); kib > 0 {
			os.WriteFile(path, []byte(strconv.FormatInt(kib, 10)), 0o644)
		}
	}
	return code
}

// vmHWM is this process's peak resident memory in KiB, or 0.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// peakKiB reads what mainWithPeak wrote to path, or 0.
func peakKiB(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}
