package engine_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
)

// The programme of testdata/base.json is the CLI tests' base programme
// (cmd/nurture/cli/testdata/base), compiled; a CLI test keeps the two in
// step. Its welcome sequence sends hello, waits 7 days and sends guide,
// to contacts who signed up in the last 14 days; a demo request ends it
// (converted, handed to sales), and so does 30 days in it. Marketing
// goes out at most once a week, on weekdays, 08:00 to 19:00 New York.
func program(t *testing.T) *campaigns.Program {
	t.Helper()
	b, err := os.ReadFile("testdata/base.json")
	if err != nil {
		t.Fatal(err)
	}
	var p campaigns.Program
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

type world struct {
	t   *testing.T
	st  *sqlstore.Store
	eng *engine.Engine
	ids map[string]int64
	// clock is the store's: the time of the last tick, or before the
	// first.
	clock time.Time
}

// Monday 23 November 2026, 10:00 in New York.
var monday = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nurture.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The store stamps creations and changes with its clock: keep it
	// before the ticks, whatever day the tests run, and then at the last
	// tick, as a store beside a running engine would.
	w := &world{t: t, st: st, ids: map[string]int64{}, clock: monday.AddDate(0, 0, -1)}
	st.Now = func() time.Time { return w.clock }
	p := program(t)
	if err := st.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	w.eng = &engine.Engine{Store: st, Program: p, Version: 1}
	return w
}

func (w *world) contact(email string, signedUp time.Time, kv ...any) {
	w.t.Helper()
	// The programme's lawful basis is consent: the contact opted in as
	// it signed up, unless the test says consent: false.
	r := runtime.ContactRecord{Email: email, Values: map[string]any{"company": "Acme", "industry": "saas", "signup_at": signedUp},
		Consent: &runtime.Consent{Email: email, At: signedUp, Source: "signup_form", Wording: "v1", Who: "test"}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == "consent" {
			r.Consent = nil
			continue
		}
		r.Values[kv[i].(string)] = kv[i+1]
	}
	if _, err := w.st.UpsertContacts(context.Background(), &w.eng.Program.Contact, []runtime.ContactRecord{r}, "test"); err != nil {
		w.t.Fatal(err)
	}
	c, err := w.st.Contact(context.Background(), email)
	if err != nil || c == nil {
		w.t.Fatal(err)
	}
	w.ids[email] = c.ID
}

// tick ticks at a time, as nurture run does: the first tick looks at
// every contact, the next ones at what changed or came due since.
func (w *world) tick(at time.Time) engine.Report {
	w.t.Helper()
	w.clock = at
	r, err := w.eng.Tick(context.Background(), at)
	if err != nil {
		w.t.Fatalf("tick at %s: %v", at, err)
	}
	w.eng.Since = at
	return r
}

// sends lists the ledger as "email step at".
func (w *world) sends(email string) []string {
	w.t.Helper()
	rows, err := w.st.DB().Query(`SELECT step, planned_at FROM sends WHERE contact_id = ? ORDER BY planned_at`, w.ids[email])
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var step string
		var at int64
		if err := rows.Scan(&step, &at); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, step+" "+time.UnixMilli(at).UTC().Format(time.RFC3339))
	}
	return out
}

func (w *world) enrollments(email string) []runtime.Enrollment {
	w.t.Helper()
	es, err := w.st.Enrollments(context.Background(), w.ids[email])
	if err != nil {
		w.t.Fatal(err)
	}
	return es
}

func TestJourney(t *testing.T) {
	w := newWorld(t)
	w.contact("ann@acme.example", monday.AddDate(0, 0, -3))
	w.contact("old@acme.example", monday.AddDate(0, 0, -40)) // not a new signup

	r := w.tick(monday)
	if r.Enrolled["welcome"] != 1 || r.Planned != 1 {
		t.Fatalf("first tick: %+v", r)
	}
	// Nothing is due in between; a week on, the wait is over and the cap
	// (one a week) lets the guide go; then the sequence is complete.
	for d := 1; d < 7; d++ {
		if r := w.tick(monday.AddDate(0, 0, d)); r.Planned != 0 || r.Steps != 0 {
			t.Fatalf("day %d: %+v", d, r)
		}
	}
	r = w.tick(monday.AddDate(0, 0, 7))
	if r.Planned != 1 || r.Exited[engine.ReasonCompleted] != 1 {
		t.Fatalf("day 7: %+v", r)
	}
	want := []string{"hello 2026-11-23T15:00:00Z", "guide 2026-11-30T15:00:00Z"}
	if diff := cmp.Diff(want, w.sends("ann@acme.example")); diff != "" {
		t.Errorf("ann's emails (-want +got):\n%s", diff)
	}
	if got := w.sends("old@acme.example"); len(got) != 0 {
		t.Errorf("old@ got %v", got)
	}
	// Re-entry is never (the default): a later tick does not start ann again.
	if r := w.tick(monday.AddDate(0, 0, 8)); r.Enrolled["welcome"] != 0 {
		t.Errorf("ann entered again: %+v", r)
	}
	// A second tick at the same instant decides nothing twice.
	if r := w.tick(monday.AddDate(0, 0, 8)); r.Steps != 0 || r.Planned != 0 {
		t.Errorf("a repeated tick decided again: %+v", r)
	}
}

func TestQuietHoursDeferTheSend(t *testing.T) {
	w := newWorld(t)
	// Friday 27 November, 20:00 New York: quiet, then the weekend.
	friday := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	w.contact("ann@acme.example", friday.AddDate(0, 0, -1))
	r := w.tick(friday)
	if r.Enrolled["welcome"] != 1 || r.Planned != 0 || r.Deferred != 1 {
		t.Fatalf("tick: %+v", r)
	}
	es := w.enrollments("ann@acme.example")
	monday8 := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC) // 08:00 EST
	if len(es) != 1 || !es[0].NextCheckAt.Equal(monday8) {
		t.Fatalf("enrollment: %+v; want the next check Monday 08:00 New York", es)
	}
	if r := w.tick(monday8.Add(-time.Minute)); r.Planned != 0 {
		t.Errorf("sent before the window opened: %+v", r)
	}
	if r := w.tick(monday8); r.Planned != 1 {
		t.Errorf("not sent when the window opened: %+v", r)
	}
}

