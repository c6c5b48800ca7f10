package ingest

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Format is the layout of an import file.
type Format int

// The formats an import file can have. The zero Format is none, so a
// forgotten format is an error rather than a silent CSV.
const (
	// CSV is comma-separated values with a header row naming the columns
	// (RFC 4180, UTF-8, an optional byte-order mark).
	CSV Format = iota + 1
	// JSONL is JSON Lines: one JSON object per line, keys naming columns.
	JSONL
)

func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSONL:
		return "jsonl"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat reads a format as a person names it, for a --format flag:
// csv, jsonl or ndjson.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	}
	return 0, fmt.Errorf("unknown format %q: want csv or jsonl", s)
}

// FormatFor picks the format by a file's extension: .csv, .jsonl or
// .ndjson.
func FormatFor(name string) (Format, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	}
	return 0, fmt.Errorf("%s: cannot tell the format from the file name; name it .csv or .jsonl, or pass --format csv or --format jsonl", name)
}

// Options tune how rows are read. The zero Options are the safe defaults.
type Options struct {
	// AllowRole imports role addresses (info@, support@, …), flagged with
	// ContactRecord.Role. Without it contacts with role addresses are
	// rejected: they reach a function, not a person who opted in. Events
	// and suppressions always take role addresses.
	AllowRole bool
	// EmptyClears makes an empty cell (or JSON null) clear the stored value:
	// the attribute is in ContactRecord.Values with a nil value. Without
	// it an empty cell says nothing and the attribute is left out of
	// Values, so the stored value stays. A required attribute is never
	// cleared: its empty cell is always left out.
	EmptyClears bool
	// MaxCell is the longest cell accepted, in bytes; 64 KiB when zero.
	// A longer cell rejects its row.
	MaxCell int
	// Ignore names columns (CSV) or keys (JSONL) to skip entirely, for
	// files that carry more than the programme declares.
	Ignore []string
}

const defaultMaxCell = 64 << 10

func (o Options) maxCell() int {
	if o.MaxCell <= 0 {
		return defaultMaxCell
	}
	return o.MaxCell
}

// ignored reports whether a column or key, lower-cased, is skipped. The
// columns a reject file adds are always skipped, so that a fixed reject
// file imports directly.
func (o Options) ignored(name string) bool {
	if name == ColumnLine || name == ColumnError {
		return true
	}
	for _, n := range o.Ignore {
		if strings.EqualFold(strings.TrimSpace(n), name) {
			return true
		}
	}
	return false
}

// The columns a CSV reject file adds in front of each row. Readers skip
// columns of these names.
const (
	ColumnLine  = "nurture_line"
	ColumnError = "nurture_error"
)

// Reject is a row that was not imported, and why.
type Reject struct {
	// Line is where the row starts in its file, from 1.
	Line int
	// Email is the row's address as written (trimmed), when it has one.
	Email string
	// Reason is a sentence for a person: the column, what is wrong, what
	// to do.
	Reason string
	// Raw holds a CSV row's cells as read, without a reject file's own
	// columns: aligned with the reader's Header unless the row had the
	// wrong number of cells. It is nil when the row could not be split into
	// cells, and for JSONL.
	Raw []string
	// RawLine is a JSONL row's line as read (without its line break), or
	// the line of a CSV row that could not be split into cells. It is nil
	// when the row was too long to keep.
	RawLine []byte
}

// FileError is a file that cannot be imported at all, found before any row
// is read. Each problem is a sentence for a person.
type FileError struct {
	Name string
	// Line is where the problems are, or 0 for the file as a whole.
	Line     int
	Problems []string
}

func (e *FileError) Error() string {
	pos := e.Name
	if pos == "" {
		pos = "input"
	}
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", pos, e.Line)
	}
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(pos)
		b.WriteString(": ")
		b.WriteString(p)
	}
	return b.String()
}

func fileError(name string, line int, problems ...string) *FileError {
	return &FileError{Name: name, Line: line, Problems: problems}
}
