package campaigns

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Preferences are what the preference page offers a contact: the
// frequencies it may choose, each a cap on its marketing email beside
// the programme's, and the spans it may pause marketing email for.
type Preferences struct {
	// Frequencies in the order the page lists them. Nil: the default
	// weekly, biweekly and monthly.
	Frequencies []Frequency `json:"frequencies,omitempty"`
	// Pause are the spans a contact may pause all marketing email for,
	// in the order written; none: the page offers no pause.
	Pause []Duration `json:"pause,omitempty"`
}

// Frequency is one choice of how often: at most Limit.Max marketing
// emails in any Limit.Per.
type Frequency struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Limit Limit  `json:"limit"`
}

// Describe says what the frequency means: "at most 1 per 14d".
func (f Frequency) Describe() string {
	return fmt.Sprintf("at most %d per %s", f.Limit.Max, f.Limit.Per)
}

// DefaultFrequencies are what the page offers a programme that declares
// none.
var DefaultFrequencies = []Frequency{
	{Name: "weekly", Label: "At most one email a week", Limit: Limit{Max: 1, Per: Duration(7 * 24 * time.Hour)}},
	{Name: "biweekly", Label: "At most one email every two weeks", Limit: Limit{Max: 1, Per: Duration(14 * 24 * time.Hour)}},
	{Name: "monthly", Label: "At most one email a month", Limit: Limit{Max: 1, Per: Duration(30 * 24 * time.Hour)}},
}

// Frequencies are the frequencies the programme's preference page
// offers, in its order: those declared, else DefaultFrequencies.
func (p *Program) Frequencies() []Frequency {
	if p.Preferences != nil && len(p.Preferences.Frequencies) > 0 {
		return p.Preferences.Frequencies
	}
	return DefaultFrequencies
}

// PauseChoices are the spans the page offers to pause marketing for.
func (p *Program) PauseChoices() []Duration {
	if p.Preferences == nil {
		return nil
	}
	return p.Preferences.Pause
}

// Strictest is the offered frequency that allows the fewest emails over
// time (the lowest rate; the longer span on a tie).
func Strictest(fs []Frequency) Frequency {
	return slices.MinFunc(fs, func(a, b Frequency) int {
		// a.Max/a.Per against b.Max/b.Per, without division.
		x, y := int64(a.Limit.Max)*int64(b.Limit.Per), int64(b.Limit.Max)*int64(a.Limit.Per)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Limit.Per, a.Limit.Per)
	})
}

// Frequency finds a contact's chosen frequency among those the
// programme offers. A choice the programme no longer offers is held to
// the strictest offered one, offered false: the contact asked for less
// email, and gets no more than any choice allows until it chooses again.
// An empty choice is none: ok false.
func (p *Program) Frequency(name string) (f Frequency, offered, ok bool) {
	if name == "" {
		return Frequency{}, false, false
	}
	fs := p.Frequencies()
	if i := slices.IndexFunc(fs, func(f Frequency) bool { return f.Name == name }); i >= 0 {
		return fs[i], true, true
	}
	return Strictest(fs), false, true
}
