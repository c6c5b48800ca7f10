package ingest

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

var csvSeeds = []string{
	"email,first_name,industry,employees,revenue,trial,signup_at,stage,timezone,consent_at\n" +
		"Ann@Acme.Example,Ann,saas,12,1.5,yes,2026-11-23,lead,Europe/Berlin,2026-11-23T09:30:00Z\n",
	"email,industry\na@acme.example,\"unclosed\nb@acme.example,saas\nc@acme.example,\"x\",saas\n",
	"email,industry\na@acme.example,saas\nb@acme.example,\"trunc",
	"\xEF\xBB\xBFemail,industry\r\n\r\nA@B.example,saas\r\n,\r\n",
	"email,industry\nAnn <a@b.example>,saas\na@b.example,saas\nA@B.EXAMPLE,saas\n",
	"email,industry\n\"a@b.example\n\",saas\nx@y.example,Sa\"aS\n",
	"email,industry,nurture_line,nurture_error\na@bücher.example,saas,3,\"bad\"\n",
	"email,industry,employees\na@b.example,saas,\"1,200\"\nb@b.example,saas\nc@b.example,saas,1,2\n",
	"email,industry\na@b.example,sa\x00as\nb@b.example,\xff\n",
	"email;industry\n",
	"[{\"email\": \"a@b.example\"}]",
}

var jsonlSeeds = []string{
	`{"email": "Ann@Acme.Example", "industry": "saas", "employees": 12, "trial": true, "signup_at": "2026-11-23T10:00:00+01:00"}` + "\n",
	`{"email": "a@b.example", "industry": null}` + "\n\n" + `{"email": "a@b.example"}` + "\n",
	`{"email": "a@b.example", "email": "c@d.example"}` + "\n" + `{"email": 1}` + "\n" + `[1]` + "\n",
	`{"line": 1, "error": "x", "record": {"email": "a@b.example"}}` + "\n" + `{"line": 2, "error": "x", "record": "{\"email\": \"c@d.example\"}"}` + "\n",
	`{"email": "a@b.example", "first_name": "\u0000"}` + "\n" + `{"email": "trunc`,
	"{\n\"email\": \"a@b.example\"}\n",
}

var eventSeeds = []string{
	`{"id": "e1", "email": "Ann@Acme.Example", "name": "page_view", "at": "2026-11-23T10:00:00+01:00", "properties": {"path": "/", "seconds": 3}}` + "\n",
	`{"email": "a@b.example", "name": "demo_requested", "at": "2026-11-23T10:00:00Z", "properties": {"plan": "growth", "seats": 1.5, "urgent": "yes", "when": "2026-12-01"}}` + "\n",
	`{"email": "a@b.example", "name": "email.bounced", "at": "2026-11-23T10:00:00Z", "properties": {"kind": "hard"}}` + "\n" + `{"email": "a@b.example", "name": "nope", "at": "x"}` + "\n",
	`{"email": "a@b.example", "name": "page_view", "at": "2026-11-23T10:00:00Z", "properties": {"path": "/", "path": "/x"}}` + "\n",
}

func FuzzContactCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, emptyClears bool) {
		checkContacts(t, data, CSV, Options{EmptyClears: emptyClears, MaxCell: 256})
	})
}

func FuzzContactJSONL(f *testing.F) {
	for _, s := range jsonlSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, emptyClears bool) {
		checkContacts(t, data, JSONL, Options{EmptyClears: emptyClears, MaxCell: 256})
	})
}

func FuzzEventJSONL(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events := testEvents()
		r, err := NewEventReader(bytes.NewReader(data), "f.jsonl", JSONL, events, Options{MaxCell: 256})
		if err != nil {
			checkFileError(t, err)
			return
		}
		last := 0
		for n := 0; ; n++ {
			ev, rej, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			line := checkLine(t, n, data, ev.Line, rej, &last)
			if rej != nil {
				continue
			}
			checkEmail(t, line, ev.Email, true)
			et := events[ev.Name]
			switch {
			case et == nil:
				t.Fatalf("line %d: undeclared event %q", line, ev.Name)
			case ev.ID == "" || len(ev.ID) > maxEventID:
				t.Fatalf("line %d: ID %q", line, ev.ID)
			case ev.At.IsZero() || ev.At.Location() != time.UTC:
				t.Fatalf("line %d: at %v", line, ev.At)
			}
			for k, v := range ev.Props {
				if a := et.Properties[k]; a == nil || !ofType(v, a) {
					t.Fatalf("line %d: property %s = %#v", line, k, v)
				}
			}
			for k, a := range et.Properties {
				if _, ok := ev.Props[k]; a.Required && !ok {
					t.Fatalf("line %d: required property %s missing", line, k)
				}
			}
		}
	})
}