// The programme's lawful basis is consent: a contact without a consent
// record enters no marketing sequence, and enters at the next tick once
// an import records its consent, though none of its attributes changed.
func TestConsentRecordedLaterEnrolls(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	signedUp := monday.AddDate(0, 0, -1)
	w.contact("ann@acme.example", signedUp)
	w.contact("bob@acme.example", signedUp, "consent", false)
	if r := w.tick(monday); r.Enrolled["welcome"] != 1 {
		t.Fatalf("first tick: %+v; want ann alone enrolled", r)
	}
	w.clock = monday.Add(time.Hour)
	rec := runtime.ContactRecord{Email: "bob@acme.example", Values: map[string]any{"company": "Acme", "industry": "saas", "signup_at": signedUp},
		Consent: &runtime.Consent{Email: "bob@acme.example", At: monday.Add(time.Hour), Source: "preference_page", Wording: "v1"}}
	if _, err := w.st.UpsertContacts(ctx, &w.eng.Program.Contact, []runtime.ContactRecord{rec}, "test"); err != nil {
		t.Fatal(err)
	}
	r := w.tick(monday.Add(2 * time.Hour))
	if r.Full || r.Enrolled["welcome"] != 1 {
		t.Fatalf("tick after the consent: %+v; want bob enrolled by an incremental tick", r)
	}
	if got := w.sends("bob@acme.example"); len(got) != 1 {
		t.Errorf("bob's sends: %v; want the welcome", got)
	}
}

func TestExitRuleEndsTheJourney(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
	w.tick(monday)
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "d1", Email: "ann@acme.example", Name: "demo_requested", At: monday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	r := w.tick(monday.Add(2 * time.Hour))
	if r.Exited["converted"] != 1 {
		t.Fatalf("tick: %+v", r)
	}
	es := w.enrollments("ann@acme.example")
	if len(es) != 1 || es[0].State != "exited" || es[0].ExitReason != "converted" {
		t.Fatalf("enrollments: %+v", es)
	}
	var handoffs int
	if err := w.st.DB().QueryRow(`SELECT COUNT(*) FROM handoffs WHERE contact_id = ? AND handoff = 'sales' AND reason = 'converted'`, w.ids["ann@acme.example"]).Scan(&handoffs); err != nil || handoffs != 1 {
		t.Errorf("hand-offs: %d, %v; want 1", handoffs, err)
	}
	// No guide a week later.
	w.tick(monday.AddDate(0, 0, 7))
	if got := w.sends("ann@acme.example"); len(got) != 1 {
		t.Errorf("sends after converting: %v", got)
	}
}

