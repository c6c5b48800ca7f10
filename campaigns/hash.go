package campaigns

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Canonical returns the canonical JSON encoding of v: maps sorted by key,
// no HTML escaping, no insignificant space. Two equal values always encode
// to the same bytes, so the encoding is what hashes are taken over.
func Canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Hash returns "sha256:" and the hex digest of v's canonical encoding.
func Hash(v any) string {
	b, err := Canonical(v)
	if err != nil {
		// Only values holding channels or funcs fail to encode; the model
		// holds neither.
		panic("campaigns: hash: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Hash is the content hash of the whole programme.
func (p *Program) Hash() string { return Hash(p) }

// ObjectHashes returns the content hash of every top-level object, keyed by
// its address ("sequences.welcome", "emails.emails/welcome.md", "sender").
func (p *Program) ObjectHashes() map[string]string {
	out := map[string]string{
		"sender":   Hash(p.Sender),
		"contact":  Hash(p.Contact),
		"accounts": Hash(p.Accounts),
		"cadence":  Hash(p.Cadence),
		"exits":    Hash(p.Exits),
	}
	if p.Layout != nil {
		out["layout"] = Hash(p.Layout)
	}
	if p.Preferences != nil {
		out["preferences"] = Hash(p.Preferences)
	}
	add := func(kind string, name string, v any) { out[kind+"."+name] = Hash(v) }
	for n, v := range p.Events {
		add("events", n, v)
	}
	for n, v := range p.Scoring {
		add("scoring", n, v)
	}
	for n, v := range p.Segments {
		add("segments", n, v)
	}
	for n, v := range p.Sequences {
		add("sequences", n, v)
	}
	for n, v := range p.Handoffs {
		add("handoffs", n, v)
	}
	for n, v := range p.Emails {
		add("emails", n, v)
	}
	return out
}
