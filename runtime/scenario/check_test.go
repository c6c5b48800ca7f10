package scenario

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

// checked meets expectations with a made-up timeline, as a run would.
func checked(sc *campaigns.Scenario, timeline []Entry, states map[int]Check) *Result {
	res := &Result{Scenario: sc, Timeline: timeline}
	r := &run{sc: sc, res: res, states: states}
	if r.states == nil {
		r.states = map[int]Check{}
	}
	r.check()
	return res
}

func TestCheck(t *testing.T) {
	start := time.Date(2026, 1, 5, 14, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return start.AddDate(0, 0, n) }
	send := func(n int, email string) Entry {
		return Entry{At: day(n), Kind: EntrySend, Sequence: "s", Email: email}
	}
	email := func(e string, from, to int) campaigns.Expectation {
		x := campaigns.Expectation{Kind: campaigns.ExpectEmail, Email: e}
		if from >= 0 {
			x.From, x.To = day(from), day(to)
		}
		return x
	}
	timeline := []Entry{send(0, "a.md"), send(3, "b.md"), send(7, "a.md"), {At: day(7), Kind: EntryExit, Sequence: "s", Reason: "completed"}}
	type got struct {
		OK         []bool
		Entries    []int
		Unexpected []int
	}
	for _, tc := range []struct {
		name   string
		sc     campaigns.Scenario
		states map[int]Check
		want   got
	}{
		{"each entry meets one expectation", campaigns.Scenario{Expect: []campaigns.Expectation{email("a.md", -1, 0), email("a.md", -1, 0), email("a.md", -1, 0)}},
			nil, got{OK: []bool{true, true, false}, Entries: []int{0, 2, -1}}},
		{"a window picks its entry", campaigns.Scenario{Expect: []campaigns.Expectation{email("a.md", 5, 8), email("b.md", 0, 2)}},
			nil, got{OK: []bool{true, false}, Entries: []int{2, -1}}},
		{"ordered: met after what the one before met", campaigns.Scenario{Ordered: true, Expect: []campaigns.Expectation{email("b.md", -1, 0), email("a.md", -1, 0)}},
			nil, got{OK: []bool{true, true}, Entries: []int{1, 2}}},
		{"ordered: nothing after it", campaigns.Scenario{Ordered: true, Expect: []campaigns.Expectation{email("a.md", 5, 8), email("b.md", -1, 0)}},
			nil, got{OK: []bool{true, false}, Entries: []int{2, -1}}},
		{"ordered: an earlier state check does not move the order back", campaigns.Scenario{Ordered: true, Expect: []campaigns.Expectation{
			email("b.md", -1, 0), {Kind: campaigns.ExpectStage, Stage: "lead", At: day(1)}, email("a.md", 0, 1)}},
			map[int]Check{1: {OK: true, Entry: -1}}, got{OK: []bool{true, true, false}, Entries: []int{1, -1, -1}}},
		{"never, in a window", campaigns.Scenario{Expect: []campaigns.Expectation{
			{Kind: campaigns.ExpectNever, Email: "b.md", From: day(4), To: day(9)}, {Kind: campaigns.ExpectNever, Email: "b.md"}}},
			nil, got{OK: []bool{true, false}, Entries: []int{-1, 1}}},
		{"strict: emails no expectation met", campaigns.Scenario{Strict: true, Expect: []campaigns.Expectation{email("a.md", -1, 0)}},
			nil, got{OK: []bool{true}, Entries: []int{0}, Unexpected: []int{1, 2}}},
		{"strict: an email met at the wrong time is its expectation's to report", campaigns.Scenario{Strict: true, Expect: []campaigns.Expectation{email("b.md", 5, 6)}},
			nil, got{OK: []bool{false}, Entries: []int{-1}, Unexpected: []int{0, 2}}},
		{"exit of a sequence", campaigns.Scenario{Expect: []campaigns.Expectation{
			{Kind: campaigns.ExpectExit, Reason: "completed", Sequence: "s"}, {Kind: campaigns.ExpectExit, Reason: "completed", Sequence: "t"}}},
			nil, got{OK: []bool{true, false}, Entries: []int{3, -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := tc.sc
			sc.Start, sc.Zone = start, "UTC"
			res := checked(&sc, timeline, tc.states)
			var g got
			for _, c := range res.Checks {
				g.OK = append(g.OK, c.OK)
				g.Entries = append(g.Entries, c.Entry)
			}
			g.Unexpected = res.Unexpected
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestDay(t *testing.T) {
	// Start on the Saturday before the clocks go forward in New York.
	ny, _ := time.LoadLocation("America/New_York")
	sc := &campaigns.Scenario{Start: time.Date(2026, 3, 7, 9, 0, 0, 0, ny).UTC(), Zone: "America/New_York"}
	for in, want := range map[time.Time]string{
		sc.Start:                                    "day 0 09:00",
		time.Date(2026, 3, 7, 23, 59, 0, 0, ny):     "day 0 23:59",
		time.Date(2026, 3, 8, 0, 0, 0, 0, ny):       "day 1 00:00",
		sc.Start.Add(48 * time.Hour):                "day 2 10:00",
		time.Date(2026, 3, 9, 9, 0, 0, 0, ny).UTC(): "day 2 09:00",
	} {
		if got := Day(sc, in); got != want {
			t.Errorf("Day(%s) = %q, want %q", in, got, want)
		}
	}
}