func TestSuppressionEndsMarketing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
	w.contact("bob@acme.example", monday.AddDate(0, 0, -1))
	if _, err := w.st.Suppress(ctx, []runtime.Suppression{{Email: "bob@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: monday}}); err != nil {
		t.Fatal(err)
	}
	r := w.tick(monday)
	if r.Enrolled["welcome"] != 1 {
		t.Fatalf("a suppressed contact entered: %+v", r)
	}
	if _, err := w.st.Suppress(ctx, []runtime.Suppression{{Email: "ann@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: monday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	r = w.tick(monday.AddDate(0, 0, 7))
	if r.Exited[engine.ReasonSuppressed] != 1 || r.Planned != 0 {
		t.Fatalf("after unsubscribing: %+v", r)
	}
}

func TestDeliverToFiles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1), "first_name", "Ann")
	w.contact("bob@acme.example", monday.AddDate(0, 0, -1))
	w.tick(monday)
	// bob unsubscribes between the decision and the delivery.
	if _, err := w.st.Suppress(ctx, []runtime.Suppression{{Email: "bob@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: monday}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, err := w.eng.Deliver(ctx, w.st, mail.FileSink{Dir: dir}, "test-worker", monday.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got != (engine.Delivered{Accepted: 1}) {
		t.Fatalf("delivered %+v; want ann's alone", got)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Subject": "Welcome to Acme, Ann", "To": "<ann@acme.example>", "From": `"Acme Analytics" <hello@acme.example>`,
		"Reply-To": "<team@acme.example>", "Precedence": "bulk",
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if id := m.Header.Get("Message-Id"); !strings.HasSuffix(id, "@acme.example>") {
		t.Errorf("Message-Id %q", id)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		body, _ := io.ReadAll(p) // multipart decodes quoted-printable
		parts[strings.Split(p.Header.Get("Content-Type"), ";")[0]] = string(body)
	}
	if !strings.Contains(parts["text/plain"], "Hi Ann,") || !strings.Contains(parts["text/html"], "Hi Ann,</p>") {
		t.Errorf("parts: %q", parts)
	}
	if !strings.Contains(parts["text/html"], `href="https://acme.example/start?utm_campaign=welcome&amp;utm_content=hello&amp;utm_medium=email&amp;utm_source=nurture"`) {
		t.Errorf("the link lacks its UTM parameters:\n%s", parts["text/html"])
	}
	var states []string
	rows, err := w.st.DB().Query(`SELECT c.email || ' ' || s.status FROM sends s JOIN contacts c ON c.id = s.contact_id ORDER BY c.email`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		states = append(states, s)
	}
	if diff := cmp.Diff([]string{"ann@acme.example accepted", "bob@acme.example cancelled"}, states); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
	// Delivering again sends nothing twice.
	if got, err := w.eng.Deliver(ctx, w.st, mail.FileSink{Dir: dir}, "test-worker", monday.Add(2*time.Minute)); err != nil || got != (engine.Delivered{}) {
		t.Errorf("second delivery: %+v, %v", got, err)
	}
}

// An exit on an event counts the events since the contact entered, not
// those before: of the contacts who entered together, asked at once,
// only the one who asked for a demo since leaves.
func TestExitCountsEventsSinceEntering(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, who := range []string{"ann", "bob", "cara"} {
		w.contact(who+"@acme.example", monday.AddDate(0, 0, -1))
	}
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "old", Email: "ann@acme.example", Name: "demo_requested", At: monday.AddDate(0, -2, 0)}}); err != nil {
		t.Fatal(err)
	}
	w.tick(monday)
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "new", Email: "bob@acme.example", Name: "demo_requested", At: monday.Add(30 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if r := w.tick(monday.Add(time.Hour)); r.Exited["converted"] != 1 {
		t.Fatalf("exits after bob's demo request, with ann's of two months ago: %+v; want bob's alone", r)
	}
	if es := w.enrollments("bob@acme.example"); len(es) == 0 || es[0].ExitReason != "converted" {
		t.Errorf("bob's enrollments: %+v; want converted", es)
	}
}

// A tick that stops between its decisions and delivery loses nothing:
// the next delivery sends what was decided, once. A worker that stopped
// after claiming sends and before recording them leaves the one it had
// begun to hand over unknown, never sent again blindly, and the one it
// had not sent again by the next delivery after the lease.
func TestNoDecisionLostNoDuplicate(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
	w.contact("bob@acme.example", monday.AddDate(0, 0, -1))
	w.contact("dee@acme.example", monday.AddDate(0, 0, -1))
	w.tick(monday) // the decisions are written; the process stops here

	// Another process claims all three, sends ann's, begins to hand
	// dee's over and dies before it knows, and before it got to bob's.
	claims, err := w.st.ClaimSends(ctx, "dead-worker", monday.Add(time.Minute), 10, nil)
	if err != nil || len(claims) != 3 {
		t.Fatalf("claims: %v %v", claims, err)
	}
	byEmail := map[string]int64{}
	for _, c := range claims {
		var email string
		if err := w.st.DB().QueryRow(`SELECT email FROM contacts WHERE id = ?`, c.Contact).Scan(&email); err != nil {
			t.Fatal(err)
		}
		byEmail[email] = c.ID
	}
	ann, bob, dee := byEmail["ann@acme.example"], byEmail["bob@acme.example"], byEmail["dee@acme.example"]
	if marked, _, err := w.st.HandOver(ctx, "dead-worker", map[int64]string{ann: "a", dee: "d"}, nil, monday.Add(time.Minute)); err != nil || len(marked) != 2 {
		t.Fatalf("marking ann's and dee's sends as handed over: %v, %v", marked, err)
	}
	if err := w.st.FinishSend(ctx, ann, runtime.SendAccepted, "id", "", monday.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A new process delivers: nothing while the claims may still be
	// under way; after the lease bob's send goes, once, and dee's is
	// unknown, not resent.
	dir := t.TempDir()
	for _, c := range []struct {
		at   time.Time
		want engine.Delivered
	}{{monday.Add(2 * time.Minute), engine.Delivered{}}, {monday.Add(time.Hour), engine.Delivered{Accepted: 1}}, {monday.Add(2 * time.Hour), engine.Delivered{}}} {
		if got, err := w.eng.Deliver(ctx, w.st, mail.FileSink{Dir: dir}, "new-worker", c.at); err != nil || got != c.want {
			t.Fatalf("delivery at %s: %+v, %v; want %+v", c.at, got, err, c.want)
		}
	}
	for _, c := range []struct {
		id                 int64
		status, why, where string
	}{
		{dee, runtime.SendUnknown, "dead-worker", "dee's"},
		{bob, runtime.SendAccepted, "", "bob's"},
	} {
		var status, why string
		var attempts int
		if err := w.st.DB().QueryRow(`SELECT status, COALESCE(error, ''), attempts FROM sends WHERE id = ?`, c.id).Scan(&status, &why, &attempts); err != nil {
			t.Fatal(err)
		}
		if status != c.status || !strings.Contains(why, c.why) {
			t.Errorf("%s send: %s (%s); want %s, naming %q", c.where, status, why, c.status, c.why)
		}
		if c.id == bob && attempts != 1 {
			t.Errorf("bob's send: %d attempts, want 1: the stopped worker's claim counts", attempts)
		}
	}
	// And a crash before any claim: the decisions wait, and go once.
	w.contact("cy@acme.example", monday.AddDate(0, 0, -1))
	w.tick(monday.Add(2 * time.Hour))
	got, err := w.eng.Deliver(ctx, w.st, mail.FileSink{Dir: dir}, "new-worker", monday.Add(3*time.Hour))
	if err != nil || got != (engine.Delivered{Accepted: 1}) {
		t.Errorf("cy's delivery: %+v, %v", got, err)
	}
}

// A converted lead is handed to sales: its stage moves to the hand-off's,
// and the CRM's webhook gets a signed POST, retried until it answers.
func TestHandoffWebhook(t *testing.T) {
	ctx := context.Background()
	t.Setenv("CRM_WEBHOOK_SECRET", "s3cret")
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	failFirst := true
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies, sigs = append(bodies, b), append(sigs, r.Header.Get(engine.SignatureHeader))
		if failFirst {
			failFirst = false
			http.Error(rw, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	w := newWorld(t)
	w.eng.Program.Handoffs["sales"].WebhookURL = srv.URL
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1), "first_name", "Ann")
	w.tick(monday)
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "d1", Email: "ann@acme.example", Name: "demo_requested", At: monday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	w.tick(monday.Add(2 * time.Hour))
	c, _ := w.st.Contact(ctx, "ann@acme.example")
	if c.Values["stage"] != "sql" {
		t.Errorf("stage after the hand-off: %v, want sql", c.Values["stage"])
	}

	at := monday.Add(2 * time.Hour)
	if done, failed, err := w.eng.Handoffs(ctx, w.st, srv.Client(), nil, at); err != nil || done != 0 || failed != 0 {
		t.Fatalf("first attempt: %d done, %d failed, %v; want a retry", done, failed, err)
	}
	// Not yet due again; then, after the backoff, delivered.
	if done, _, _ := w.eng.Handoffs(ctx, w.st, srv.Client(), nil, at.Add(30*time.Second)); done != 0 {
		t.Fatal("retried before the backoff")
	}
	if done, failed, err := w.eng.Handoffs(ctx, w.st, srv.Client(), nil, at.Add(time.Minute)); err != nil || done != 1 || failed != 0 {
		t.Fatalf("second attempt: %d done, %d failed, %v", done, failed, err)
	}
	if len(bodies) != 2 {
		t.Fatalf("%d POSTs, want 2", len(bodies))
	}
	var p engine.HandoffPayload
	if err := json.Unmarshal(bodies[1], &p); err != nil {
		t.Fatal(err)
	}
	if p.Handoff != "sales" || p.Reason != "converted" || p.Sequence != "welcome" || p.Contact["email"] != "ann@acme.example" ||
		p.Contact["first_name"] != "Ann" || p.Attempt != 2 || p.Scores["lead"].Rules["fit.saas"] != 30 {
		t.Errorf("payload: %s", bodies[1])
	}
	if want := engine.Sign([]byte("s3cret"), at.Add(time.Minute), bodies[1]); sigs[1] != want {
		t.Errorf("signature %q, want %q", sigs[1], want)
	}
	var status string
	var attempts int
	if err := w.st.DB().QueryRow(`SELECT status, attempts FROM handoffs`).Scan(&status, &attempts); err != nil || status != "done" || attempts != 2 {
		t.Errorf("hand-off row: %s after %d attempts, %v", status, attempts, err)
	}
}

// Between the hourly full scoring, a tick scores only the contacts that
// changed or got events since the last one.
func TestTickScoresWhatChanged(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, e := range []string{"ann@acme.example", "bob@acme.example", "cy@acme.example"} {
		w.contact(e, monday.AddDate(0, 0, -30))
	}
	if r := w.tick(monday); r.Scored != 3 {
		t.Fatalf("first tick scored %d, want 3", r.Scored)
	}
	w.eng.Since = monday
	// Changes are stamped with the store's clock.
	w.st.Now = func() time.Time { return monday.Add(10 * time.Minute) }
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "p1", Email: "bob@acme.example", Name: "page_view", At: monday.Add(5 * time.Minute), Props: map[string]any{"path": "/pricing"}}}); err != nil {
		t.Fatal(err)
	}
	if r := w.tick(monday.Add(20 * time.Minute)); r.Scored != 1 {
		t.Errorf("a tick within the hour scored %d, want bob alone", r.Scored)
	}
	w.eng.Since = monday.Add(20 * time.Minute)
	if r := w.tick(monday.Add(40 * time.Minute)); r.Scored != 0 {
		t.Errorf("a tick with nothing new scored %d", r.Scored)
	}
	w.eng.Since = monday.Add(40 * time.Minute)
	if r := w.tick(monday.Add(70 * time.Minute)); r.Scored != 3 {
		t.Errorf("the next hour's first tick scored %d, want everyone", r.Scored)
	}
}

