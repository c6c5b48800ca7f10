package ingest

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// The optional consent columns of a contacts file. consent_at is needed
// when any of them has a value.
const (
	ColumnConsentAt      = "consent_at"
	ColumnConsentSource  = "consent_source"
	ColumnConsentWording = "consent_wording"
)

type contactRole uint8

const (
	roleAttr contactRole = iota
	roleEmail
	roleConsentAt
	roleConsentSource
	roleConsentWording
)

// contactCol is how one column of a contacts file is read.
type contactCol struct {
	name     string
	role     contactRole
	required bool
	t        *typed // for roleAttr
}

// ContactReader reads contacts, checked against a contact schema.
//
// To find an address given twice in one file it keeps the key of every
// contact it returned, exactly rather than as a hash, so that a false
// "duplicate" can never reject a real row: about 100 bytes per contact
// with a 30-character address (a million contacts, some 100 MB).
type ContactReader struct {
	src    source
	schema *campaigns.ContactSchema
	opt    Options
	byName map[string]*contactCol
	byIdx  []*contactCol // CSV columns by index; nil when skipped
	known  []string
	seen   *seenKeys // email keys and the lines they were first accepted on
	zones  zones
}

// NewContactReader reads a contacts file's header (for JSONL, its first
// line) and checks it against the schema. A file that is not CSV or JSONL
// at all, has no email column, names a column twice, names a column the
// schema does not declare, or (CSV) lacks a column for a required
// attribute is refused with a *FileError before any row is read.
//
// Columns are the schema's attributes, built-in ones included (stage,
// timezone, account, account_tier), the consent columns consent_at,
// consent_source and consent_wording, and the columns Options.Ignore
// names. name is the file's name, for messages.
func NewContactReader(r io.Reader, name string, f Format, schema *campaigns.ContactSchema, opt Options) (*ContactReader, error) {
	cr := &ContactReader{schema: schema, opt: opt, byName: map[string]*contactCol{}, seen: newSeenKeys(), zones: zones{}}
	cr.byName[campaigns.AttrEmail] = &contactCol{name: campaigns.AttrEmail, role: roleEmail}
	cr.byName[ColumnConsentAt] = &contactCol{name: ColumnConsentAt, role: roleConsentAt}
	cr.byName[ColumnConsentSource] = &contactCol{name: ColumnConsentSource, role: roleConsentSource}
	cr.byName[ColumnConsentWording] = &contactCol{name: ColumnConsentWording, role: roleConsentWording}
	for n, a := range schema.Attributes {
		if n == campaigns.AttrEmail || a == nil {
			continue
		}
		var enum []string
		if n == campaigns.AttrStage && len(a.Values) == 0 {
			enum = schema.Stages
		}
		cr.byName[n] = &contactCol{name: n, role: roleAttr, required: a.Required, t: newTyped(a, enum)}
	}
	for n := range cr.byName {
		cr.known = append(cr.known, n)
	}
	slices.Sort(cr.known)

	switch f {
	case CSV:
		s, err := newCSVSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		cr.src = s
		if err := cr.checkHeader(name, s); err != nil {
			return nil, err
		}
	case JSONL:
		s, err := newJSONLSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		cr.src = s
		if line, fields := s.firstFields(); fields != nil {
			var problems []string
			for _, f := range fields {
				if cr.byName[f.name] == nil {
					problems = append(problems, cr.unknown("key", f.name))
				}
			}
			if len(problems) > 0 {
				return nil, fileError(name, line, problems...)
			}
		}
	default:
		return nil, fmt.Errorf("%s: no format given; want CSV or JSONL", name)
	}
	return cr, nil
}

func (cr *ContactReader) checkHeader(name string, s *csvSource) error {
	var problems []string
	cr.byIdx = make([]*contactCol, len(s.cols))
	for i, c := range s.cols {
		if s.skip[i] {
			continue
		}
		col := cr.byName[c]
		if col == nil {
			problems = append(problems, cr.unknown("column", c))
			continue
		}
		cr.byIdx[i] = col
	}
	if !s.has(campaigns.AttrEmail) {
		problems = append(problems, "there is no email column; every row needs the contact's address")
	}
	for _, n := range cr.known {
		if col := cr.byName[n]; col.required && !s.has(n) {
			problems = append(problems, fmt.Sprintf("there is no column for %s, which the contact schema requires; add it (an empty cell keeps what a known contact has)", n))
		}
	}
	if len(problems) > 0 {
		return fileError(name, s.headerLine, problems...)
	}
	return nil
}

func (cr *ContactReader) unknown(word, c string) string {
	return fmt.Sprintf("unknown %s %q%s: declare it under contact.attributes, or ignore it (--ignore %s)", word, clip(c), didYouMean(c, cr.known), c)
}

// Header is a CSV file's header as written, for a RejectWriter; nil for
// JSONL.
func (cr *ContactReader) Header() []string { return cr.src.header() }

// BytesRead is how much of the file has been read, for a progress bar.
func (cr *ContactReader) BytesRead() int64 { return cr.src.bytesRead() }

// Raw is the row Next last returned as read, for a reject the store
// makes later: its cells (CSV) or its line (JSONL), as in Reject.
func (cr *ContactReader) Raw() ([]string, []byte) { return cr.src.raw() }

