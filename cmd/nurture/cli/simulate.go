package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/ingest"
	"github.com/nurture-dev/nurture/runtime/report"
	"github.com/nurture-dev/nurture/runtime/sample"
	"github.com/nurture-dev/nurture/runtime/scenario"
	"github.com/nurture-dev/nurture/runtime/sqlite"
)

type simulateFlags struct {
	dir      string
	contacts string
	events   string
	accounts string
	generate int
	seed     int64
	days     int
	every    time.Duration
	start    string
	html     string
	format   string
	engage   []string
	keep     string
	force    bool
}

// check says what is wrong with the flags as a person would fix it.
// generated says whether --generate was given, which a zero cannot tell.
func (f *simulateFlags) check(generated bool) error {
	switch {
	case f.contacts != "" && generated:
		return errors.New("--contacts and --generate both given: simulate either a contacts file or generated contacts, not both")
	case f.contacts == "" && !generated:
		return errors.New("no contacts: give --contacts FILE (and optionally --events FILE), or --generate N for made-up ones")
	case generated && f.generate < 1:
		return fmt.Errorf("--generate must be 1 or more, not %d", f.generate)
	case f.accounts != "" && generated:
		return errors.New("--accounts goes with --contacts: --generate makes its own accounts")
	case f.events != "" && generated:
		return errors.New("--events goes with --contacts: --generate makes its own events")
	case f.days < 1:
		return fmt.Errorf("--days must be 1 or more, not %d", f.days)
	case f.every <= 0:
		return fmt.Errorf("--every must be a positive duration such as 4h, not %s", f.every)
	case f.format != "text" && f.format != "json":
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	case f.keep != "" && !f.force:
		if _, err := os.Lstat(f.keep); err == nil {
			return fmt.Errorf("--keep %s: the file exists; choose another, or --force to replace it", f.keep)
		}
	}
	return nil
}

// engagement reads the --engage settings: one for every email, and any
// number for single emails, each of which the programme must send.
func (f *simulateFlags) engagement(prog *campaigns.Program) (*scenario.Engagement, error) {
	if len(f.engage) == 0 {
		return nil, nil
	}
	e := &scenario.Engagement{Seed: f.seed, Default: scenario.Rates{}, ByEmail: map[string]scenario.Rates{}}
	defaults := 0
	for _, s := range f.engage {
		email, rates, err := scenario.ParseRates(s)
		if err != nil {
			return nil, fmt.Errorf("--engage %w", err)
		}
		if email == "" {
			if defaults++; defaults > 1 {
				return nil, fmt.Errorf("--engage %q: the rates for every email are given twice; give them once, and an email's own as EMAIL: click 8%%", s)
			}
			e.Default = rates
			continue
		}
		if prog.Emails[email] == nil {
			return nil, fmt.Errorf("--engage %q: the programme sends no email %s; its emails are %s", s, email, strings.Join(slices.Sorted(maps.Keys(prog.Emails)), ", "))
		}
		if e.ByEmail[email] != nil {
			return nil, fmt.Errorf("--engage %q: %s has rates of its own twice", s, email)
		}
		e.ByEmail[email] = rates
	}
	return e, nil
}

