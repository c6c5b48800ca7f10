package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime/scenario"
)

// BenchmarkScenario runs each scenario of examples/b2b-saas (or of the
// programme in $NURTURE_BENCH_DIR): its whole virtual run, store and all.
func BenchmarkScenario(b *testing.B) {
	res := compiler.Compile(cmp.Or(os.Getenv("NURTURE_BENCH_DIR"), "../../../examples/b2b-saas"))
	if res.Program == nil {
		b.Fatal(res.Diagnostics)
	}
	for _, sc := range res.Tests {
		b.Run(sc.Name, func(b *testing.B) {
			ticks := 0
			for b.Loop() {
				r := scenario.Run(context.Background(), b.TempDir(), res.Program, sc)
				ticks = r.Ticks
			}
			b.ReportMetric(float64(ticks), "ticks/op")
			b.ReportMetric(sc.Run.Std().Hours()/24, "days/op")
		})
	}
}

// scenarioProg is testdata/base with the scenarios of
// testdata/script/test_scenarios.txtar.
func scenarioProg(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prog")
	if err := copyTree("testdata/base", dir); err != nil {
		t.Fatal(err)
	}
	ar, err := txtar.ParseFile("testdata/script/test_scenarios.txtar")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		if f.Name == "prog/tests.cue" {
			if err := os.WriteFile(filepath.Join(dir, "tests.cue"), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	t.Fatal("no prog/tests.cue in test_scenarios.txtar")
	return ""
}

// TestTestFormats reads nurture test's JSON and JUnit output as CI would.
func TestTestFormats(t *testing.T) {
	dir := scenarioProg(t)
	out, errOut, code := run(t, "test", dir, "--format", "json", "--coverage")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one scenario fails); stderr:\n%s", code, errOut)
	}
	var rep struct {
		FormatVersion int  `json:"format_version"`
		Passed        bool `json:"passed"`
		Scenarios     []struct {
			Name     string   `json:"name"`
			Pos      string   `json:"pos"`
			Passed   bool     `json:"passed"`
			Ticks    int      `json:"ticks"`
			Failures []string `json:"failures"`
			Checks   []struct {
				Pos string `json:"pos"`
				OK  bool   `json:"ok"`
				Got string `json:"got"`
			} `json:"checks"`
			Timeline []struct {
				Kind  string `json:"kind"`
				Day   string `json:"day"`
				Email string `json:"email"`
			} `json:"timeline"`
		} `json:"scenarios"`
		Coverage struct {
			Percent float64 `json:"percent"`
			Items   int     `json:"items"`
			Missed  []struct {
				ID string `json:"id"`
			} `json:"missed"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.FormatVersion != 1 || rep.Passed || len(rep.Scenarios) != 3 {
		t.Fatalf("format %d, passed %v, %d scenarios; want 1, false, 3", rep.FormatVersion, rep.Passed, len(rep.Scenarios))
	}
	byName := map[string]int{}
	for i, s := range rep.Scenarios {
		byName[s.Name] = i
		if s.Ticks < 2 || len(s.Timeline) == 0 || !strings.HasSuffix(filepath.ToSlash(strings.Split(s.Pos, ":")[0]), "prog/tests.cue") {
			t.Errorf("%s: %d ticks, %d entries, pos %s", s.Name, s.Ticks, len(s.Timeline), s.Pos)
		}
	}
	wrong := rep.Scenarios[byName["wrong_day"]]
	if wrong.Passed || len(wrong.Failures) != 4 || wrong.Checks[0].OK || wrong.Checks[0].Got != "it came on day 7 09:00" {
		t.Errorf("wrong_day: passed %v, failures %q, first check %+v", wrong.Passed, wrong.Failures, wrong.Checks[0])
	}
	if g := rep.Scenarios[byName["welcome_then_guide"]]; !g.Passed || g.Timeline[1].Kind != "send" || g.Timeline[1].Day != "day 0 09:00" {
		t.Errorf("welcome_then_guide: %+v", g)
	}
	// Every item but the timeout rule, which the steps always outrun.
	if rep.Coverage.Items != 5 || rep.Coverage.Percent != 80 || len(rep.Coverage.Missed) != 1 || rep.Coverage.Missed[0].ID != "sequences.welcome.exit[1]" {
		t.Errorf("coverage %+v", rep.Coverage)
	}

	out, _, code = run(t, "test", dir, "--format", "junit")
	if code != 1 {
		t.Fatalf("junit: exit %d, want 1", code)
	}
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			File    string `xml:"file,attr"`
			Line    int    `xml:"line,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal([]byte(out), &suite); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if suite.Tests != 3 || suite.Failures != 1 || len(suite.Cases) != 3 {
		t.Fatalf("junit: %d tests, %d failures, %d cases", suite.Tests, suite.Failures, len(suite.Cases))
	}
	for _, c := range suite.Cases {
		if (c.Failure != nil) != (c.Name == "wrong_day") || c.Line == 0 || !strings.HasSuffix(c.File, "tests.cue") {
			t.Errorf("junit case %s: file %s:%d, failure %v", c.Name, c.File, c.Line, c.Failure != nil)
		}
		if c.Failure != nil && (!strings.Contains(c.Failure.Message, "expected email emails/welcome/guide.md on day 3") || !strings.Contains(c.Failure.Text, "✗ unexpected (strict)")) {
			t.Errorf("junit failure: %q\n%s", c.Failure.Message, c.Failure.Text)
		}
	}
}

// TestScenarioIsolation runs the same scenarios one at a time and two at
// once: each has a store of its own, so the results are the same.
func TestScenarioIsolation(t *testing.T) {
	dir := scenarioProg(t)
	var outs []string
	for _, p := range []string{"1", "3"} {
		out, _, _ := run(t, "test", dir, "--format", "json", "--parallel", p)
		var rep struct {
			Scenarios []struct {
				Name     string          `json:"name"`
				Timeline json.RawMessage `json:"timeline"`
			} `json:"scenarios"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rep)
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] {
		t.Errorf("one at a time and three at once differ:\n%s\n%s", outs[0], outs[1])
	}
}
