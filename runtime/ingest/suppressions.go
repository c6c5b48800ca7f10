package ingest

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/runtime"
)

// The columns (CSV) or keys (JSONL) of a suppressions file besides email.
const (
	ColumnReason = "reason"
	ColumnSource = "source"
)

var (
	suppressionColumns = []string{ColumnEmail, ColumnReason, ColumnAt, ColumnSource}
	suppressionReasons = []string{runtime.ReasonUnsubscribed, runtime.ReasonBounced, runtime.ReasonComplained, runtime.ReasonManual}
)

// SuppressionReader reads addresses to keep from marketing email.
type SuppressionReader struct {
	src    source
	source string
	byIdx  []string
	line   int
}

// NewSuppressionReader reads a suppressions file's header (for JSONL, its
// first line) and checks it. The columns are email (required), reason
// (unsubscribed, bounced, complained or manual; manual when empty), at
// (optional, RFC 3339) and source (optional; the file's base name when
// empty). Role addresses are taken: suppressing one is always right.
func NewSuppressionReader(r io.Reader, name string, f Format, opt Options) (*SuppressionReader, error) {
	sr := &SuppressionReader{source: filepath.Base(name)}
	if name == "" {
		sr.source = "import"
	}
	unknown := func(word, c string) string {
		return fmt.Sprintf("unknown %s %q%s: a suppressions file has email, reason, at and source; ignore it (--ignore %s)",
			word, clip(c), didYouMean(c, suppressionColumns), c)
	}
	switch f {
	case CSV:
		s, err := newCSVSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		sr.src = s
		var problems []string
		sr.byIdx = make([]string, len(s.cols))
		for i, c := range s.cols {
			switch {
			case s.skip[i]:
			case slices.Contains(suppressionColumns, c):
				sr.byIdx[i] = c
			default:
				problems = append(problems, unknown("column", c))
			}
		}
		if !s.has(ColumnEmail) {
			problems = append(problems, "there is no email column; every row needs the address to suppress")
		}
		if len(problems) > 0 {
			return nil, fileError(name, s.headerLine, problems...)
		}
	case JSONL:
		s, err := newJSONLSource(r, name, opt)
		if err != nil {
			return nil, err
		}
		sr.src = s
		if line, fields := s.firstFields(); fields != nil {
			var problems []string
			for _, f := range fields {
				if !slices.Contains(suppressionColumns, f.name) {
					problems = append(problems, unknown("key", f.name))
				}
			}
			if len(problems) > 0 {
				return nil, fileError(name, line, problems...)
			}
		}
	default:
		return nil, fmt.Errorf("%s: no format given; want CSV or JSONL", name)
	}
	return sr, nil
}

// Header is a CSV file's header as written, for a RejectWriter; nil for
// JSONL.
func (sr *SuppressionReader) Header() []string { return sr.src.header() }

// Line is where the row Next last returned starts, from 1.
func (sr *SuppressionReader) Line() int { return sr.line }

// BytesRead is how much of the file has been read, for a progress bar.
func (sr *SuppressionReader) BytesRead() int64 { return sr.src.bytesRead() }

// Next returns the next suppression or the next rejected row — exactly one
// of them — and io.EOF after the last row. Any other error is the
// underlying reader failing.
//
// A zero At means the file does not say when; the caller sets the time of
// the import. The same address may come more than once: the store keeps
// the first suppression per address and reason.
func (sr *SuppressionReader) Next() (runtime.Suppression, *Reject, error) {
	line, fields, rej, err := sr.src.next()
	sr.line = line
	if err != nil || rej != nil {
		return runtime.Suppression{}, rej, err
	}
	sup := runtime.Suppression{Reason: runtime.ReasonManual, Source: sr.source}
	var problems []string
	word := sr.src.word()
	hasEmail := false
	for _, f := range fields {
		role := f.name
		if f.idx >= 0 {
			role = sr.byIdx[f.idx]
		}
		if !slices.Contains(suppressionColumns, role) {
			problems = append(problems, fmt.Sprintf("unknown %s %q%s: a suppression has email, reason, at and source", word, clip(f.name), didYouMean(f.name, suppressionColumns)))
			continue
		}
		if f.c.empty() {
			continue
		}
		if f.c.kind != kText {
			problems = append(problems, fmt.Sprintf("%s %s: %s", word, role, notText(f.c)))
			continue
		}
		text := strings.TrimSpace(f.c.text)
		switch role {
		case ColumnEmail:
			hasEmail = true
			email, _, err := NormalizeEmail(text)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s email: %v", word, err))
				continue
			}
			sup.Email = email
		case ColumnReason:
			r := strings.ToLower(text)
			if !slices.Contains(suppressionReasons, r) {
				problems = append(problems, fmt.Sprintf("%s reason: %q is not one of %s%s", word, clip(text), strings.Join(suppressionReasons, ", "), didYouMean(text, suppressionReasons)))
				continue
			}
			sup.Reason = r
		case ColumnAt:
			t, reason := parseTime(text, false)
			if reason != "" {
				problems = append(problems, fmt.Sprintf("%s at: %s", word, reason))
				continue
			}
			sup.At = t
		case ColumnSource:
			sup.Source = text
		}
	}
	if !hasEmail {
		problems = append(problems, fmt.Sprintf("%s email has no value; every row needs the address to suppress", word))
	}
	if len(problems) > 0 {
		cells, rawLine := sr.src.raw()
		email := sup.Email
		if email == "" {
			email = rawEmail(fields)
		}
		return runtime.Suppression{}, &Reject{Line: line, Email: email, Reason: strings.Join(problems, "; "), Raw: cells, RawLine: rawLine}, nil
	}
	return sup, nil, nil
}
