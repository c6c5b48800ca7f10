package ingest

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// ColumnAccount is the key column of an accounts file: the value the
// account's contacts hold in their account attribute.
const ColumnAccount = campaigns.AttrAccount

// AccountReader reads accounts, checked against the programme's account
// attributes, as ContactReader reads contacts: the same sources, cell
// conversions and rejects, keyed by the account column rather than an
// address. It keeps the key of every account it returned, to find one
// given twice in the file.
type AccountReader struct {
	src    source
	attrs  map[string]*campaigns.Attribute
	opt    Options
	byName map[string]*typed
	byIdx  []string // CSV columns by index; "" when skipped
	known  []string
	seen   *seenKeys // keys and the lines they were first accepted on
}

// NewAccountReader reads an accounts file's header (for JSONL, its first
// line) and checks it against the account attributes: a file without an
// account column, with a column the programme does not declare under
// accounts.attributes, or (CSV) without a column for a required one is
// refused with a *FileError before any row is read. name is the file's
// name, for messages.
func NewAccountReader(r io.Reader, name string, f Format, attrs map[string]*campaigns.Attribute, opt Options) (*AccountReader, error) {
	ar := &AccountReader{attrs: attrs, opt: opt, byName: map[string]*typed{}, seen: newSeenKeys()}
	for n, a := range attrs {
		ar.byName[n] = newTyped(a, nil)
	}
	ar.known = append(sortedNames(attrs), ColumnAccount)
	slices.Sort(ar.known)
	var problems []string
	line := 1
	switch f {
	case CSV:
		s, err := newCSVSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		ar.src, line = s, s.headerLine
		ar.byIdx = make([]string, len(s.cols))
		for i, c := range s.cols {
			if s.skip[i] {
				continue
			}
			if c != ColumnAccount && ar.byName[c] == nil {
				problems = append(problems, ar.unknown("column", c))
				continue
			}
			ar.byIdx[i] = c
		}
		if !s.has(ColumnAccount) {
			problems = append(problems, "there is no account column; every row needs the account's key, the value its contacts hold in their account attribute")
		}
		for _, n := range sortedNames(attrs) {
			if attrs[n].Required && !s.has(n) {
				problems = append(problems, fmt.Sprintf("there is no column for %s, which accounts.attributes requires; add it (an empty cell keeps what a known account has)", n))
			}
		}
	case JSONL:
		s, err := newJSONLSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		ar.src = s
		l, fields := s.firstFields()
		line = l
		for _, f := range fields {
			if f.name != ColumnAccount && ar.byName[f.name] == nil {
				problems = append(problems, ar.unknown("key", f.name))
			}
		}
	default:
		return nil, fmt.Errorf("%s: no format given; want CSV or JSONL", name)
	}
	if len(problems) > 0 {
		return nil, fileError(name, line, problems...)
	}
	return ar, nil
}

func sortedNames(attrs map[string]*campaigns.Attribute) []string {
	out := make([]string, 0, len(attrs))
	for n := range attrs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (ar *AccountReader) unknown(word, c string) string {
	return fmt.Sprintf("unknown %s %q%s: declare it under accounts.attributes, or ignore it (--ignore %s)", word, clip(c), didYouMean(c, ar.known), c)
}

// Header is a CSV file's header as written, for a RejectWriter; nil for
// JSONL.
func (ar *AccountReader) Header() []string { return ar.src.header() }

// BytesRead is how much of the file has been read, for a progress bar.
func (ar *AccountReader) BytesRead() int64 { return ar.src.bytesRead() }

// Raw is the row Next last returned as read, for a reject the store
// makes later.
func (ar *AccountReader) Raw() ([]string, []byte) { return ar.src.raw() }

// Next returns the next account or the next rejected row — exactly one
// of them — and io.EOF after the last row, as ContactReader.Next does.
// An empty cell leaves the attribute out, or with Options.EmptyClears
// puts it in as nil (required attributes excepted).
func (ar *AccountReader) Next() (runtime.AccountRecord, *Reject, error) {
	line, fields, rej, err := ar.src.next()
	if err != nil || rej != nil {
		return runtime.AccountRecord{}, rej, err
	}
	rec, problems := ar.record(line, fields)
	if len(problems) > 0 {
		cells, rawLine := ar.src.raw()
		return runtime.AccountRecord{}, &Reject{Line: line, Email: rec.Key, Reason: strings.Join(problems, "; "), Raw: cells, RawLine: rawLine}, nil
	}
	ar.seen.add(rec.Key, line)
	return rec, nil, nil
}

// record checks one row, reporting every problem of it.
func (ar *AccountReader) record(line int, fields []field) (rec runtime.AccountRecord, problems []string) {
	rec.Line = line
	rec.Values = make(map[string]any, len(fields))
	word := ar.src.word()
	hasKey := false
	for _, f := range fields {
		name := f.name
		if f.idx >= 0 {
			name = ar.byIdx[f.idx]
		}
		if name == ColumnAccount {
			hasKey = true
			switch {
			case f.c.empty():
				problems = append(problems, fmt.Sprintf("%s account: the key is empty; every row needs the account's key", word))
			case f.c.kind != kText:
				problems = append(problems, fmt.Sprintf("%s account: %s", word, notText(f.c)))
			default:
				rec.Key = strings.TrimSpace(f.c.text)
				if first, dup := ar.seen.line(rec.Key); dup {
					problems = append(problems, fmt.Sprintf("%s account: %s is a duplicate of line %d; keep one row per account", word, clip(rec.Key), first))
				}
			}
			continue
		}
		t := ar.byName[name]
		if t == nil {
			problems = append(problems, ar.unknown(word, f.name))
			continue
		}
		if f.c.empty() {
			if ar.opt.EmptyClears && !t.attr.Required {
				rec.Values[name] = nil
			}
			continue
		}
		v, reason := t.convert(f.c)
		if reason != "" {
			problems = append(problems, fmt.Sprintf("%s %s: %s", word, name, reason))
			continue
		}
		rec.Values[name] = v
	}
	if !hasKey {
		problems = append(problems, fmt.Sprintf("%s account is missing; every row needs the account's key", word))
	}
	return rec, problems
}
