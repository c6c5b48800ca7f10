package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

type jsonlSource struct {
	name    string
	cnt     *counter
	br      *bufio.Reader
	opt     Options
	maxCell int
	maxLine int

	line    int
	buf     []byte // the current line, reused
	lastRaw []byte // the current row's JSON as read
	fields  []field

	// first is the first row, read by the constructor so the reader can
	// check its keys the way a CSV header is checked.
	first *jsonlRow
}

type jsonlRow struct {
	line   int
	fields []field
	rej    *Reject
	err    error
}

func newJSONLSource(r io.Reader, name string, opt Options) (*jsonlSource, error) {
	cnt, br, err := open(r, name, JSONL)
	if err != nil {
		return nil, err
	}
	s := &jsonlSource{name: name, cnt: cnt, br: br, opt: opt, maxCell: opt.maxCell()}
	// A line may hold several cells at their limit, but not without bound:
	// one line is read into memory at once.
	s.maxLine = max(1<<20, 4*s.maxCell)
	line, fields, rej, err := s.read()
	if rej != nil && bytes.Equal(bytes.TrimSpace(rej.RawLine), []byte("{")) {
		return nil, fileError(name, line, "this is not JSON Lines but JSON spread over several lines; write one JSON object per line")
	}
	s.first = &jsonlRow{line: line, fields: slices.Clone(fields), rej: rej, err: err}
	return s, nil
}

func (s *jsonlSource) header() []string { return nil }
func (s *jsonlSource) bytesRead() int64 { return s.cnt.n }
func (s *jsonlSource) word() string     { return "key" }

func (s *jsonlSource) raw() ([]string, []byte) { return nil, slices.Clone(s.lastRaw) }

// firstFields are the keys of the first row, or nil when it is not an
// object.
func (s *jsonlSource) firstFields() (int, []field) {
	if s.first == nil || s.first.rej != nil || s.first.err != nil {
		return 0, nil
	}
	return s.first.line, s.first.fields
}

func (s *jsonlSource) next() (int, []field, *Reject, error) {
	if f := s.first; f != nil {
		s.first = nil
		return f.line, f.fields, f.rej, f.err
	}
	return s.read()
}

func (s *jsonlSource) read() (int, []field, *Reject, error) {
	for {
		text, long, err := s.readLine()
		if err != nil && err != io.EOF {
			return 0, nil, nil, err
		}
		if err == io.EOF && len(text) == 0 && !long {
			return 0, nil, nil, io.EOF
		}
		s.line++
		s.lastRaw = text
		if long {
			s.lastRaw = nil
			reason, email := s.longReason(text)
			return s.line, nil, &Reject{Line: s.line, Email: email, Reason: reason}, nil
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		if !utf8.Valid(text) {
			return s.line, nil, s.reject("the line is not valid UTF-8; save the file as UTF-8", nil), nil
		}
		fields, reason := s.parse(text, s.fields[:0])
		s.fields = fields
		if reason == "" {
			fields, reason = s.unwrap(fields)
		}
		if reason != "" {
			return s.line, nil, s.reject(reason, fields), nil
		}
		return s.line, fields, nil, nil
	}
}

func (s *jsonlSource) reject(reason string, fields []field) *Reject {
	rej := &Reject{Line: s.line, Reason: reason, RawLine: slices.Clone(s.lastRaw)}
	for _, f := range fields {
		if f.name == "email" && f.c.kind == kText {
			rej.Email = strings.TrimSpace(f.c.text)
		}
	}
	return rej
}

// unwrap reads a line of a JSONL reject file, {"line": …, "error": …,
// "record": …}, as the record it holds, so a fixed reject file imports as
// it is. No import row looks like that: every one needs an email key.
func (s *jsonlSource) unwrap(fields []field) ([]field, string) {
	if len(fields) != 3 {
		return fields, ""
	}
	var record cell
	for _, f := range fields {
		switch f.name {
		case "line", "error":
		case "record":
			record = f.c
		default:
			return fields, ""
		}
	}
	var text []byte
	switch {
	case record.kind == kComposite && strings.HasPrefix(record.text, "{"):
		text = []byte(record.text)
	case record.kind == kText:
		text = []byte(record.text)
	default:
		return fields, "a line of a reject file without its record; remove it or put the row back under \"record\""
	}
	s.lastRaw = text
	return s.parse(text, fields[:0])
}

// parse reads one JSON object into fields, in the order of its keys. It
// walks the tokens rather than decoding into a map so that a key given
// twice is an error instead of the last one silently winning.
func (s *jsonlSource) parse(text []byte, fields []field) ([]field, string) {
	return parseObject(text, fields, s.maxCell, s.opt.ignored)
}

// parseObject reads one JSON object's members into fields; ignore, when
// set, names keys to leave out.
func parseObject(text []byte, fields []field, maxCell int, ignore func(string) bool) ([]field, string) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return fields, "the line is not JSON: " + jsonReason(err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fields, "the line is not a JSON object; write one object per line, {\"email\": …}"
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fields, "the line is not JSON: " + jsonReason(err)
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fields, "the line is not JSON: " + jsonReason(err)
		}
		name := strings.ToLower(strings.TrimSpace(key))
		if ignore != nil && ignore(name) {
			continue
		}
		for _, f := range fields {
			if f.name == name {
				return fields, fmt.Sprintf("key %s appears twice; keep one", name)
			}
		}
		c := rawCell(raw)
		if c.kind == kText {
			if reason := checkText(c.text, maxCell); reason != "" {
				return fields, fmt.Sprintf("key %s: %s", name, reason)
			}
		}
		fields = append(fields, field{name: name, idx: -1, c: c})
	}
	if _, err := dec.Token(); err != nil {
		return fields, "the line is not JSON: " + jsonReason(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fields, "the line holds more than one JSON value; write one object per line"
	}
	return fields, ""
}

