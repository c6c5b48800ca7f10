package campaigns

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Day and Week are the calendar-free spans durations are written in.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// Duration is a span written as people write it: "30m", "12h", "2d", "3w",
// a sum such as "1d12h", or in words, "14 days", "2 weeks", "36 hours",
// "1 day 12 hours". It encodes to JSON in its canonical short form.
type Duration time.Duration

var durationUnits = []struct {
	suffix byte
	size   time.Duration
}{{'w', Week}, {'d', Day}, {'h', time.Hour}, {'m', time.Minute}}

const maxDuration = 100 * 366 * Day

// DurationPattern is every way a duration may be written, as the schema's
// #Duration states it (a test keeps the two the same). A part is a number
// and a unit: one letter right after the number ("2d"), or a word, after
// a space or not ("2 days", "2days"). Parts follow each other directly
// ("1d12h") or after a space, a comma or "and" ("1 day, 12 hours",
// "1 week and 2 days"). One-letter units stay attached to their number,
// so "2 d" is not a duration.
const DurationPattern = `^` + durationPart + `((,? (and )?)?` + durationPart + `)*$`

const durationPart = `[0-9]+([mhdw]| ?(minutes?|mins?|hours?|hrs?|days?|weeks?|wks?))`

var (
	durationRe     = regexp.MustCompile(DurationPattern)
	durationPartRe = regexp.MustCompile(`([0-9]+) ?([a-z]+)`)
)

// durationWords are the units' names, each for the letter it stands for.
var durationWords = map[string]byte{
	"w": 'w', "week": 'w', "weeks": 'w', "wk": 'w', "wks": 'w',
	"d": 'd', "day": 'd', "days": 'd',
	"h": 'h', "hour": 'h', "hours": 'h', "hr": 'h', "hrs": 'h',
	"m": 'm', "minute": 'm', "minutes": 'm', "min": 'm', "mins": 'm',
}

// ParseDuration reads "2d", "12h", "3w", "45m", a sum like "1w2d", or the
// same in words: "14 days", "2 weeks", "1 day 12 hours".
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration: write a number and a unit, like \"2d\" or \"2 days\"")
	}
	if !durationRe.MatchString(s) {
		return 0, fmt.Errorf("invalid duration %q: write a number and a unit (m, h, d, w, or minutes, hours, days, weeks), like \"2d\", \"14 days\" or \"1 day 12 hours\"", s)
	}
	var total time.Duration
	for _, m := range durationPartRe.FindAllStringSubmatch(s, -1) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		unit := durationWords[m[2]]
		for _, u := range durationUnits {
			if u.suffix == unit {
				total += time.Duration(n) * u.size
			}
		}
		// 100000 weeks would overflow: no span in a programme is longer
		// than a century.
		if total > maxDuration {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
	}
	return Duration(total), nil
}

// MustDuration is ParseDuration for constants in code and tests.
func MustDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Std is the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String writes the duration in its canonical form: two or more whole
// weeks as weeks, else days, hours and minutes, so "14d" is "2w", "7d" and
// "30d" stay as they are and "36h" is "1d12h". Zero is "0m".
func (d Duration) String() string {
	if d <= 0 {
		return "0m"
	}
	var b strings.Builder
	rest := time.Duration(d)
	units := durationUnits
	if rest%Week != 0 || rest < 2*Week {
		units = units[1:]
	}
	for _, u := range units {
		if n := rest / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteByte(u.suffix)
			rest -= n * u.size
		}
	}
	if b.Len() == 0 { // below a minute: not writable in the language
		return time.Duration(d).String()
	}
	return b.String()
}

// MarshalText writes the canonical form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads any form ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// TimeOfDay is a wall-clock time, minutes after midnight, written "08:30".
type TimeOfDay int

// ParseTimeOfDay reads "HH:MM" on a 24-hour clock.
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("invalid time of day %q: write it as HH:MM on a 24-hour clock, like \"08:30\"", s)
	}
	return TimeOfDay(t.Hour()*60 + t.Minute()), nil
}

func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// MarshalText writes "HH:MM".
func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads "HH:MM".
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	v, err := ParseTimeOfDay(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