// Next returns the next contact or the next rejected row — exactly one of
// them — and io.EOF after the last row. Any other error is the
// underlying reader failing; reading cannot go on after it.
//
// A record's Values hold the attributes its row gives a value, typed by
// the schema. An empty cell leaves the attribute out, or with
// Options.EmptyClears puts it in as nil, except for required attributes,
// which an empty cell never clears. The store refuses a new contact
// without every required attribute; an existing one keeps what it has.
// Consent.Who is left for the caller to fill in.
func (cr *ContactReader) Next() (runtime.ContactRecord, *Reject, error) {
	line, fields, rej, err := cr.src.next()
	if err != nil || rej != nil {
		return runtime.ContactRecord{}, rej, err
	}
	rec, key, problems := cr.record(line, fields)
	if len(problems) > 0 {
		cells, rawLine := cr.src.raw()
		email := rec.Email
		if email == "" {
			email = rawEmail(fields)
		}
		return runtime.ContactRecord{}, &Reject{Line: line, Email: email, Reason: strings.Join(problems, "; "), Raw: cells, RawLine: rawLine}, nil
	}
	cr.seen.add(key, line)
	return rec, nil, nil
}

func rawEmail(fields []field) string {
	for _, f := range fields {
		if f.name == campaigns.AttrEmail && f.c.kind == kText {
			return strings.TrimSpace(f.c.text)
		}
	}
	return ""
}

func (cr *ContactReader) col(f field) *contactCol {
	if f.idx >= 0 {
		return cr.byIdx[f.idx]
	}
	return cr.byName[f.name]
}

// record checks one row. It reports every problem of the row, so a person
// fixes each row once.
func (cr *ContactReader) record(line int, fields []field) (rec runtime.ContactRecord, key string, problems []string) {
	rec.Line = line
	word := cr.src.word()
	n, hasEmail := 0, false
	for _, f := range fields {
		if !f.c.empty() {
			n++
		}
		hasEmail = hasEmail || f.name == campaigns.AttrEmail
	}
	if !hasEmail {
		problems = append(problems, fmt.Sprintf("%s email is missing; every row needs the contact's address", word))
	}
	rec.Values = make(map[string]any, n)
	var consent runtime.Consent
	hasConsent := false
	for _, f := range fields {
		col := cr.col(f)
		if col == nil {
			problems = append(problems, cr.unknown(word, f.name))
			continue
		}
		if f.c.empty() {
			switch {
			case col.role == roleEmail:
				problems = append(problems, fmt.Sprintf("%s email: the address is empty; every row needs one", word))
			case col.role == roleAttr && cr.opt.EmptyClears && !col.required:
				rec.Values[col.name] = nil
			}
			continue
		}
		switch col.role {
		case roleEmail:
			if f.c.kind != kText {
				problems = append(problems, fmt.Sprintf("%s email: want the address as text, not %s", word, clip(f.c.text)))
				continue
			}
			email, role, err := NormalizeEmail(f.c.text)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s email: %v", word, err))
				continue
			}
			rec.Email, rec.Role = email, role
			if role && !cr.opt.AllowRole {
				problems = append(problems, fmt.Sprintf("%s email: %s is a role address, not a person; leave it out, or import role addresses with --allow-role", word, email))
			}
			key = ownKey(email)
			if first, dup := cr.seen.line(key); dup {
				problems = append(problems, fmt.Sprintf("%s email: %s is a duplicate of line %d; keep one row per address", word, email, first))
			}
		case roleConsentAt:
			if f.c.kind != kText {
				problems = append(problems, fmt.Sprintf("%s consent_at: %s is not a time; write it as RFC 3339 with a time zone (2026-11-23T09:30:00Z)", word, f.c.describe()))
				continue
			}
			t, reason := parseTime(strings.TrimSpace(f.c.text), false)
			if reason != "" {
				problems = append(problems, fmt.Sprintf("%s consent_at: %s", word, reason))
				continue
			}
			consent.At, hasConsent = t, true
		case roleConsentSource, roleConsentWording:
			if f.c.kind != kText {
				problems = append(problems, fmt.Sprintf("%s %s: %s", word, col.name, notText(f.c)))
				continue
			}
			if col.role == roleConsentSource {
				consent.Source = strings.TrimSpace(f.c.text)
			} else {
				consent.Wording = strings.TrimSpace(f.c.text)
			}
			hasConsent = true
		default:
			v, reason := col.t.convert(f.c)
			if reason == "" && col.name == campaigns.AttrTimezone {
				reason = cr.zones.check(v.(string))
			}
			if reason != "" {
				problems = append(problems, fmt.Sprintf("%s %s: %s", word, col.name, reason))
				continue
			}
			rec.Values[col.name] = v
		}
	}
	if hasConsent {
		if consent.At.IsZero() {
			problems = append(problems, fmt.Sprintf("%s consent_at: a consent record needs the time consent was given (RFC 3339, 2026-11-23T09:30:00Z)", word))
		}
		consent.Email = rec.Email
		rec.Consent = &consent
	}
	return rec, key, problems
}
