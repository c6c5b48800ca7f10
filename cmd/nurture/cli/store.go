package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	// cobra prints the default after the text; saying where it comes from
	// without a second "(default …)" keeps the help to one.
	cmd.Flags().StringVar(spec, "store", def, "the contact store: sqlite:PATH or postgres://…; $NURTURE_STORE sets the default")
}

// readOnlyCommands only read the store. A typo in --store must not leave an
// empty SQLite file behind them that the next command then takes for a
// store: they fail instead when the file does not exist. Only commands that
// write (imports, apply, tick, run, …) may create it.
var readOnlyCommands = map[string]bool{
	"nurture segments":          true,
	"nurture explain":           true,
	"nurture state list":        true,
	"nurture state show":        true,
	"nurture contacts export":   true,
	"nurture suppressions list": true,
	"nurture keys":              true,
	"nurture keys list":         true,
	"nurture handoffs":          true,
	"nurture sends":             true,
	"nurture sends list":        true,
	"nurture queue":             true,
}

// checkReadOnlyStore fails a read-only command whose --store names a
// SQLite file that does not exist.
func checkReadOnlyStore(cmd *cobra.Command) error {
	fl := cmd.Flags().Lookup("store")
	if fl == nil || !readOnlyCommands[cmd.CommandPath()] {
		return nil
	}
	return storeExists(fl.Value.String())
}

// storeExists says, for a SQLite store, whether its file is there; any
// other store is a server's to answer for.
func storeExists(spec string) error {
	path, ok := strings.CutPrefix(spec, "sqlite:")
	if !ok || path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no store at %s: import contacts or apply a programme first", path)
	}
	return nil
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

// dataProgram is the programme a data command (an import, contacts
// export) types its rows by: the source in dir when --dir names one (to
// import before applying); else the programme applied to the store; else,
// as before there was a store, the programme in the current directory.
// With none of them the error names both ways out.
func dataProgram(ctx context.Context, stderr io.Writer, spec, dir string) (*campaigns.Program, error) {
	if dir != "" {
		return compileFor(stderr, dir)
	}
	if storeExists(spec) == nil {
		st, err := openStore(ctx, spec)
		if err != nil {
			return nil, err
		}
		v, err := st.Applied(ctx)
		st.Close()
		if err != nil {
			return nil, err
		}
		if v != nil {
			prog := new(campaigns.Program)
			if err := json.Unmarshal(v.Program, prog); err != nil {
				return nil, fmt.Errorf("reading applied version %d: %w", v.Serial, err)
			}
			return prog, nil
		}
	}
	if cues, _ := filepath.Glob("*.cue"); len(cues) > 0 {
		return compileFor(stderr, ".")
	}
	return nil, fmt.Errorf("no programme to read the file by: nothing is applied to the store %s and the current directory holds no .cue files; apply one first (nurture apply DIR), or name its source with --dir DIR", spec)
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
