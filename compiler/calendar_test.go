package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

// The example's calendar compiles to spans of dates, yearly or not, and
// per-country spans keyed by code.
func TestBlackoutCompiles(t *testing.T) {
	prog := examplePrograms(t)["b2b-saas"]
	want := &campaigns.Blackout{
		Dates: []campaigns.DateSpan{{From: "12-24", To: "12-26"}, {From: "12-31", To: "12-31"}, {From: "01-01", To: "01-01"}},
		Countries: map[string][]campaigns.DateSpan{
			"DE": {{From: "10-03", To: "10-03"}},
			"US": {{From: "2026-11-26", To: "2026-11-27"}},
		},
	}
	if diff := cmp.Diff(want, prog.Cadence.Blackout); diff != "" {
		t.Errorf("b2b-saas blackout (-want +got):\n%s", diff)
	}
}

// A plan shows the blackout dates a change adds, country by country.
func TestBlackoutInThePlan(t *testing.T) {
	old := examplePrograms(t)["b2b-saas"]
	cur := *old
	cur.Cadence.Blackout = &campaigns.Blackout{
		Dates:     old.Cadence.Blackout.Dates,
		Countries: map[string][]campaigns.DateSpan{"DE": {{From: "10-03", To: "10-03"}}, "FR": {{From: "07-14", To: "07-14"}}},
	}
	changes, _ := Diff(old, &cur)
	var got []campaigns.Detail
	for _, c := range changes {
		if c.Address == "cadence" {
			got = c.Details
		}
	}
	want := []campaigns.Detail{
		{Action: campaigns.ActionAdd, Path: "blackout.countries.FR", After: "07-14"},
		{Action: campaigns.ActionRemove, Path: "blackout.countries.US", Before: "2026-11-26..2026-11-27"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cadence details (-want +got):\n%s", diff)
	}
}

// calendarDate takes real dates and yearly days, February 29 among them.
func TestCalendarDate(t *testing.T) {
	for s, ok := range map[string]bool{
		"2026-12-24": true, "12-24": true, "02-29": true, "2028-02-29": true,
		"2026-02-29": false, "2026-13-01": false, "12-32": false, "2026-1-1": false, "Dec 24": false, "": false,
	} {
		if _, got := calendarDate(s); got != ok {
			t.Errorf("calendarDate(%q) = %v, want %v", s, got, ok)
		}
	}
}
