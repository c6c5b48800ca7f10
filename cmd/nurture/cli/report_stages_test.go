package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/storetest"
	"github.com/nurture-dev/nurture/runtime/track"
)

// stagesFixture is the conformance suite's stage fixture with a subject
// test beside it: welcome's intro went out to p, q, r and s with line a
// or b of its email, and p and q clicked line b's.
func stagesFixture(t *testing.T, o storetest.Opener, s runtime.Store, p *campaigns.Program) {
	storetest.StageFixture(t, o, s, p)
	ids := map[string]int64{}
	_ = s.Contacts(context.Background(), func(c runtime.Contact) error { ids[c.Email[:1]] = c.ID; return nil })
	sent := storetest.Now.Add(-3 * 24 * time.Hour)
	var events []runtime.Event
	for who, line := range map[string]string{"p": "b", "q": "b", "r": "a", "s": "a"} {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at, sent_at, subject_variant) VALUES (?, ?, 'welcome', 'intro', 1, 'emails/intro.md', ?, ?, ?, ?)`,
			who+"/welcome/intro/1", ids[who], runtime.SendAccepted, sent, sent, line)
		if line == "b" {
			events = append(events, runtime.Event{ID: "click-" + who, Email: who + "@x.example", Name: campaigns.EventClicked, At: sent.Add(time.Hour),
				Props: map[string]any{"sequence": "welcome", "step": "intro", "email": "emails/intro.md", "url": "https://x.example/"}})
		}
	}
	if _, err := s.RecordEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

// The report shows how long contacts took to reach each stage, and
// judges the subject lines, in every format; the figures are the ones
// the conformance suite checks by hand.
func TestReportStageTimesAndSubjects(t *testing.T) {
	store := "--store=sqlite:" + fixtureStore(t, stagesFixture, func(p *campaigns.Program) {
		p.Emails = map[string]*campaigns.Email{"emails/intro.md": {Kind: campaigns.KindMarketing, Subjects: []campaigns.SubjectVariant{
			{Name: "a", Subject: campaigns.Template{{Text: "Getting started"}}, Weight: 50},
			{Name: "b", Subject: campaigns.Template{{Text: "Your first week, "}, {Field: "first_name", Default: ptrTo("there")}}, Weight: 50},
		}}}
	})
	week := []string{"--since", "7d", "--until", storetest.Now.Format(time.RFC3339)}
	for _, c := range []struct{ format, file string }{{"text", "stages.txt"}, {"markdown", "stages.md"}} {
		t.Run(c.format, func(t *testing.T) {
			out, errOut, code := run(t, append([]string{"report", store, "--format", c.format}, week...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, c.file, out)
		})
	}
	out, errOut, code := run(t, append([]string{"report", store, "--format", "json"}, week...)...)
	if code != 0 {
		t.Fatal(errOut)
	}
	var r struct {
		Since     time.Time `json:"stage_times_since"`
		Programme struct {
			StageTimes []struct {
				Stage     string
				FromEntry struct {
					Contacts int
					Median   float64 `json:"median_days"`
					P75      float64 `json:"p75_days"`
				} `json:"from_entry"`
			} `json:"stage_times"`
		}
		SubjectTests []struct {
			Email string
			Arms  []struct {
				Variant, Subject string
				Rate             struct{ Count, Of int }
			}
		} `json:"subject_tests"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if want := storetest.Now.Add(-40 * 24 * time.Hour); !r.Since.Equal(want) {
		t.Errorf("stage times since %v, want %v", r.Since, want)
	}
	if st := r.Programme.StageTimes; len(st) != 4 || st[2].Stage != "sql" || st[2].FromEntry.Contacts != 3 || st[2].FromEntry.Median != 3 || st[2].FromEntry.P75 != 3.5 {
		t.Errorf("the programme's stage times: %+v; want sql from entry 3 contacts, median 3 days, p75 3.5", st)
	}
	if st := r.SubjectTests; len(st) != 1 || len(st[0].Arms) != 2 || st[0].Arms[1].Subject != `Your first week, {{ first_name | default "there" }}` ||
		st[0].Arms[1].Rate.Count != 2 || st[0].Arms[1].Rate.Of != 2 || st[0].Arms[0].Rate.Count != 0 {
		t.Errorf("subject tests: %+v; want line b 2 clicks of 2, line a none of 2", st)
	}
}

func ptrTo[T any](v T) *T { return &v }

// The page of a report with stage times and a subject-line test loads
// in a real headless browser without a console error, draws the subject
// test's chart, and fits a phone's width and a desktop's with the stage
// table in the funnel panel.
func TestReportStagesPageInBrowser(t *testing.T) {
	t.Parallel()
	bin := browser(t)
	path := fixtureStore(t, stagesFixture, func(p *campaigns.Program) {
		p.Emails = map[string]*campaigns.Email{"emails/intro.md": {Kind: campaigns.KindMarketing, Subjects: []campaigns.SubjectVariant{
			{Name: "a", Subject: campaigns.Template{{Text: "Getting started"}}, Weight: 50},
			{Name: "b", Subject: campaigns.Template{{Text: "Your first week with a rather long subject line, "}, {Field: "first_name", Default: ptrTo("there")}}, Weight: 50},
		}}}
	})
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := &track.Server{Store: st, APIToken: "page-token", Report: reportPage(st, func() time.Time { return storetest.Now })}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	url := hs.URL + "/v1/report?since=7d&until=" + storetest.Now.Format(time.RFC3339)
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer page-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<section id="subject-tests">`) || !strings.Contains(string(page), `<table class="stages">`) {
		t.Fatalf("the page: %s\n%s", resp.Status, page)
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
	for _, width := range []int64{375, 1280} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			if err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(url),
			); err != nil {
				t.Fatal(err)
			}
			// The stage table's rows are laid out: they have a size.
			rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("#funnel table.stages tbody tr")].filter(r => r.getBoundingClientRect().height > 0).length`))
			if err != nil || rows != 4 {
				t.Errorf("the funnel panel lays out %d rows of stage times (%v), want 4", rows, err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[pageCheck](pageScript))
			if err != nil {
				t.Fatal(err)
			}
			if got.Charts["subject-tests"] != 1 || got.Charts["funnel"] != 1 {
				t.Errorf("charts by section %v, want one in subject-tests and one in funnel", got.Charts)
			}
			// (The nurture sequence sent nothing: its week chart is empty.)
			for _, b := range got.Blank {
				if strings.HasPrefix(b, "subject-tests") || strings.HasPrefix(b, "funnel") {
					t.Errorf("chart with nothing drawn: %s", b)
				}
			}
			if got.ScrollWidth > got.ViewWidth || len(got.Wide) > 0 {
				t.Errorf("the page is %dpx wide in a %dpx viewport; past its edge: %v", got.ScrollWidth, got.ViewWidth, got.Wide)
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
