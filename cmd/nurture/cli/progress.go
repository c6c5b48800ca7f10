package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/nurture-dev/nurture/runtime/importer"
)

// progress draws how far an import has got on one terminal line: the
// rows done, their rate in rows per second, and, for a file whose size is
// known, a bar, the share read and the time left.
//
// The numbers are what the import has stored, never what it has merely
// read: the rate is rows done over the time taken, so it reads "–" until
// the first batch is stored instead of a burst of buffered bytes, and the
// time left is the time taken so far scaled by the share still unread.
// The line is redrawn on a ticker as well as after each batch, so the
// elapsed time and the time left keep moving while a batch is stored.
type progress struct {
	w     io.Writer
	now   func() time.Time
	what  string
	size  int64 // bytes; -1 when unknown
	start time.Time

	mu    sync.Mutex
	done  importer.Progress
	drawn bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

// progressEvery is how often the line is redrawn between batches.
const progressEvery = 250 * time.Millisecond

// newProgress is a progress line on w when w is a terminal, nil otherwise:
// logs and CI get the summary alone.
func newProgress(w io.Writer, size int64, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	p := newProgressAt(w, time.Now, size, what)
	p.draw()
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.draw()
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// newProgressAt is a progress line on w with the clock now and no ticker:
// the caller draws.
func newProgressAt(w io.Writer, now func() time.Time, size int64, what string) *progress {
	return &progress{w: w, now: now, what: what, size: size, start: now()}
}

// set records how far the import has got and redraws.
func (p *progress) set(done importer.Progress) {
	p.mu.Lock()
	p.done = done
	p.mu.Unlock()
	p.draw()
}

// draw writes the line for the clock's time over the previous one.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r"+p.line(p.now())+"\x1b[K")
	p.drawn = true
}

// finish stops the ticker and clears the line, so the summary that
// follows stands alone.
func (p *progress) finish() {
	if p.stop != nil {
		close(p.stop)
		p.wg.Wait()
		p.stop = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// line is the progress as of now, e.g.
//
//	importing events.jsonl [=========>          ]  48%  12,000 rows  4,000 rows/s  3s left
func (p *progress) line(now time.Time) string {
	const width = 20
	elapsed := now.Sub(p.start)
	var b strings.Builder
	b.WriteString(p.what)
	share := -1.0
	if p.size > 0 {
		share = min(float64(p.done.Bytes)/float64(p.size), 1)
		fill := int(share * width)
		bar := strings.Repeat("=", fill)
		if fill < width {
			bar += ">" + strings.Repeat(" ", width-fill-1)
		}
		fmt.Fprintf(&b, " [%s] %3d%%", bar, int(share*100))
	}
	fmt.Fprintf(&b, "  %s", count(p.done.Rows, "row"))
	if p.done.Rows == 0 || elapsed <= 0 {
		b.WriteString("  – rows/s")
		return b.String()
	}
	rate := float64(p.done.Rows) / elapsed.Seconds()
	fmt.Fprintf(&b, "  %s rows/s", thousands(int(rate+0.5)))
	if share > 0 && share < 1 {
		left := time.Duration(float64(elapsed) * (1 - share) / share)
		fmt.Fprintf(&b, "  %s left", roughDuration(left))
	}
	return b.String()
}

// roughDuration is d to the second, the way a person reads a countdown:
// "45s", "3m05s", "1h02m".
func roughDuration(d time.Duration) string {
	s := int((d + time.Second/2) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}
