package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// counter counts the bytes read from the caller's reader, for progress.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var bom = []byte("\xEF\xBB\xBF")

// open wraps r for reading, drops a UTF-8 byte-order mark and refuses
// what is plainly not a text file of format f, naming what it looks like
// so the person knows what to export instead.
func open(r io.Reader, name string, f Format) (*counter, *bufio.Reader, error) {
	cnt := &counter{r: r}
	br := bufio.NewReaderSize(cnt, 64<<10)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, nil, err
	}
	if bytes.HasPrefix(head, bom) {
		br.Discard(len(bom))
		head = head[len(bom):]
	}
	if problem := notTextFile(head, f); problem != "" {
		return nil, nil, fileError(name, 0, problem)
	}
	return cnt, br, nil
}

func notTextFile(head []byte, f Format) string {
	what := "a CSV file"
	if f == JSONL {
		what = "a JSON Lines file"
	}
	switch {
	case len(bytes.TrimSpace(head)) == 0:
		if f == JSONL {
			return "the file is empty"
		}
		return "the file is empty; want a header row naming the columns"
	case bytes.HasPrefix(head, []byte("\xFF\xFE")), bytes.HasPrefix(head, []byte("\xFE\xFF")):
		return fmt.Sprintf("this is not %s in UTF-8 but UTF-16 text; save it as UTF-8 (in Excel: CSV UTF-8)", what)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return fmt.Sprintf("this is not %s but a ZIP archive or an Excel workbook; export it as CSV UTF-8", what)
	case bytes.HasPrefix(head, []byte("\x89PNG")):
		return fmt.Sprintf("this is not %s but a PNG image", what)
	case bytes.HasPrefix(head, []byte("\x1F\x8B")):
		return fmt.Sprintf("this is not %s but gzip-compressed data; decompress it first", what)
	case bytes.HasPrefix(head, []byte("%PDF")):
		return fmt.Sprintf("this is not %s but a PDF document", what)
	}
	// The header (or first line) must be text, and so must most of the
	// start. Later lines are judged one by one, so that a stray NUL or a
	// bad byte in one row rejects that row, not the file.
	first := head
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	} else if len(head) == 512 {
		first = trimPartialRune(first)
	}
	if i := bytes.IndexByte(first, 0); i >= 0 || binary(head) {
		if i < 0 {
			i = bytes.IndexByte(head, 0)
		}
		if i >= 0 {
			return fmt.Sprintf("this is not %s: it holds binary data (a NUL byte at byte %d)", what, i+1)
		}
		return fmt.Sprintf("this is not %s: it holds binary data", what)
	}
	if !utf8.Valid(first) {
		return fmt.Sprintf("this is not %s in UTF-8: the first line holds bytes that are not UTF-8; save it as UTF-8", what)
	}
	t := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case f == CSV && (t[0] == '[' || t[0] == '{'):
		return "this looks like JSON, not CSV; for one JSON object per line name the file .jsonl or pass --format jsonl"
	case f == JSONL && t[0] == '[':
		return "this is a JSON array, not JSON Lines; write one JSON object per line"
	case f == JSONL && t[0] != '{':
		return "this is not a JSON Lines file: each line must be a JSON object, starting with {"
	}
	return ""
}

// binary reports a start of a file in which more than one byte in ten is
// a control character no text file holds.
func binary(head []byte) bool {
	n := 0
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' || c == 0x7F {
			n++
		}
	}
	return n*10 > len(head)
}

// trimPartialRune drops a rune cut in two at the end of a peeked buffer.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return b
}