// Transactional mail ignores the cadence caps and the sending window but
// keeps its sequence's own cap.
func TestTransactionalKeepsItsOwnCap(t *testing.T) {
	w := newWorld(t)
	seq := w.eng.Program.Sequences["welcome"]
	seq.TransactionalReason = "the account the contact opened"
	seq.Cap = []campaigns.Limit{{Max: 1, Per: campaigns.MustDuration("10d")}}
	// Friday 27 November, 20:00 New York: quiet hours for marketing.
	friday := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	w.contact("ann@acme.example", friday.AddDate(0, 0, -1))
	if r := w.tick(friday); r.Planned != 1 {
		t.Fatalf("the welcome waited for the window: %+v", r)
	}
	// The guide is due a week later, but the sequence's cap holds it to
	// ten days after the first.
	if r := w.tick(friday.AddDate(0, 0, 7)); r.Planned != 0 || r.Deferred != 1 {
		t.Fatalf("day 7: %+v", r)
	}
	es := w.enrollments("ann@acme.example")
	if len(es) != 1 || !es[0].NextCheckAt.Equal(friday.AddDate(0, 0, 10)) || es[0].Waiting != "held back by the sequence's cap" {
		t.Fatalf("enrollment: %+v", es)
	}
	if r := w.tick(friday.AddDate(0, 0, 10)); r.Planned != 1 {
		t.Errorf("day 10: %+v", r)
	}
}

// Per-account caps count the emails to every contact of the account.
func TestAccountCap(t *testing.T) {
	w := newWorld(t)
	w.eng.Program.Cadence.PerAccount = []campaigns.Limit{{Max: 1, Per: campaigns.MustDuration("7d")}}
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1), "account", "acme")
	w.contact("bob@acme.example", monday.AddDate(0, 0, -1), "account", "acme")
	w.contact("cy@other.example", monday.AddDate(0, 0, -1), "account", "other")
	r := w.tick(monday)
	if r.Planned != 2 || r.Deferred != 1 {
		t.Fatalf("first tick: %+v; want ann's and cy's, bob's held", r)
	}
	es := w.enrollments("bob@acme.example")
	if len(es) != 1 || es[0].Waiting != "held back by the account's cap (acme)" || !es[0].NextCheckAt.Equal(monday.AddDate(0, 0, 7)) {
		t.Fatalf("bob: %+v", es)
	}
}

// The owner hears of a lead handed to them by email; without a sender
// the notification waits.
func TestHandoffNotifiesOwner(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.eng.Program.Handoffs["sales"]
	h.WebhookURL, h.NotifyAttribute = "", "first_name" // any attribute holding an address
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1), "first_name", "owner@acme.example")
	w.tick(monday)
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "d1", Email: "ann@acme.example", Name: "demo_requested", At: monday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	at := monday.Add(2 * time.Hour)
	w.tick(at)
	if done, _, err := w.eng.Handoffs(ctx, w.st, http.DefaultClient, nil, at); err != nil || done != 0 {
		t.Fatalf("without a sender: %d done, %v; want it to wait", done, err)
	}
	dir := t.TempDir()
	if done, _, err := w.eng.Handoffs(ctx, w.st, http.DefaultClient, mail.FileSink{Dir: dir}, at); err != nil || done != 1 {
		t.Fatalf("with a sender: %d done, %v", done, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "handoff-1.eml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	if m.Header.Get("To") != "<owner@acme.example>" || m.Header.Get("Subject") != "Lead for you: ann@acme.example (converted)" ||
		!strings.Contains(string(body), "fit.saas: +30.0") {
		t.Errorf("notification:\n%s", b)
	}
}

// Sales takes over an account, not only a person: for a programme that
// declares accounts, the hand-off's webhook and the owner's email carry
// the lead's account, its attributes and its score.
func TestHandoffCarriesAccount(t *testing.T) {
	ctx := context.Background()
	t.Setenv("CRM_WEBHOOK_SECRET", "s3cret")
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { body, _ = io.ReadAll(r.Body) }))
	defer srv.Close()
	w := newWorld(t)
	p := w.eng.Program
	p.Accounts.Attributes = map[string]*campaigns.Attribute{"target": {Type: campaigns.TypeBool}, "owner": {Type: campaigns.TypeString}}
	p.Accounts.Score = &campaigns.AccountScore{Model: "lead", Rollup: campaigns.RollupSum}
	h := p.Handoffs["sales"]
	h.WebhookURL, h.NotifyAttribute = srv.URL, "first_name"
	if err := w.st.SyncAccountSchema(ctx, p.Accounts.Attributes); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.UpsertAccounts(ctx, p.Accounts.Attributes, []runtime.AccountRecord{{Line: 2, Key: "acme", Values: map[string]any{"target": true, "owner": "Olivia"}}}); err != nil {
		t.Fatal(err)
	}
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1), "first_name", "owner@acme.example", "account", "acme")
	w.contact("al@acme.example", monday.AddDate(0, 0, -1), "account", "acme")
	w.tick(monday)
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "d1", Email: "ann@acme.example", Name: "demo_requested", At: monday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	at := monday.Add(2 * time.Hour)
	w.tick(at)
	dir := t.TempDir()
	if done, _, err := w.eng.Handoffs(ctx, w.st, srv.Client(), mail.FileSink{Dir: dir}, at); err != nil || done != 1 {
		t.Fatalf("hand-off: %d done, %v", done, err)
	}
	var got engine.HandoffPayload
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	sixty := 60.0 // two saas contacts, 30 fit points each
	want := &engine.HandoffAccount{Key: "acme", Attributes: map[string]any{"target": true, "owner": "Olivia"}, Score: &sixty}
	if diff := cmp.Diff(want, got.Account); diff != "" {
		t.Errorf("the webhook's account (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(filepath.Join(dir, "handoff-1.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Account acme") || !strings.Contains(string(b), "owner: Olivia") || !strings.Contains(string(b), "account score: 60") {
		t.Errorf("the owner's email does not show the account:\n%s", b)
	}
}

