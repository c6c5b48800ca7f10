package cli

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/storetest"
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
