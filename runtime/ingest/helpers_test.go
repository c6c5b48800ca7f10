package ingest

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// testSchema is built by hand: runtime packages never import the compiler.
func testSchema() *campaigns.ContactSchema {
	stages := []string{"lead", "mql", "sql", "customer"}
	return &campaigns.ContactSchema{
		Stages: stages,
		Attributes: map[string]*campaigns.Attribute{
			campaigns.AttrEmail:       {Type: campaigns.TypeString, Required: true, Builtin: true},
			campaigns.AttrStage:       {Type: campaigns.TypeEnum, Values: stages, Builtin: true},
			campaigns.AttrTimezone:    {Type: campaigns.TypeString, Builtin: true},
			campaigns.AttrAccount:     {Type: campaigns.TypeString, Builtin: true},
			campaigns.AttrAccountTier: {Type: campaigns.TypeEnum, Values: []string{"strategic", "target"}, Builtin: true},
			"first_name":              {Type: campaigns.TypeString},
			"industry":                {Type: campaigns.TypeEnum, Values: []string{"saas", "fintech", "other"}, Required: true},
			"employees":               {Type: campaigns.TypeInt},
			"revenue":                 {Type: campaigns.TypeNumber},
			"trial":                   {Type: campaigns.TypeBool},
			"signup_at":               {Type: campaigns.TypeTime},
		},
	}
}

func testEvents() map[string]*campaigns.EventType {
	events := campaigns.BuiltinEvents()
	events["page_view"] = &campaigns.EventType{Properties: map[string]*campaigns.Attribute{
		"path":    {Type: campaigns.TypeString, Required: true},
		"seconds": {Type: campaigns.TypeInt},
	}}
	events["demo_requested"] = &campaigns.EventType{Properties: map[string]*campaigns.Attribute{
		"plan":   {Type: campaigns.TypeEnum, Values: []string{"starter", "growth"}},
		"seats":  {Type: campaigns.TypeNumber},
		"urgent": {Type: campaigns.TypeBool},
		"when":   {Type: campaigns.TypeTime},
	}}
	return events
}

// ignoreRaw compares rejects by line, email and reason; Raw and RawLine
// have tests of their own.
var ignoreRaw = cmpopts.IgnoreFields(Reject{}, "Raw", "RawLine")

type reader[T any] interface {
	Next() (T, *Reject, error)
}

// drain reads r to the end, checking the reader's contract on the way:
// exactly one of record and reject, and lines that only go forward. line
// is nil for records without a line.
func drain[T any](t testing.TB, r reader[T], line func(T) int) ([]T, []Reject) {
	t.Helper()
	var recs []T
	var rejs []Reject
	last := 0
	for i := 0; ; i++ {
		if i > 1_000_000 {
			t.Fatal("the reader does not come to an end")
		}
		rec, rej, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, rejs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		var zero T
		n := 0
		if rej != nil {
			if !cmp.Equal(rec, zero) {
				t.Fatalf("Next returned both a record %+v and a reject %+v", rec, rej)
			}
			n = rej.Line
			rejs = append(rejs, *rej)
		} else {
			recs = append(recs, rec)
			if line == nil {
				continue
			}
			n = line(rec)
		}
		if n <= last {
			t.Fatalf("line %d after line %d", n, last)
		}
		last = n
	}
}

func readContacts(t testing.TB, in string, f Format, opt Options) ([]runtime.ContactRecord, []Reject) {
	t.Helper()
	r, err := NewContactReader(strings.NewReader(in), "contacts."+f.String(), f, testSchema(), opt)
	if err != nil {
		t.Fatalf("NewContactReader: %v", err)
	}
	return drain[runtime.ContactRecord](t, r, func(c runtime.ContactRecord) int { return c.Line })
}

func readEvents(t testing.TB, in string, f Format) ([]runtime.Event, []Reject) {
	t.Helper()
	r, err := NewEventReader(strings.NewReader(in), "events."+f.String(), f, testEvents(), Options{})
	if err != nil {
		t.Fatalf("NewEventReader: %v", err)
	}
	return drain[runtime.Event](t, r, func(e runtime.Event) int { return e.Line })
}

func date(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

// contact is a record of a non-role address.
func contact(line int, email string, values map[string]any) runtime.ContactRecord {
	if values == nil {
		values = map[string]any{}
	}
	return runtime.ContactRecord{Line: line, Email: email, Values: values}
}

func rej(line int, email, reason string) Reject {
	return Reject{Line: line, Email: email, Reason: reason}
}
