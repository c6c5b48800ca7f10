package campaigns

import "testing"

func TestParseShare(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Share
		err  bool
	}{
		{"10%", 1000, false},
		{"2.5%", 250, false},
		{"0.25%", 25, false},
		{"50%", 5000, false},
		{"100%", 10000, false},
		{"0%", 0, false},
		{"10", 0, true},
		{"%", 0, true},
		{".5%", 0, true},
		{"1.234%", 0, true},
		{"-1%", 0, true},
		{"ten%", 0, true},
	} {
		got, err := ParseShare(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseShare(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
		if err == nil && got.String() != c.in {
			t.Errorf("Share(%d).String() = %q, want %q", got, got.String(), c.in)
		}
	}
}
