package compiler

import (
	"fmt"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// A merge tag is {{ field }} or {{ field | default "fallback" }}; the
// fallback may be in single or double quotes. A field is a contact
// attribute, or trigger.PROP: a property of the event that brought the
// contact to the step (see checker.triggers).

// piece is literal text or a merge tag, with its byte offset in the input.
type piece struct {
	text     string
	field    string
	fallback *string
	off      int
}

// tagError is a malformed merge tag at a byte offset.
type tagError struct {
	off int
	msg string
}

// parseMergeTags splits s into text and merge tags.
func parseMergeTags(s string) ([]piece, []tagError) {
	var out []piece
	var errs []tagError
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			if i < len(s) {
				out = append(out, piece{text: s[i:], off: i})
			}
			return out, errs
		}
		j += i
		if j > i {
			out = append(out, piece{text: s[i:j], off: i})
		}
		k := strings.Index(s[j+2:], "}}")
		if k < 0 {
			errs = append(errs, tagError{j, "merge tag is not closed: add }}"})
			out = append(out, piece{text: s[j:], off: j})
			return out, errs
		}
		inner := s[j+2 : j+2+k]
		p, err := parseTag(inner)
		if err != "" {
			errs = append(errs, tagError{j, err})
			out = append(out, piece{text: s[j : j+4+k], off: j})
		} else {
			p.off = j
			out = append(out, p)
		}
		i = j + 4 + k
	}
}

func parseTag(inner string) (piece, string) {
	name, rest, hasPipe := strings.Cut(inner, "|")
	name = strings.TrimSpace(name)
	if name == "" {
		return piece{}, "empty merge tag"
	}
	if prop, ok := strings.CutPrefix(name, campaigns.TriggerPrefix); ok {
		if !isFieldName(prop) {
			return piece{}, fmt.Sprintf("%q is not a property of the triggering event: write {{ trigger.title }}", name)
		}
	} else if !isFieldName(name) {
		return piece{}, fmt.Sprintf("%q is not a field name", name)
	}
	p := piece{field: name}
	if !hasPipe {
		return p, ""
	}
	rest = strings.TrimSpace(rest)
	fn, arg, _ := strings.Cut(rest, " ")
	if fn != "default" {
		return piece{}, fmt.Sprintf("unknown filter %q: the only filter is default", fn)
	}
	arg = strings.TrimSpace(arg)
	if len(arg) < 2 || (arg[0] != '"' && arg[0] != '\'') || arg[len(arg)-1] != arg[0] {
		return piece{}, "the fallback is not a quoted string"
	}
	v := arg[1 : len(arg)-1]
	if strings.ContainsRune(v, rune(arg[0])) {
		return piece{}, "the fallback holds its own quote: use the other kind of quotes around it"
	}
	p.fallback = &v
	return p, ""
}

func isFieldName(s string) bool {
	for i, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return s != ""
}
