package engine

import (
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

func tod(s string) campaigns.TimeOfDay {
	t, err := campaigns.ParseTimeOfDay(s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestLocation(t *testing.T) {
	for _, c := range []struct{ tz, def, want string }{
		{"Europe/Berlin", "America/New_York", "Europe/Berlin"},
		{"", "America/New_York", "America/New_York"},
		{"Mars/Olympus", "America/New_York", "America/New_York"}, // not a zone
		{"", "", "UTC"},
	} {
		if got := Location(c.tz, c.def).String(); got != c.want {
			t.Errorf("Location(%q, %q) = %s, want %s", c.tz, c.def, got, c.want)
		}
	}
}

func TestWindowNext(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	weekdays := []string{"mon", "tue", "wed", "thu", "fri"}
	night := &campaigns.QuietHours{From: tod("19:00"), To: tod("08:00")}
	lunch := &campaigns.QuietHours{From: tod("12:00"), To: tod("14:00")}
	local := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name  string
		quiet *campaigns.QuietHours
		days  []string
		in    string
		want  string
	}{
		{"open", night, weekdays, "2026-11-24 10:00", "2026-11-24 10:00"},
		{"quiet evening", night, weekdays, "2026-11-24 19:00", "2026-11-25 08:00"},
		{"quiet early morning", night, weekdays, "2026-11-24 06:30", "2026-11-24 08:00"},
		{"the minute quiet ends", night, weekdays, "2026-11-24 08:00", "2026-11-24 08:00"},
		{"a minute before quiet", night, weekdays, "2026-11-24 18:59", "2026-11-24 18:59"},
		{"friday night to monday", night, weekdays, "2026-11-27 20:00", "2026-11-30 08:00"},
		{"saturday noon to monday", night, weekdays, "2026-11-28 12:00", "2026-11-30 08:00"},
		{"same-day quiet span", lunch, nil, "2026-11-24 12:30", "2026-11-24 14:00"},
		{"after a same-day span", lunch, nil, "2026-11-24 14:00", "2026-11-24 14:00"},
		{"no quiet hours, weekend", nil, weekdays, "2026-11-28 12:00", "2026-11-30 00:00"},
		{"nothing closed", nil, nil, "2026-11-28 03:00", "2026-11-28 03:00"},
		// Clocks go back on 1 November 2026 in New York: the night is an
		// hour longer, and quiet hours still end at 08:00 local.
		{"DST ends overnight", night, nil, "2026-10-31 22:00", "2026-11-01 08:00"},
		// Clocks go forward on 8 March 2026.
		{"DST starts overnight", night, nil, "2026-03-07 22:00", "2026-03-08 08:00"},
	} {
		w := Window{Quiet: c.quiet, Days: c.days, Loc: ny}
		got := w.Next(local(c.in))
		if want := local(c.want); !got.Equal(want) {
			t.Errorf("%s: Next(%s) = %s, want %s", c.name, c.in, got.In(ny).Format("Mon 2006-01-02 15:04 MST"), want.Format("Mon 2006-01-02 15:04 MST"))
		}
	}
	// 19:00 to 08:00 local is 13 hours, but across the DST change the
	// quiet night lasts 14 hours of real time in autumn and 12 in spring.
	if d := w(night, ny).Next(local("2026-10-31 19:00")).Sub(local("2026-10-31 19:00")); d != 14*time.Hour {
		t.Errorf("autumn quiet night = %s, want 14h", d)
	}
	if d := w(night, ny).Next(local("2026-03-07 19:00")).Sub(local("2026-03-07 19:00")); d != 12*time.Hour {
		t.Errorf("spring quiet night = %s, want 12h", d)
	}
}

func w(q *campaigns.QuietHours, loc *time.Location) Window { return Window{Quiet: q, Loc: loc} }

func TestWindowNextInContactZone(t *testing.T) {
	// 02:00 UTC is 21:00 the evening before in New York (quiet) and
	// 11:00 in Tokyo (open).
	night := &campaigns.QuietHours{From: tod("19:00"), To: tod("08:00")}
	t0 := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	if got := w(night, mustLoc(t, "Asia/Tokyo")).Next(t0); !got.Equal(t0) {
		t.Errorf("Tokyo: %s, want %s", got, t0)
	}
	want := time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC) // 08:00 EST
	if got := w(night, mustLoc(t, "America/New_York")).Next(t0); !got.Equal(want) {
		t.Errorf("New York: %s, want %s", got, want)
	}
}

func TestWaitUntil(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	local := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		days     []string
		at, from string
		want     string
	}{
		{[]string{"tue"}, "09:00", "2026-11-23 10:00", "2026-11-24 09:00"}, // Monday → Tuesday
		{[]string{"tue"}, "09:00", "2026-11-24 08:59", "2026-11-24 09:00"},
		{[]string{"tue"}, "09:00", "2026-11-24 09:00", "2026-12-01 09:00"}, // strictly after
		{nil, "09:00", "2026-11-24 10:00", "2026-11-25 09:00"},
		{[]string{"mon", "fri"}, "16:30", "2026-11-25 12:00", "2026-11-27 16:30"},
		// Clocks go forward at 02:00 on 29 March 2026 in Berlin: 02:30
		// does not exist that day and becomes 03:30.
		{[]string{"sun"}, "02:30", "2026-03-28 12:00", "2026-03-29 03:30"},
	} {
		u := campaigns.WaitUntil{Days: c.days, At: tod(c.at)}
		got := WaitUntil(u, local(c.from), berlin)
		if want := local(c.want); !got.Equal(want) {
			t.Errorf("WaitUntil(%v %s) from %s = %s, want %s", c.days, c.at, c.from, got.In(berlin), want)
		}
	}
}