// A lead handed to sales and handed back goes to the stage and the
// sequence its hand-off's return names, once.
func TestLeadReturnedBySales(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// Returned leads get the monthly digest: the welcome's first email,
	// entered only by the return.
	welcome := w.eng.Program.Sequences["welcome"]
	w.eng.Program.Sequences["digest"] = &campaigns.Sequence{Steps: welcome.Steps[:1], Reentry: welcome.Reentry}
	h := w.eng.Program.Handoffs["sales"]
	h.ReturnStage, h.ReturnEnroll = "lead", "digest"
	w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
	w.contact("bob@acme.example", monday.AddDate(0, 0, -1))
	w.tick(monday)
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "d1", Email: "ann@acme.example", Name: "demo_requested", At: monday.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if r := w.tick(monday.Add(2 * time.Hour)); r.Exited["converted"] != 1 {
		t.Fatalf("demo request: %+v", r)
	}
	// Sales hands Ann back; Bob, still in welcome, is handed back by a
	// CRM that names the hand-off.
	if _, err := w.st.RecordEvents(ctx, []runtime.Event{
		{ID: "r1", Email: "ann@acme.example", Name: campaigns.EventReturned, At: monday.Add(3 * time.Hour), Props: map[string]any{"reason": "no budget this year"}},
		{ID: "r2", Email: "bob@acme.example", Name: campaigns.EventReturned, At: monday.Add(3 * time.Hour), Props: map[string]any{"handoff": "sales"}},
	}); err != nil {
		t.Fatal(err)
	}
	r := w.tick(monday.Add(4 * time.Hour))
	if r.Returned != 2 || r.Exited[engine.ReasonReturned] != 1 {
		t.Fatalf("returns: %+v", r)
	}
	for _, email := range []string{"ann@acme.example", "bob@acme.example"} {
		c, err := w.st.Contact(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Values[campaigns.AttrStage]; got != "lead" {
			t.Errorf("%s: stage %v, want lead", email, got)
		}
		var states []string
		for _, e := range w.enrollments(email) {
			states = append(states, e.Sequence+" "+e.State+" "+e.ExitReason)
		}
		slices.Sort(states)
		want := map[string][]string{
			"ann@acme.example": {"digest active ", "welcome exited converted"},
			"bob@acme.example": {"digest active ", "welcome exited returned"},
		}[email]
		if diff := cmp.Diff(want, states); diff != "" {
			t.Errorf("%s enrollments (-want +got):\n%s", email, diff)
		}
	}
	if r := w.tick(monday.Add(8 * time.Hour)); r.Returned != 0 {
		t.Errorf("a return acted on twice: %+v", r)
	}
}

// scripted answers each send with the error its recipient is down for.
type scripted struct {
	mu   sync.Mutex
	errs map[string]error
	sent []string
}

func (s *scripted) Send(ctx context.Context, o *mail.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, o.To)
	return s.errs[o.To]
}

func (s *scripted) Concurrency() int { return 3 }

