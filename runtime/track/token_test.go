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
	// Every altered or truncated form is refused.
	for i := range s {
		for _, c := range []byte{'A', 'z', '_'} {
			if s[i] == c {
				continue
			}
			bad := s[:i] + string(c) + s[i+1:]
			if tok, err := k.Parse(bad); err == nil {
				// base64 may decode a changed last character to the same bits.
				if tok != want {
					t.Fatalf("altered token %q verified as %+v", bad, tok)
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
