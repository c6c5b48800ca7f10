package postgres

import (
	"fmt"
	"os"
	"testing"
)

// TestMain makes a run without a server visible. Each test skips on its
// own, and go test hides a passing package's output without -v, so a bare
// "ok" would read as if the store had been tested. After the tests it
// says what was skipped and how to run them, and ends with the go tool's
// own marker line, which turns the package's summary into
// "ok … [no tests to run]" in every mode, -v or not. Under
// NURTURE_REQUIRE_POSTGRES=1 the tests fail instead, as before.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("NURTURE_TEST_POSTGRES") == "" && os.Getenv("NURTURE_REQUIRE_POSTGRES") != "1" {
		fmt.Fprintln(os.Stderr, "\nruntime/postgres: SKIPPED, the PostgreSQL store was NOT tested: set "+
			"NURTURE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run its tests")
		fmt.Fprintln(os.Stderr, "testing: warning: no tests to run")
	}
	os.Exit(code)
}