func TestDeliveryOutcomes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, e := range []string{"ann@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example"} {
		w.contact(e, monday.AddDate(0, 0, -1))
	}
	w.tick(monday)
	var logged []string
	w.eng.Log = func(s string) { logged = append(logged, s) }
	s := &scripted{errs: map[string]error{
		"bob@acme.example": &mail.SendError{Kind: mail.Permanent, Code: 550, Enhanced: "5.1.1", Recipient: true, Err: errString("no such user")},
		"cy@acme.example":  &mail.SendError{Kind: mail.Temporary, Code: 451, Err: errString("greylisted")},
		"dee@acme.example": &mail.SendError{Kind: mail.Unknown, Err: errString("connection reset after DATA")},
	}}
	at := monday.Add(time.Minute)
	got, err := w.eng.Deliver(ctx, w.st, s, "test-worker", at)
	if err != nil {
		t.Fatal(err)
	}
	if want := (engine.Delivered{Accepted: 1, Failed: 1, Bounced: 1, Deferred: 1, Unknown: 1}); got != want {
		t.Errorf("delivered %+v, want %+v", got, want)
	}
	type row struct {
		Email, Status string
		Attempts      int
		Later         bool
	}
	var rows []row
	q, err := w.st.DB().Query(`SELECT c.email, s.status, s.attempts, s.planned_at > ? FROM sends s JOIN contacts c ON c.id = s.contact_id ORDER BY c.email`, at.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var r row
		q.Scan(&r.Email, &r.Status, &r.Attempts, &r.Later)
		rows = append(rows, r)
	}
	q.Close()
	want := []row{
		{"ann@acme.example", "accepted", 0, false},
		{"bob@acme.example", "failed", 0, false},
		{"cy@acme.example", "planned", 1, true}, // deferred: planned again later
		{"dee@acme.example", "unknown", 0, false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
	var reason string
	if err := w.st.DB().QueryRow(`SELECT reason FROM suppressions WHERE email = 'bob@acme.example'`).Scan(&reason); err != nil || reason != runtime.ReasonBounced {
		t.Errorf("the hard bounce did not suppress bob: %q, %v", reason, err)
	}
	var props string
	if err := w.st.DB().QueryRow(`SELECT props FROM events WHERE name = 'email.bounced'`).Scan(&props); err != nil || !strings.Contains(props, `"kind":"hard"`) {
		t.Errorf("bounce event: %s, %v", props, err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "dee@acme.example is unknown") || !strings.Contains(logged[0], "Message-ID <") {
		t.Errorf("the unknown send was not logged with its rule: %q", logged)
	}
	// Delivering again at once sends nothing: the deferred one waits for
	// its time, the unknown one is never sent again.
	s.sent = nil
	if got, err := w.eng.Deliver(ctx, w.st, s, "test-worker", at.Add(time.Minute)); err != nil || got != (engine.Delivered{}) || len(s.sent) != 0 {
		t.Errorf("second delivery: %+v, %v, sent %v", got, err, s.sent)
	}
	if got, _ := w.eng.Deliver(ctx, w.st, s, "test-worker", at.Add(7*time.Hour)); got.Deferred != 1 || len(s.sent) != 1 || s.sent[0] != "cy@acme.example" {
		t.Errorf("the deferred send's retry: %+v, sent %v", got, s.sent)
	}
}

func TestBreakerPausesDelivery(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var events []runtime.Event
	for i, e := range []string{"a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example", "e@acme.example", "f@acme.example"} {
		w.contact(e, monday.AddDate(0, 0, -1))
		if i < 3 {
			events = append(events, runtime.Event{ID: "b" + e, Email: e, Name: campaigns.EventBounced, At: monday.Add(-time.Hour), Props: map[string]any{"kind": "hard"}})
		}
	}
	w.tick(monday)
	// Four sent in the last day, three of them hard-bounced.
	if _, err := w.st.DB().Exec(`UPDATE sends SET status = 'accepted', sent_at = ? WHERE id IN (SELECT id FROM sends ORDER BY id LIMIT 4)`, monday.Add(-2*time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.RecordEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	s := &scripted{}
	w.eng.Breaker = engine.Breaker{MaxBounceRate: 0.5, Window: 24 * time.Hour, MinSent: 4}
	got, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(time.Minute))
	if err != nil || got.Accepted != 0 || len(s.sent) != 0 || !strings.Contains(got.Paused, "hard bounces are 75.0% of the 4 emails sent in the last 1d (limit 50.0%)") {
		t.Errorf("3 bounces in 4 sent, over a limit of 50%%: %+v, %v", got, err)
	}
	// Under a looser limit, or below the minimum sent, it sends.
	w.eng.Breaker.MaxBounceRate = 0.8
	if got, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(2*time.Minute)); err != nil || got.Paused != "" || got.Accepted != 2 {
		t.Errorf("under 80%%: %+v, %v", got, err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// A sender whose own settings are wrong (a refused login) fails no email:
// sending stops and every email stays planned.
func TestDeliveryStopsOnSetupError(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	refused := &mail.SendError{Kind: mail.Permanent, Code: 535, Setup: true, Err: errString("535 authentication failed")}
	s := &scripted{errs: map[string]error{}}
	for _, e := range []string{"a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example"} {
		w.contact(e, monday.AddDate(0, 0, -1))
		s.errs[e] = refused
	}
	w.tick(monday)
	got, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(time.Minute))
	var stopped *engine.DeliveryStopped
	if !errors.As(err, &stopped) || !errors.Is(err, refused) || err.Error() != "delivery stopped: the mail server failed: permanent 535: 535 authentication failed; the emails not sent stay planned" {
		t.Errorf("Deliver: %+v, %v", got, err)
	}
	if len(s.sent) > 3 {
		t.Errorf("%d emails tried after the refusal; want no more than the 3 connections had under way", len(s.sent))
	}
	var planned, other int
	w.st.DB().QueryRow(`SELECT COUNT(*) FILTER (WHERE status = 'planned'), COUNT(*) FILTER (WHERE status <> 'planned') FROM sends`).Scan(&planned, &other)
	if planned != 4 || other != 0 || got.Failed != 0 {
		t.Errorf("after a refused login: %d planned, %d otherwise, %+v", planned, other, got)
	}
}

// lateGate is a sender that asks the gate itself when released, as the
// SMTP sender does after DATA: the messages wait in flight until then.
type lateGate struct {
	mu      sync.Mutex
	waiting int
	release chan struct{}
	sent    []string
}

func (s *lateGate) GatesLate()       {}
func (s *lateGate) Concurrency() int { return 4 }

func (s *lateGate) Send(ctx context.Context, o *mail.Outgoing) error {
	s.mu.Lock()
	s.waiting++
	s.mu.Unlock()
	<-s.release
	if err := o.Gate(ctx); err != nil {
		return &mail.Withheld{Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, o.To)
	return nil
}

func (s *lateGate) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// An unsubscribe or a topic opt-out that commits while a message is in
// flight, claimed and waiting for its connection, still wins: the message
// is withheld at the last moment and cancelled. The claims carry their
// Message-IDs from the start.
func TestDeliveryWithholdsAfterOptOutInFlight(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, e := range []string{"ann@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example"} {
		w.contact(e, monday.AddDate(0, 0, -1))
	}
	w.tick(monday)
	w.eng.Program.Sequences["welcome"].Topic = "news"
	s := &lateGate{release: make(chan struct{})}
	type outcome struct {
		d   engine.Delivered
		err error
	}
	done := make(chan outcome)
	go func() {
		d, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(time.Minute))
		done <- outcome{d, err}
	}()
	for s.inFlight() < 4 {
		time.Sleep(time.Millisecond)
	}
	var mids int
	w.st.DB().QueryRow(`SELECT COUNT(*) FROM sends WHERE status = 'claimed' AND message_id IS NOT NULL`).Scan(&mids)
	if mids != 4 {
		t.Errorf("%d claims with a Message-ID, want 4", mids)
	}
	if _, err := w.st.Suppress(ctx, []runtime.Suppression{{Email: "bob@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: monday}}); err != nil {
		t.Fatal(err)
	}
	if err := w.st.SetPreferences(ctx, w.ids["cy@acme.example"], runtime.Preferences{TopicsOut: []string{"news"}}, monday); err != nil {
		t.Fatal(err)
	}
	close(s.release)
	got := <-done
	if got.err != nil || got.d.Accepted != 2 || got.d.Withheld != 2 {
		t.Errorf("Deliver: %+v, %v; want 2 accepted, 2 withheld", got.d, got.err)
	}
	slices.Sort(s.sent)
	if diff := cmp.Diff([]string{"ann@acme.example", "dee@acme.example"}, s.sent); diff != "" {
		t.Errorf("handed over (-want +got):\n%s", diff)
	}
	rows, err := w.st.DB().Query(`SELECT c.email, s.status, COALESCE(s.error, '') FROM sends s JOIN contacts c ON c.id = s.contact_id ORDER BY c.email`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ledger []string
	for rows.Next() {
		var e, st, why string
		rows.Scan(&e, &st, &why)
		ledger = append(ledger, e+" "+st+" "+why)
	}
	want := []string{
		"ann@acme.example accepted ",
		"bob@acme.example cancelled withheld before hand-over: the address is suppressed",
		"cy@acme.example cancelled withheld before hand-over: the contact opted out of news",
		"dee@acme.example accepted ",
	}
	if diff := cmp.Diff(want, ledger); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
}

// No more sends are marked as being handed over, and unfinished, than
// the sender has connections: the mark says a message may be in flight,
// and a crash leaves unknown at most those. Claims run ahead of them.
func TestDeliveryMarksNoMoreThanTheConnections(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for i := range 20 {
		w.contact(fmt.Sprintf("c%02d@acme.example", i), monday.AddDate(0, 0, -1))
	}
	w.tick(monday)
	s := &countClaims{db: w.st.DB()}
	got, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(time.Minute))
	if err != nil || got.Accepted != 20 {
		t.Fatalf("Deliver: %+v, %v", got, err)
	}
	if s.most > 3 {
		t.Errorf("%d sends marked and unfinished at once for 3 connections", s.most)
	}
	if s.claimed <= 3 {
		t.Errorf("at most %d sends claimed at once: no claim ran ahead of the 3 connections", s.claimed)
	}
}

type countClaims struct {
	mu            sync.Mutex
	db            *sql.DB
	most, claimed int
}

func (s *countClaims) Concurrency() int { return 3 }

func (s *countClaims) Send(ctx context.Context, o *mail.Outgoing) error {
	var n, claimed int
	s.db.QueryRow(`SELECT COUNT(*) FILTER (WHERE handover_at IS NOT NULL), COUNT(*) FROM sends WHERE status = 'claimed'`).Scan(&n, &claimed)
	s.mu.Lock()
	s.most, s.claimed = max(s.most, n), max(s.claimed, claimed)
	s.mu.Unlock()
	return nil
}

// A wait_for counts the events since the enrollment's last email: a click
// on the welcome during the wait before the wait_for answers it. Never
// one from before the version was applied.
func TestWaitForSeesTheWaitBefore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		applied time.Time
		want    string
	}{
		{"the click during the wait counts", time.Time{}, "clicked"},
		{"a click before the apply does not", monday.AddDate(0, 0, 1).Add(time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			seq := w.eng.Program.Sequences["welcome"]
			seq.Steps = []campaigns.Step{seq.Steps[0],
				{Name: "pause", Kind: campaigns.StepWait, Wait: campaigns.MustDuration("2d")},
				{Name: "answered", Kind: campaigns.StepWaitFor, WaitFor: &campaigns.WaitFor{
					Event: campaigns.EventCondition{Name: campaigns.EventClicked, MinCount: 1}, Within: campaigns.MustDuration("3d"),
					Then: campaigns.Action{Exit: "clicked"}, Else: campaigns.Action{Exit: "quiet"}}},
			}
			w.eng.AppliedAt = tc.applied
			w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
			w.tick(monday)
			w.clock = monday.AddDate(0, 0, 1)
			if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "c1", Email: "ann@acme.example", Name: campaigns.EventClicked, At: w.clock,
				Props: map[string]any{"sequence": "welcome", "step": "hello"}}}); err != nil {
				t.Fatal(err)
			}
			w.tick(monday.AddDate(0, 0, 2))
			es := w.enrollments("ann@acme.example")
			if len(es) != 1 {
				t.Fatalf("enrollments: %+v", es)
			}
			if es[0].ExitReason != tc.want {
				t.Errorf("after the wait: %s %q; want %q", es[0].State, es[0].ExitReason, tc.want)
			}
		})
	}
}

// askCounter counts the questions the engine asks the store about one
// contact, and about many at once.
type askCounter struct {
	*sqlstore.Store
	one, many int
}

func (c *askCounter) Matches(ctx context.Context, prog *campaigns.Program, id int64, ps []campaigns.Predicate, now time.Time) ([]bool, error) {
	c.one++
	return c.Store.Matches(ctx, prog, id, ps, now)
}

func (c *askCounter) MatchesEach(ctx context.Context, prog *campaigns.Program, ids []int64, p campaigns.Predicate, now time.Time) (map[int64]bool, error) {
	c.many++
	return c.Store.MatchesEach(ctx, prog, ids, p, now)
}

// A page of enrollments reaching a wait_for asks the store once for all
// of them, whether they wait at the step or reach it right after an
// email; and each contact gets the answer it would get alone.
func TestWaitForAsksOnceAPage(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ask := &askCounter{Store: w.st}
	w.eng.Store = ask
	seq := w.eng.Program.Sequences["welcome"]
	answered := func(name string) campaigns.Step {
		return campaigns.Step{Name: name, Kind: campaigns.StepWaitFor, WaitFor: &campaigns.WaitFor{
			Event: campaigns.EventCondition{Name: campaigns.EventClicked, MinCount: 1}, Within: campaigns.MustDuration("3d"),
			Then: campaigns.Action{Exit: "clicked"}, Else: campaigns.Action{Exit: "quiet"}}}
	}
	seq.Steps = []campaigns.Step{seq.Steps[0], answered("first"),
		{Name: "pause", Kind: campaigns.StepWait, Wait: campaigns.MustDuration("2d")}, answered("answered")}
	people := []string{"ann", "bob", "cara", "dan"}
	for _, who := range people {
		w.contact(who+"@acme.example", monday.AddDate(0, 0, -1))
	}
	// The first tick sends each the welcome and asks, right after it,
	// whether they clicked: none has yet.
	w.tick(monday)
	if ask.one != 0 || ask.many != 1 {
		t.Errorf("the first tick asked %d questions of one contact and %d of many; want 0 and 1", ask.one, ask.many)
	}
	// ann and cara click the next day: the wait_for all four wait at
	// asks once, for the clicks since the welcome.
	w.clock = monday.AddDate(0, 0, 1)
	for _, who := range []string{"ann", "cara"} {
		if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "c-" + who, Email: who + "@acme.example", Name: campaigns.EventClicked, At: w.clock,
			Props: map[string]any{"sequence": "welcome", "step": "hello"}}}); err != nil {
			t.Fatal(err)
		}
	}
	ask.one, ask.many = 0, 0
	w.tick(monday.AddDate(0, 0, 1).Add(time.Hour))
	if ask.one != 0 || ask.many != 1 {
		t.Errorf("the tick after the clicks asked %d questions of one contact and %d of many; want 0 and 1", ask.one, ask.many)
	}
	var got []string
	for _, who := range people {
		es := w.enrollments(who + "@acme.example")
		if len(es) != 1 {
			t.Fatalf("%s's enrollments: %+v", who, es)
		}
		got = append(got, who+" "+es[0].State+" "+es[0].ExitReason)
	}
	want := []string{"ann exited clicked", "bob active ", "cara exited clicked", "dan active "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the clicks (-want +got):\n%s", diff)
	}
}

