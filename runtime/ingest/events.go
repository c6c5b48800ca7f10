package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// The columns (CSV) or keys (JSONL) of an events file. In CSV every other
// column is a property; in JSONL properties are an object under
// "properties". In CSV the column email is always the contact's address,
// so the built-in email events' property of that name is JSONL only.
const (
	ColumnID         = "id"
	ColumnEmail      = "email"
	ColumnName       = "name"
	ColumnAt         = "at"
	ColumnProperties = "properties"
)

// The scenario timeline writes an event as {event, props}; a file written
// by hand after a scenario may use the same words, so they are accepted as
// other spellings of name and properties.
const (
	aliasName       = "event"
	aliasProperties = "props"
)

// eventRole is the key a field stands for: its name, or the key an alias
// spells.
func eventRole(k string) string {
	switch k {
	case aliasName:
		return ColumnName
	case aliasProperties:
		return ColumnProperties
	}
	return k
}

const maxEventID = 200

// EventReader reads behavioural events, checked against the programme's
// event declarations.
type EventReader struct {
	src    source
	events map[string]*campaigns.EventType
	names  []string // event names, for suggestions
	props  []string // every property name, for suggestions on a CSV header
	byIdx  []string // CSV: the column's role or property name; "" when skipped
	typed  map[[2]string]*typed
	opt    Options
}

// NewEventReader reads an events file's header (for JSONL, its first line)
// and checks it. events are the declared and built-in event types
// (campaigns.Program.Events). A CSV file needs the columns email, name and
// at, may have id, and every other column must be a property some event
// declares. Problems with the header are a *FileError.
func NewEventReader(r io.Reader, name string, f Format, events map[string]*campaigns.EventType, opt Options) (*EventReader, error) {
	er := &EventReader{events: events, typed: map[[2]string]*typed{}, opt: opt}
	seen := map[string]bool{}
	for n, et := range events {
		er.names = append(er.names, n)
		if et == nil {
			continue
		}
		for p := range et.Properties {
			if !seen[p] {
				seen[p] = true
				er.props = append(er.props, p)
			}
		}
	}
	slices.Sort(er.names)
	slices.Sort(er.props)
	switch f {
	case CSV:
		s, err := newCSVSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		er.src = s
		var problems []string
		er.byIdx = make([]string, len(s.cols))
		for i, c := range s.cols {
			switch {
			case s.skip[i]:
			case c == ColumnID || c == ColumnEmail || c == ColumnName || c == ColumnAt || seen[c]:
				er.byIdx[i] = c
			case c == aliasName && !s.has(ColumnName):
				er.byIdx[i] = ColumnName
			default:
				problems = append(problems, fmt.Sprintf("unknown column %q%s: no event has a property of that name; declare it under events.<event>.properties, or ignore it (--ignore %s)",
					clip(c), didYouMean(c, append([]string{ColumnID, ColumnEmail, ColumnName, ColumnAt}, er.props...)), c))
			}
		}
		for _, c := range []string{ColumnEmail, ColumnName, ColumnAt} {
			if !s.has(c) && (c != ColumnName || !s.has(aliasName)) {
				problems = append(problems, fmt.Sprintf("there is no %s column; an events file needs the columns email, name (or event) and at", c))
			}
		}
		if len(problems) > 0 {
			return nil, fileError(name, s.headerLine, problems...)
		}
	case JSONL:
		s, err := newJSONLSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		// Unlike contacts, a JSONL key the first row misspells does not
		// reject the file: each row with an unknown key is rejected alone,
		// so that one odd row never stops the others.
		er.src = s
	default:
		return nil, fmt.Errorf("%s: no format given; want CSV or JSONL", name)
	}
	return er, nil
}

func eventKey(k string) bool {
	switch eventRole(k) {
	case ColumnID, ColumnEmail, ColumnName, ColumnAt, ColumnProperties:
		return true
	}
	return false
}

