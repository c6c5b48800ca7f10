package track

import (
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	old, _ := NewKeys([]byte("0123456789abcdef-old"))
	k, _ := NewKeys([]byte("0123456789abcdef-new"), []byte("0123456789abcdef-old"))
	want := Token{Kind: Click, Send: 42, Contact: 7, Link: 3, URL: "https://acme.example/pricing?utm_source=nurture"}
	s := k.Sign(want)
	got, err := k.Parse(s)
	if err != nil || got != want {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// A token signed by a key still held verifies after rotation.
	if got, err := k.Parse(old.Sign(want)); err != nil || got != want {
		t.Errorf("token of the previous key: %+v, %v", got, err)
	}
	// One signed by the new key does not verify where only the old is held.
	if _, err := old.Parse(s); err != ErrInvalid {
		t.Errorf("token of an unknown key: %v", err)
	}
	// Every altered form is refused: each character changed to each other
	// character of the alphabet. Three URL lengths give the three lengths
	// modulo 3 of the signed bytes, so the last character has 0, 2 and 4
	// spare bits that a lenient decoder would ignore.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, url := range []string{want.URL, want.URL + "x", want.URL + "xy"} {
		s := k.Sign(Token{Kind: Click, Send: 42, Contact: 7, Link: 3, URL: url})
		for i := range s {
			for _, c := range []byte(alphabet) {
				if s[i] == c {
					continue
				}
				bad := s[:i] + string(c) + s[i+1:]
				if tok, err := k.Parse(bad); err != ErrInvalid {
					t.Fatalf("token %s with character %d changed to %q: %+v, %v; want ErrInvalid", s, i, c, tok, err)
				}
			}
		}
	}
	for n := range len(s) {
		if _, err := k.Parse(s[:n]); err == nil {
			t.Fatalf("token truncated to %d verified", n)
		}
	}
	for _, bad := range []string{"", "x", "////", strings.Repeat("A", 9000), s + "="} {
		if _, err := k.Parse(bad); err == nil {
			t.Errorf("%q verified", bad)
		}
	}
	// Kinds are part of what is signed: a click token is not an
	// unsubscribe token.
	u, _ := k.Parse(k.Sign(Token{Kind: Unsubscribe, Contact: 7}))
	if u.Kind != Unsubscribe || u.Contact != 7 {
		t.Errorf("unsubscribe token: %+v", u)
	}
	if _, err := NewKeys([]byte("short")); err == nil {
		t.Error("a short key was taken")
	}
}

func FuzzParse(f *testing.F) {
	k, _ := NewKeys([]byte("0123456789abcdef"))
	f.Add(k.Sign(Token{Kind: Open, Send: 1}))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := k.Parse(s)
		if err != nil {
			return
		}
		if again, err := k.Parse(k.Sign(tok)); err != nil || again != tok {
			t.Fatalf("%q: %+v then %+v, %v", s, tok, again, err)
		}
	})
}

func TestURL(t *testing.T) {
	if got := URL("https://go.acme.example/", Click, "abc"); got != "https://go.acme.example/c/abc" {
		t.Error(got)
	}
}
