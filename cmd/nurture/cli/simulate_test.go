package cli

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/scenario"
)

const (
	simExample = "../../../examples/b2b-saas"
	// A Monday midnight in the example's time zone, far from a DST change.
	simStart = "2026-11-23T00:00:00-05:00"
)

// TestSimulateExample runs 90 days of the example over its own contacts
// and events and checks that the report adds up, that no day or week
// sends more marketing mail than the example's cadence caps allow for
// 300 contacts, and that the HTML chart has a series per sending sequence.
func TestSimulateExample(t *testing.T) {
	t.Parallel()
	page := filepath.Join(t.TempDir(), "sim.html")
	out, errOut, code := run(t, "simulate", simExample,
		"--contacts", filepath.Join(simExample, "contacts.csv"), "--events", filepath.Join(simExample, "events.jsonl"),
		"--start", simStart, "--format", "json", "--html", page)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr: %s", errOut)
	}
	var rep scenario.SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("the JSON does not parse: %v\n%s", err, out)
	}
	if rep.Contacts != 300 || rep.Days != 90 || len(rep.Daily) != 90 || rep.Ticks != 90*6 {
		t.Errorf("contacts %d, days %d, daily %d, ticks %d; want 300, 90, 90, 540", rep.Contacts, rep.Days, len(rep.Daily), rep.Ticks)
	}
	if rep.Total.Emails == 0 || rep.Total.Exits == 0 || rep.Total.Enrolled == 0 {
		t.Fatalf("nothing happened: %+v", rep.Total)
	}

	// Totals are the sums of the days, and of the sequences, except that
	// a day counts a send held back on it, and a total counts it once
	// however many days it waited: at most the days' sum.
	var days, seqs scenario.SimCounts
	bySeq := map[string]*scenario.SimCounts{}
	for _, d := range rep.Daily {
		var day scenario.SimCounts
		for name, c := range d.BySequence {
			day = addCounts(day, *c)
			if bySeq[name] == nil {
				bySeq[name] = &scenario.SimCounts{}
			}
			*bySeq[name] = addCounts(*bySeq[name], *c)
		}
		if diff := cmp.Diff(day, d.SimCounts, cmpEmpty); diff != "" {
			t.Errorf("%s: the day's counts are not the sum of its sequences' (-sum +day):\n%s", d.Date, diff)
		}
		days = addCounts(days, d.SimCounts)
	}
	for _, s := range rep.Sequences {
		seqs = addCounts(seqs, s.SimCounts)
		want := bySeq[s.Name]
		if want == nil {
			want = &scenario.SimCounts{}
		}
		if diff := cmp.Diff(withoutHeld(*want), withoutHeld(s.SimCounts), cmpEmpty); diff != "" {
			t.Errorf("sequence %s: totals are not the sum of its days (-days +total):\n%s", s.Name, diff)
		}
		if s.HeldBack > want.HeldBack || (s.HeldBack == 0) != (want.HeldBack == 0) {
			t.Errorf("sequence %s: %d sends held back in all, and %d on its days", s.Name, s.HeldBack, want.HeldBack)
		}
	}
	if diff := cmp.Diff(withoutHeld(days), withoutHeld(rep.Total), cmpEmpty); diff != "" {
		t.Errorf("total is not the sum of the days (-days +total):\n%s", diff)
	}
	if rep.Total.HeldBack == 0 || rep.Total.HeldBack > days.HeldBack || rep.Total.HeldBack > rep.Total.Deferrals {
		t.Errorf("%d sends held back in all, %d on the days, %d deferrals: want some, and no more than either",
			rep.Total.HeldBack, days.HeldBack, rep.Total.Deferrals)
	}
	if diff := cmp.Diff(seqs, rep.Total, cmpEmpty); diff != "" {
		t.Errorf("total is not the sum of the sequences (-sequences +total):\n%s", diff)
	}
	busiest := slices.MaxFunc(rep.Daily, func(a, b scenario.SimDay) int { return a.Emails - b.Emails })
	if rep.Busiest == nil || rep.Busiest.Emails != busiest.Emails {
		t.Errorf("busiest day %+v, want one with %d emails", rep.Busiest, busiest.Emails)
	}

	// The example caps marketing at 1 email per 7 days and 3 per 30 per
	// contact: no 7 days may carry more than 300, nor 30 days more than 900.
	transactional := map[string]bool{}
	for _, s := range rep.Sequences {
		transactional[s.Name] = s.Transactional
	}
	marketing := make([]int, len(rep.Daily))
	for i, d := range rep.Daily {
		for name, c := range d.BySequence {
			if !transactional[name] {
				marketing[i] += c.Emails
			}
		}
	}
	// The example's blackout dates carry no marketing email. They are
	// each contact's own dates, and the report's days New York's; but
	// the first working morning after each falls on a Monday, so no
	// contact east of New York is mailed on a report day that is a
	// blackout date either. Without the calendar, 24 December carried
	// 168.
	for i, d := range rep.Daily {
		switch d.Date {
		case "2026-12-24", "2026-12-25", "2026-12-26", "2026-12-31", "2027-01-01":
			if marketing[i] != 0 {
				t.Errorf("%s, a blackout date: %d marketing emails", d.Date, marketing[i])
			}
			if d.HeldBackBy[engine.HeldBlackout] == 0 && d.Date == "2026-12-24" {
				t.Errorf("%s: no send held back by the blackout dates (%v)", d.Date, d.HeldBackBy)
			}
		}
	}
	for _, limit := range []struct{ max, per int }{{1, 7}, {3, 30}} {
		for i := 0; i+limit.per <= len(marketing); i++ {
			sum := 0
			for _, n := range marketing[i : i+limit.per] {
				sum += n
			}
			if sum > limit.max*rep.Contacts {
				t.Errorf("%d marketing emails in the %d days from %s: more than %d per contact", sum, limit.per, rep.Daily[i].Date, limit.max)
			}
		}
	}

	// The page: a self-contained SVG, one series per sequence that sent.
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	if !strings.Contains(html, "<svg") || strings.Contains(html, "<script") || strings.Contains(html, "http://") && !strings.Contains(html, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("the page is not a self-contained SVG chart")
	}
	var sent, series []string
	for _, s := range rep.Sequences {
		if s.Emails > 0 {
			sent = append(sent, s.Name)
		}
	}
	for _, m := range regexp.MustCompile(`<g class="series" data-sequence="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		series = append(series, m[1])
	}
	if diff := cmp.Diff(sent, series); diff != "" {
		t.Errorf("chart series (-sequences that sent +series):\n%s", diff)
	}
	if !strings.Contains(html, `class="held-back"`) {
		t.Errorf("the chart has no held-back line")
	}
}

var cmpEmpty = cmp.Transformer("empty", func(m map[string]int) map[string]int {
	if len(m) == 0 {
		return nil
	}
	return m
})

// withoutHeld is c without the sends held back, which a total counts
// once and the days once a day.
func withoutHeld(c scenario.SimCounts) scenario.SimCounts {
	c.HeldBack, c.HeldBackBy = 0, nil
	return c
}

func addCounts(a, b scenario.SimCounts) scenario.SimCounts {
	a.Emails += b.Emails
	a.HeldBack += b.HeldBack
	a.Deferrals += b.Deferrals
	a.Enrolled += b.Enrolled
	a.Exits += b.Exits
	for _, p := range []struct {
		into *map[string]int
		from map[string]int
	}{{&a.HeldBackBy, b.HeldBackBy}, {&a.ExitsBy, b.ExitsBy}} {
		m := map[string]int{}
		for k, v := range *p.into {
			m[k] += v
		}
		for k, v := range p.from {
			m[k] += v
		}
		*p.into = m
	}
	return a
}

// TestSimulateText checks the terminal view of a short run: a row per
// sequence, a bar per day, and contacts the store rejects reported with
// their file and line while the run goes on.
func TestSimulateText(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(simExample, "contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	bad := strings.Replace(lines[2], "@", " at ", 1) // line 3: no address
	file := filepath.Join(t.TempDir(), "some.csv")
	if err := os.WriteFile(file, []byte(strings.Join(append(lines[:2], bad, lines[3], lines[4]), "")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "simulate", simExample, "--contacts", file, "--start", simStart, "--days", "14")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if !strings.HasPrefix(errOut, file+":3: ") || !strings.Contains(errOut, "1 row rejected and left out of the simulation") {
		t.Errorf("stderr does not report line 3 of %s:\n%s", file, errOut)
	}
	if !strings.HasPrefix(out, "Simulated 14 days from 2026-11-23T05:00:00Z (America/New_York), 3 contacts, a tick every 4h:\n") {
		t.Errorf("summary:\n%s", out)
	}
	prog := compiler.Compile(simExample).Program
	for name := range prog.Sequences {
		if !regexp.MustCompile(`(?m)^` + name + `( \*)? +\d+ +\d+ +\d+ +\d+`).MatchString(out) {
			t.Errorf("no row for sequence %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "EMAILS PER DAY") || !strings.Contains(out, "\nMon 23 Nov 2026 ") || !strings.Contains(out, "\nSun 6 Dec 2026 ") {
		t.Errorf("no daily chart from Mon 23 Nov to Sun 6 Dec:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > 120 {
			t.Errorf("line of %d columns: %s", n, l)
		}
	}
}

func TestSimulateGenerate(t *testing.T) {
	t.Parallel()
	out, errOut, code := run(t, "simulate", simExample, "--generate", "25", "--seed", "3", "--start", simStart, "--days", "7", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	var rep scenario.SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Contacts != 25 || rep.EventsBefore == 0 || rep.ContactsRejected+rep.EventsRejected != 0 {
		t.Errorf("contacts %d, events %d, rejected %d+%d; want 25 contacts with a history and no rejects", rep.Contacts, rep.EventsBefore, rep.ContactsRejected, rep.EventsRejected)
	}
}

func TestSimulateErrors(t *testing.T) {
	contacts := filepath.Join(simExample, "contacts.csv")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "nurture: no contacts: give --contacts FILE (and optionally --events FILE), or --generate N for made-up ones\n"},
		{[]string{"--contacts", contacts, "--generate", "10"}, "nurture: --contacts and --generate both given: simulate either a contacts file or generated contacts, not both\n"},
		{[]string{"--generate", "0"}, "nurture: --generate must be 1 or more, not 0\n"},
		{[]string{"--contacts", contacts, "--days", "0"}, "nurture: --days must be 1 or more, not 0\n"},
		{[]string{"--contacts", contacts, "--format", "xml"}, "nurture: --format must be text or json, not \"xml\"\n"},
		{[]string{"--contacts", contacts, "--start", "monday"}, "nurture: --start \"monday\": want an RFC 3339 time such as 2026-11-23T00:00:00-05:00\n"},
		{[]string{"--contacts", "nope.csv"}, "nurture: --contacts nope.csv: no such file\n"},
		{[]string{"--contacts", contacts, "--events", "nope.jsonl"}, "nurture: --events nope.jsonl: no such file\n"},
	} {
		_, errOut, code := run(t, append([]string{"simulate", simExample}, tc.args...)...)
		if code != 1 || errOut != tc.want {
			t.Errorf("simulate %s: exit %d, stderr %q; want 1, %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

// BenchmarkSimulate runs the example for 90 days over its 300 contacts
// and their events, a tick every 4 hours, as nurture simulate does.
//
//	go test ./cmd/nurture/cli -run '^$' -bench Simulate -benchtime 3x
func BenchmarkSimulate(b *testing.B) {
	args := []string{"simulate", simExample, "--contacts", filepath.Join(simExample, "contacts.csv"),
		"--events", filepath.Join(simExample, "events.jsonl"), "--start", simStart, "--format", "json"}
	for b.Loop() {
		if _, errOut, code := run(b, args...); code != 0 {
			b.Fatal(errOut)
		}
	}
	b.ReportMetric(float64(90*6*b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// TestSimulateEngagementKeepsOptOuts runs the example with recipients
// who unsubscribe, bounce and complain often, and reads the kept store:
// the tracking server suppressed them, and no marketing email was
// planned for an address after its suppression.
func TestSimulateEngagementKeepsOptOuts(t *testing.T) {
	t.Parallel()
	kept := filepath.Join(t.TempDir(), "kept.db")
	out, errOut, code := run(t, "simulate", simExample,
		"--contacts", filepath.Join(simExample, "contacts.csv"), "--events", filepath.Join(simExample, "events.jsonl"),
		"--start", simStart, "--days", "30", "--format", "json", "--keep", kept,
		"--engage", "click 5%, unsubscribe 10%, bounce 5%, complaint 2%")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	var rep scenario.SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Engagement["unsubscribe"] == 0 || rep.Engagement["bounce"] == 0 || rep.Engagement["complaint"] == 0 {
		t.Fatalf("nobody opted out: %v", rep.Engagement)
	}
	db, err := sql.Open("sqlite", kept)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var suppressed, late int
	if err := db.QueryRow(`SELECT COUNT(*) FROM suppressions`).Scan(&suppressed); err != nil {
		t.Fatal(err)
	}
	if suppressed == 0 {
		t.Fatal("the kept store holds no suppression")
	}
	err = db.QueryRow(`SELECT COUNT(*) FROM sends s JOIN contacts c ON c.id = s.contact_id
		JOIN suppressions x ON x.email_key = c.email_key WHERE s.planned_at > x.at`).Scan(&late)
	if err != nil {
		t.Fatal(err)
	}
	if late != 0 {
		t.Errorf("%d sends planned after their address was suppressed", late)
	}
}