func unknownEventKey(k string) string {
	return fmt.Sprintf("unknown key %q%s: an event has the keys id, email, name (or event), at and properties (or props, an object)",
		clip(k), didYouMean(k, []string{ColumnID, ColumnEmail, ColumnName, aliasName, ColumnAt, ColumnProperties, aliasProperties}))
}

// Header is a CSV file's header as written, for a RejectWriter; nil for
// JSONL.
func (er *EventReader) Header() []string { return er.src.header() }

// BytesRead is how much of the file has been read, for a progress bar.
func (er *EventReader) BytesRead() int64 { return er.src.bytesRead() }

// Raw is the row Next last returned as read, for a reject the store
// makes later: its cells (CSV) or its line (JSONL), as in Reject.
func (er *EventReader) Raw() ([]string, []byte) { return er.src.raw() }

// Next returns the next event or the next rejected row — exactly one of
// them — and io.EOF after the last row. Any other error is the underlying
// reader failing.
//
// An event without an id gets one from EventID, so importing the same file
// twice records each event once. Props holds the properties the row
// gives, typed by the event's declaration; nil when there are none.
func (er *EventReader) Next() (runtime.Event, *Reject, error) {
	line, fields, rej, err := er.src.next()
	if err != nil || rej != nil {
		return runtime.Event{}, rej, err
	}
	ev, problems := er.event(line, fields)
	if len(problems) > 0 {
		cells, rawLine := er.src.raw()
		email := ev.Email
		if email == "" {
			email = rawEmail(fields)
		}
		return runtime.Event{}, &Reject{Line: line, Email: email, Reason: strings.Join(problems, "; "), Raw: cells, RawLine: rawLine}, nil
	}
	return ev, nil, nil
}