// checkContacts reads a contacts file to its end and checks the invariants
// that hold for any input.
func checkContacts(t *testing.T, data []byte, f Format, opt Options) {
	schema := testSchema()
	r, err := NewContactReader(bytes.NewReader(data), "f", f, schema, opt)
	if err != nil {
		checkFileError(t, err)
		return
	}
	seen := map[string]bool{}
	last := 0
	for n := 0; ; n++ {
		rec, rej, err := r.Next()
		if errors.Is(err, io.EOF) {
			if r.BytesRead() != int64(len(data)) {
				t.Fatalf("BytesRead = %d at the end of %d bytes", r.BytesRead(), len(data))
			}
			return
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		line := checkLine(t, n, data, rec.Line, rej, &last)
		if rej != nil {
			continue
		}
		checkEmail(t, line, rec.Email, opt.AllowRole)
		if seen[Key(rec.Email)] {
			t.Fatalf("line %d: %s returned twice", line, rec.Email)
		}
		seen[Key(rec.Email)] = true
		for k, v := range rec.Values {
			a := schema.Attributes[k]
			switch {
			case a == nil || k == campaigns.AttrEmail:
				t.Fatalf("line %d: value for %q", line, k)
			case v == nil && (!opt.EmptyClears || a.Required):
				t.Fatalf("line %d: %s cleared", line, k)
			case v != nil && !ofType(v, a):
				t.Fatalf("line %d: %s = %#v is not %s", line, k, v, a.Type)
			}
		}
		if c := rec.Consent; c != nil && (c.At.IsZero() || c.Email != rec.Email) {
			t.Fatalf("line %d: consent %+v", line, c)
		}
	}
}

func checkFileError(t *testing.T, err error) {
	var fe *FileError
	if !errors.As(err, &fe) || len(fe.Problems) == 0 {
		t.Fatalf("constructor error %v is not a *FileError", err)
	}
}

// checkLine checks that exactly one of record and reject came, that lines
// go forward and stay within the file, and that the reader ends.
func checkLine(t *testing.T, n int, data []byte, recLine int, rej *Reject, last *int) int {
	lines := bytes.Count(data, []byte("\n")) + 1
	if n > lines {
		t.Fatalf("%d results from %d lines", n, lines)
	}
	line := recLine
	if rej != nil {
		if recLine != 0 {
			t.Fatalf("both a record (line %d) and a reject %+v", recLine, rej)
		}
		if rej.Reason == "" {
			t.Fatalf("reject without a reason: %+v", rej)
		}
		line = rej.Line
	}
	if line <= *last || line > lines {
		t.Fatalf("line %d after line %d, in a file of %d lines", line, *last, lines)
	}
	*last = line
	return line
}

func checkEmail(t *testing.T, line int, email string, allowRole bool) {
	norm, role, err := NormalizeEmail(email)
	if err != nil || norm != email {
		t.Fatalf("line %d: address %q is not normalised: %q, %v", line, email, norm, err)
	}
	if role && !allowRole {
		t.Fatalf("line %d: role address %q", line, email)
	}
}

func ofType(v any, a *campaigns.Attribute) bool {
	switch a.Type {
	case campaigns.TypeString:
		_, ok := v.(string)
		return ok
	case campaigns.TypeEnum:
		s, ok := v.(string)
		for _, x := range a.Values {
			if ok && s == x {
				return true
			}
		}
		return false
	case campaigns.TypeInt:
		_, ok := v.(int64)
		return ok
	case campaigns.TypeNumber:
		_, ok := v.(float64)
		return ok
	case campaigns.TypeBool:
		_, ok := v.(bool)
		return ok
	case campaigns.TypeTime:
		t, ok := v.(time.Time)
		return ok && t.Location() == time.UTC
	}
	return false
}
