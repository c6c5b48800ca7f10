package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// source yields the rows of a file as fields. A row that cannot be read
// comes back as a Reject and reading goes on; err is io.EOF at the end or
// a failure of the underlying reader.
type source interface {
	next() (line int, fields []field, rej *Reject, err error)
	// raw returns copies of the last row as read, for a Reject.
	raw() (cells []string, line []byte)
	// header is a CSV file's header as written, without the reject-file
	// columns; nil for JSONL.
	header() []string
	bytesRead() int64
	// word names a column in messages: "column" for CSV, "key" for JSONL.
	word() string
}

// errRowTooLong stops encoding/csv when one record grows past what any
// valid row could be, so that an unclosed quote cannot pull the rest of a
// large file into memory.
var errRowTooLong = errors.New("row too long")

// recorder sits between the file and encoding/csv and keeps the bytes of
// the current record, so that after a quote that never closes the lines it
// swallowed can be handed to a new csv.Reader and read again as rows.
//
// encoding/csv resumes on its own after an error within one line, but an
// opening quote without its closing quote reads on across line breaks
// until the next quote mark, and every row in between is lost inside the
// failed record. The recorder replays those lines.
type recorder struct {
	src    io.Reader
	buf    []byte
	rd     int // next byte of buf to hand out; buf[rd:] is replayed before src is read
	origin int // index in buf of the current csv.Reader's offset 0
	start  int // index in buf where the current record begins
	lines  int // line breaks the current csv.Reader read before start
	limit  int // the most bytes one record may take
}

func (r *recorder) Read(p []byte) (int, error) {
	if r.rd < len(r.buf) {
		n := copy(p, r.buf[r.rd:])
		r.rd += n
		return n, nil
	}
	if len(r.buf)-r.start > r.limit {
		return 0, errRowTooLong
	}
	if r.start > 0 && r.start >= len(r.buf)/2 {
		// Drop what earlier records used; copying only when more than half
		// is stale keeps this linear in the file's size.
		n := copy(r.buf, r.buf[r.start:])
		r.buf = r.buf[:n]
		r.origin -= r.start
		r.rd -= r.start
		r.start = 0
	}
	n, err := r.src.Read(p)
	r.buf = append(r.buf, p[:n]...)
	r.rd = len(r.buf)
	return n, err
}

// mark records that the next record starts at csv offset off.
func (r *recorder) mark(off int64) {
	k := r.origin + int(off)
	r.lines += bytes.Count(r.buf[r.start:k], []byte{'\n'})
	r.start = k
}

// recordStart finds where the current record begins, past the blank lines
// encoding/csv skips, and the line it is on as the csv.Reader counts.
func (r *recorder) recordStart() (pos, line int) {
	pos, line = r.start, r.lines+1
	for {
		switch {
		case bytes.HasPrefix(r.buf[pos:], []byte("\n")):
			pos++
		case bytes.HasPrefix(r.buf[pos:], []byte("\r\n")):
			pos += 2
		default:
			return pos, line
		}
		line++
	}
}

// rewind makes buf[pos:] the start of a fresh stream for a new csv.Reader.
func (r *recorder) rewind(pos int) {
	r.rd, r.origin, r.start, r.lines = pos, pos, pos, 0
}

