package compiler

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// A schema error in one sequence used to hide every email and reference
// error of the others until it was mended and validate ran again. So a
// programme the schema refuses is read in part: the named parts it
// refused (a sequence, a segment, a scoring model, a hand-off, an event,
// a test, a contact or account attribute) are left out, the rest is
// checked, and of what the checker finds only what leaving them out
// cannot have caused is kept. A refusal anywhere else (the sender, the
// cadence, the stages, a programme-wide exit rule) leaves the schema's
// errors alone, as before: too much refers to those to check without
// them.

// partOf is the part of the programme a CUE error path lies in, or nil
// when it lies outside every part that can be left out.
func partOf(path []string) []string {
	if len(path) == 0 {
		return nil
	}
	switch path[0] {
	case "sequences", "segments", "scoring", "handoffs", "events", "tests":
		if len(path) >= 2 {
			return path[:2]
		}
	case "contact", "accounts":
		if len(path) >= 3 && path[1] == "attributes" {
			return path[:3]
		}
	}
	return nil
}

// readPart sets the source's JSON to the programme v without the parts
// err refuses, and reports whether it could.
func (s *source) readPart(v cue.Value, err error) bool {
	failed := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		part := partOf(e.Path())
		if part == nil {
			return false
		}
		failed[strings.Join(part, "\x00")] = true
	}
	js, ok := partialJSON(v, nil, failed)
	if !ok {
		return false
	}
	s.json, s.failed = js, failed
	return true
}

// partialJSON is the JSON of v at path without the failed parts below it.
func partialJSON(v cue.Value, path []string, failed map[string]bool) (json.RawMessage, bool) {
	key := strings.Join(path, "\x00")
	below := false
	for f := range failed {
		if key == "" || strings.HasPrefix(f, key+"\x00") {
			below = true
			break
		}
	}
	if !below {
		b, err := v.MarshalJSON()
		return b, err == nil
	}
	it, err := v.Fields()
	if err != nil {
		return nil, false
	}
	m := map[string]json.RawMessage{}
	for it.Next() {
		sel := it.Selector()
		if sel.LabelType() != cue.StringLabel {
			continue
		}
		name := sel.Unquoted()
		p := append(slices.Clone(path), name)
		if failed[strings.Join(p, "\x00")] {
			continue
		}
		b, ok := partialJSON(it.Value(), p, failed)
		if !ok {
			return nil, false
		}
		m[name] = b
	}
	b, err := json.Marshal(m)
	return b, err == nil
}

// partialCode are the diagnostics kept from a programme read in part:
// references (NRT1xx) and emails (NRT4xx). The others judge the programme
// as a whole — whether a sequence is ever entered, a segment can match, a
// scenario passes — and would judge it without the parts left out.
var partialCode = regexp.MustCompile(`^NRT[14]\d\d$`)

// keepPartial drops, from what the checker found in a programme read in
// part, what leaving the failed parts out may have caused: a diagnostic
// that is not a reference or email one, one that names a part left out
// (an unknown segment "x" when segment x was refused), and the goals' and
// email events' step checks, which look at every sequence at once.
func keepPartial(ds Diagnostics, failed map[string]bool) Diagnostics {
	var names []string
	seqFailed := false
	for f := range failed {
		p := strings.Split(f, "\x00")
		names = append(names, p[len(p)-1])
		seqFailed = seqFailed || p[0] == "sequences"
	}
	var out Diagnostics
	for _, d := range ds {
		switch {
		case !partialCode.MatchString(d.Code):
		case seqFailed && (d.Code == "NRT112" || d.Code == "NRT114"):
		case slices.ContainsFunc(names, func(n string) bool { return mentions(d.Summary, n) }):
		default:
			out = append(out, d)
		}
	}
	return out
}

// mentions reports whether text names name as a whole word.
func mentions(text, name string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(name)
		if (j == 0 || !isNameByte(text[j-1])) && (end == len(text) || !isNameByte(text[end])) {
			return true
		}
		i = j + 1
	}
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}
