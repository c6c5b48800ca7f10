package compiler

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// blackout reads cadence.blackout: every date a real date, every span in
// order, every country a code that contacts can carry.
func (c *checker) blackout() *campaigns.Blackout {
	r := c.raw.Cadence.Blackout
	if r == nil {
		return nil
	}
	path := []string{"cadence", "blackout"}
	b := &campaigns.Blackout{Dates: c.dateSpans(sub(path, "dates"), r.Dates)}
	for _, code := range sortedKeys(r.Countries) {
		p := sub(path, "countries", code)
		if !countryCode.MatchString(code) {
			c.errorf(p, "NRT210", "key countries by the ISO 3166-1 alpha-2 code in capitals, the form contacts' country attribute holds: \"DE\", \"US\", \"GB\"",
				"%q is not a country code", code)
			continue
		}
		if b.Countries == nil {
			b.Countries = map[string][]campaigns.DateSpan{}
		}
		b.Countries[code] = c.dateSpans(p, r.Countries[code])
	}
	if len(r.Countries) > 0 {
		if a := c.prog.Contact.Attributes[campaigns.AttrCountry]; a == nil || (a.Type != campaigns.TypeString && a.Type != campaigns.TypeEnum) {
			c.errorf(sub(path, "countries"), "NRT210", "declare contact: attributes: country: {type: \"string\"} holding each contact's ISO 3166-1 alpha-2 code, or move these dates to blackout.dates",
				"per-country blackout dates need a string attribute country on contacts")
		}
	}
	return b
}

// dateSpans reads a list of blackout dates and spans.
func (c *checker) dateSpans(path []string, raw []string) []campaigns.DateSpan {
	var out []campaigns.DateSpan
	for i, s := range raw {
		p := sub(path, itoa(i))
		from, to, ok := strings.Cut(s, "..")
		if !ok {
			to = from
		}
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		f, okf := calendarDate(from)
		t, okt := calendarDate(to)
		switch {
		case !okf || !okt:
			bad := from
			if okf {
				bad = to
			}
			c.errorf(p, "NRT210", "write a date as \"2026-12-24\", a day of every year as \"12-24\", a span as \"12-24..12-26\"",
				"%q is not a date", bad)
			continue
		case len(from) != len(to):
			c.errorf(p, "NRT210", "write both ends as dates (\"2026-12-31..2027-01-01\") or both as days of every year (\"12-24..12-26\")",
				"the span %q mixes a date with a day of every year", s)
			continue
		case t.Before(f) && len(from) == len("01-02"):
			c.errorf(p, "NRT210", fmt.Sprintf("a span of every year stays in one year: write %q and %q apart, or give years (\"2026-%s..2027-%s\")",
				campaigns.DateSpan{From: from, To: "12-31"}, campaigns.DateSpan{From: "01-01", To: to}, from, to),
				"the span %q ends before it starts", s)
			continue
		case t.Before(f):
			c.errorf(p, "NRT210", "put the earlier date first: \""+to+".."+from+"\"",
				"the span %q ends before it starts", s)
			continue
		}
		out = append(out, campaigns.DateSpan{From: from, To: to})
	}
	return out
}

// calendarDate parses "2026-12-24", or "12-24" as a day of any year
// (February 29 included).
func calendarDate(s string) (time.Time, bool) {
	if len(s) == len("01-02") {
		s = "2000-" + s // a leap year
	}
	if len(s) != len(time.DateOnly) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}
