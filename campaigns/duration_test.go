package campaigns

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"30m", 30 * time.Minute, "30m"},
		{"12h", 12 * time.Hour, "12h"},
		{"2d", 48 * time.Hour, "2d"},
		{"7d", 7 * 24 * time.Hour, "7d"},
		{"14d", 14 * 24 * time.Hour, "2w"},
		{"3w", 21 * 24 * time.Hour, "3w"},
		{"30d", 30 * 24 * time.Hour, "30d"},
		{"36h", 36 * time.Hour, "1d12h"},
		{"1w2d", 9 * 24 * time.Hour, "9d"},
		{"90m", 90 * time.Minute, "1h30m"},
		// As people write them: the canonical form is unchanged.
		{"14 days", 14 * 24 * time.Hour, "2w"},
		{"2 weeks", 14 * 24 * time.Hour, "2w"},
		{"36 hours", 36 * time.Hour, "1d12h"},
		{"1 day 12 hours", 36 * time.Hour, "1d12h"},
		{"1 day", 24 * time.Hour, "1d"},
		{"1 week and 2 days", 9 * 24 * time.Hour, "9d"},
		{"1 day, 12 hours", 36 * time.Hour, "1d12h"},
		{"45 minutes", 45 * time.Minute, "45m"},
		{"90 mins", 90 * time.Minute, "1h30m"},
		{"2 hrs", 2 * time.Hour, "2h"},
		{"3 wks", 21 * 24 * time.Hour, "3w"},
		{"2days", 48 * time.Hour, "2d"},
		{"1d 12h", 36 * time.Hour, "1d12h"},
		{"0d", 0, "0m"},
	} {
		d, err := ParseDuration(tc.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
			continue
		}
		if d.Std() != tc.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tc.in, d.Std(), tc.want)
		}
		if d.String() != tc.out {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", tc.in, d.String(), tc.out)
		}
		if tc.want == 0 {
			continue
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%q does not round-trip: %v, %v", d.String(), back, err)
		}
	}
	for _, bad := range []string{
		"", "2", "d", "2x", "2 d", "-2d", "2d3", "999999999w", "100000w",
		"two days", "2  days", " 2 days", "2 days ", "2 Days", "2 fortnights", "2 days and", "and 2 days",
		"1 day,12 hours", "2 dayss", "1.5 days",
	} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestTimeOfDay(t *testing.T) {
	for in, want := range map[string]TimeOfDay{"00:00": 0, "08:30": 510, "23:59": 1439} {
		got, err := ParseTimeOfDay(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseTimeOfDay(%q) = %v (%q), %v; want %v", in, got, got.String(), err, want)
		}
	}
	for _, bad := range []string{"24:00", "8:30", "08:60", "noon", ""} {
		if _, err := ParseTimeOfDay(bad); err == nil {
			t.Errorf("ParseTimeOfDay(%q) succeeded", bad)
		}
	}
}

func TestTemplateString(t *testing.T) {
	fallback := "there"
	tpl := Template{{Text: "Hi "}, {Field: "first_name", Default: &fallback}, {Text: ", see "}, {Link: 2}}
	if got, want := tpl.String(), `Hi {{ first_name | default "there" }}, see {{ link 2 }}`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzParseDuration: any text is a duration or an error, never a panic,
// and a duration's canonical form reads back as the same duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"2d", "1d12h", "14 days", "1 day 12 hours", "1 week and 2 days", "1 day, 12 hours", "90 mins", "2 d", "100000w", "9999999999999999999m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil || d <= 0 {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%q is %v, whose form %q reads back as %v, %v", s, d.Std(), d.String(), back.Std(), err)
		}
	})
}
