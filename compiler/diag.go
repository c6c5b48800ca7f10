package compiler

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Severity says whether a diagnostic stops a programme from building.
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText writes "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a place in a source file. Line and Col count from 1; zero means
// the whole file, or no file at all.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// Rel returns the position with File relative to dir when it lies below it.
func (p Pos) Rel(dir string) Pos {
	if p.File == "" || dir == "" || !filepath.IsAbs(p.File) {
		return p
	}
	if r, err := filepath.Rel(dir, p.File); err == nil && !strings.HasPrefix(r, "..") {
		p.File = r
	}
	return p
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Diagnostic is everything the compiler reports: where, how bad, a stable
// code documented in docs/diagnostics.md, a one-line summary, and a detail
// that says what to do.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
}

func (d Diagnostic) String() string {
	s := fmt.Sprintf("%s %s: %s", d.Severity, d.Code, d.Summary)
	if p := d.Pos.String(); p != "" {
		s = p + ": " + s
	}
	return s
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == Error })
}

// Count returns the number of errors and warnings.
func (ds Diagnostics) Count() (errs, warns int) {
	for _, d := range ds {
		if d.Severity == Error {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

// Err returns the diagnostics as an error if any is an error, else nil.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return ds
}

func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// Sort orders diagnostics by file, line, column and code, and drops
// duplicates.
func (ds Diagnostics) Sort() Diagnostics {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Code, b.Code),
			cmp.Compare(a.Summary, b.Summary),
		)
	})
	return slices.Compact(ds)
}