// An incremental tick whose contacts that changed are more than a
// quarter of the list looks at every contact, in one query a rule rather
// than one a chunk; a handful changed are looked at alone.
func TestLargeScopeLooksAtEveryone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	records := func(industry string) []runtime.ContactRecord {
		var rs []runtime.ContactRecord
		for i := range 2100 {
			email := fmt.Sprintf("c%04d@acme.example", i)
			rs = append(rs, runtime.ContactRecord{Email: email, Values: map[string]any{"company": "Acme", "industry": industry, "signup_at": monday.AddDate(0, -2, 0)},
				Consent: &runtime.Consent{Email: email, At: monday.AddDate(0, -2, 0), Source: "signup_form", Wording: "v1", Who: "test"}})
		}
		return rs
	}
	if _, err := w.st.UpsertContacts(ctx, &w.eng.Program.Contact, records("saas"), "test"); err != nil {
		t.Fatal(err)
	}
	w.tick(monday)
	w.clock = monday.Add(time.Hour)
	w.contact("ann@acme.example", monday.AddDate(0, -2, 0))
	if r := w.tick(monday.Add(90 * time.Minute)); r.Full || r.Looked != 1 {
		t.Errorf("a tick after one contact changed: full %v, looked at %d; want ann alone", r.Full, r.Looked)
	}
	w.clock = monday.Add(2 * time.Hour)
	if _, err := w.st.UpsertContacts(ctx, &w.eng.Program.Contact, records("fintech"), "test"); err != nil {
		t.Fatal(err)
	}
	if r := w.tick(monday.Add(150 * time.Minute)); !r.Full {
		t.Errorf("a tick after 2,100 of 2,101 contacts changed looked at %d of them; want every contact", r.Looked)
	}
}

