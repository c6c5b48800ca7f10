//go:build unix

package sqlite

import "syscall"

// canWrite says whether this process may write path, as the kernel would
// decide for its real user: root may write anything, so a store that a
// root-run test makes read-only still opens.
func canWrite(path string) bool {
	const wOK = 2
	return syscall.Access(path, wOK) == nil
}