// BenchmarkLocation finds a contact's zone as every decision does.
func BenchmarkLocation(b *testing.B) {
	for range b.N {
		if loc := Location("America/New_York", "Europe/Berlin"); loc.String() != "America/New_York" {
			b.Fatalf("Location = %s", loc)
		}
	}
}

// An unknown zone falls back to the default, and then to UTC, each time:
// a miss is not kept as if it were a zone.
func TestLocationFallsBack(t *testing.T) {
	for range 2 {
		if got := Location("Mars/Olympus_Mons", "Europe/Berlin").String(); got != "Europe/Berlin" {
			t.Errorf("an unknown zone with a default = %s; want Europe/Berlin", got)
		}
		if got := Location("Mars/Olympus_Mons", ""); got != time.UTC {
			t.Errorf("an unknown zone without a default = %s; want UTC", got)
		}
	}
}

func TestWindowNextSkipsBlackoutDates(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	night := &campaigns.QuietHours{From: tod("19:00"), To: tod("08:00")}
	local := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	span := func(from, to string) campaigns.DateSpan { return campaigns.DateSpan{From: from, To: to} }
	holidays := []campaigns.DateSpan{span("12-24", "12-26"), span("2026-12-31", "2027-01-01")}
	for _, c := range []struct {
		name    string
		days    []string
		country []campaigns.DateSpan
		in      string
		want    string
	}{
		{"the day before", nil, nil, "2026-12-23 10:00", "2026-12-23 10:00"},
		{"a blackout morning waits for the day after, at the window's start", nil, nil, "2026-12-24 10:00", "2026-12-27 08:00"},
		{"quiet evening before a blackout", nil, nil, "2026-12-23 20:00", "2026-12-27 08:00"},
		{"a span across the new year", nil, nil, "2026-12-31 09:00", "2027-01-02 08:00"},
		{"a yearly date recurs", nil, nil, "2031-12-25 12:00", "2031-12-27 08:00"},
		{"blackout then the weekend", []string{"mon", "tue", "wed", "thu", "fri"}, nil, "2026-12-24 10:00", "2026-12-28 08:00"},
		{"the country's own dates", nil, []campaigns.DateSpan{span("2026-10-03", "2026-10-03")}, "2026-10-03 09:00", "2026-10-04 08:00"},
	} {
		w := Window{Quiet: night, Days: c.days, Blackout: holidays, Country: "DE", CountryBlackout: c.country, Loc: berlin}
		got := w.Next(local(c.in))
		if want := local(c.want); !got.Equal(want) {
			t.Errorf("%s: Next(%s) = %s, want %s", c.name, c.in, got.In(berlin).Format("Mon 2006-01-02 15:04"), want.Format("Mon 2006-01-02 15:04"))
		}
	}
	// A blackout longer than Next looks ahead still never opens the
	// window on one of its dates: Next moves on, and the engine checks
	// again then.
	long := Window{Blackout: []campaigns.DateSpan{span("2026-01-01", "2028-06-30")}, Loc: berlin}
	if in := local("2026-03-01 10:00"); !long.Next(in).After(in) {
		t.Errorf("Next in a long blackout = %s, the blackout date itself", long.Next(in))
	}
}
