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
		{"+5%", 0, true},
		{"1000%", 0, true},
		{"99999999999999999999%", 0, true},
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

// Whatever ParseShare accepts it writes back in a form it reads as the
// same share, and it never accepts a negative one.
func FuzzParseShare(f *testing.F) {
	for _, s := range []string{"10%", "2.5%", "0.05%", "100%", "-1%", "1e2%", "%", "07.50%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseShare(s)
		if err != nil {
			return
		}
		if h < 0 {
			t.Fatalf("ParseShare(%q) = %d, negative", s, h)
		}
		back, err := ParseShare(h.String())
		if err != nil || back != h {
			t.Fatalf("ParseShare(%q) = %d, written %q, read back %d, %v", s, h, h.String(), back, err)
		}
	})
}
