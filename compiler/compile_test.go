package compiler

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

func compileMinimal(t *testing.T) *campaigns.Program {
	t.Helper()
	res := Compile("testdata/minimal")
	if len(res.Diagnostics) > 0 || res.Program == nil {
		t.Fatalf("minimal programme does not compile clean:\n%v", res.Diagnostics)
	}
	return res.Program
}

func TestCompileSegments(t *testing.T) {
	p := compileMinimal(t)
	want := map[string]*campaigns.Segment{
		"saas_leads": {
			Description: "SaaS and fintech leads",
			When: campaigns.Predicate{Op: campaigns.OpAll, Args: []campaigns.Predicate{
				{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "industry", Cmp: "in", Values: []any{"saas", "fintech"}}},
				{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "stage", Cmp: "lte", Value: "mql"}},
			}},
		},
		"pricing_visitors": {
			When: campaigns.Predicate{Op: campaigns.OpEvent, Event: &campaigns.EventCondition{
				Name: "page_view", Where: []campaigns.Condition{{Field: "path", Cmp: "eq", Value: "/pricing"}},
				Within: campaigns.MustDuration("14d"), MinCount: 2,
			}},
		},
	}
	if diff := cmp.Diff(want, p.Segments); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
}

func TestCompileSequence(t *testing.T) {
	p := compileMinimal(t)
	s := p.Sequences["welcome"]
	if s == nil {
		t.Fatal("no welcome sequence")
	}
	var names, kinds []string
	for _, st := range s.Steps {
		names = append(names, st.Name)
		kinds = append(kinds, st.Kind)
	}
	if diff := cmp.Diff([]string{"welcome", "wait_7d", "wait_for_email_clicked", "send_case_study_or_welcome"}, names); diff != "" {
		t.Errorf("step names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"send", "wait", "wait_for", "send"}, kinds); diff != "" {
		t.Errorf("step kinds (-want +got):\n%s", diff)
	}
	wantWaitFor := &campaigns.WaitFor{
		Event:  campaigns.EventCondition{Name: "email.clicked", MinCount: 1},
		Within: campaigns.MustDuration("7d"),
		Else:   campaigns.Action{Exit: "disengaged"},
	}
	if diff := cmp.Diff(wantWaitFor, s.Steps[2].WaitFor); diff != "" {
		t.Errorf("wait_for (-want +got):\n%s", diff)
	}
	wantAB := []campaigns.Variant{{Name: "a", Email: "emails/case-study.md", Weight: 50}, {Name: "b", Email: "emails/welcome.md", Weight: 50}}
	if diff := cmp.Diff(wantAB, s.Steps[3].Send); diff != "" {
		t.Errorf("A/B send (-want +got):\n%s", diff)
	}
	if got := s.UTM; got != (campaigns.UTM{Source: "nurture", Medium: "email", Campaign: "welcome"}) {
		t.Errorf("UTM intent = %+v", got)
	}
	if len(s.Exits) != 3 || s.Exits[1].When.Score.Threshold != "sql" || s.Exits[1].When.Score.Value != 80 {
		t.Errorf("exit rules = %+v", s.Exits)
	}
}

func TestCompileEmail(t *testing.T) {
	p := compileMinimal(t)
	e := p.Emails["emails/welcome.md"]
	if e == nil {
		t.Fatal("welcome email not compiled")
	}
	if got, want := e.Subjects[0].Subject.String(), `Welcome to Acme, {{ first_name | default "there" }}`; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"first_name", "industry"}, e.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	wantLinks := []campaigns.Link{
		{URL: campaigns.Template{{Text: "https://acme.example/guide?ref="}, {Field: "industry", Escape: campaigns.EscapeURL}}, Text: "Read the guide"},
		{URL: campaigns.Template{{Text: "mailto:help@acme.example"}}, Text: "help@acme.example"},
	}
	if diff := cmp.Diff(wantLinks, e.Links); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	html := e.HTML.String()
	for _, want := range []string{
		`<strong>where to start</strong>`,
		`<a href="{{ link 1 }}" style="color:#1d4ed8;text-decoration:underline">Read the guide</a>`,
		`{{ first_name | default "there" }}`,
		`Acme Inc., 1 Market St, San Francisco, CA 94105`,
		`<a href="{{ unsubscribe_url }}" style="color:#6b7280;text-decoration:underline">Unsubscribe</a>`,
		`<a href="{{ preferences_url }}" style="color:#6b7280;text-decoration:underline">Email preferences</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, html)
		}
	}
	for _, p := range e.HTML {
		if p.Field != "" && p.Escape != campaigns.EscapeHTML {
			t.Errorf("HTML merge field %s escapes as %q, want html", p.Field, p.Escape)
		}
	}
	text := e.Text.String()
	for _, want := range []string{"1. Connect your data source.", "Read the guide ({{ link 1 }})", "Unsubscribe: {{ unsubscribe_url }}"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	ab := p.Emails["emails/case-study.md"].Subjects
	if len(ab) != 2 || ab[0].Weight != 50 || ab[1].Name != "b" || ab[1].Subject.String() != "A 30% churn cut, step by step" {
		t.Errorf("subject variants = %+v", ab)
	}
}

// TestHashes checks that the programme hash is stable and that changing one
// email changes its own hash and the programme's, and no other object's.
func TestHashes(t *testing.T) {
	a := compileMinimal(t)
	b := compileMinimal(t)
	if a.Hash() != b.Hash() {
		t.Fatalf("two compiles of one programme hash differently")
	}
	dir := t.TempDir()
	if err := copyDir("testdata/minimal", dir); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "emails", "case-study.md")
	src, _ := os.ReadFile(name)
	if err := os.WriteFile(name, append(src, []byte("\nOne more line.\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	res := Compile(dir)
	if res.Program == nil {
		t.Fatalf("changed copy does not compile: %v", res.Diagnostics)
	}
	if res.Program.Hash() == a.Hash() {
		t.Errorf("programme hash did not change with an email")
	}
	before, after := a.ObjectHashes(), res.Program.ObjectHashes()
	var changed []string
	for k := range before {
		if before[k] != after[k] {
			changed = append(changed, k)
		}
	}
	if diff := cmp.Diff([]string{"emails.emails/case-study.md"}, changed); diff != "" {
		t.Errorf("changed objects (-want +got):\n%s", diff)
	}
}

func copyDir(from, to string) error {
	return filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
}

func TestNever(t *testing.T) {
	c := emailChecker()
	c.prog.Contact.Attributes["employees"] = &campaigns.Attribute{Type: campaigns.TypeInt}
	c.prog.Contact.Attributes["industry"] = &campaigns.Attribute{Type: campaigns.TypeEnum, Values: []string{"saas", "fintech"}}
	c.prog.Scoring = map[string]*campaigns.ScoringModel{"lead": {Max: 100}}
	attr := func(field, cmp string, v any) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: field, Cmp: cmp, Value: v}}
	}
	in := func(field string, vs ...any) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: field, Cmp: "in", Values: vs}}
	}
	all := func(ps ...campaigns.Predicate) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAll, Args: ps}
	}
	anyOf := func(ps ...campaigns.Predicate) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAny, Args: ps}
	}
	score := func(cmp string, v float64) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpScore, Score: &campaigns.ScoreCondition{Model: "lead", Cmp: cmp, Value: v}}
	}
	for _, tc := range []struct {
		name  string
		p     campaigns.Predicate
		never bool
	}{
		{"empty range", all(attr("employees", "gte", 500.0), attr("employees", "lt", 100.0)), true},
		{"touching range", all(attr("employees", "gte", 100.0), attr("employees", "lte", 100.0)), false},
		{"open touching range", all(attr("employees", "gt", 100.0), attr("employees", "lte", 100.0)), true},
		{"two values", all(attr("industry", "eq", "saas"), attr("industry", "eq", "fintech")), true},
		{"value and list", all(attr("industry", "eq", "saas"), in("industry", "saas", "fintech")), false},
		{"value excluded", all(in("industry", "saas"), attr("industry", "ne", "saas")), true},
		{"pattern", all(attr("company", "eq", "Acme"), attr("company", "matches", "^Glob")), true},
		{"exists and absent", all(attr("company", "exists", true), attr("company", "exists", false)), true},
		{"absent compared", all(attr("employees", "exists", false), attr("employees", "gte", 1.0)), true},
		{"score above max", score("gte", 120), true},
		{"score below zero", score("lt", 0), true},
		{"score band", all(score("gte", 50), score("lt", 80)), false},
		{"any with one possible", anyOf(all(attr("employees", "gt", 5.0), attr("employees", "lt", 3.0)), attr("industry", "eq", "saas")), false},
		{"any all impossible", anyOf(all(attr("employees", "gt", 5.0), attr("employees", "lt", 3.0))), true},
		{"different fields", all(attr("industry", "eq", "saas"), attr("employees", "lt", 3.0)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := c.never(&tc.p, map[string]bool{})
			if (why != "") != tc.never {
				t.Errorf("never = %q, want never: %v", why, tc.never)
			}
		})
	}
}

// A step left unnamed is named after what it does, so adding, removing or
// reordering other steps never renames it: contacts waiting in it stay
// in it across such an edit.
func TestDefaultStepNamesStable(t *testing.T) {
	src, err := os.ReadFile("testdata/minimal/programme.cue")
	if err != nil {
		t.Fatal(err)
	}
	const steps = `{send: "emails/welcome.md"},
		{wait: "7d"},
		{wait_for: {event: "email.clicked", within: "7d"}, else: exit: "disengaged"},
		{send: variants: {a: {email: "emails/case-study.md", weight: 50}, b: {email: "emails/welcome.md", weight: 50}}},`
	if !strings.Contains(string(src), steps) {
		t.Fatal("the minimal programme's steps changed; update this test")
	}
	// names compiles the minimal programme with other steps and returns
	// the welcome sequence's step names by what each step does.
	names := func(t *testing.T, steps string) map[string]string {
		t.Helper()
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS("testdata/minimal")); err != nil {
			t.Fatal(err)
		}
		body := strings.Replace(string(src), stepsOf(string(src)), steps, 1)
		if err := os.WriteFile(filepath.Join(dir, "programme.cue"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		res := Compile(dir)
		if res.Program == nil {
			t.Fatalf("does not compile:\n%v", res.Diagnostics)
		}
		out := map[string]string{}
		for _, st := range res.Program.Sequences["welcome"].Steps {
			out[describeStep(st)] = st.Name
		}
		return out
	}
	want := map[string]string{
		"send emails/welcome.md": "welcome",
		"wait 7d":                "wait_7d",
		"wait for email.clicked within 7d, then next step, else exit \"disengaged\"": "wait_for_email_clicked",
		"send variants a 50% emails/case-study.md, b 50% emails/welcome.md":          "send_case_study_or_welcome",
	}
	if diff := cmp.Diff(want, names(t, steps)); diff != "" {
		t.Fatalf("default names (-want +got):\n%s", diff)
	}
	lines := strings.Split(steps, "\n")
	for _, tc := range []struct{ name, steps string }{
		{"a step added before the others", `{wait: "1d"},` + "\n" + steps},
		{"a step added between two", strings.Join(slices.Insert(slices.Clone(lines), 2, `{send: "emails/case-study.md"},`), "\n")},
		{"the first step removed", strings.Join(lines[1:], "\n")},
		{"a middle step removed", strings.Join(slices.Delete(slices.Clone(lines), 1, 2), "\n")},
		{"steps reordered", strings.Join([]string{lines[3], lines[2], lines[0], lines[1]}, "\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := names(t, tc.steps)
			for what, name := range want {
				if n, ok := got[what]; ok && n != name {
					t.Errorf("%s is named %s, was %s", what, n, name)
				}
			}
			if len(got) < 3 {
				t.Errorf("only %d steps compiled: %v", len(got), got)
			}
		})
	}
}

// stepsOf is the text between a programme's "steps: [" and its "]".
func stepsOf(src string) string {
	_, rest, _ := strings.Cut(src, "steps: [\n")
	body, _, _ := strings.Cut(rest, "\n\t]")
	return strings.TrimSpace(body)
}

// Every kind of step has a default name from what it does.
func TestDefaultStepNameOfEachKind(t *testing.T) {
	at, _ := campaigns.ParseTimeOfDay("10:00")
	tests := []struct {
		want string
		step campaigns.Step
	}{
		{"getting_started", campaigns.Step{Kind: campaigns.StepSend, Send: []campaigns.Variant{{Email: "emails/welcome/01-Getting started.md"}}}},
		{"send_01", campaigns.Step{Kind: campaigns.StepSend, Send: []campaigns.Variant{{Email: "emails/01.md"}}}},
		{"send_long_or_short", campaigns.Step{Kind: campaigns.StepSend, Send: []campaigns.Variant{{Email: "e/long.md"}, {Email: "e/short.md"}}}},
		{"wait_2w", campaigns.Step{Kind: campaigns.StepWait, Wait: campaigns.MustDuration("14d")}},
		{"wait_until_tue_thu_1000", campaigns.Step{Kind: campaigns.StepWaitUntil, WaitUntil: &campaigns.WaitUntil{Days: []string{"tue", "thu"}, At: at}}},
		{"wait_for_email_clicked", campaigns.Step{Kind: campaigns.StepWaitFor, WaitFor: &campaigns.WaitFor{Event: campaigns.EventCondition{Name: "email.clicked"}}}},
		{"branch_persona_engineer", campaigns.Step{Kind: campaigns.StepBranch, Branch: &campaigns.Branch{When: campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "persona", Cmp: "eq", Value: "engineer"}}}}},
		{"branch_lead_mql", campaigns.Step{Kind: campaigns.StepBranch, Branch: &campaigns.Branch{When: campaigns.Predicate{Op: campaigns.OpScore, Score: &campaigns.ScoreCondition{Model: "lead", Threshold: "mql"}}}}},
		{"set_persona_stage", campaigns.Step{Kind: campaigns.StepSet, Set: map[string]any{"stage": "mql", "persona": "x"}}},
		{"handoff_sales", campaigns.Step{Kind: campaigns.StepHandoff, Handoff: "sales"}},
		{"enroll_long_term", campaigns.Step{Kind: campaigns.StepEnroll, Enroll: "long_term"}},
		{"goto_webinar", campaigns.Step{Kind: campaigns.StepGoto, Goto: "webinar"}},
		{"exit_track_complete", campaigns.Step{Kind: campaigns.StepExit, Exit: "track_complete"}},
		{"suppress_asked_us_to_stop", campaigns.Step{Kind: campaigns.StepSuppress, Suppress: "Asked us to stop."}},
	}
	for _, tc := range tests {
		if got := defaultStepName(tc.step); got != tc.want {
			t.Errorf("%s step: default name %q, want %q", tc.step.Kind, got, tc.want)
		}
	}
}

// Goals compile into the model, and a plan shows a change of them as a
// change of the programme's goals.
func TestGoals(t *testing.T) {
	dir := t.TempDir()
	if err := copyDir("testdata/minimal", dir); err != nil {
		t.Fatal(err)
	}
	before := Compile(dir)
	if before.Program == nil || before.Program.Goals != nil {
		t.Fatalf("the minimal programme declares no goals, compiled: %+v", before.Program)
	}
	var reason string
	for _, s := range before.Program.Sequences {
		for _, r := range s.Exits {
			reason = r.Reason
		}
	}
	if reason == "" {
		t.Fatal("the minimal programme has no exit rule to name a goal after")
	}
	src := "package nurture\n\ngoals: exits: [\"" + reason + "\", \"completed\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "goals.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	after := Compile(dir)
	if len(after.Diagnostics) > 0 {
		t.Fatalf("goals of known reasons: %v", after.Diagnostics)
	}
	if diff := cmp.Diff(&campaigns.Goals{Exits: []string{reason, "completed"}}, after.Program.Goals); diff != "" {
		t.Errorf("goals (-want +got):\n%s", diff)
	}
	changes, _ := Diff(before.Program, after.Program)
	if len(changes) != 1 || changes[0].Address != "goals" || len(changes[0].Details) != 1 || changes[0].Details[0].Path != "exits" {
		t.Errorf("the plan of adding goals: %+v, want one change at goals, of its exits", changes)
	}
}
