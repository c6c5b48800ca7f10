package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
)

// defaultStore is the embedded store in the current directory.
const defaultStore = "sqlite:nurture.db"

// storeFlag adds --store to cmd, defaulting to $NURTURE_STORE and then to
// the SQLite file nurture.db in the current directory.
func storeFlag(cmd *cobra.Command, spec *string) {
	def := os.Getenv("NURTURE_STORE")
	if def == "" {
		def = defaultStore
	}
	cmd.Flags().StringVar(spec, "store", def, "the contact store: sqlite:PATH or postgres://… (default from $NURTURE_STORE)")
}

// openStore opens the store a --store value names.
func openStore(ctx context.Context, spec string) (runtime.Store, error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("--store %s: name the database file, as in sqlite:nurture.db", spec)
		}
		return sqlite.Open(ctx, path)
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return openPostgres(ctx, spec)
	}
	return nil, fmt.Errorf("--store %q: want sqlite:PATH or postgres://USER@HOST/DB", spec)
}

// compileFor compiles the programme a store command works with; on errors
// it prints them and fails.
func compileFor(stderr io.Writer, dir string) (*campaigns.Program, error) {
	res, err := compileResult(stderr, dir)
	if err != nil {
		return nil, err
	}
	return res.Program, nil
}

// compileResult is compileFor for a caller that places diagnostics of
// its own in the programme's files, as plan does.
func compileResult(stderr io.Writer, dir string) (*compiler.Result, error) {
	res := compiler.Compile(dir)
	if errs, _ := res.Diagnostics.Count(); errs > 0 || res.Program == nil {
		refuse(stderr, dir, res.Diagnostics)
		return nil, exitError(1)
	}
	return res, nil
}

// refuse prints diagnostics and the line that says the programme must
// change first.
func refuse(stderr io.Writer, dir string, ds compiler.Diagnostics) {
	cwd, _ := os.Getwd()
	writeDiagnostics(stderr, cwd, ds)
	fmt.Fprintf(stderr, "\n%s: fix the programme in %s first\n", countLine(ds.Count()), displayDir(cwd, dir))
}

// parseNow reads --now: an RFC 3339 time, or, when empty, def.
func parseNow(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--now %q: want an RFC 3339 time such as 2026-11-23T09:00:00Z", s)
	}
	return t, nil
}