func (er *EventReader) event(line int, fields []field) (runtime.Event, []string) {
	ev := runtime.Event{Line: line}
	var problems []string
	word := er.src.word()
	var props []field
	var et *campaigns.EventType
	has := map[string]bool{}
	spelled := map[string]string{} // role → the key that gave it, for a row that gives both spellings
	for _, f := range fields {
		role := eventRole(f.name)
		if f.idx >= 0 {
			role = er.byIdx[f.idx]
		}
		if !eventKey(role) && f.idx < 0 {
			problems = append(problems, unknownEventKey(f.name))
			continue
		}
		if f.idx < 0 {
			if other, ok := spelled[role]; ok && other != f.name {
				problems = append(problems, fmt.Sprintf("key %s and key %s are the same (%s); keep one", other, f.name, role))
				continue
			}
		}
		spelled[role] = f.name
		if f.c.empty() {
			continue
		}
		has[role] = true
		switch role {
		case ColumnID:
			if f.c.kind != kText && f.c.kind != kNumber {
				problems = append(problems, fmt.Sprintf("%s id: %s", word, notText(f.c)))
				continue
			}
			ev.ID = strings.TrimSpace(f.c.text)
			if len(ev.ID) > maxEventID {
				problems = append(problems, fmt.Sprintf("%s id: the id is longer than %d bytes", word, maxEventID))
			}
		case ColumnEmail:
			if f.c.kind != kText {
				problems = append(problems, fmt.Sprintf("%s email: want the address as text, not %s", word, clip(f.c.text)))
				continue
			}
			email, _, err := NormalizeEmail(f.c.text)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s email: %v", word, err))
				continue
			}
			ev.Email = email
		case ColumnName:
			n := strings.TrimSpace(f.c.text)
			if f.c.kind != kText {
				problems = append(problems, fmt.Sprintf("%s %s: want the event's name as text, not %s", word, f.name, clip(f.c.text)))
				continue
			}
			if et = er.events[n]; et == nil {
				problems = append(problems, fmt.Sprintf("%s %s: event %q is not declared%s; declare it under events", word, f.name, clip(n), didYouMean(n, er.names)))
				continue
			}
			ev.Name = n
		case ColumnAt:
			if f.c.kind != kText {
				problems = append(problems, fmt.Sprintf("%s at: %s is not a time; write it as RFC 3339 with a time zone (2026-11-23T09:30:00Z)", word, f.c.describe()))
				continue
			}
			t, reason := parseTime(strings.TrimSpace(f.c.text), false)
			if reason != "" {
				problems = append(problems, fmt.Sprintf("%s at: %s", word, reason))
				continue
			}
			ev.At = t
		case ColumnProperties:
			if f.c.kind != kComposite || !strings.HasPrefix(f.c.text, "{") {
				problems = append(problems, fmt.Sprintf("key %s: want an object, {\"path\": \"/pricing\"}, not %s", f.name, f.c.describe()))
				continue
			}
			ps, reason := parseObject([]byte(f.c.text), nil, er.opt.maxCell(), nil)
			if reason != "" {
				problems = append(problems, "key "+f.name+": "+reason)
				continue
			}
			props = ps
		default: // a CSV property column
			props = append(props, f)
		}
	}
	for _, c := range []string{ColumnEmail, ColumnName, ColumnAt} {
		if !has[c] {
			problems = append(problems, fmt.Sprintf("%s %s has no value; every event needs its contact's email, its name (name or event) and the time it happened (at)", word, c))
		}
	}
	if et != nil {
		pword := "property"
		if word == "column" {
			pword = "column"
		}
		for _, p := range props {
			if p.c.empty() {
				continue
			}
			decl := et.Properties[p.name]
			if decl == nil {
				problems = append(problems, fmt.Sprintf("%s %s: event %s has no property %s%s; declare it under events.%s.properties",
					pword, p.name, ev.Name, p.name, didYouMean(p.name, slices.Sorted(maps.Keys(et.Properties))), ev.Name))
				continue
			}
			v, reason := er.typedFor(ev.Name, p.name, decl).convert(p.c)
			if reason != "" {
				problems = append(problems, fmt.Sprintf("%s %s: %s", pword, p.name, reason))
				continue
			}
			if ev.Props == nil {
				ev.Props = make(map[string]any, len(props))
			}
			ev.Props[p.name] = v
		}
		given := func(n string) bool {
			return slices.ContainsFunc(props, func(p field) bool { return p.name == n && !p.c.empty() })
		}
		for _, n := range slices.Sorted(maps.Keys(et.Properties)) {
			if et.Properties[n].Required && !given(n) {
				problems = append(problems, fmt.Sprintf("property %s is missing; event %s requires it", n, ev.Name))
			}
		}
	}
	if len(problems) == 0 && ev.ID == "" {
		ev.ID = EventID(ev.Email, ev.Name, ev.At, ev.Props)
	}
	return ev, problems
}

func (er *EventReader) typedFor(event, prop string, a *campaigns.Attribute) *typed {
	k := [2]string{event, prop}
	t := er.typed[k]
	if t == nil {
		t = newTyped(a, nil)
		er.typed[k] = t
	}
	return t
}

// EventID is the ID of an event its file gives none: the first 32 hex
// digits of the SHA-256 of, each followed by a line break, the address's
// Key, the event name, the time in UTC as RFC 3339 with nanoseconds
// (time.RFC3339Nano), and the typed properties as encoding/json writes a
// map: sorted keys, no spaces, <, > and & escaped ("{}" when there are
// none). The same event in the same file thus gets the same
// ID, however often it is imported, as CSV or as JSONL.
func EventID(email, name string, at time.Time, props map[string]any) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", Key(email), name, at.UTC().Format(time.RFC3339Nano))
	canon := []byte("{}")
	if len(props) > 0 {
		utc := make(map[string]any, len(props))
		for k, v := range props {
			if t, ok := v.(time.Time); ok {
				v = t.UTC()
			}
			utc[k] = v
		}
		if b, err := json.Marshal(utc); err == nil { // sorted keys; values are plain
			canon = b
		}
	}
	h.Write(canon)
	h.Write([]byte{'\n'})
	return hex.EncodeToString(h.Sum(nil))[:32]
}
