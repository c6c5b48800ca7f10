package compiler

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

func examplePrograms(t *testing.T) map[string]*campaigns.Program {
	t.Helper()
	entries, err := os.ReadDir("../examples")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*campaigns.Program{}
	for _, ent := range entries {
		if ent.IsDir() {
			res := Compile(filepath.Join("../examples", ent.Name()))
			if res.Program == nil {
				t.Fatalf("%s does not compile", ent.Name())
			}
			out[ent.Name()] = res.Program
		}
	}
	return out
}

// Every sequence of the examples draws as a flowchart Mermaid can read:
// known line shapes only, every edge between declared nodes, labels with
// no bare quotes.
func TestMermaidWellFormed(t *testing.T) {
	node := regexp.MustCompile(`^  (start|[sx][0-9]+)(\(\(entry\)\)|\["[^"]*"\]|\(\["[^"]*"\]\))$`)
	edge := regexp.MustCompile(`^  (start|[sx][0-9]+) -->(\|[^|"]+\|)? ([sx][0-9]+)$`)
	class := regexp.MustCompile(`^  (classDef changed .*|class [sx][0-9]+(,[sx][0-9]+)* changed)$`)
	for name, prog := range examplePrograms(t) {
		for seqName, seq := range prog.Sequences {
			m := Mermaid(seq, campaigns.Change{Action: campaigns.ActionAdd})
			lines := strings.Split(strings.TrimSuffix(m, "\n"), "\n")
			if lines[0] != "flowchart TD" {
				t.Errorf("%s/%s: starts %q", name, seqName, lines[0])
			}
			declared := map[string]bool{}
			var edges [][2]string
			for _, l := range lines[1:] {
				switch {
				case node.MatchString(l):
					declared[node.FindStringSubmatch(l)[1]] = true
				case edge.MatchString(l):
					g := edge.FindStringSubmatch(l)
					edges = append(edges, [2]string{g[1], g[3]})
				case class.MatchString(l):
				default:
					t.Errorf("%s/%s: line %q is not a node, an edge or a class", name, seqName, l)
				}
			}
			for _, e := range edges {
				if !declared[e[0]] || !declared[e[1]] {
					t.Errorf("%s/%s: edge %s --> %s names an undeclared node", name, seqName, e[0], e[1])
				}
			}
			if len(edges) < len(seq.Steps) {
				t.Errorf("%s/%s: %d edges for %d steps", name, seqName, len(edges), len(seq.Steps))
			}
		}
	}
}

// A programme diffed with itself changes nothing; against nothing, every
// object is added; and the diff is the same however often it is taken.
func TestDiffSelfAndEmpty(t *testing.T) {
	for name, prog := range examplePrograms(t) {
		if changes, ms := Diff(prog, prog); len(changes) != 0 || len(ms) != 0 {
			t.Errorf("%s against itself: %v %v", name, changes, ms)
		}
		first, _ := Diff(nil, prog)
		for _, c := range first {
			if c.Action != campaigns.ActionAdd {
				t.Errorf("%s first plan: %s is %s, want add", name, c.Address, c.Action)
			}
		}
		again, _ := Diff(nil, prog)
		if diff := cmp.Diff(first, again); diff != "" {
			t.Errorf("%s: the diff is not stable (-first +again):\n%s", name, diff)
		}
		s := Summarize(first)
		if s.Add != len(first) || s.Change != 0 || s.Remove != 0 {
			t.Errorf("%s: summary %+v for %d additions", name, s, len(first))
		}
	}
}

// Removing a step moves its contacts to the next step that remains; a
// moved declaration carries them to the new name; removing the last step
// or the sequence ends their journey. A removal the programme did not
// declare is marked, with the added step that does the same if one does;
// a declared one goes as declared.
func TestMigrations(t *testing.T) {
	wait := func(name, d string) campaigns.Step {
		return campaigns.Step{Name: name, Kind: campaigns.StepWait, Wait: campaigns.MustDuration(d)}
	}
	step := func(name string) campaigns.Step { return wait(name, "1d") }
	old := &campaigns.Program{FormatVersion: 1, Sequences: map[string]*campaigns.Sequence{
		"a":        {Steps: []campaigns.Step{step("one"), step("two"), step("three"), step("four"), step("five")}},
		"declared": {Steps: []campaigns.Step{step("one"), step("two"), step("three"), step("four")}},
		"renamed":  {Steps: []campaigns.Step{wait("wait_7d", "7d"), wait("wait_2d", "2d")}},
		"gone":     {Steps: []campaigns.Step{step("x")}},
	}}
	new := &campaigns.Program{FormatVersion: 1, Sequences: map[string]*campaigns.Sequence{
		"a": {Steps: []campaigns.Step{step("one"), step("drei"), step("four")}, Moved: map[string]string{"three": "drei"}},
		"declared": {Steps: []campaigns.Step{step("one"), step("four")},
			Removed: map[string]string{"two": campaigns.RemovedNext, "three": campaigns.RemovedExit}},
		"renamed": {Steps: []campaigns.Step{wait("pause", "7d"), wait("wait_2d", "2d")}},
	}}
	_, ms := Diff(old, new)
	want := []campaigns.Migration{
		{Sequence: "a", Step: "two", To: "drei", Why: "step removed; contacts go on to the next remaining step", Undeclared: true},
		{Sequence: "a", Step: "three", To: "drei", Why: "step renamed (moved)"},
		{Sequence: "a", Step: "five", Exit: campaigns.ExitStepRemoved, Why: "step removed; no later step remains", Undeclared: true},
		{Sequence: "declared", Step: "two", To: "four", Why: "step removed (declared: next)"},
		{Sequence: "declared", Step: "three", Exit: campaigns.ExitStepRemoved, Why: "step removed (declared: exit)"},
		{Sequence: "gone", Exit: campaigns.ExitSequenceRemoved, Why: "sequence removed"},
		{Sequence: "renamed", Step: "wait_7d", To: "wait_2d", Undeclared: true, Like: "pause",
			Why: `step removed; contacts go on to the next remaining step; added step pause does the same: if it is a rename, declare moved: wait_7d: "pause"`},
	}
	if diff := cmp.Diff(want, ms); diff != "" {
		t.Errorf("migrations (-want +got):\n%s", diff)
	}

	// Contacts in an undeclared removal refuse the plan; in a declared one
	// or an empty step they do not.
	in := map[string]int{"a.two": 3, "a.five": 0, "declared.two": 5, "renamed.wait_7d": 59}
	ds := UndeclaredMoves(ms, func(seq, step string) int { return in[seq+"."+step] }, nil)
	var got []string
	for _, d := range ds {
		got = append(got, d.Code+" "+d.Summary+" | "+d.Detail)
	}
	wantDs := []string{
		`NRT314 3 contacts wait in step two of sequence a, which this programme removes without saying where they go | say where they go in sequence a: moved: two: "NEW" if a step replaces it, or removed: two: "next" (they go on to step drei) or "exit"`,
		`NRT314 59 contacts wait in step wait_7d of sequence renamed, which this programme removes without saying where they go | step pause does the same; if it is a rename, declare moved: wait_7d: "pause" in sequence renamed; else removed: wait_7d: "next" (they go on to step wait_2d) or "exit"`,
	}
	if diff := cmp.Diff(wantDs, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}
