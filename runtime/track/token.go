// Package track signs and reads the tokens in tracked links: clicks,
// opens, unsubscribes and the preference page. A token carries what it
// refers to (the send, the contact, the link and its URL) and an HMAC of
// it, so the tracking server needs no lookup to trust it and nobody can
// make one up. Keys rotate: the newest signs, every key still held
// verifies, so links in mail already sent keep working until their key is
// retired.
package track

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// Kinds of token.
const (
	Click       byte = 'c'
	Open        byte = 'o'
	Unsubscribe byte = 'u'
	Preferences byte = 'p'
	// WebView is the email as the contact got it, in a browser.
	WebView byte = 'v'
)

// Token is what a tracked link refers to.
type Token struct {
	Kind    byte
	Send    int64 // the ledger row, 0 when none
	Contact int64
	// Link is the link's number in the email (from 1) and URL where it
	// leads, for clicks.
	Link int
	URL  string
}

// macSize is the bytes of HMAC-SHA256 a token keeps: 96 bits.
const macSize = 12

// ErrInvalid is any token that does not verify: forged, altered,
// truncated, or signed by a key no longer held.
var ErrInvalid = errors.New("invalid token")

// Keys sign and verify tokens. The first key signs; all verify.
type Keys struct{ keys [][]byte }

// NewKeys holds secrets, the signing one first. It needs at least one, of
// at least 16 bytes.
func NewKeys(secrets ...[]byte) (*Keys, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no tracking key")
	}
	for _, s := range secrets {
		if len(s) < 16 {
			return nil, errors.New("a tracking key has at least 16 bytes")
		}
	}
	return &Keys{keys: secrets}, nil
}

// Sign encodes t with the signing key. The token is URL-safe.
func (k *Keys) Sign(t Token) string {
	p := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(t.URL)+macSize)
	p = append(p, t.Kind)
	p = binary.AppendUvarint(p, uint64(t.Send))
	p = binary.AppendUvarint(p, uint64(t.Contact))
	p = binary.AppendUvarint(p, uint64(t.Link))
	p = append(p, t.URL...)
	p = append(p, mac(k.keys[0], p)...)
	return base64.RawURLEncoding.EncodeToString(p)
}

// Parse verifies and decodes a token.
func (k *Keys) Parse(s string) (Token, error) {
	if len(s) > 8192 || strings.ContainsAny(s, "=+/") {
		return Token{}, ErrInvalid
	}
	// Strict: the spare bits of the last character must be zero, so each
	// token has exactly one spelling and an altered last character is
	// refused like any other alteration, not decoded to the same bytes.
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 4+macSize {
		return Token{}, ErrInvalid
	}
	p, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	ok := false
	for _, key := range k.keys {
		if hmac.Equal(mac(key, p), sum) {
			ok = true
			break
		}
	}
	if !ok {
		return Token{}, ErrInvalid
	}
	t := Token{Kind: p[0]}
	rest := p[1:]
	var fields [3]uint64
	for i := range fields {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<62 {
			return Token{}, ErrInvalid
		}
		fields[i], rest = v, rest[n:]
	}
	t.Send, t.Contact, t.Link = int64(fields[0]), int64(fields[1]), int(fields[2])
	t.URL = string(rest)
	return t, nil
}

func mac(key, p []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(p)
	return h.Sum(nil)[:macSize]
}

// URL is where a token is served under base: base/c/TOKEN for a click.
func URL(base string, kind byte, token string) string {
	return strings.TrimRight(base, "/") + "/" + string(kind) + "/" + token
}
