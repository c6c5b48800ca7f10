package compiler

import (
	"testing"
	"time"
)

func TestParseOffset(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// Friday 6 March 2026, 09:00; the clocks go forward on Sunday 8 March.
	start := time.Date(2026, 3, 6, 9, 0, 0, 0, ny).UTC()
	local := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, ny).UTC() }
	for _, tc := range []struct {
		in       string
		from     time.Time
		until    time.Time
		day      string
		dayStart time.Time
	}{
		{"day 0", start, local(7, 0, 0), "day 0", local(6, 0, 0)},
		// Across the change: the same wall-clock time, 23 hours of a day later.
		{"day 3", local(9, 9, 0), local(10, 0, 0), "day 3", local(9, 0, 0)},
		{"day 3 18:30", local(9, 18, 30), local(9, 18, 31), "day 3", local(9, 0, 0)},
		// A span is elapsed time: 3 days of 24 hours land at 10:00 local.
		{"3d", start.Add(72 * time.Hour), start.Add(72*time.Hour + time.Minute), "day 3", local(9, 0, 0)},
		{"1d16h", start.Add(40 * time.Hour), start.Add(40*time.Hour + time.Minute), "day 2", local(8, 0, 0)},
		// A span in words is the same span.
		{"3 days", start.Add(72 * time.Hour), start.Add(72*time.Hour + time.Minute), "day 3", local(9, 0, 0)},
		{"1 day 16 hours", start.Add(40 * time.Hour), start.Add(40*time.Hour + time.Minute), "day 2", local(8, 0, 0)},
	} {
		o, err := parseOffset(tc.in, start, ny)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !o.from.Equal(tc.from) || !o.until().Equal(tc.until) || o.day() != tc.day || !o.dayStart.Equal(tc.dayStart) {
			t.Errorf("%q: from %s until %s, %s from %s; want %s, %s, %s, %s", tc.in, o.from, o.until(), o.day(), o.dayStart, tc.from, tc.until, tc.day, tc.dayStart)
		}
	}
	for _, bad := range []string{"", "day", "day -1", "day 3 24:00", "3 dayz", "3 d", "day 99999", "day 0 07:00"} {
		if _, err := parseOffset(bad, start, ny); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzParseOffset: any text is a moment at or after the start, or an
// error; never a panic.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"day 0", "day 3 10:00", "2d4h", "day 12 23:59", "90d", "day 1 25:00", "1w1d1h1m", "2 days 4 hours"} {
		f.Add(s)
	}
	start := time.Date(2026, 1, 5, 14, 0, 0, 0, time.UTC)
	loc, _ := time.LoadLocation("Asia/Kolkata")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOffset(s, start, loc)
		if err != nil {
			return
		}
		if o.from.Before(start) || o.dayN < 0 || !o.until().After(o.from) || o.dayStart.After(o.from) {
			t.Errorf("%q: from %s, day %d from %s, until %s", s, o.from, o.dayN, o.dayStart, o.until())
		}
	})
}
