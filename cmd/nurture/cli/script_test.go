package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nurture": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI tests in testdata/script. Each starts with a
// valid programme in prog/ (a copy of testdata/base) to which its own
// archive adds files or, naming a base file, replaces it. NURTURE_UPDATE=1 rewrites the expected output.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("NURTURE_UPDATE") != "",
		Setup: func(env *testscript.Env) error {
			return copyTree("testdata/base", filepath.Join(env.WorkDir, "prog"))
		},
	})
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
