package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/nurture-dev/nurture"

// TestImportDirections enforces the package boundaries of the design: the
// model in the middle imports nothing, the compiler never reaches the
// runtime, the runtime never parses CUE or Markdown, and each library
// stays in its lane.
func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Standard   bool
		Imports    []string
		Deps       []string
	}
	var ours []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.ImportPath, module) {
			ours = append(ours, p)
		}
	}
	if len(ours) < 5 {
		t.Fatalf("go list found only %d packages of the module", len(ours))
	}
	under := func(p pkg, dir string) bool {
		return p.ImportPath == module+"/"+dir || strings.HasPrefix(p.ImportPath, module+"/"+dir+"/")
	}
	isStd := func(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }
	for _, p := range ours {
		check := func(cond bool, format string, args ...any) {
			t.Helper()
			if cond {
				t.Errorf("%s: "+format, append([]any{p.ImportPath}, args...)...)
			}
		}
		for _, imp := range p.Imports {
			check(under(p, "schema") && imp != "embed", "imports %s; the schema package imports only embed", imp)
			check(under(p, "campaigns") && !isStd(imp), "imports %s; the model imports the standard library only", imp)
			check(strings.HasPrefix(imp, "github.com/spf13/cobra") && !under(p, "cmd"), "imports cobra outside cmd/")
			check(strings.HasPrefix(imp, "github.com/wneessen/go-mail") && !under(p, "runtime"), "imports go-mail outside the runtime's sender")
			check(strings.HasPrefix(imp, "github.com/yuin/goldmark") && !under(p, "compiler"), "imports goldmark outside the compiler")
			check(strings.HasPrefix(imp, "cuelang.org/") && !under(p, "compiler"), "imports %s; CUE stays in the compiler", imp)
			check(strings.HasPrefix(imp, "modernc.org/sqlite") && !under(p, "runtime/sqlite"), "imports %s outside the SQLite adapter", imp)
			check(strings.HasPrefix(imp, "github.com/jackc/pgx") && !under(p, "runtime/postgres"), "imports %s outside the PostgreSQL adapter", imp)
			check(imp == module+"/runtime/sqlstore" && !under(p, "runtime/sqlite") && !under(p, "runtime/postgres"),
				"imports the shared SQL store; only its adapters do, and others use runtime.Store")
			check(under(p, "runtime/ingest") && (imp == "database/sql" || strings.HasPrefix(imp, module+"/runtime/")),
				"imports %s; the import readers parse and check files and touch no store", imp)
			check(strings.HasPrefix(imp, "gonum.org/") && !under(p, "runtime/report"), "imports %s; the statistics stay in runtime/report", imp)
			check(strings.HasPrefix(imp, "github.com/chromedp/"), "imports %s; the browser only tests the report page", imp)
		}
		for _, dep := range p.Deps {
			check(under(p, "compiler") && strings.HasPrefix(dep, module+"/runtime"), "depends on %s; the compiler never imports the runtime", dep)
			check(under(p, "runtime") && (strings.HasPrefix(dep, module+"/compiler") || strings.HasPrefix(dep, "cuelang.org/") ||
				strings.HasPrefix(dep, "github.com/yuin/goldmark")), "depends on %s; the runtime executes the compiled model and parses no CUE or Markdown", dep)
		}
	}
}

// TestOneTick enforces that one worker owns the tick: tick, run, the
// scenario tests and simulate drive runtime/worker, and none assembles a
// tick of its own from the engine's parts, so none can disagree with the
// others about what a tick does.
func TestOneTick(t *testing.T) {
	// An engine given a store is one about to tick.
	parts := regexp.MustCompile(`\.Deliver\(ctx, |\.Handoffs\(ctx(, [^,()]+){4}\)|engine\.Engine\{[^}]*Store:`)
	root := "../../.."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, "runtime/engine/") || strings.HasPrefix(rel, "runtime/worker/") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := parts.FindString(line); m != "" {
				t.Errorf("%s:%d: %q: a tick's parts are the worker's; drive runtime/worker.Worker instead", rel, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDiagnosticCodes checks that every code the compiler reports is
// documented once in docs/diagnostics.md and has a CLI test case, and that
// the documentation lists no code the compiler cannot report.
func TestDiagnosticCodes(t *testing.T) {
	code := regexp.MustCompile(`NRT\d{3}`)
	used := map[string]bool{}
	files, _ := filepath.Glob("../../../compiler/*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range code.FindAllString(string(b), -1) {
			used[c] = true
		}
	}
	doc, err := os.ReadFile("../../../docs/diagnostics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]int{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := regexp.MustCompile(`^\| (NRT\d{3}) \|`).FindStringSubmatch(line); m != nil {
			documented[m[1]]++
		}
	}
	if len(used) < 30 {
		t.Fatalf("found only %d codes in the compiler", len(used))
	}
	var scripts strings.Builder
	ts, _ := filepath.Glob("testdata/script/*.txtar")
	for _, f := range ts {
		b, _ := os.ReadFile(f)
		scripts.Write(b)
	}
	for _, c := range slices.Sorted(mapsKeys(used)) {
		switch {
		case documented[c] == 0:
			t.Errorf("%s is reported by the compiler but not documented in docs/diagnostics.md", c)
		case documented[c] > 1:
			t.Errorf("%s is documented %d times", c, documented[c])
		}
		if !strings.Contains(scripts.String(), " "+c+": ") {
			t.Errorf("%s has no CLI test case in testdata/script", c)
		}
	}
	for c := range documented {
		if !used[c] {
			t.Errorf("%s is documented but the compiler never reports it", c)
		}
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