// skipLine drops everything up to and including the next line break,
// reading past what buf holds. It is how a line too long to keep is left.
func (r *recorder) skipLine(from int) error {
	rest := r.buf[from:]
	for {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			n := copy(r.buf, rest[i+1:])
			r.buf = r.buf[:n]
			r.rewind(0)
			return nil
		}
		r.buf = r.buf[:cap(r.buf)]
		n, err := r.src.Read(r.buf)
		rest = r.buf[:n]
		if err == io.EOF && n == 0 {
			r.buf = r.buf[:0]
			r.rewind(0)
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
}

type csvSource struct {
	name    string
	cnt     *counter
	rec     *recorder
	top     *bufio.Reader
	cr      *csv.Reader
	base    int // file line of the current csv.Reader's line 0
	maxCell int

	headerLine int
	cols       []string // lower-cased, trimmed
	written    []string // the header as written, without the reject columns
	skip       []bool   // columns not read: ignored, or a reject file's own
	dropRaw    []bool   // columns left out of Reject.Raw: the reject file's own
	email      int      // index of the email column, or -1

	last    []string // the last record, reused by encoding/csv
	lastRaw []byte   // the last row's line when it could not be split
	fields  []field
}

func newCSVSource(r io.Reader, name string, opt Options) (*csvSource, error) {
	cnt, br, err := open(r, name, CSV)
	if err != nil {
		return nil, err
	}
	s := &csvSource{name: name, cnt: cnt, maxCell: opt.maxCell(), email: -1}
	s.rec = &recorder{src: br, limit: 1 << 20}
	s.top = bufio.NewReader(s.rec)
	s.newReader(0)

	head, err := s.cr.Read()
	switch {
	case err == io.EOF:
		return nil, fileError(name, 0, "the file is empty; want a header row naming the columns")
	case errors.Is(err, errRowTooLong):
		return nil, fileError(name, 1, "the header row is longer than 1 MiB; is this a CSV file?")
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fileError(name, pe.StartLine, "cannot read the header row: "+pe.Err.Error())
		}
		return nil, err
	}
	s.headerLine, _ = s.cr.FieldPos(0)
	if err := s.readHeader(head, opt); err != nil {
		return nil, err
	}
	// No valid row is longer than every cell at its limit, doubled by
	// quoting, plus a read-ahead; past that a record is an unclosed quote
	// or an oversized cell.
	s.rec.limit = len(s.cols)*(2*s.maxCell+3) + 64<<10
	return s, nil
}

func (s *csvSource) newReader(base int) {
	s.top.Reset(s.rec)
	s.cr = csv.NewReader(s.top) // reuses s.top: it is a *bufio.Reader of the default size
	s.cr.FieldsPerRecord = -1   // a wrong count rejects one row, not the file
	s.cr.ReuseRecord = true
	s.base = base
}

func (s *csvSource) readHeader(head []string, opt Options) error {
	var problems []string
	s.cols = make([]string, len(head))
	s.skip = make([]bool, len(head))
	s.dropRaw = make([]bool, len(head))
	for i, h := range head {
		if !utf8.ValidString(h) {
			return fileError(s.name, s.headerLine, "this is not a CSV file in UTF-8: the header row holds bytes that are not UTF-8; save it as UTF-8")
		}
		if strings.ContainsAny(h, "\r\n") {
			problems = append(problems, fmt.Sprintf("column %d: a column name holds a line break", i+1))
		}
		h = strings.TrimSpace(h)
		c := strings.ToLower(h)
		s.cols[i] = c
		switch {
		case c == "":
			problems = append(problems, fmt.Sprintf("column %d has no name; name it or remove it", i+1))
		case slices.Contains(s.cols[:i], c):
			problems = append(problems, fmt.Sprintf("column %s appears twice (columns %d and %d); keep one", c, slices.Index(s.cols, c)+1, i+1))
		}
		s.skip[i] = opt.ignored(c)
		s.dropRaw[i] = c == ColumnLine || c == ColumnError
		if !s.dropRaw[i] {
			s.written = append(s.written, h)
		}
		if c == "email" {
			s.email = i
		}
	}
	if len(head) == 1 {
		for _, sep := range []string{";", "\t", "|"} {
			if strings.Contains(head[0], sep) {
				problems = append(problems, fmt.Sprintf("the header has one column, %q: the file seems to separate cells with %q; save it with commas", clip(head[0]), sep))
				break
			}
		}
	}
	if len(problems) > 0 {
		return fileError(s.name, s.headerLine, problems...)
	}
	return nil
}

// has reports a column that is read: present and not ignored.
func (s *csvSource) has(name string) bool {
	i := slices.Index(s.cols, name)
	return i >= 0 && !s.skip[i]
}

func (s *csvSource) header() []string { return s.written }
func (s *csvSource) bytesRead() int64 { return s.cnt.n }
func (s *csvSource) word() string     { return "column" }

