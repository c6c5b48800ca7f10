package ingest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is what a cell holds as the file wrote it. CSV only has text; JSON
// also has numbers, booleans, null, objects and arrays.
type kind uint8

const (
	kText kind = iota // a CSV cell or a JSON string (decoded)
	kNull
	kNumber    // text is the JSON literal
	kBool      // text is "true" or "false"
	kComposite // a JSON object or array; text is its JSON
)

type cell struct {
	text string
	kind kind
}

// empty reports a cell that gives no value: blank text or null.
func (c cell) empty() bool {
	return c.kind == kNull || c.kind == kText && strings.TrimSpace(c.text) == ""
}

// describe quotes the cell for a message the way the file wrote it.
func (c cell) describe() string {
	if c.kind == kText {
		return fmt.Sprintf("%q", clip(c.text))
	}
	return clip(c.text)
}

// clip shortens long values in messages; the reject file keeps them whole.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// field is one cell of a row and the column it is in.
type field struct {
	name string // the column or key, lower-cased
	idx  int    // the CSV column's index, or -1 for JSONL
	c    cell
}

// checkText says what is wrong with a cell's text, if anything: too long,
// not UTF-8, or holding control characters. Tabs are fine; line breaks are
// not, because values end up in subject lines, headers and one-line merge
// fields, where a line break corrupts the mail.
func checkText(s string, maxCell int) string {
	if len(s) > maxCell {
		return fmt.Sprintf("the cell holds more than the %d bytes a cell may hold", maxCell)
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			continue
		}
		if c < 0x20 && c != '\t' || c == 0x7F {
			return controlReason(rune(c))
		}
	}
	if ascii {
		return ""
	}
	if !utf8.ValidString(s) {
		return "the cell is not valid UTF-8; save the file as UTF-8"
	}
	for _, r := range s {
		if r >= 0x80 && unicode.IsControl(r) {
			return controlReason(r)
		}
	}
	return ""
}

func controlReason(r rune) string {
	switch r {
	case '\n', '\r':
		return "the cell holds a line break; put the value on one line"
	case 0:
		return "the cell holds a NUL byte (U+0000); remove it"
	}
	return fmt.Sprintf("the cell holds the control character %U; remove it", r)
}

// suggest returns the name in names that s most likely meant, or "". It
// matches names that differ only in case, spaces or hyphens ("First
// Name" for first_name), or by at most two edits.
func suggest(s string, names []string) string {
	folded := fold(s)
	for _, n := range names {
		if fold(n) == folded {
			return n
		}
	}
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(folded, fold(n)); d < bestD && d < len(folded) {
			best, bestD = n, d
		}
	}
	return best
}

func fold(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, s)
}

// distance is the Levenshtein distance of a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return max(len(ra), len(rb)) // too far apart to matter, and bounded work
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// didYouMean is " (did you mean "x"?)" when a suggestion exists.
func didYouMean(s string, names []string) string {
	if m := suggest(s, names); m != "" {
		return fmt.Sprintf(" (did you mean %q?)", m)
	}
	return ""
}
