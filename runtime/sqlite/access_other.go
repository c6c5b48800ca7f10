//go:build !unix

package sqlite

// canWrite assumes a path is writable where there is no access(2): SQLite's
// own error is then the only report.
func canWrite(string) bool { return true }