// rawCell turns a JSON value into a cell, keeping numbers as written so no
// precision is lost before the attribute's type is known.
func rawCell(raw json.RawMessage) cell {
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return cell{text: string(raw[1 : len(raw)-1])}
		}
		var s string
		json.Unmarshal(raw, &s) // valid: the decoder just read it
		return cell{text: s}
	case 'n':
		return cell{kind: kNull, text: "null"}
	case 't', 'f':
		return cell{kind: kBool, text: string(raw)}
	case '{', '[':
		return cell{kind: kComposite, text: string(raw)}
	}
	return cell{kind: kNumber, text: string(raw)}
}

func jsonReason(err error) string {
	// SyntaxError.Offset is not given: after Token it counts from the
	// value being decoded, not from the line, and a wrong position is worse
	// than none.
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF:
		return "the line ends inside the object; is it cut short?"
	}
	return err.Error()
}

// readLine reads one line without its line break, into a reused buffer.
// A line longer than maxLine is read to its end but only its start kept,
// so one huge line cannot exhaust memory.
func (s *jsonlSource) readLine() (text []byte, long bool, err error) {
	s.buf = s.buf[:0]
	for {
		chunk, err := s.br.ReadSlice('\n')
		if !long {
			if len(s.buf)+len(chunk) > s.maxLine {
				long = true
				chunk = chunk[:s.maxLine-len(s.buf)]
			}
			s.buf = append(s.buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if long {
			return s.buf, true, err
		}
		text = bytes.TrimSuffix(s.buf, []byte("\n"))
		text = bytes.TrimSuffix(text, []byte("\r"))
		return text, false, err
	}
}

// longReason names the key whose value made a line too long, from the
// start of the line that was kept, and finds the row's address if it comes
// before.
func (s *jsonlSource) longReason(prefix []byte) (reason, email string) {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err == nil && t == json.Delim('{') {
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				break
			}
			key, _ := t.(string)
			key = strings.ToLower(strings.TrimSpace(key))
			off := dec.InputOffset()
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				if len(prefix)-int(off) > s.maxCell {
					return fmt.Sprintf("key %s: the value holds more than the %d bytes a cell may hold", key, s.maxCell), email
				}
				break
			}
			if c := rawCell(raw); key == "email" && c.kind == kText && len(c.text) <= 254 {
				email = strings.TrimSpace(c.text)
			}
		}
	}
	return fmt.Sprintf("the line is longer than the %d bytes a line may hold", s.maxLine), email
}
