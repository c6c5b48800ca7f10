package cli

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/track"
)

// declaredPrefs is a programme's own preference page: frequencies and
// topics in an order that is neither by name nor by limit, descriptions,
// and two pauses.
const declaredPrefs = `package nurture

sender: company: "Acme Analytics"
sender: unsubscribe: mailto: "unsubscribe@acme.example"
sender: topics: {
	product: {label: "Product news", description: "What we shipped this month, in one email."}
	events: "Webinars and events"
}
sequences: welcome: topic: "product"

preferences: {
	frequencies: [
		{name: "twice_monthly", label: "At most two emails a month", max: 2, per: "30d"},
		{name: "monthly", label: "At most one email a month", max: 1, per: "30d"},
		{name: "quarterly", label: "At most one email a quarter", max: 1, per: "13w"},
	]
	pause: ["30d", "90d"]
}
`

// The preference page offers what the programme declares, in the order
// written: its frequencies, its topics with their descriptions, and its
// pauses. A pause holds the contact's marketing email, recorded as
// preferences.paused, and keeps its other choices; resuming early lets
// the email go at the next tick. On either store.
func TestServePreferencesDeclaredAndPause(t *testing.T) {
	eachStore(t, func(t *testing.T, tr *tracked) {
		ctx := context.Background()
		ann := tr.link("ann@acme.example", track.Preferences)
		resp, body := tr.do("GET", ann, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("preference page: %s\n%s", resp.Status, body)
		}
		inOrder(t, body, `value="twice_monthly"`, `value="monthly"`, `value="quarterly"`,
			`value="product"`, "Product news", "What we shipped this month, in one email.", `value="events"`,
			"Pause all marketing email for 30 days", "Pause all marketing email for 90 days")
		if strings.Contains(body, `value="weekly"`) || strings.Contains(body, `value="biweekly"`) {
			t.Errorf("the page offers the default frequencies beside the declared ones:\n%s", body)
		}
		form := func(v string) string {
			resp, body := tr.do("POST", ann, v, "Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST %s: %s\n%s", v, resp.Status, body)
			}
			return body
		}
		prefs := func() runtime.Preferences {
			c, err := tr.st.Contact(ctx, "ann@acme.example")
			if err != nil {
				t.Fatal(err)
			}
			p, err := tr.st.Preferences(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		// Ann drops events, then pauses for 30 days: the topic stays out.
		form("topic=product")
		body = form("pause=30d")
		until := time.Date(2026, 12, 23, 16, 0, 0, 0, time.UTC)
		if !strings.Contains(body, "Marketing email is paused until 23 December 2026") || !strings.Contains(body, `name="resume"`) || strings.Contains(body, `name="pause"`) {
			t.Errorf("the page after pausing:\n%s", body)
		}
		if p := prefs(); !p.PausedUntil.Equal(until) || len(p.TopicsOut) != 1 || p.TopicsOut[0] != "events" {
			t.Errorf("stored after the pause: %+v; want paused until %s, events out", p, until)
		}
		if n := tr.events("preferences.paused"); n != 1 {
			t.Errorf("%d preferences.paused events, want 1", n)
		}
		if resp, _ := tr.do("POST", ann, "pause=45d", "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a pause the page does not offer: %s, want 400", resp.Status)
		}
		// Saving the form keeps the pause.
		form("frequency=&topic=product")
		if p := prefs(); !p.PausedUntil.Equal(until) {
			t.Errorf("saving the form lost the pause: %+v", p)
		}

		// A week on, Cy gets the guide; Ann's waits for the pause.
		o, e, code := run(t, "tick", "--now", "2026-11-30T15:00:00Z", tr.store)
		if code != 0 || !strings.Contains(o, "emails: 1 planned, 1 held back") {
			t.Errorf("tick a week on: %s%s", o, e)
		}
		o, _, _ = run(t, "explain", "ann@acme.example", "--now", "2026-11-30T15:00:00Z", tr.store)
		if !strings.Contains(o, "paused by the contact until 2026-12-23T16:00:00Z") || !strings.Contains(o, "marketing email paused until 2026-12-23T16:00:00Z") {
			t.Errorf("explain does not say the pause holds the guide:\n%s", o)
		}
		o, _, _ = run(t, "queue", "--now", "2026-11-30T15:00:00Z", tr.store)
		if !strings.Contains(o, "paused") {
			t.Errorf("queue does not show the pause:\n%s", o)
		}

		// Ann resumes early: the guide goes at the next tick.
		tr.srv.Now = func() time.Time { return time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC) }
		body = form("resume=1")
		if !strings.Contains(body, "Resumed.") || !strings.Contains(body, `name="pause"`) {
			t.Errorf("the page after resuming:\n%s", body)
		}
		if p := prefs(); !p.PausedUntil.IsZero() || len(p.TopicsOut) != 1 {
			t.Errorf("stored after resuming: %+v", p)
		}
		if n := tr.events("preferences.resumed"); n != 1 {
			t.Errorf("%d preferences.resumed events, want 1", n)
		}
		o, e, code = run(t, "tick", "--now", "2026-11-30T16:30:00Z", tr.store)
		if code != 0 || !strings.Contains(o, "emails: 1 planned") {
			t.Errorf("tick after resuming: %s%s", o, e)
		}

		// A choice the programme no longer offers holds the contact to
		// the strictest it offers, and the page says so.
		c, _ := tr.st.Contact(ctx, "ann@acme.example")
		if err := tr.st.SetPreferences(ctx, c.ID, runtime.Preferences{Frequency: "weekly"}, time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		_, body = tr.do("GET", ann, "")
		if !strings.Contains(body, "no longer offered") || !regexp.MustCompile(`value="quarterly" checked`).MatchString(body) {
			t.Errorf("the page of a choice no longer offered:\n%s", body)
		}
	}, "topics.cue", declaredPrefs)
}

// inOrder checks that each of want appears in s, each after the one
// before.
func inOrder(t *testing.T, s string, want ...string) {
	t.Helper()
	at := 0
	for _, w := range want {
		i := strings.Index(s[at:], w)
		if i < 0 {
			t.Errorf("%q not found after %q in:\n%s", w, s[:at], s)
			return
		}
		at += i + len(w)
	}
}
