package cli

import (
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nurture": func() { os.Exit(mainWithPeak()) },
	})
}

// TestScripts runs the CLI tests in testdata/script. Each starts with a
// valid programme in prog/ (a copy of testdata/base) to which its own
// archive adds files or, naming a base file, replaces it, and with a copy
// of the example programmes in examples/. NURTURE_UPDATE=1 rewrites the
// expected output.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("NURTURE_UPDATE") != "",
		Setup: func(env *testscript.Env) error {
			if err := copyTree("testdata/base", filepath.Join(env.WorkDir, "prog")); err != nil {
				return err
			}
			return copyTree("../../../examples", filepath.Join(env.WorkDir, "examples"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"replace": replace,
			"sqlite":  sqliteExec,
		},
	})
}

// replace FILE OLD NEW replaces the one occurrence of OLD in FILE with NEW,
// so a script can break a copy of an example in one place.
func replace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE OLD NEW")
	}
	name := ts.MkAbs(args[0])
	b, err := os.ReadFile(name)
	ts.Check(err)
	if n := strings.Count(string(b), args[1]); n != 1 {
		ts.Fatalf("replace: %q occurs %d times in %s, want once", args[1], n, args[0])
	}
	ts.Check(os.WriteFile(name, []byte(strings.Replace(string(b), args[1], args[2], 1)), 0o644))
}

// sqlite DB STATEMENT runs one SQL statement on a SQLite store, so that a
// script can put the ledger in a state only a crash or a lost connection
// leaves (a send unknown, a claim never finished).
func sqliteExec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sqlite DB STATEMENT")
	}
	db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(args[1])
	ts.Check(err)
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if _, err := os.Stat(dst); err == nil {
			return nil // the script's own file wins
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
