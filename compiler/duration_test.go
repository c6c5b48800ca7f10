package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/schema"
)

// The schema refuses what the parser would refuse and nothing more: its
// #Duration is the parser's pattern, and the words for it in diagnostics
// are found by that pattern's text.
func TestDurationPatternIsTheSchemas(t *testing.T) {
	want := `#Duration: =~"` + campaigns.DurationPattern + `"`
	if !strings.Contains(string(schema.Source), want) {
		t.Errorf("schema/nurture.cue does not say %s: write campaigns.DurationPattern there", want)
	}
	if !strings.Contains(string(schema.Source), `|`+strings.Trim(campaigns.DurationPattern, "^$")+`)$"`) {
		t.Error("#Offset's span is not campaigns.DurationPattern")
	}
	found := false
	for _, b := range boundNames {
		found = found || b.pattern == `=~"`+campaigns.DurationPattern+`"`
	}
	if !found {
		t.Error("boundNames has no words for the duration pattern: a diagnostic would show the regular expression")
	}
}

// A programme may write its durations in words wherever it takes one, and
// compiles to the same model as with the short forms.
func TestDurationsInWords(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/minimal")); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "programme.cue")
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.NewReplacer(`"30d"`, `"30 days"`, `"14d"`, `"2 weeks"`, `"7d"`, `"1 week"`).Replace(string(src))
	if words == string(src) {
		t.Fatal("the minimal programme has none of the durations this test rewrites")
	}
	if err := os.WriteFile(name, []byte(words), 0o644); err != nil {
		t.Fatal(err)
	}
	short, long := Compile("testdata/minimal"), Compile(dir)
	for _, r := range []*Result{short, long} {
		if errs, _ := r.Diagnostics.Count(); errs > 0 || r.Program == nil {
			t.Fatalf("%v", r.Diagnostics)
		}
	}
	a, _ := campaigns.Canonical(short.Program)
	b, _ := campaigns.Canonical(long.Program)
	if diff := cmp.Diff(string(a), string(b)); diff != "" {
		t.Errorf("durations in words compile to another programme (-short +words):\n%s", diff)
	}
}

// The schema's #Percent is the pattern ParseShare reads, and a
// diagnostic says it in words.
func TestHoldoutPatternIsTheSchemas(t *testing.T) {
	cue := strings.ReplaceAll(campaigns.HoldoutPattern, `\`, `\\`)
	if !strings.Contains(string(schema.Source), `#Percent: =~"`+cue+`"`) {
		t.Errorf("schema/nurture.cue does not say #Percent: =~%q: write campaigns.HoldoutPattern there", cue)
	}
	found := false
	for _, b := range boundNames {
		found = found || b.pattern == `=~"`+cue+`"`
	}
	if !found {
		t.Error("boundNames has no words for the holdout pattern")
	}
}
