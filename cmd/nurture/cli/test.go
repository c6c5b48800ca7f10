package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/scenario"
)

type testFlags struct {
	dir         string
	run         string
	format      string
	coverage    bool
	minCoverage float64
	verbose     bool
	parallel    int
}

func (f *testFlags) check() error {
	switch f.format {
	case "text", "json", "junit":
	default:
		return fmt.Errorf("--format must be text, json or junit, not %q", f.format)
	}
	if _, err := regexp.Compile(f.run); err != nil {
		return fmt.Errorf("--run %q is not a regular expression: %v", f.run, err)
	}
	if f.minCoverage < 0 || f.minCoverage > 100 {
		return fmt.Errorf("--min-coverage is a percentage, from 0 to 100, not %g", f.minCoverage)
	}
	if f.parallel < 1 {
		return fmt.Errorf("--parallel must be at least 1, not %d", f.parallel)
	}
	return nil
}

func newTest() *cobra.Command {
	f := testFlags{parallel: goruntime.GOMAXPROCS(0)}
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the programme's scenario tests on a virtual clock",
		Example: `  nurture test examples/b2b-saas
  nurture test --run welcome --verbose
  # in CI: fail when a step or exit rule goes untested
  nurture test --coverage --min-coverage 100`,
		Long: `Test runs every scenario under tests: in the programme in DIR (default:
the current directory) against the real engine, each with a SQLite store
of its own and a sender that keeps the mail, on a virtual clock: months of
a journey take a fraction of a second. A scenario names a contact, what it
does and when, and what must happen — the emails it gets (and never gets),
its score, stage and segments at a moment, the sequences it enters and
leaves, hand-offs, what the caps held back.

--coverage reports the steps, branches, A/B variants and exit rules no
scenario reached; --min-coverage N fails below N percent.

Exit status: 0 when every scenario passes, 1 when one fails or the
programme does not compile.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dir = "."
			if len(args) == 1 {
				f.dir = args[0]
			}
			if cmd.Flags().Changed("min-coverage") {
				f.coverage = true
			}
			if err := f.check(); err != nil {
				return err
			}
			return runTest(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.run, "run", "", "run only the scenarios whose names match this regular expression")
	fl.StringVar(&f.format, "format", "text", "output format: text, json or junit (JUnit XML for CI)")
	fl.BoolVar(&f.coverage, "coverage", false, "report the steps, branches, variants and exit rules no scenario reached")
	fl.Float64Var(&f.minCoverage, "min-coverage", 0, "fail when journey coverage is below this percentage (implies --coverage)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show the timeline of passing scenarios too")
	fl.IntVar(&f.parallel, "parallel", f.parallel, "how many scenarios run at once")
	return cmd
}

// testReport is what nurture test found, for its views.
type testReport struct {
	Dir       string
	Passed    bool
	Scenarios []*scenario.Result
	Coverage  *coverageReport
	Elapsed   time.Duration
}

type coverageReport struct {
	Percent float64      `json:"percent"`
	Items   int          `json:"items"`
	Reached int          `json:"reached"`
	Missed  []missedItem `json:"missed"`
	Min     float64      `json:"min,omitempty"`
}

// missedItem is a coverage item no scenario reached, and what it is.
type missedItem struct {
	scenario.Item
	What string `json:"what"`
}

// describeItem says what a coverage item is: "step engaged: no
// email.clicked within 10d (goto governance)".
func describeItem(prog *campaigns.Program, it scenario.Item) string {
	if it.Rule != nil {
		if it.Sequence == "" {
			return fmt.Sprintf("exits[%d] %s", it.Index, compiler.DescribeExit(*it.Rule))
		}
		return fmt.Sprintf("exit[%d] %s", it.Index, compiler.DescribeExit(*it.Rule))
	}
	seq := prog.Sequences[it.Sequence]
	st := seq.Steps[seq.StepIndex(it.Step)]
	what := "step " + st.Name + ": "
	switch {
	case st.WaitFor != nil && it.Outcome == engine.OutcomeThen:
		return what + st.WaitFor.Event.Name + " came (" + compiler.DescribeAction(st.WaitFor.Then) + ")"
	case st.WaitFor != nil:
		return what + "no " + st.WaitFor.Event.Name + " within " + st.WaitFor.Within.String() + " (" + compiler.DescribeAction(st.WaitFor.Else) + ")"
	case st.Branch != nil && it.Outcome == engine.OutcomeThen:
		return what + "when " + compiler.DescribePredicate(st.Branch.When) + " (" + compiler.DescribeAction(st.Branch.Then) + ")"
	case st.Branch != nil:
		return what + "otherwise (" + compiler.DescribeAction(st.Branch.Else) + ")"
	case it.Variant != "":
		for _, v := range st.Send {
			if v.Name == it.Variant {
				return what + "variant " + v.Name + " (" + v.Email + ")"
			}
		}
	}
	return what + compiler.DescribeStep(st)
}

func runTest(ctx context.Context, stdout, stderr io.Writer, f testFlags) error {
	began := time.Now()
	cwd, _ := os.Getwd()
	res, err := compile(ctx, f.dir)
	if err != nil {
		return err
	}
	if res.Diagnostics.HasErrors() {
		writeDiagnostics(stderr, cwd, res.Diagnostics)
		errs, warns := res.Diagnostics.Count()
		fmt.Fprintf(stderr, "\n%s\n", countLine(errs, warns))
		return exitError(1)
	}
	re := regexp.MustCompile(f.run)
	var scs []*campaigns.Scenario
	for _, s := range res.Tests {
		if re.MatchString(s.Name) {
			scs = append(scs, s)
		}
	}
	dir := displayDir(cwd, f.dir)
	if len(res.Tests) == 0 {
		fmt.Fprintf(stderr, "%s has no scenario tests: declare them under tests: (see the README's Test section)\n", dir)
		return exitError(1)
	}
	if len(scs) == 0 {
		fmt.Fprintf(stderr, "no scenario of %s matches --run %q; its scenarios are %s\n", dir, f.run, strings.Join(testNames(res.Tests), ", "))
		return exitError(1)
	}

	tmp, err := os.MkdirTemp("", "nurture-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	results := make([]*scenario.Result, len(scs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(f.parallel, len(scs)) {
		wg.Go(func() {
			for i := range work {
				d, err := os.MkdirTemp(tmp, "scenario-")
				if err != nil {
					results[i] = &scenario.Result{Scenario: scs[i], Name: scs[i].Name,
						Problems: []scenario.Problem{{Pos: scs[i].Pos, Message: err.Error()}}}
					continue
				}
				results[i] = scenario.Run(ctx, d, res.Program, scs[i])
				os.RemoveAll(d)
			}
		})
	}
	for i := range scs {
		work <- i
	}
	close(work)
	wg.Wait()

	rep := &testReport{Dir: dir, Passed: true, Scenarios: results}
	for _, r := range results {
		rep.Passed = rep.Passed && r.Passed
	}
	var cov *scenario.Coverage
	if f.coverage {
		cov = scenario.NewCoverage(res.Program, results)
		rep.Coverage = &coverageReport{Percent: cov.Percent(), Items: len(cov.Items), Reached: len(cov.Reached), Missed: []missedItem{}, Min: f.minCoverage}
		for _, it := range cov.Missed() {
			rep.Coverage.Missed = append(rep.Coverage.Missed, missedItem{it, describeItem(res.Program, it)})
		}
		if cov.Percent() < f.minCoverage {
			rep.Passed = false
		}
	}
	rep.Elapsed = time.Since(began)
	switch f.format {
	case "json":
		writeTestJSON(stdout, cwd, rep)
	case "junit":
		writeJUnit(stdout, cwd, rep)
	default:
		writeTestText(stdout, cwd, rep, f)
	}
	if !rep.Passed {
		return exitError(1)
	}
	return nil
}

func testNames(scs []*campaigns.Scenario) []string {
	var out []string
	for _, s := range scs {
		out = append(out, s.Name)
	}
	return out
}

// rel writes a source position relative to the working directory.
func rel(cwd string, s campaigns.Source) string {
	return compiler.Pos{File: s.File, Line: s.Line, Col: s.Col}.Rel(cwd).String()
}

func writeTestText(w io.Writer, cwd string, rep *testReport, f testFlags) {
	failed := 0
	blank := false // the last line written was blank
	for _, r := range rep.Scenarios {
		secs := fmt.Sprintf("%.2fs", r.Elapsed.Seconds())
		if r.Passed {
			fmt.Fprintf(w, "ok    %-40s %s\n", r.Name, secs)
			blank = false
			if f.verbose {
				writeTimeline(w, r)
				blank = true
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "--- FAIL: %s (%s)\n", r.Name, secs)
		for _, line := range failures(cwd, r) {
			fmt.Fprintf(w, "    %s\n", line)
		}
		writeTimeline(w, r)
		blank = true
	}
	if c := rep.Coverage; c != nil {
		if !blank {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "coverage: %.1f%% of %s reached\n", c.Percent, plural(c.Items, "journey item"))
		if f.coverage && len(c.Missed) > 0 {
			fmt.Fprintln(w, "  not reached by any scenario:")
			width := 0
			for _, it := range c.Missed {
				width = max(width, len(cmp.Or(it.Sequence, "(programme)")))
			}
			for _, it := range c.Missed {
				fmt.Fprintf(w, "    %-*s  %s\n", width, cmp.Or(it.Sequence, "(programme)"), it.What)
			}
		}
		if c.Percent < c.Min {
			fmt.Fprintf(w, "coverage %.1f%% is below --min-coverage %g%%\n", c.Percent, c.Min)
		}
	}
	status := "ok  "
	if !rep.Passed {
		status = "FAIL"
	}
	summary := plural(len(rep.Scenarios), "scenario")
	if failed > 0 {
		summary += fmt.Sprintf(", %d failed", failed)
	}
	fmt.Fprintf(w, "%s  %s  %s  %.2fs\n", status, rep.Dir, summary, rep.Elapsed.Seconds())
}

// failures are the lines that say why a scenario failed, each at the
// place in the programme's files it concerns.
func failures(cwd string, r *scenario.Result) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, fmt.Sprintf("%s: %s", rel(cwd, p.Pos), p.Message))
	}
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, fmt.Sprintf("%s: expected %s: %s", rel(cwd, c.Expectation.Pos), describeExpectation(&c.Expectation), c.Got))
		}
	}
	for _, i := range r.Unexpected {
		e := r.Timeline[i]
		out = append(out, fmt.Sprintf("%s: %s came on %s, and no expectation names it (strict)", rel(cwd, r.Scenario.Pos), e.Email, r.Day(e.At)))
	}
	return out
}

// describeExpectation writes an expectation as a person would say it.
func describeExpectation(x *campaigns.Expectation) string {
	var s string
	switch x.Kind {
	case campaigns.ExpectEmail:
		s = "email " + x.Email
		if x.Variant != "" {
			s += " (variant " + x.Variant + ")"
		}
	case campaigns.ExpectNever:
		s = "never " + x.Email
	case campaigns.ExpectDeferred:
		s = "held back: " + x.Email
	case campaigns.ExpectEnter:
		s = "enter " + x.Sequence
	case campaigns.ExpectExit:
		s = "exit " + x.Reason
	case campaigns.ExpectHandoff:
		s = "hand-off " + x.Handoff
	case campaigns.ExpectStage:
		s = "stage " + x.Stage
	case campaigns.ExpectSegment:
		s = "in segment " + x.Segment
		if !x.In {
			s = "not in segment " + x.Segment
		}
	case campaigns.ExpectScore:
		var parts []string
		for _, c := range x.Scores {
			parts = append(parts, fmt.Sprintf("%s %s %g", c.Model, cmpSymbol(c.Cmp), c.Value))
		}
		s = "score " + strings.Join(parts, ", ")
	}
	if x.Sequence != "" && x.Kind != campaigns.ExpectEnter {
		s += " from " + x.Sequence
	}
	if x.When != "" {
		s += " " + x.When
	}
	return s
}

func cmpSymbol(c string) string {
	return map[string]string{campaigns.CmpGt: ">", campaigns.CmpGte: "≥", campaigns.CmpLt: "<", campaigns.CmpLte: "≤"}[c]
}

// describeEntry writes what happened, for the actual column.
func describeEntry(e scenario.Entry) string {
	switch e.Kind {
	case scenario.EntrySend:
		s := "email " + e.Email
		if e.Variant != "" {
			s += " (variant " + e.Variant + ")"
		}
		return s
	case scenario.EntryDeferred:
		return "held back: " + e.Email + ": " + e.Detail
	case scenario.EntryEnter:
		return "enter " + e.Sequence
	case scenario.EntryExit:
		return "exit " + e.Reason + " from " + e.Sequence
	case scenario.EntryHandoff:
		if e.Detail != "" {
			return "hand-off " + e.Handoff + " of " + e.Detail
		}
		return "hand-off " + e.Handoff
	case scenario.EntryStage:
		return "stage → " + e.Stage
	case scenario.EntrySuppress:
		return "suppressed: " + e.Reason
	}
	return "contact " + e.Detail
}

// writeTimeline shows the expectations beside what happened, in time
// order: an expectation on the row of the entry that met it (or, for a
// never, that broke it), one that failed at the time it was for.
func writeTimeline(w io.Writer, r *scenario.Result) {
	type row struct {
		at          time.Time
		left, right string
		order       int
	}
	mark := func(c scenario.Check) string {
		if c.OK {
			return "✓ " + describeExpectation(&c.Expectation)
		}
		return "✗ " + describeExpectation(&c.Expectation)
	}
	days := make([]string, len(r.Timeline))
	dayWidth := 0
	for j, e := range r.Timeline {
		days[j] = r.Day(e.At)
		dayWidth = max(dayWidth, len(days[j]))
	}
	for _, c := range r.Checks {
		if c.Expectation.State() {
			dayWidth = max(dayWidth, len(r.Day(c.Expectation.At)))
		}
	}
	unexpected := map[int]bool{}
	for _, j := range r.Unexpected {
		unexpected[j] = true
	}
	var rows []row
	for j, e := range r.Timeline {
		right := fmt.Sprintf("%-*s  %s", dayWidth, days[j], describeEntry(e))
		if unexpected[j] {
			right += "  ✗ unexpected (strict)"
		}
		rows = append(rows, row{at: e.At, right: right, order: j})
	}
	end := r.Scenario.Start.Add(r.Scenario.Run.Std())
	for i, c := range r.Checks {
		if c.Entry >= 0 && rows[c.Entry].left == "" {
			rows[c.Entry].left = mark(c)
			continue
		}
		if c.Entry >= 0 {
			rows = append(rows, row{at: r.Timeline[c.Entry].At, left: mark(c), order: c.Entry})
			continue
		}
		x := c.Expectation
		at := cmp.Or(x.At, x.From)
		if at.IsZero() {
			at = end
		}
		var right string
		if x.State() { // what the state was at that moment
			right = fmt.Sprintf("%-*s  %s", dayWidth, r.Day(x.At), c.Got)
		}
		rows = append(rows, row{at: at, left: mark(c), right: right, order: len(r.Timeline) + i})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.order, b.order)) })
	width := len("expected")
	for _, rw := range rows {
		width = max(width, utf8.RuneCountInString(rw.left))
	}
	width = min(width, 60)
	fmt.Fprintf(w, "    %-*s  %s\n", width, "expected", "actual")
	for _, rw := range rows {
		left := rw.left
		if n := utf8.RuneCountInString(left); n > width {
			left = string([]rune(left)[:width-1]) + "…"
		}
		line := left + strings.Repeat(" ", width-utf8.RuneCountInString(left)) + "  " + rw.right
		fmt.Fprintf(w, "    %s\n", strings.TrimRight(line, " "))
	}
	fmt.Fprintln(w)
}

func writeTestJSON(w io.Writer, cwd string, rep *testReport) {
	type check struct {
		Pos         string `json:"pos"`
		Expectation string `json:"expectation"`
		OK          bool   `json:"ok"`
		Got         string `json:"got,omitempty"`
	}
	type entry struct {
		scenario.Entry
		Day string `json:"day"`
	}
	type result struct {
		Name     string   `json:"name"`
		Pos      string   `json:"pos"`
		Passed   bool     `json:"passed"`
		Seconds  float64  `json:"seconds"`
		Ticks    int      `json:"ticks"`
		Failures []string `json:"failures,omitempty"`
		Checks   []check  `json:"checks"`
		Timeline []entry  `json:"timeline"`
	}
	out := struct {
		FormatVersion int             `json:"format_version"`
		Dir           string          `json:"dir"`
		Passed        bool            `json:"passed"`
		Seconds       float64         `json:"seconds"`
		Scenarios     []result        `json:"scenarios"`
		Coverage      *coverageReport `json:"coverage,omitempty"`
	}{1, rep.Dir, rep.Passed, rep.Elapsed.Seconds(), nil, rep.Coverage}
	for _, r := range rep.Scenarios {
		res := result{Name: r.Name, Pos: rel(cwd, r.Scenario.Pos), Passed: r.Passed, Seconds: r.Elapsed.Seconds(), Ticks: r.Ticks,
			Failures: failures(cwd, r), Checks: []check{}, Timeline: []entry{}}
		for _, c := range r.Checks {
			res.Checks = append(res.Checks, check{Pos: rel(cwd, c.Expectation.Pos), Expectation: describeExpectation(&c.Expectation), OK: c.OK, Got: c.Got})
		}
		for _, e := range r.Timeline {
			res.Timeline = append(res.Timeline, entry{e, r.Day(e.At)})
		}
		out.Scenarios = append(out.Scenarios, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// writeJUnit writes the JUnit XML that CI systems show as test results.
func writeJUnit(w io.Writer, cwd string, rep *testReport) {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		File      string   `xml:"file,attr"`
		Line      int      `xml:"line,attr,omitempty"`
		Time      string   `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Time     string     `xml:"time,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: rep.Dir, Tests: len(rep.Scenarios), Time: fmt.Sprintf("%.3f", rep.Elapsed.Seconds())}
	for _, r := range rep.Scenarios {
		pos := compiler.Pos{File: r.Scenario.Pos.File}.Rel(cwd)
		tc := testcase{Name: r.Name, Classname: rep.Dir, File: pos.File, Line: r.Scenario.Pos.Line, Time: fmt.Sprintf("%.3f", r.Elapsed.Seconds())}
		if !r.Passed {
			s.Failures++
			fs := failures(cwd, r)
			var tl strings.Builder
			writeTimeline(&tl, r)
			tc.Failure = &failure{Message: cmp.Or(strings.Join(fs[:min(1, len(fs))], ""), "failed"), Text: strings.Join(fs, "\n") + "\n\n" + tl.String()}
		}
		s.Cases = append(s.Cases, tc)
	}
	if c := rep.Coverage; c != nil && c.Percent < c.Min {
		s.Tests++
		s.Failures++
		s.Cases = append(s.Cases, testcase{Name: "coverage", Classname: rep.Dir, Time: "0",
			Failure: &failure{Message: fmt.Sprintf("coverage %.1f%% is below %g%%", c.Percent, c.Min)}})
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	enc.Encode(s)
	io.WriteString(w, "\n")
}
