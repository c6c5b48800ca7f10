package ingest

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// typed converts cells to one attribute's or property's type.
type typed struct {
	attr *campaigns.Attribute
	enum []string
	// boxed holds each enum value already in an interface, so storing one
	// in a Values map does not allocate per row.
	boxed []any
}

func newTyped(a *campaigns.Attribute, enum []string) *typed {
	if a.Type == campaigns.TypeEnum && len(enum) == 0 {
		enum = a.Values
	}
	t := &typed{attr: a, enum: enum}
	for _, v := range enum {
		t.boxed = append(t.boxed, any(v))
	}
	return t
}

// convert returns the cell's value typed as the attribute declares, or
// what is wrong with it, as a phrase about the value.
func (t *typed) convert(c cell) (any, string) {
	switch t.attr.Type {
	case campaigns.TypeString:
		if c.kind != kText {
			return nil, notText(c)
		}
		return strings.TrimSpace(c.text), ""
	case campaigns.TypeEnum:
		if c.kind != kText {
			return nil, notText(c)
		}
		s := strings.TrimSpace(c.text)
		if i := slices.Index(t.enum, s); i >= 0 {
			return t.boxed[i], ""
		}
		return nil, fmt.Sprintf("%q is not one of %s%s", clip(s), strings.Join(t.enum, ", "), didYouMean(s, t.enum))
	case campaigns.TypeInt:
		if c.kind != kText && c.kind != kNumber {
			return nil, c.describe() + " is not a whole number"
		}
		return parseInt(c)
	case campaigns.TypeNumber:
		if c.kind != kText && c.kind != kNumber {
			return nil, c.describe() + " is not a number"
		}
		return parseNumber(c)
	case campaigns.TypeBool:
		switch {
		case c.kind == kBool:
			return c.text == "true", ""
		case c.kind == kText:
			switch strings.ToLower(strings.TrimSpace(c.text)) {
			case "true", "yes", "1":
				return true, ""
			case "false", "no", "0":
				return false, ""
			}
		}
		return nil, c.describe() + " is not true or false (or yes, no, 1, 0)"
	case campaigns.TypeTime:
		if c.kind != kText {
			return nil, c.describe() + " is not a time; write it as text, RFC 3339 (2026-11-23T09:30:00Z) or a date (2026-11-23)"
		}
		t, reason := parseTime(strings.TrimSpace(c.text), true)
		if reason != "" {
			return nil, reason
		}
		return t, ""
	}
	return nil, fmt.Sprintf("the declared type %q is not one nurture knows", t.attr.Type)
}

func notText(c cell) string {
	switch c.kind {
	case kNumber:
		return fmt.Sprintf("want text, not the number %s; write it in quotes", clip(c.text))
	case kBool:
		return fmt.Sprintf("want text, not %s; write it in quotes", c.text)
	}
	return "want text, not " + clip(c.text)
}

var (
	thousands    = regexp.MustCompile(`^[+-]?\d{1,3}([,' _]\d{3})+(\.\d+)?$`)
	decimalComma = regexp.MustCompile(`^[+-]?\d+,\d+$`)
	wholeDecimal = regexp.MustCompile(`^[+-]?\d+\.0+$`)
)

func parseInt(c cell) (any, string) {
	s := strings.TrimSpace(c.text)
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return n, ""
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return nil, fmt.Sprintf("%s is too large for a whole number", c.describe())
	}
	// 12.0 is how pandas and some spreadsheets write a whole number in a
	// column that has gaps.
	if wholeDecimal.MatchString(s) {
		whole, _, _ := strings.Cut(s, ".")
		if n, err := strconv.ParseInt(whole, 10, 64); err == nil {
			return n, ""
		}
	}
	msg := c.describe() + " is not a whole number"
	if thousands.MatchString(s) && !strings.Contains(s, ".") {
		msg += "; write it without separators: " + strings.NewReplacer(",", "", "'", "", " ", "", "_", "").Replace(s)
	}
	return nil, msg
}

func parseNumber(c cell) (any, string) {
	s := strings.TrimSpace(c.text)
	// strconv also takes hex, underscores, Inf and NaN; none is a number a
	// person means in an import file.
	if !strings.ContainsAny(s, "xX_") {
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, ""
		}
	}
	msg := c.describe() + " is not a number"
	switch {
	case thousands.MatchString(s):
		msg += "; write it without thousands separators: " + strings.NewReplacer(",", "", "'", "", " ", "", "_", "").Replace(s)
	case decimalComma.MatchString(s):
		msg += "; write decimals with a dot: " + strings.Replace(s, ",", ".", 1)
	}
	return nil, msg
}

// parseTime reads an RFC 3339 time or, when dateOK, a date meaning
// midnight UTC; the result is in UTC.
func parseTime(s string, dateOK bool) (time.Time, string) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), ""
	}
	if dateOK {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, ""
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if _, err := time.Parse(layout, s); err == nil {
			return time.Time{}, fmt.Sprintf("%q has no time zone; add Z for UTC or an offset such as +01:00", s)
		}
	}
	if dateOK {
		return time.Time{}, fmt.Sprintf("%q is not a time; write it as RFC 3339 (2026-11-23T09:30:00Z) or a date (2026-11-23)", clip(s))
	}
	return time.Time{}, fmt.Sprintf("%q is not a time; write it as RFC 3339 with a time zone (2026-11-23T09:30:00Z)", clip(s))
}

// zones caches time zone names already checked. time.LoadLocation reads
// the zone database each time; a file names few zones but many times.
type zones map[string]bool

func (z zones) check(name string) string {
	ok, seen := z[name]
	if !seen {
		_, err := time.LoadLocation(name)
		// "Local" is the importing machine's zone, not the contact's.
		ok = err == nil && name != "" && name != "Local"
		if len(z) < 4096 { // bounded: a hostile file could name endless zones
			z[name] = ok
		}
	}
	if !ok {
		return fmt.Sprintf("%q is not an IANA time zone name such as Europe/Berlin or America/New_York", clip(name))
	}
	return ""
}
