package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

// RejectWriter writes rejected rows to a file a person can fix and import
// again as it is.
//
// For CSV the file has the columns nurture_line and nurture_error first,
// then the original header; each row follows as it was. The two columns
// come first so they line up even for a row with the wrong number of
// cells, and show at the left in a spreadsheet; readers skip them. A row
// that could not be split into cells is written as its original line
// after the two cells.
//
// For JSONL each line is {"line": N, "error": "…", "record": …}: record is
// the original object, or the original line as a string when it was not
// JSON. Readers take such a line as its record.
//
// Cells are written as they were: formula-like cells are not neutralised,
// because the file is the person's own data on its way back in.
type RejectWriter struct {
	w       *bufio.Writer
	f       Format
	header  []string
	started bool
}

// NewRejectWriter writes rejects of format f to w; header is the reader's
// Header (CSV only). Nothing is written before the first reject, so a
// caller can leave an empty reject file uncreated. Call Flush at the end.
func NewRejectWriter(w io.Writer, f Format, header []string) *RejectWriter {
	return &RejectWriter{w: bufio.NewWriter(w), f: f, header: header}
}

// Write adds one reject.
func (rw *RejectWriter) Write(rej *Reject) error {
	if rw.f == JSONL {
		return rw.writeJSON(rej)
	}
	if !rw.started {
		rw.started = true
		rw.writeRow(append([]string{ColumnLine, ColumnError}, rw.header...))
	}
	rw.w.WriteString(strconv.Itoa(rej.Line))
	rw.w.WriteByte(',')
	rw.w.WriteString(quote(rej.Reason))
	switch {
	case rej.Raw != nil:
		for _, c := range rej.Raw {
			rw.w.WriteByte(',')
			rw.w.WriteString(quote(c))
		}
	case rej.RawLine != nil:
		rw.w.WriteByte(',')
		rw.w.Write(rej.RawLine)
	}
	_, err := rw.w.WriteString("\n")
	return err
}

func (rw *RejectWriter) writeRow(cells []string) {
	for i, c := range cells {
		if i > 0 {
			rw.w.WriteByte(',')
		}
		rw.w.WriteString(quote(c))
	}
	rw.w.WriteByte('\n')
}

// quote writes a CSV cell as encoding/csv would read it back unchanged.
func quote(s string) string {
	if s == "" || !strings.ContainsAny(s, "\",\r\n") && s[0] != ' ' && s[0] != '\t' {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func (rw *RejectWriter) writeJSON(rej *Reject) error {
	var record any
	switch {
	case rej.RawLine != nil:
		t := bytes.TrimSpace(rej.RawLine)
		if len(t) > 0 && t[0] == '{' && json.Valid(t) {
			record = json.RawMessage(t)
		} else {
			record = string(rej.RawLine)
		}
	case rej.Raw != nil:
		record = rej.Raw
	}
	enc := json.NewEncoder(rw.w)
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Line   int    `json:"line"`
		Error  string `json:"error"`
		Record any    `json:"record"`
	}{rej.Line, rej.Reason, record})
}

// Flush writes what is buffered.
func (rw *RejectWriter) Flush() error { return rw.w.Flush() }
