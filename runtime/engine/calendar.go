// Package engine executes an applied programme: it decides, contact by
// contact, what is due and when. This file and caps.go hold the time
// arithmetic every decision uses — quiet hours, business days and wall
// clock waits in each contact's time zone, and rolling-window caps — as
// pure functions of their inputs, so that their edges (midnight, DST
// changes, window boundaries) are tested on their own.
package engine

import (
	"strings"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Location is the contact's time zone: its timezone attribute when that
// names a zone, else the programme's default, else UTC.
func Location(tz, def string) *time.Location {
	for _, name := range []string{tz, def} {
		if name == "" {
			continue
		}
		if loc := zone(name); loc != nil {
			return loc
		}
	}
	return time.UTC
}

// zones caches the zones loaded by name: time.LoadLocation opens and
// parses a zoneinfo file each call, which cost 12% of a cold tick's CPU
// when done for every decision. Only zones that exist are kept, so the
// cache is bounded by the zone database whatever contacts say.
var zones sync.Map // string → *time.Location

// zone is the time zone called name, or nil.
func zone(name string) *time.Location {
	if v, ok := zones.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zones.Store(name, loc)
	return loc
}

// at is the instant of wall-clock time of day tod on the date of day in
// loc. A time the clocks skip (spring forward) becomes the first instant
// after the gap; a time that happens twice (fall back) is its first
// occurrence.
func at(day time.Time, tod campaigns.TimeOfDay, loc *time.Location) time.Time {
	y, m, d := day.In(loc).Date()
	return time.Date(y, m, d, int(tod)/60, int(tod)%60, 0, 0, loc)
}

// Window is when marketing email may go out: outside quiet hours, on
// business days, on no blackout date, in a time zone.
type Window struct {
	Quiet *campaigns.QuietHours
	// Days allowed; empty means every day.
	Days []string
	// Blackout holds the programme's dates without marketing email, and
	// CountryBlackout those of Country, the contact's.
	Blackout        []campaigns.DateSpan
	Country         string
	CountryBlackout []campaigns.DateSpan
	Loc             *time.Location
}

// NewWindow is the cadence's sending window in loc for a contact whose
// country attribute is country (any case; empty when unknown).
func NewWindow(c campaigns.Cadence, loc *time.Location, country string) Window {
	w := Window{Quiet: c.QuietHours, Days: c.BusinessDays, Loc: loc}
	if b := c.Blackout; b != nil {
		w.Blackout = b.Dates
		if country = strings.ToUpper(strings.TrimSpace(country)); country != "" {
			w.Country, w.CountryBlackout = country, b.Countries[country]
		}
	}
	return w
}

// blackout reports whether t falls on a blackout date in the window's
// time zone, and if so in words: "Thu 24 Dec 2026", "Sat 3 Oct 2026 (DE)".
func (w Window) blackout(t time.Time) (bool, string) {
	if !w.Blackouts() {
		return false, ""
	}
	local := t.In(w.Loc)
	y, m, d := local.Date()
	for _, s := range w.Blackout {
		if s.Holds(y, m, d) {
			return true, local.Format("Mon 2 Jan 2006")
		}
	}
	for _, s := range w.CountryBlackout {
		if s.Holds(y, m, d) {
			return true, local.Format("Mon 2 Jan 2006") + " (" + w.Country + ")"
		}
	}
	return false, ""
}

// Blackouts reports whether the window has blackout dates at all.
func (w Window) Blackouts() bool { return len(w.Blackout) > 0 || len(w.CountryBlackout) > 0 }

// Unblacked is the window without its blackout dates.
func (w Window) Unblacked() Window {
	w.Blackout, w.CountryBlackout = nil, nil
	return w
}

func (w Window) dayAllowed(t time.Time) bool {
	if len(w.Days) == 0 {
		return true
	}
	wd := t.In(w.Loc).Weekday()
	for _, d := range w.Days {
		if weekdays[d] == wd {
			return true
		}
	}
	return false
}

// quiet reports whether t falls in quiet hours, and if so when they end.
func (w Window) quiet(t time.Time) (bool, time.Time) {
	q := w.Quiet
	if q == nil || q.From == q.To {
		return false, t
	}
	local := t.In(w.Loc)
	from, to := at(local, q.From, w.Loc), at(local, q.To, w.Loc)
	if q.From < q.To { // the same day, 12:00–14:00
		if !t.Before(from) && t.Before(to) {
			return true, to
		}
		return false, t
	}
	// Across midnight, 19:00–08:00: quiet after from today or before to today.
	switch {
	case !t.Before(from):
		return true, at(local.AddDate(0, 0, 1), q.To, w.Loc)
	case t.Before(to):
		return true, to
	}
	return false, t
}

// Next is the earliest instant at or after t when the window is open.
func (w Window) Next(t time.Time) time.Time {
	// A week of closed days and quiet spans, or a year of blackout
	// days with their quiet mornings, at most.
	for range 32 + 2*366 {
		if q, end := w.quiet(t); q {
			t = end
			continue
		}
		if out, _ := w.blackout(t); out || !w.dayAllowed(t) {
			// The start of the next day, then past its quiet hours.
			t = at(t.In(w.Loc).AddDate(0, 0, 1), 0, w.Loc)
			continue
		}
		return t
	}
	return t
}

// WaitUntil is the first instant strictly after t that is time of day
// u.At on one of u.Days (any day when none) in loc.
func WaitUntil(u campaigns.WaitUntil, t time.Time, loc *time.Location) time.Time {
	w := Window{Days: u.Days, Loc: loc}
	local := t.In(loc)
	for i := range 8 {
		c := at(local.AddDate(0, 0, i), u.At, loc)
		if c.After(t) && w.dayAllowed(c) {
			return c
		}
	}
	return at(local.AddDate(0, 0, 8), u.At, loc) // unreachable: some day of 8 matches
}
