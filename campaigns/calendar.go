package campaigns

import "time"

// AttrCountry is the contact attribute per-country blackout dates read. It
// is not built in: a programme declares it, as a string or enum of ISO
// 3166-1 alpha-2 codes.
const AttrCountry = "country"

// Blackout is a calendar of dates without marketing email, read in each
// contact's time zone as quiet hours are: a send due on one waits for the
// next moment the sending window opens after it.
type Blackout struct {
	// Dates apply to every contact.
	Dates []DateSpan `json:"dates,omitempty"`
	// Countries holds more dates for the contacts whose country
	// attribute is the key, an ISO 3166-1 alpha-2 code in capitals.
	Countries map[string][]DateSpan `json:"countries,omitempty"`
}

// DateSpan is a run of whole days, From to To inclusive. Both are dates,
// "2026-12-24", or both days of every year, "12-24"; a yearly span does
// not cross the new year (write "12-31" and "01-01").
type DateSpan struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Yearly reports whether the span recurs every year.
func (s DateSpan) Yearly() bool { return len(s.From) == len("01-02") }

// Holds reports whether the span covers the calendar date y-m-d.
func (s DateSpan) Holds(y int, m time.Month, d int) bool {
	b := [10]byte{byte('0' + y/1000%10), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + int(m)/10), byte('0' + int(m)%10), '-', byte('0' + d/10), byte('0' + d%10)}
	day := string(b[:])
	if s.Yearly() {
		day = day[5:]
	}
	return s.From <= day && day <= s.To
}

// String is the span as a programme writes it: "12-24" or "12-24..12-26".
func (s DateSpan) String() string {
	if s.From == s.To {
		return s.From
	}
	return s.From + ".." + s.To
}