func (s *csvSource) raw() ([]string, []byte) {
	if s.lastRaw != nil {
		return nil, slices.Clone(s.lastRaw)
	}
	cells := make([]string, 0, len(s.last))
	for i, c := range s.last {
		if i >= len(s.dropRaw) || !s.dropRaw[i] {
			cells = append(cells, c)
		}
	}
	return cells, nil
}

func (s *csvSource) reject(line int, reason string) *Reject {
	cells, rawLine := s.raw()
	rej := &Reject{Line: line, Reason: reason, Raw: cells, RawLine: rawLine}
	if s.lastRaw == nil && s.email >= 0 && s.email < len(s.last) {
		rej.Email = strings.TrimSpace(s.last[s.email])
	}
	return rej
}

func (s *csvSource) next() (int, []field, *Reject, error) {
	for {
		s.lastRaw = nil
		s.rec.mark(s.cr.InputOffset())
		rec, err := s.cr.Read()
		s.last = rec
		if err != nil {
			var pe *csv.ParseError
			switch {
			case err == io.EOF:
				return 0, nil, nil, io.EOF
			case errors.As(err, &pe):
				line, rej, err := s.parseError(rec, pe)
				return line, nil, rej, err
			case errors.Is(err, errRowTooLong):
				line, rej, err := s.tooLong()
				return line, nil, rej, err
			}
			return 0, nil, nil, err
		}
		if blank(rec) {
			continue // a row of empty cells, as spreadsheets leave at the end, says nothing
		}
		l, _ := s.cr.FieldPos(0)
		line := s.base + l
		if len(rec) != len(s.cols) {
			return line, nil, s.reject(line, s.countReason(len(rec))), nil
		}
		s.fields = s.fields[:0]
		for i, text := range rec {
			if s.skip[i] {
				continue
			}
			if reason := checkText(text, s.maxCell); reason != "" {
				if strings.Contains(text, "\n") {
					from, _ := s.cr.FieldPos(i)
					reason += fmt.Sprintf(" (the quoted cell runs from line %d to line %d; close its quote if it was left open)",
						s.base+from, s.base+from+strings.Count(text, "\n"))
				}
				return line, nil, s.reject(line, fmt.Sprintf("column %s: %s", s.cols[i], reason)), nil
			}
			s.fields = append(s.fields, field{name: s.cols[i], idx: i, c: cell{text: text}})
		}
		return line, s.fields, nil, nil
	}
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func (s *csvSource) countReason(n int) string {
	if n > len(s.cols) {
		return fmt.Sprintf("the row has %d cells but the header %d columns; quote cells that hold a comma", n, len(s.cols))
	}
	return fmt.Sprintf("the row has %d cells but the header %d columns", n, len(s.cols))
}

// parseError turns encoding/csv's error into a reject. The partial record
// it returns holds the cells before the one that failed, which names the
// column. When the failed record ran over more lines than its first, the
// lines after the first are read again as rows.
func (s *csvSource) parseError(partial []string, pe *csv.ParseError) (int, *Reject, error) {
	pos, startLine := s.rec.recordStart()
	first := s.rec.buf[pos:]
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	s.lastRaw = bytes.TrimSuffix(first, []byte("\r"))
	line := s.base + pe.StartLine
	col := "the row"
	if n := len(partial); n < len(s.cols) {
		col = "column " + s.cols[n]
	}
	multi := pe.Line > pe.StartLine
	var reason string
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		reason = fmt.Sprintf("%s: a quote mark inside a cell that does not start with one (line %d, byte %d); put the whole cell in quotes and double the quote marks inside it", col, s.base+pe.Line, pe.Column)
	case !s.quoteAt(pos, pe.Line-pe.StartLine, pe.Column) && !multi:
		reason = fmt.Sprintf("%s: the file ends inside the quoted cell that opens on this line; close the quote (is the file cut short?)", col)
	case !multi:
		reason = fmt.Sprintf("%s: text after the closing quote of a quoted cell (line %d, byte %d); double each quote mark inside a quoted cell", col, s.base+pe.Line, pe.Column)
	default:
		reason = fmt.Sprintf("%s: the quote that opens this cell is not closed on line %d; close it there (lines %d to %d, which it ran over, are read again as rows)",
			col, line, line+1, s.base+pe.Line)
	}
	rej := &Reject{Line: line, Reason: reason, RawLine: slices.Clone(s.lastRaw)}
	if s.email >= 0 && s.email < len(partial) {
		rej.Email = strings.TrimSpace(partial[s.email])
	}
	if multi {
		s.resync(pos, startLine)
	}
	return line, rej, nil
}

