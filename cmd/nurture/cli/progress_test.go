package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/runtime/importer"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// lastLine is the line a terminal shows after w's carriage returns.
func lastLine(w *bytes.Buffer) string {
	s := w.String()
	s = strings.TrimSuffix(s, "\x1b[K")
	return s[strings.LastIndexByte(s, '\r')+1:]
}

func TestProgressLine(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var w bytes.Buffer
	p := newProgressAt(&w, clock.now, 1000, "importing events.jsonl")

	var got []string
	step := func(d time.Duration, done *importer.Progress) {
		clock.advance(d)
		if done != nil {
			p.set(*done)
		} else {
			p.draw()
		}
		got = append(got, lastLine(&w))
	}
	step(0, nil)
	step(time.Second, &importer.Progress{Rows: 10_000, Bytes: 250})
	// A batch is being stored: no new rows, but the line still moves.
	step(time.Second, nil)
	step(time.Second, &importer.Progress{Rows: 30_000, Bytes: 750})
	step(time.Second, &importer.Progress{Rows: 40_000, Bytes: 1000})

	want := []string{
		// Nothing stored yet: no rate rather than one made of buffered bytes.
		"importing events.jsonl [>                   ]   0%  0 rows  – rows/s",
		"importing events.jsonl [=====>              ]  25%  10,000 rows  10,000 rows/s  3s left",
		"importing events.jsonl [=====>              ]  25%  10,000 rows  5,000 rows/s  6s left",
		"importing events.jsonl [===============>    ]  75%  30,000 rows  10,000 rows/s  1s left",
		"importing events.jsonl [====================] 100%  40,000 rows  10,000 rows/s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
	if strings.Contains(w.String(), "B/s") {
		t.Errorf("progress counts bytes per second:\n%q", w.String())
	}

	p.finish()
	if !strings.HasSuffix(w.String(), "\r\x1b[K") {
		t.Errorf("finish leaves the line standing: %q", w.String())
	}
}

func TestProgressUnknownSize(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var w bytes.Buffer
	p := newProgressAt(&w, clock.now, -1, "importing stdin")
	clock.advance(2 * time.Second)
	p.set(importer.Progress{Rows: 3, Bytes: 90})
	if got, want := lastLine(&w), "importing stdin  3 rows  2 rows/s"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	if p := newProgress(&bytes.Buffer{}, 100, "importing x.csv"); p != nil {
		t.Error("a progress line on a buffer")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p := newProgress(f, 100, "importing x.csv"); p != nil {
		t.Error("a progress line on a plain file")
	}
}

func TestRoughDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Millisecond:                "0s",
		45 * time.Second:                      "45s",
		185 * time.Second:                     "3m05s",
		time.Hour + 2*time.Minute:             "1h02m",
		59*time.Second + 600*time.Millisecond: "1m00s",
	} {
		if got := roughDuration(d); got != want {
			t.Errorf("roughDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