func newSimulate() *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate [DIR]",
		Short: "Run the programme over sample contacts on a virtual clock and chart the cadence pressure",
		Example: `  nurture simulate examples/b2b-saas --contacts examples/b2b-saas/contacts.csv --events examples/b2b-saas/events.jsonl
  nurture simulate --generate 5000 --seed 3 --days 60 --html pressure.html
  nurture simulate --generate 500 --engage "click 3%, reply 1%, unsubscribe 0.2%, bounce 0.5%" --keep sim.db`,
		Long: `Simulate compiles the programme in DIR (default: the current directory)
and runs it for --days over a set of contacts, before it goes live: a
tick every --every, as nurture run would, on a virtual clock, against a
throwaway store. Nothing is sent; the mail is counted.

The contacts come from --contacts FILE (CSV or JSON Lines, as nurture
contacts import reads), with their accounts' records from --accounts FILE
(as nurture accounts import reads) and the events of --events FILE: events dated
before --start are recorded up front, later ones at their time during
the run. Or --generate N makes N contacts, their accounts and their
history as nurture sample does (--seed picks them). Rows that cannot be imported are
reported and left out; the run goes on without them.

It prints, by sequence and by day, how many emails would go out, how
many sends the cadence caps or the sending window held back, how many
enrollments ended and why. The totals count each send held back once,
however long it waited; a day's count, each send held back that day.
--html FILE writes the same as a page with a chart.

--engage has the recipients answer the email they get, at rates a person
reads: --engage "click 3%, reply 1%, unsubscribe 0.2%, bounce 0.5%" for
every email, and --engage "emails/welcome.md: click 8%" for one (its own
rates replace those it names); the kinds are open, click, reply,
unsubscribe, bounce and complaint. Each answer is drawn from --seed and
the send, so the same seed gives the same answers, and comes minutes
(a bounce) to hours or a few days after the send, through the tracking
server's own endpoints: a tracked link of the email, its one-click
unsubscribe, the bounce and reply APIs. The store records them as it
records a real recipient's, and the engine acts on them: wait_for and
branches, scores, exits, suppressions.

--keep FILE keeps the simulated store as a SQLite file that nurture
report --store sqlite:FILE reads (--force replaces one that exists).

--start defaults to today 00:00 in the programme's default time zone,
and days are that zone's days.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dir = "."
			if len(args) == 1 {
				f.dir = args[0]
			}
			if err := f.check(cmd.Flags().Changed("generate")); err != nil {
				return err
			}
			return runSimulate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.contacts, "contacts", "", "the contacts to simulate: a CSV or JSON Lines file")
	fl.StringVar(&f.events, "events", "", "their events: a CSV or JSON Lines file")
	fl.StringVar(&f.accounts, "accounts", "", "their accounts' records: a CSV or JSON Lines file")
	fl.IntVar(&f.generate, "generate", 0, "simulate this many generated contacts instead of a file")
	fl.Int64Var(&f.seed, "seed", 1, "the seed of --generate: another seed gives other contacts")
	fl.IntVar(&f.days, "days", 90, "how many days to simulate")
	fl.DurationVar(&f.every, "every", 4*time.Hour, "the time between ticks")
	fl.StringVar(&f.start, "start", "", "start at this RFC 3339 time (default: today 00:00 in the programme's time zone)")
	fl.StringVar(&f.html, "html", "", "also write the report as an HTML page with a chart to this file")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.StringArrayVar(&f.engage, "engage", nil, `have the recipients answer at these rates: "click 3%, reply 1%, unsubscribe 0.2%, bounce 0.5%" for every email, "EMAIL: click 8%" for one (repeatable)`)
	fl.StringVar(&f.keep, "keep", "", "keep the simulated store in this SQLite file, for nurture report --store sqlite:FILE")
	fl.BoolVar(&f.force, "force", false, "let --keep replace a file that exists")
	return cmd
}

func runSimulate(ctx context.Context, stdout, stderr io.Writer, f simulateFlags) error {
	prog, err := compileFor(stderr, f.dir)
	if err != nil {
		return err
	}
	loc := engine.Location("", prog.Cadence.DefaultTimezone)
	y, m, d := time.Now().In(loc).Date()
	start, err := parseNow(f.start, time.Date(y, m, d, 0, 0, 0, 0, loc))
	if err != nil {
		return fmt.Errorf("--start %q: want an RFC 3339 time such as 2026-11-23T00:00:00-05:00", f.start)
	}

	opt := scenario.SimOptions{Program: prog, Start: start, Days: f.days, Every: f.every, Location: loc}
	if opt.Engagement, err = f.engagement(prog); err != nil {
		return err
	}
	if f.keep != "" {
		opt.Keep = func(ctx context.Context, st scenario.Store) error {
			rs, ok := st.(runtime.Store)
			if !ok {
				return errors.New("--keep: the simulation's store cannot be copied")
			}
			if _, err := sqlite.Backup(ctx, rs, f.keep, f.force); err != nil {
				return fmt.Errorf("--keep %w", err)
			}
			return nil
		}
	}
	var contactsName, eventsName, accountsName string
	if f.accounts != "" {
		name, in, format, err := openSimInput("--accounts", f.accounts)
		if err != nil {
			return err
		}
		defer in.Close()
		if opt.Accounts, err = ingest.NewAccountReader(in, name, format, prog.Accounts.Attributes, ingest.Options{}); err != nil {
			return err
		}
		accountsName = name
	}
	if f.contacts != "" {
		var in io.ReadCloser
		if contactsName, in, opt.Contacts, err = openContacts(f.contacts, prog); err != nil {
			return err
		}
		defer in.Close()
		if f.events != "" {
			var in io.ReadCloser
			if eventsName, in, opt.Events, err = openEvents(f.events, prog); err != nil {
				return err
			}
			defer in.Close()
		}
	} else {
		// What nurture sample would write, read back through the same
		// readers as a file: generated data meets the same checks.
		var cs, es, as bytes.Buffer
		sopt := sample.Options{Contacts: f.generate, Seed: f.seed, Now: start}
		if len(prog.Accounts.Attributes) > 0 {
			sopt.Accounts = &as
		}
		if _, err := sample.Generate(prog, sopt, &cs, &es); err != nil {
			return err
		}
		if sopt.Accounts != nil {
			accountsName = "generated accounts"
			if opt.Accounts, err = ingest.NewAccountReader(&as, accountsName, ingest.CSV, prog.Accounts.Attributes, ingest.Options{}); err != nil {
				return err
			}
		}
		contactsName, eventsName = "generated contacts", "generated events"
		if opt.Contacts, err = ingest.NewContactReader(&cs, contactsName, ingest.CSV, &prog.Contact, ingest.Options{}); err != nil {
			return err
		}
		if opt.Events, err = ingest.NewEventReader(&es, eventsName, ingest.JSONL, prog.Events, ingest.Options{}); err != nil {
			return err
		}
	}
	contactRejects := &rejectLog{name: contactsName}
	eventRejects := &rejectLog{name: eventsName}
	accountRejects := &rejectLog{name: accountsName}
	opt.ContactRejects, opt.EventRejects, opt.AccountRejects = contactRejects.add, eventRejects.add, accountRejects.add

	rep, err := scenario.Simulate(ctx, opt)
	if err != nil {
		return err
	}
	accountRejects.report(stderr, "account")
	contactRejects.report(stderr, "contact")
	eventRejects.report(stderr, "event")

	if f.html != "" {
		if err := os.WriteFile(f.html, []byte(simulateHTML(rep)), 0o644); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeSimulation(stdout, rep)
	return nil
}

// openContacts opens a contacts file as nurture contacts import does,
// naming the flag in what goes wrong.
func openContacts(path string, prog *campaigns.Program) (string, io.ReadCloser, *ingest.ContactReader, error) {
	name, in, format, err := openSimInput("--contacts", path)
	if err != nil {
		return "", nil, nil, err
	}
	cr, err := ingest.NewContactReader(in, name, format, &prog.Contact, ingest.Options{})
	if err != nil {
		in.Close()
		return "", nil, nil, err
	}
	return name, in, cr, nil
}

func openEvents(path string, prog *campaigns.Program) (string, io.ReadCloser, *ingest.EventReader, error) {
	name, in, format, err := openSimInput("--events", path)
	if err != nil {
		return "", nil, nil, err
	}
	er, err := ingest.NewEventReader(in, name, format, prog.Events, ingest.Options{})
	if err != nil {
		in.Close()
		return "", nil, nil, err
	}
	return name, in, er, nil
}

func openSimInput(flag, path string) (string, io.ReadCloser, ingest.Format, error) {
	if path == "-" {
		return "", nil, 0, fmt.Errorf("%s -: simulate reads files, not standard input", flag)
	}
	name, in, _, err := openInput(path)
	if err != nil {
		return "", nil, 0, fmt.Errorf("%s %w", flag, err)
	}
	format, err := importFormat("", name, path)
	if err != nil {
		in.Close()
		return "", nil, 0, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return name, in, format, nil
}

// rejectLog keeps the first rejected rows of a file to show, as an
// import shows them, and counts the rest.
type rejectLog struct {
	name  string
	shown []string
	n     int
}

func (l *rejectLog) add(r *ingest.Reject) error {
	l.n++
	if len(l.shown) < 5 {
		l.shown = append(l.shown, fmt.Sprintf("%s:%d: %s", l.name, r.Line, r.Reason))
	}
	return nil
}

func (l *rejectLog) report(w io.Writer, what string) {
	if l.n == 0 {
		return
	}
	for _, s := range l.shown {
		fmt.Fprintln(w, s)
	}
	if more := l.n - len(l.shown); more > 0 {
		fmt.Fprintf(w, "… and %d more\n", more)
	}
	fmt.Fprintf(w, "%s: %s rejected and left out of the simulation (nurture %ss import writes them to a file with their reasons)\n\n", l.name, plural(l.n, "row"), what)
}

// buckets groups the days of a run for a chart that fits a terminal: one
// column (or row) a day up to limit days, then a week, then as many days
// as keep it to limit.
func buckets(days, limit int) int {
	switch {
	case days <= limit:
		return 1
	case days <= 7*limit:
		return 7
	}
	return (days + limit - 1) / limit
}

func bucketWord(n int) string {
	switch n {
	case 1:
		return "day"
	case 7:
		return "week"
	}
	return fmt.Sprintf("%d days", n)
}

// series sums a daily figure into buckets of n days.
func series(rep *scenario.SimReport, n int, of func(*scenario.SimDay) int) []int {
	out := make([]int, (len(rep.Daily)+n-1)/n)
	for i := range rep.Daily {
		out[i/n] += of(&rep.Daily[i])
	}
	return out
}

// sparkline is the report's: simulate and report draw series alike.
func sparkline(vs []int) string { return report.Sparkline(vs) }

func emailsOf(seq string) func(*scenario.SimDay) int {
	return func(d *scenario.SimDay) int {
		if c := d.BySequence[seq]; c != nil {
			return c.Emails
		}
		return 0
	}
}

func day(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return t.Format("Mon 2 Jan 2006")
}

var heldWords = map[string]string{
	engine.HeldCadence:     "cadence caps",
	engine.HeldSequenceCap: "sequence cap",
	engine.HeldAccountCap:  "account cap",
	engine.HeldPreferences: "contact preferences",
	engine.HeldWindow:      "sending window",
	engine.HeldBlackout:    "blackout dates",
	engine.HeldPaused:      "paused by the contact",
}

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := count(n, "")
	return s[:strings.IndexByte(s, ' ')]
}

// byCount lists a map as "N key, N key", largest first.
func byCount(m map[string]int, word func(string) string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = thousands(m[k]) + " " + word(k)
	}
	return strings.Join(parts, ", ")
}

func writeSimulation(w io.Writer, rep *scenario.SimReport) {
	t := rep.Total
	fmt.Fprintf(w, "Simulated %d days from %s (%s), %s, a tick every %s:\n", rep.Days, rep.Start.In(time.UTC).Format(time.RFC3339), rep.Timezone, count(rep.Contacts, "contact"), shortDuration(rep.Every))
	fmt.Fprintf(w, "%s, %s held back, %s, %s.\n", count(t.Emails, "email"), count(t.HeldBack, "send"), count(t.Exits, "exit"), count(t.Enrolled, "enrollment"))
	if rep.EngagementRates != nil {
		fmt.Fprintln(w, engageLine(rep))
	}
	fmt.Fprintln(w)

	// Sparklines fit two months a column a day; the bars, a row each,
	// a month.
	n := buckets(len(rep.Daily), 60)
	name := len("SEQUENCE")
	for _, s := range rep.Sequences {
		name = max(name, len(s.Name)+len(exemptMark(s)))
	}
	fmt.Fprintf(w, "%-*s  %7s  %9s  %5s  %8s  EMAILS PER %s\n", name, "SEQUENCE", "EMAILS", "HELD BACK", "EXITS", "ENROLLED", strings.ToUpper(bucketWord(n)))
	for _, s := range rep.Sequences {
		line := ""
		if s.Emails > 0 {
			vs := series(rep, n, emailsOf(s.Name))
			line = fmt.Sprintf("%s  peak %d", sparkline(vs), slices.Max(vs))
		}
		row := fmt.Sprintf("%-*s  %7d  %9d  %5d  %8d  %s", name, s.Name+exemptMark(s), s.Emails, s.HeldBack, s.Exits, s.Enrolled, line)
		fmt.Fprintln(w, strings.TrimRight(row, " "))
	}
	all := series(rep, n, func(d *scenario.SimDay) int { return d.Emails })
	fmt.Fprintf(w, "%-*s  %7d  %9d  %5d  %8d  %s  peak %d\n", name, "all", t.Emails, t.HeldBack, t.Exits, t.Enrolled, sparkline(all), slices.Max(append([]int{0}, all...)))
	if slices.ContainsFunc(rep.Sequences, func(s scenario.SimSequence) bool { return s.Transactional }) {
		fmt.Fprintln(w, "* transactional: exempt from the cadence caps, the sending window and blackout dates")
	}

	// Volume by week (or day) as bars scaled to the busiest, with what was
	// held back beside it: where the caps bite.
	n = buckets(len(rep.Daily), 31)
	word := "Day"
	switch {
	case n == 7:
		word = "Week of"
	case n > 1:
		word = bucketWord(n) + " from"
	}
	fmt.Fprintf(w, "\n%-15s %6s  %-40s  %s\n", word, "EMAILS", "", "HELD BACK")
	rows := series(rep, n, func(d *scenario.SimDay) int { return d.Emails })
	held := series(rep, n, func(d *scenario.SimDay) int { return d.HeldBack })
	top := slices.Max(append([]int{1}, rows...))
	for i, v := range rows {
		bar := strings.Repeat("█", (v*40+top-1)/top)
		partial := ""
		if k := len(rep.Daily) - i*n; k < n {
			partial = fmt.Sprintf("  (%s only)", plural(k, "day"))
		}
		fmt.Fprintf(w, "%-15s %6d  %-40s  %d%s\n", day(rep.Daily[i*n].Date), v, bar, held[i], partial)
	}

	if t.HeldBack > 0 {
		fmt.Fprintf(w, "\nHeld back by: %s.\n", byCount(t.HeldBackBy, func(k string) string { return heldWords[k] }))
		fmt.Fprintf(w, "(each send once; by day, once on each day it waited; %s, repeats included)\n", count(t.Deferrals, "deferral"))
	}
	if t.Control > 0 {
		out := map[string]int{}
		for _, s := range rep.Sequences {
			if s.HeldOut > 0 {
				out[s.Name] = s.HeldOut
			}
		}
		fmt.Fprintf(w, "\nHeld out: %s in control groups, kept from %s", count(t.Control, "enrollment"), count(t.HeldOut, "email"))
		if len(out) > 0 {
			fmt.Fprintf(w, " (%s)", byCount(out, func(k string) string { return k }))
		}
		fmt.Fprintln(w, "; they walk the sequences and count in ENROLLED and EXITS.")
	}
	if t.Exits > 0 {
		fmt.Fprintln(w, "\nExits by reason:")
		reasons := make([]string, 0, len(t.ExitsBy))
		width := 0
		for r := range t.ExitsBy {
			reasons = append(reasons, r)
			width = max(width, len(r))
		}
		slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(t.ExitsBy[b], t.ExitsBy[a]), cmp.Compare(a, b)) })
		for _, r := range reasons {
			from := map[string]int{}
			for _, s := range rep.Sequences {
				if k := s.ExitsBy[r]; k > 0 {
					from[s.Name] = k
				}
			}
			fmt.Fprintf(w, "  %-*s  %5d  %s\n", width, r, t.ExitsBy[r], byCount(from, func(k string) string { return k }))
		}
	}
	if b := rep.Busiest; b != nil {
		em := map[string]int{}
		for s, c := range b.BySequence {
			if c.Emails > 0 {
				em[s] = c.Emails
			}
		}
		fmt.Fprintf(w, "\nBusiest day: %s, %s, %d held back.\n  %s\n", day(b.Date), count(b.Emails, "email"), b.HeldBack, byCount(em, func(k string) string { return k }))
	}
}

// engageWords name what the recipients did, one and many.
var engageWords = map[string][2]string{
	scenario.EngageOpen:        {"open", "opens"},
	scenario.EngageClick:       {"click", "clicks"},
	scenario.EngageReply:       {"reply", "replies"},
	scenario.EngageUnsubscribe: {"unsubscribe", "unsubscribes"},
	scenario.EngageBounce:      {"bounce", "bounces"},
	scenario.EngageComplaint:   {"complaint", "complaints"},
}

var engageOrder = []string{scenario.EngageOpen, scenario.EngageClick, scenario.EngageReply, scenario.EngageUnsubscribe, scenario.EngageBounce, scenario.EngageComplaint}

// engageLine says at what rates the recipients answered and what they
// did: "Recipients answered at click 3%, reply 1% (seed 1), 2 emails at
// their own rates: 41 clicks, 12 replies."
func engageLine(rep *scenario.SimReport) string {
	e := rep.EngagementRates
	var rates, did []string
	for _, k := range engageOrder {
		if r, ok := e.Default[k]; ok {
			rates = append(rates, k+" "+report.Percent(r))
		}
		if n, ok := rep.Engagement[k]; ok {
			w := engageWords[k]
			did = append(did, fmt.Sprintf("%s %s", thousands(n), map[bool]string{true: w[0], false: w[1]}[n == 1]))
		}
	}
	s := "Recipients answered"
	if len(rates) > 0 {
		s += " at " + strings.Join(rates, ", ")
	}
	if n := len(e.ByEmail); n > 0 {
		s += fmt.Sprintf(", %s at rates of %s own", plural(n, "email"), map[bool]string{true: "its", false: "their"}[n == 1])
	}
	return fmt.Sprintf("%s (seed %d): %s.", s, e.Seed, strings.Join(did, ", "))
}

// shortDuration drops the zero units time.Duration prints: 4h, not 4h0m0s.
func shortDuration(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func exemptMark(s scenario.SimSequence) string {
	if s.Transactional {
		return " *"
	}
	return ""
}

// palette colours the sequences of the HTML chart, in their order.
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// simulateHTML is the report as a page that needs nothing else: an SVG of
// emails a day stacked by sequence with the held-back sends as a line,
// then the tables of the text view.
func simulateHTML(rep *scenario.SimReport) string {
	const (
		width, height        = 960, 360
		left, right, top, bt = 56, 16, 16, 48
	)
	var sending []scenario.SimSequence
	for _, s := range rep.Sequences {
		if s.Emails > 0 {
			sending = append(sending, s)
		}
	}
	peak := 1
	for _, d := range rep.Daily {
		peak = max(peak, d.Emails, d.HeldBack)
	}
	peak = niceCeil(peak)
	plotW, plotH := float64(width-left-right), float64(height-top-bt)
	days := max(len(rep.Daily), 1)
	slot := plotW / float64(days)
	y := func(v int) float64 { return float64(top) + plotH - plotH*float64(v)/float64(peak) }
	x := func(i int) float64 { return float64(left) + slot*float64(i) }

	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nurture simulate: %d days</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:2px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
th{border-bottom:1px solid #999}.legend span{display:inline-block;margin-right:1.2em}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg text{font:11px system-ui,sans-serif;fill:#444}
</style></head><body>
`, rep.Days)
	fmt.Fprintf(&b, "<h1>Simulated %d days from %s</h1>\n<p>%s, a tick every %s, days in %s: <b>%d emails</b>, %d sends held back, %d exits, %d enrollments.</p>\n",
		rep.Days, esc(rep.Start.Format(time.RFC3339)), esc(count(rep.Contacts, "contact")), esc(shortDuration(rep.Every)), esc(rep.Timezone),
		rep.Total.Emails, rep.Total.HeldBack, rep.Total.Exits, rep.Total.Enrolled)

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="emails per day by sequence">`+"\n", width, height, width, height)
	// Grid and y axis: 0, a quarter, …, the peak.
	for k := 0; k <= 4; k++ {
		v := peak * k / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n", left, width-right, y(v), y(v), left-6, y(v)+4, v)
	}
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle">emails / sends held back per day</text>`+"\n", top+int(plotH/2))
	// Stacked bars, one group per sequence so each is a series of its own.
	base := make([]int, len(rep.Daily))
	for si, s := range sending {
		colour := palette[si%len(palette)]
		fmt.Fprintf(&b, `<g class="series" data-sequence="%s" fill="%s">`+"\n", esc(s.Name), colour)
		for i, d := range rep.Daily {
			c := d.BySequence[s.Name]
			if c == nil || c.Emails == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %d emails</title></rect>`+"\n",
				x(i)+slot*0.1, y(base[i]+c.Emails), slot*0.8, y(base[i])-y(base[i]+c.Emails), esc(d.Date), esc(s.Name), c.Emails)
			base[i] += c.Emails
		}
		b.WriteString("</g>\n")
	}
	// Held back as a line over the bars.
	var pts []string
	for i, d := range rep.Daily {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i)+slot/2, y(d.HeldBack)))
	}
	fmt.Fprintf(&b, `<polyline class="held-back" fill="none" stroke="#222" stroke-width="1.5" stroke-dasharray="4 3" points="%s"/>`+"\n", strings.Join(pts, " "))
	// x axis: a label each week.
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#999"/>`+"\n", left, width-right, y(0), y(0))
	for i := 0; i < len(rep.Daily); i += 7 {
		t, _ := time.Parse(time.DateOnly, rep.Daily[i].Date)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(i)+slot/2, y(0)+16, t.Format("2 Jan"))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">day (%s)</text>`+"\n", left+int(plotW/2), height-8, esc(rep.Timezone))
	b.WriteString("</svg>\n<p class=\"legend\">")
	for si, s := range sending {
		fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s</span>`, palette[si%len(palette)], esc(s.Name))
	}
	b.WriteString(`<span><svg width="24" height="10"><line x1="0" x2="24" y1="5" y2="5" stroke="#222" stroke-width="1.5" stroke-dasharray="4 3"/></svg> sends held back</span></p>` + "\n")

	b.WriteString("<h2>By sequence</h2>\n<table><tr><th>sequence</th><th>emails</th><th>held back</th><th>exits</th><th>enrolled</th></tr>\n")
	for _, s := range rep.Sequences {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td></tr>\n", esc(s.Name+exemptMark(s)), s.Emails, s.HeldBack, s.Exits, s.Enrolled)
	}
	fmt.Fprintf(&b, "<tr><th>all</th><th>%d</th><th>%d</th><th>%d</th><th>%d</th></tr>\n</table>\n", rep.Total.Emails, rep.Total.HeldBack, rep.Total.Exits, rep.Total.Enrolled)
	b.WriteString("<p>* transactional: exempt from the cadence caps, the sending window and blackout dates. Totals count each send held back once; a day counts each send held back that day.</p>\n")
	if rep.Total.HeldBack > 0 {
		fmt.Fprintf(&b, "<p>Held back by: %s.</p>\n", esc(byCount(rep.Total.HeldBackBy, func(k string) string { return heldWords[k] })))
	}
	if rep.Total.Exits > 0 {
		fmt.Fprintf(&b, "<p>Exits by reason: %s.</p>\n", esc(byCount(rep.Total.ExitsBy, func(k string) string { return k })))
	}
	if d := rep.Busiest; d != nil {
		fmt.Fprintf(&b, "<p>Busiest day: %s, %d emails, %d held back.</p>\n", esc(day(d.Date)), d.Emails, d.HeldBack)
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// niceCeil rounds a chart's top up to four steps of 1, 2, … or 8 times a
// power of ten, so the axis reads in round numbers.
func niceCeil(v int) int {
	need := (v + 3) / 4
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 3, 4, 5, 6, 8} {
			if m*p >= need {
				return 4 * m * p
			}
		}
	}
}