// quoteAt reports whether byte col (from 1) of the line that is lines
// after the record's first holds a quote mark. encoding/csv points there
// when a closing quote is followed by text; at the end of the file it
// points past the line instead.
func (s *csvSource) quoteAt(pos, lines, col int) bool {
	b := s.rec.buf[pos:]
	for ; lines > 0; lines-- {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		b = b[i+1:]
	}
	return col >= 1 && col <= len(b) && b[col-1] == '"'
}

// resync starts a new csv.Reader on the line after the failed record's
// first line.
func (s *csvSource) resync(pos, startLine int) {
	i := bytes.IndexByte(s.rec.buf[pos:], '\n')
	s.rec.rewind(pos + i + 1)
	s.newReader(s.base + startLine)
}

// tooLong rejects a record that outgrew the limit: an oversized cell or a
// quote that never closes. It names the column and leaves the record's
// first line behind.
func (s *csvSource) tooLong() (int, *Reject, error) {
	pos, startLine := s.rec.recordStart()
	line := s.base + startLine
	b := s.rec.buf[pos:]
	col, quoted, lineBreak := s.scanLong(b)
	name := "the row"
	if col < len(s.cols) {
		name = "column " + s.cols[col]
	}
	var reason string
	switch {
	case quoted && lineBreak:
		reason = fmt.Sprintf("%s: the quote that opens this cell is not closed on line %d and runs on for more than %d bytes; close it there (the lines after it are read again as rows)", name, line, s.rec.limit)
	case col < len(s.cols):
		reason = fmt.Sprintf("%s: the cell holds more than the %d bytes a cell may hold", name, s.maxCell)
	default:
		reason = fmt.Sprintf("the row is longer than %d bytes", s.rec.limit)
	}
	rej := &Reject{Line: line, Reason: reason}
	if s.email >= 0 {
		rej.Email = strings.TrimSpace(cellAt(b, s.email))
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		if i <= 2*s.maxCell {
			rej.RawLine = slices.Clone(bytes.TrimSuffix(b[:i], []byte("\r")))
		}
		s.rec.rewind(pos + i + 1)
	} else if err := s.rec.skipLine(len(s.rec.buf)); err != nil {
		return line, nil, err
	}
	s.newReader(line)
	return line, rej, nil
}

// scanLong finds the cell in which a too-long record passed the cell limit,
// the way encoding/csv splits cells, and whether that cell is quoted and
// runs over a line break.
func (s *csvSource) scanLong(b []byte) (col int, quoted, lineBreak bool) {
	cellStart := 0
	for i := 0; i < len(b); i++ {
		if i-cellStart > s.maxCell {
			return col, quoted, lineBreak
		}
		c := b[i]
		switch {
		case quoted && c == '"':
			if i+1 < len(b) && b[i+1] == '"' {
				i++
				continue
			}
			quoted = false
		case quoted && c == '\n':
			lineBreak = true
		case !quoted && c == '"' && i == cellStart:
			quoted = true
		case !quoted && c == ',':
			col++
			cellStart = i + 1
			lineBreak = false
		}
	}
	return col, quoted, lineBreak
}

// cellAt returns the cell at index col of a record's first line, when it
// is short: the address of a row too long to read whole, for the reject.
func cellAt(b []byte, col int) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	r := csv.NewReader(bytes.NewReader(b[:min(len(b), 4096)]))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	rec, _ := r.Read()
	if col < len(rec) && (col < len(rec)-1 || len(b) <= 4096) && len(rec[col]) <= 254 {
		return rec[col]
	}
	return ""
}
