package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
	"github.com/nurture-dev/nurture/runtime/track"
)

// browser finds a Chromium or Chrome to drive. Without one the test
// skips, unless NURTURE_REQUIRE_BROWSER=1 (as CI sets it, having
// installed Debian's chromium), when it fails.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no chromium, chromium-browser or google-chrome on PATH to load the report page in (apt-get install chromium)"
	if os.Getenv("NURTURE_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; NURTURE_REQUIRE_BROWSER=1 wants the browser test run")
	}
	t.Skip(msg)
	return ""
}

// benchReportStore is a SQLite store the benchmark's generator filled
// with 4,000 sends over two sequences with A/B steps, one with a
// holdout, with the suite's programme applied.
func benchReportStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "nurture.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seedReportBench(t, st, 4000)
	// Converting is a goal: the page has welcome's holdout to draw.
	prog := storetest.Program()
	prog.Goals = &campaigns.Goals{Exits: []string{"converted"}}
	p, _ := json.Marshal(prog)
	if _, err := st.Apply(context.Background(), runtime.Version{Hash: "page", AppliedBy: "test", Program: p}, campaigns.PlanBase{}, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

// pageCheck is what the page tells the browser test about itself.
type pageCheck struct {
	Title       string
	ScrollWidth int
	ViewWidth   int
	// Charts counts the SVGs by section; Blank lists those with no
	// drawn mark of a size.
	Charts map[string]int
	Blank  []string
	// Wide lists elements whose right edge is past the viewport.
	Wide []string
}

const pageScript = `(() => {
  const out = {Title: document.title, ScrollWidth: document.documentElement.scrollWidth, ViewWidth: window.innerWidth, Charts: {}, Blank: [], Wide: []};
  document.querySelectorAll('svg').forEach((svg, i) => {
    const where = svg.closest('section')?.id || 'page';
    const key = where.startsWith('seq-') ? 'sequence' : where;
    out.Charts[key] = (out.Charts[key] || 0) + 1;
    const marks = [...svg.querySelectorAll('rect.bar, rect.interval, circle.rate, polyline.line')].filter(m => {
      const b = m.getBBox(); return b.width > 0 && b.height > 0;
    });
    if (marks.length === 0) out.Blank.push(where + ' chart ' + i);
  });
  document.querySelectorAll('body *').forEach(el => {
    const r = el.getBoundingClientRect();
    if (r.right > window.innerWidth + 0.5 && !el.closest('svg')) out.Wide.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' to ' + Math.round(r.right));
  });
  return out;
})()`

// The report page, served by nurture serve behind the API token, loads
// in a real headless browser without a console error, draws every chart
// and fits a phone's width and a desktop's without scrolling sideways.
// NURTURE_SCREENSHOTS=DIR saves a screenshot at each width there.
func TestReportPageInBrowser(t *testing.T) {
	t.Parallel()
	bin := browser(t)
	st := benchReportStore(t)
	srv := &track.Server{Store: st, APIToken: "page-token", Report: reportPage(st, func() time.Time { return benchNow })}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	url := hs.URL + "/v1/report?since=2026-10-24&until=2026-11-23"

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the page without the token: %s, want 401", resp.Status)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer page-token"}}); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	// Every console message, exception and browser log entry of the
	// page above debug and info, read until the test is done with it.
	var mu sync.Mutex
	var problems []string
	cctx, stopConsole := context.WithCancel(ctx)
	read := make(chan struct{})
	messages := chromedp.Console(cctx)
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	shots := os.Getenv("NURTURE_SCREENSHOTS")
	for _, width := range []int64{375, 1280} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			if err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(url),
				chromedp.WaitVisible("#experiments"),
				chromedp.WaitVisible("#holdouts"),
			); err != nil {
				t.Fatal(err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[pageCheck](pageScript))
			if err != nil {
				t.Fatal(err)
			}
			if got.Title != "nurture report" {
				t.Errorf("title %q: the page did not load", got.Title)
			}
			if want := map[string]int{"funnel": 1, "sequence": 2, "experiments": 2, "holdouts": 1}; fmt.Sprint(got.Charts) != fmt.Sprint(want) {
				t.Errorf("charts by section %v, want %v", got.Charts, want)
			}
			if len(got.Blank) > 0 {
				t.Errorf("charts with nothing drawn: %v", got.Blank)
			}
			if got.ScrollWidth > got.ViewWidth || len(got.Wide) > 0 {
				t.Errorf("the page is %dpx wide in a %dpx viewport; past its edge: %v", got.ScrollWidth, got.ViewWidth, got.Wide)
			}
			if shots != "" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("report-%d.png", width)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	stopConsole()
	<-read
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(problems, "\n"))
	}
}