// Sends claimed ahead of the connections and not taken when the pass is
// cancelled go back to planned as they were: none is left claimed, none
// counts an attempt, and the next pass sends them.
func TestDeliveryReleasesWhatItDidNotTake(t *testing.T) {
	w := newWorld(t)
	for i := range 20 {
		w.contact(fmt.Sprintf("c%02d@acme.example", i), monday.AddDate(0, 0, -1))
	}
	w.tick(monday)
	ctx, cancel := context.WithCancel(context.Background())
	s := &cancelAfter{n: 2, cancel: cancel}
	got, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(time.Minute))
	if !errors.Is(err, context.Canceled) || got.Accepted < 2 || got.Accepted >= 20 {
		t.Fatalf("Deliver: %+v, %v; want a few accepted, then cancelled", got, err)
	}
	var accepted, planned, other int
	w.st.DB().QueryRow(`SELECT COUNT(*) FILTER (WHERE status = 'accepted'), COUNT(*) FILTER (WHERE status = 'planned' AND attempts = 0 AND claimed_by IS NULL),
  COUNT(*) FILTER (WHERE status NOT IN ('accepted', 'planned')) FROM sends`).Scan(&accepted, &planned, &other)
	if accepted != got.Accepted || planned != 20-accepted || other != 0 {
		t.Errorf("after the cancelled pass: %d accepted (%d said), %d planned as they were, %d otherwise", accepted, got.Accepted, planned, other)
	}
	if again, err := w.eng.Deliver(context.Background(), w.st, &scripted{}, "w", monday.Add(2*time.Minute)); err != nil || again.Accepted != planned {
		t.Errorf("the next pass: %+v, %v; want the %d released", again, err, planned)
	}
}

// cancelAfter accepts n messages, then cancels the pass.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	cancel func()
}

func (s *cancelAfter) Concurrency() int { return 2 }

func (s *cancelAfter) Send(ctx context.Context, o *mail.Outgoing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n--; s.n <= 0 {
		s.cancel()
	}
	return nil
}

// After an outage a contact's next step comes due with the step before
// it: the engine planned it 7 days after the welcome was planned, not
// sent. Delivery counts the caps (one email a week) with the welcome at
// the time it went, so the two never go together; on time, nothing
// waits.
func TestDeliveryHoldsTheCapsAfterALateEmail(t *testing.T) {
	for _, tc := range []struct {
		name string
		// outage is how long after it was due the welcome went.
		outage time.Duration
		held   bool
	}{
		{"on time", time.Minute, false},
		{"within the hour", 50 * time.Minute, false},
		{"after a week's outage", 7*24*time.Hour + time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.contact("ann@acme.example", monday.AddDate(0, 0, -1))
			w.tick(monday)
			var logged []string
			w.eng.Log = func(s string) { logged = append(logged, s) }
			s := &scripted{}
			if tc.outage < 24*time.Hour {
				if got, err := w.eng.Deliver(ctx, w.st, s, "w", monday.Add(tc.outage)); err != nil || got.Accepted != 1 {
					t.Fatalf("Deliver the welcome: %+v, %v", got, err)
				}
			}
			week := monday.AddDate(0, 0, 7)
			w.tick(week)
			at := week.Add(time.Minute)
			got, err := w.eng.Deliver(ctx, w.st, s, "w", at)
			if err != nil {
				t.Fatal(err)
			}
			var status string
			var planned int64
			w.st.DB().QueryRow(`SELECT status, planned_at FROM sends WHERE step = 'guide'`).Scan(&status, &planned)
			if !tc.held {
				if got.Accepted != 1 || got.Held != 0 || status != runtime.SendAccepted {
					t.Errorf("the guide, a week after a welcome sent on time: %+v, %s", got, status)
				}
				return
			}
			// The welcome went at `at`, a week late; under the cap of one a
			// week, the guide waits a week from then.
			if got.Accepted != 1 || got.Held != 1 || status != runtime.SendPlanned || !time.UnixMilli(planned).Equal(at.AddDate(0, 0, 7)) {
				t.Errorf("after the outage: %+v, guide %s planned at %s; want the welcome alone, the guide at %s", got, status, time.UnixMilli(planned).UTC(), at.AddDate(0, 0, 7))
			}
			if len(logged) != 1 || !strings.Contains(logged[0], "held back by the caps counted as the email went: the contact's email of welcome went 7d1m late, at 2026-11-30T15:01:00Z") {
				t.Errorf("logged %q", logged)
			}
			// Nothing goes before then; at then, it goes.
			if got, err := w.eng.Deliver(ctx, w.st, s, "w", at.AddDate(0, 0, 6)); err != nil || got.Accepted != 0 || got.Held != 0 {
				t.Errorf("a day early: %+v, %v", got, err)
			}
			if got, err := w.eng.Deliver(ctx, w.st, s, "w", at.AddDate(0, 0, 7)); err != nil || got.Accepted != 1 {
				t.Errorf("a week after the welcome went: %+v, %v", got, err)
			}
		})
	}
}
