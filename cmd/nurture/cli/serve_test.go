package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/track"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// tracked is a store with the test programme applied and the welcome
// email delivered to ann@acme.example and cy@gamma.example as .eml files,
// and the tracking server over it on a real listener.
type tracked struct {
	t      *testing.T
	st     *sqlstore.Store
	srv    *track.Server
	hs     *httptest.Server
	store  string
	prog   string
	mail   map[string]received // by recipient
	client *http.Client
	// postgres: the store is PostgreSQL, whose placeholders are $1, $2.
	postgres bool
}

// eachStore runs a test on SQLite and, when the test server is set, on
// PostgreSQL.
func eachStore(t *testing.T, test func(t *testing.T, tr *tracked), files ...string) {
	t.Run("sqlite", func(t *testing.T) { test(t, newTrackedOn(t, "", files...)) })
	t.Run("postgres", func(t *testing.T) { test(t, newTrackedOn(t, pgStore(t), files...)) })
}

func newTracked(t *testing.T) *tracked {
	t.Helper()
	return newTrackedOn(t, "")
}

// newTrackedOn is newTracked on the store spec names; "" is a new SQLite
// file. files are pairs of a file name and its text, written into the
// programme after its own (topics.cue may be replaced).
func newTrackedOn(t *testing.T, spec string, extra ...string) *tracked {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	prog := filepath.Join(tmp, "prog")
	if err := copyTree("testdata/base", prog); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"topics.cue":   "package nurture\n\nsender: topics: {product: \"Product news\", events: \"Webinars and events\"}\n\nsender: company: \"Acme Analytics\"\n\nsender: unsubscribe: mailto: \"unsubscribe@acme.example\"\n\nsequences: welcome: topic: \"product\"\n",
		"contacts.csv": "email,company,industry,employees,signup_at,first_name,consent_at,consent_source,consent_wording\nann@acme.example,Acme,saas,500,2026-11-20T09:00:00Z,Ann,2026-11-20T09:00:00Z,signup_form,v1\ncy@gamma.example,Gamma,fintech,300,2026-11-22T09:00:00Z,Cy,2026-11-22T09:00:00Z,signup_form,v1\n",
	} {
		if err := os.WriteFile(filepath.Join(prog, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if err := os.WriteFile(filepath.Join(prog, extra[i]), []byte(extra[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if spec == "" {
		spec = "sqlite:" + filepath.Join(tmp, "nurture.db")
	}
	store := "--store=" + spec
	out := filepath.Join(tmp, "out")
	for _, args := range [][]string{
		{"contacts", "import", filepath.Join(prog, "contacts.csv"), "--dir", prog},
		{"apply", prog, "--auto-approve"},
		{"tick", "--now", "2026-11-23T15:00:00Z", "--sender", "file:" + out},
	} {
		if o, e, code := run(t, append(args, store)...); code != 0 {
			t.Fatalf("%s: %s%s", strings.Join(args, " "), o, e)
		}
	}
	tr := &tracked{t: t, store: store, prog: prog, mail: map[string]received{},
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.Trim(m.Header.Get("To"), "<>")
		tr.mail[addr] = m
	}
	if len(tr.mail) != 2 {
		t.Fatalf("%d emails delivered, want 2", len(tr.mail))
	}
	rs, err := openStore(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	st, ok := rs.(*sqlstore.Store)
	if !ok {
		t.Fatalf("the %s store is not a SQL store", spec)
	}
	tr.st = st
	tr.postgres = !strings.HasPrefix(spec, "sqlite:")
	keys, err := worker.TrackingKeys(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, p); err != nil {
		t.Fatal(err)
	}
	tr.srv = &track.Server{Store: st, APIToken: "s3cret-token", Now: func() time.Time { return time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC) }}
	tr.srv.SetKeys(keys)
	tr.srv.SetProgram(p)
	tr.hs = httptest.NewServer(tr.srv.Handler())
	t.Cleanup(tr.hs.Close)
	return tr
}

// link finds the first tracked URL of a kind in the email to addr and
// returns its path on the test server.
func (tr *tracked) link(addr string, kind byte) string {
	tr.t.Helper()
	m := tr.mail[addr]
	re := regexp.MustCompile(`https://go\.acme\.example(/` + string(kind) + `/[A-Za-z0-9_-]+)`)
	found := re.FindStringSubmatch(m.HTML)
	if found == nil {
		tr.t.Fatalf("no /%c/ link in the email to %s:\n%s", kind, addr, m.HTML)
	}
	return found[1]
}

func (tr *tracked) do(method, path, body string, header ...string) (*http.Response, string) {
	tr.t.Helper()
	req, err := http.NewRequest(method, tr.hs.URL+path, strings.NewReader(body))
	if err != nil {
		tr.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (tr *tracked) count(query string, args ...any) int {
	tr.t.Helper()
	var n int
	if tr.postgres {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", "$"+strconv.Itoa(i), 1)
		}
	}
	if err := tr.st.DB().QueryRow(query, args...).Scan(&n); err != nil {
		tr.t.Fatal(err)
	}
	return n
}

func (tr *tracked) events(name string) int {
	return tr.count(`SELECT COUNT(*) FROM events WHERE name = ?`, name)
}

func TestServeClicksAndOpens(t *testing.T) {
	tr := newTracked(t)
	click := tr.link("ann@acme.example", track.Click)
	resp, _ := tr.do("HEAD", click, "")
	if resp.StatusCode != http.StatusFound || tr.events("email.clicked") != 0 {
		t.Fatalf("HEAD (a link scanner): %s, %d clicks recorded; want a redirect and none", resp.Status, tr.events("email.clicked"))
	}
	for range 2 {
		resp, _ = tr.do("GET", click, "")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("click: %s", resp.Status)
		}
	}
	dest, _ := url.Parse(resp.Header.Get("Location"))
	if dest.Host != "acme.example" || dest.Query().Get("utm_source") != "nurture" || dest.Query().Get("utm_campaign") != "welcome" {
		t.Errorf("click redirects to %s", dest)
	}
	if !strings.Contains(tr.mail["ann@acme.example"].Text, "https://go.acme.example/c/") {
		t.Errorf("the text part's links are not tracked:\n%s", tr.mail["ann@acme.example"].Text)
	}
	// Two clicks on one link of one email are one event.
	if n := tr.events("email.clicked"); n != 1 {
		t.Errorf("%d click events, want 1", n)
	}
	var props string
	tr.st.DB().QueryRow(`SELECT props FROM events WHERE name = 'email.clicked'`).Scan(&props)
	if !strings.Contains(props, `"email":"emails/welcome/hello.md"`) || !strings.Contains(props, `"sequence":"welcome"`) {
		t.Errorf("click props: %s", props)
	}

	resp, body := tr.do("GET", tr.link("ann@acme.example", track.Open), "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" || !strings.HasPrefix(body, "GIF89a") {
		t.Errorf("open pixel: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	tr.st.DB().QueryRow(`SELECT props FROM events WHERE name = 'email.opened'`).Scan(&props)
	if !strings.Contains(props, `"unreliable":true`) {
		t.Errorf("an open is not marked unreliable: %s", props)
	}
}

func TestServeRefusesForgedTokens(t *testing.T) {
	tr := newTracked(t)
	click := tr.link("ann@acme.example", track.Click)
	unsub := tr.link("ann@acme.example", track.Unsubscribe)
	tok := strings.TrimPrefix(click, "/c/")
	other, _ := track.NewKeys([]byte("somebody-elses-key-0123"))
	forged := other.Sign(track.Token{Kind: track.Click, Send: 1, Contact: 1, Link: 1, URL: "https://evil.example/"})
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for name, path := range map[string]string{
		"altered":                    "/c/" + flip(tok, len(tok)/2),
		"altered MAC":                "/c/" + flip(tok, len(tok)-3),
		"truncated":                  "/c/" + tok[:len(tok)-4],
		"another key":                "/c/" + forged,
		"open token as link":         "/c/" + strings.TrimPrefix(tr.link("ann@acme.example", track.Open), "/o/"),
		"click token as unsubscribe": "/u/" + tok,
		"empty":                      "/c/",
	} {
		resp, _ := tr.do("GET", path, "")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", name, resp.Status)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("%s: redirects to %s", name, loc)
		}
	}
	resp, _ := tr.do("POST", "/u/"+flip(strings.TrimPrefix(unsub, "/u/"), 5), "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("forged unsubscribe: %s", resp.Status)
	}
	if n := tr.count(`SELECT COUNT(*) FROM events`) + tr.count(`SELECT COUNT(*) FROM suppressions`); n != 0 {
		t.Errorf("forged tokens changed %d rows", n)
	}

	// After a rotation, links signed with the old key still work; once
	// it is retired they get 404.
	if o, e, code := run(t, "keys", "rotate", tr.store); code != 0 {
		t.Fatal(o, e)
	}
	keys, err := worker.TrackingKeys(context.Background(), tr.st)
	if err != nil {
		t.Fatal(err)
	}
	tr.srv.SetKeys(keys)
	if resp, _ := tr.do("GET", click, ""); resp.StatusCode != http.StatusFound {
		t.Errorf("a link of the previous key after rotation: %s", resp.Status)
	}
	if _, e, code := run(t, "keys", "retire", "1", tr.store); code == 0 || !strings.Contains(e, "unsubscribe links must work for 30 days") {
		t.Errorf("retiring a key signing a day ago: %d %s", code, e)
	}
	if _, e, code := run(t, "keys", "retire", "2", tr.store); code == 0 || !strings.Contains(e, "signs today's links") {
		t.Errorf("retiring the signing key: %d %s", code, e)
	}
	if o, e, code := run(t, "keys", "retire", "1", "--force", tr.store); code != 0 {
		t.Fatal(o, e)
	}
	keys, _ = worker.TrackingKeys(context.Background(), tr.st)
	tr.srv.SetKeys(keys)
	if resp, _ := tr.do("GET", click, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a link of a retired key: %s", resp.Status)
	}
	out, _, _ := run(t, "keys", tr.store)
	if !regexp.MustCompile(`(?m)^2 +\S+ \S+ UTC +signs and verifies\n1 +\S+ \S+ UTC +retired `).MatchString(out) {
		t.Errorf("nurture keys:\n%s", out)
	}
}

func TestServeUnsubscribe(t *testing.T) {
	tr := newTracked(t)
	m := tr.mail["ann@acme.example"]
	var target string
	for _, u := range strings.Split(m.Header.Get("List-Unsubscribe"), ",") {
		if u = strings.Trim(strings.TrimSpace(u), "<>"); strings.HasPrefix(u, "https://go.acme.example/u/") {
			target = strings.TrimPrefix(u, "https://go.acme.example")
		}
	}
	if target == "" || m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers: List-Unsubscribe %q, List-Unsubscribe-Post %q", m.Header.Get("List-Unsubscribe"), m.Header.Get("List-Unsubscribe-Post"))
	}
	if target != tr.link("ann@acme.example", track.Unsubscribe) {
		t.Errorf("the header's link %s is not the footer's %s", target, tr.link("ann@acme.example", track.Unsubscribe))
	}
	// A GET (a scanner, a preview) only asks.
	resp, body := tr.do("GET", target, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form method="post"`) || !strings.Contains(body, "ann@acme.example") {
		t.Fatalf("confirm page: %s\n%s", resp.Status, body)
	}
	if n := tr.count(`SELECT COUNT(*) FROM suppressions`); n != 0 {
		t.Fatalf("a GET unsubscribed")
	}
	for range 3 {
		resp, body = tr.do("POST", target, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are unsubscribed") {
			t.Fatalf("one-click POST: %s\n%s", resp.Status, body)
		}
	}
	if n := tr.count(`SELECT COUNT(*) FROM suppressions WHERE email = 'ann@acme.example' AND reason = 'unsubscribed'`); n != 1 {
		t.Errorf("%d suppressions, want 1", n)
	}
	if n := tr.events("email.unsubscribed"); n != 1 {
		t.Errorf("%d unsubscribe events, want 1", n)
	}
	// The next tick ends her enrollment; a week on, only Cy gets the guide.
	o, e, code := run(t, "tick", "--now", "2026-11-30T15:00:00Z", "--sender", "file:"+t.TempDir(), tr.store)
	if code != 0 || !strings.Contains(o, "delivered: 1 accepted") {
		t.Errorf("tick after the unsubscribe: %s%s", o, e)
	}
	if n := tr.count(`SELECT COUNT(*) FROM enrollments e JOIN contacts c ON c.id = e.contact_id WHERE c.email = 'ann@acme.example' AND e.exit_reason = 'suppressed'`); n != 1 {
		t.Errorf("Ann's enrollment did not end as suppressed")
	}
}

func TestServePreferences(t *testing.T) {
	tr := newTracked(t)
	page := tr.link("cy@gamma.example", track.Preferences)
	resp, body := tr.do("GET", page, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Product news") || !strings.Contains(body, `value="monthly"`) {
		t.Fatalf("preference page: %s\n%s", resp.Status, body)
	}
	resp, _ = tr.do("POST", page, "frequency=hourly", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown frequency: %s", resp.Status)
	}
	// Cy keeps events, drops product news, and wants one email a month.
	resp, body = tr.do("POST", page, "frequency=monthly&topic=events", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Saved") || !regexp.MustCompile(`value="monthly" checked`).MatchString(body) {
		t.Fatalf("saving preferences: %s\n%s", resp.Status, body)
	}
	cy, err := tr.st.Contact(context.Background(), "cy@gamma.example")
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.st.Preferences(context.Background(), cy.ID)
	if err != nil || p.Frequency != "monthly" || len(p.TopicsOut) != 1 || p.TopicsOut[0] != "product" {
		t.Errorf("stored preferences: %+v, %v", p, err)
	}
	// The welcome sequence is about product news: Cy leaves it at the
	// next tick and gets no guide.
	o, e, code := run(t, "tick", "--now", "2026-11-24T15:00:00Z", tr.store)
	if code != 0 || !strings.Contains(o, "1 opted_out") {
		t.Errorf("tick after the preferences: %s%s", o, e)
	}
	// Ann keeps every topic but wants one email a month: the guide, due a
	// week after the welcome, waits for the month.
	ann := tr.link("ann@acme.example", track.Preferences)
	if resp, _ := tr.do("POST", ann, "frequency=monthly&topic=product&topic=events", "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != http.StatusOK {
		t.Fatalf("saving Ann's preferences: %s", resp.Status)
	}
	o, e, code = run(t, "tick", "--now", "2026-11-30T15:00:00Z", tr.store)
	if code != 0 || !strings.Contains(o, "emails: 0 planned, 1 held back") {
		t.Errorf("tick a week on: %s%s", o, e)
	}
	o, _, _ = run(t, "explain", "ann@acme.example", "--now", "2026-11-30T15:00:00Z", tr.store)
	if !strings.Contains(o, "held back by the contact's preferences (monthly: at most 1 per 30d)") || !strings.Contains(o, "preferences (2026-11-23): at most one email a month (monthly, at most 1 per 30d)\n") {
		t.Errorf("explain does not say why the guide waits:\n%s", o)
	}
}

func TestServeAPI(t *testing.T) {
	tr := newTracked(t)
	const events = `{"id":"crm-1","email":"ann@acme.example","name":"demo_requested","at":"2026-11-23T16:00:00Z"}
{"id":"crm-2","email":"nobody@nowhere.example","name":"demo_requested","at":"2026-11-23T16:00:00Z"}
{"id":"crm-3","email":"cy@gamma.example","name":"no_such_event","at":"2026-11-23T16:00:00Z"}
`
	for _, auth := range []string{"", "Bearer wrong", "s3cret-token"} {
		resp, _ := tr.do("POST", "/v1/events", events, "Authorization", auth)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s", auth, resp.Status)
		}
	}
	type result struct {
		Inserted, Duplicate int
		Rejected            []struct {
			Line   int
			Reason string
		}
	}
	post := func(body string) (int, result) {
		resp, b := tr.do("POST", "/v1/events", body, "Authorization", "Bearer s3cret-token")
		var r result
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatalf("%s: %s", resp.Status, b)
		}
		return resp.StatusCode, r
	}
	code, r := post(events)
	if code != http.StatusOK || r.Inserted != 1 || len(r.Rejected) != 2 || r.Rejected[0].Line+r.Rejected[1].Line != 5 {
		t.Errorf("events: %d %+v", code, r)
	}
	// Replayed: stored once.
	if _, r = post(events); r.Inserted != 0 || r.Duplicate != 1 {
		t.Errorf("replayed events: %+v", r)
	}
	if code, r = post("{not json\n"); code != http.StatusUnprocessableEntity && code != http.StatusBadRequest {
		t.Errorf("a bad body: %d %+v", code, r)
	}

	mid := strings.Trim(tr.mail["cy@gamma.example"].Header.Get("Message-ID"), "<>")
	bounce := func(body string) (int, string) {
		resp, b := tr.do("POST", "/v1/bounces", body, "Authorization", "Bearer s3cret-token")
		return resp.StatusCode, b
	}
	notices := `[{"id":"p-1","type":"bounce","bounce":"soft","message_id":"<` + mid + `>","reason":"mailbox full"},
{"id":"p-2","type":"bounce","bounce":"hard","message_id":"<` + mid + `>","reason":"5.1.1 no such user"},
{"id":"p-3","type":"complaint","email":"ann@acme.example"}]`
	if code, b := bounce(notices); code != http.StatusOK || !strings.Contains(b, `"recorded":3`) || !strings.Contains(b, `"suppressed":2`) {
		t.Errorf("bounces: %d %s", code, b)
	}
	// Replayed and reordered: nothing new, and a late soft bounce lifts
	// no suppression.
	rev := `[{"id":"p-3","type":"complaint","email":"ann@acme.example"},{"id":"p-2","type":"bounce","bounce":"hard","message_id":"` + mid + `"},{"id":"p-1","type":"bounce","bounce":"soft","message_id":"` + mid + `"}]`
	if code, b := bounce(rev); code != http.StatusOK || !strings.Contains(b, `"recorded":0,"duplicate":3,"suppressed":0`) {
		t.Errorf("replayed bounces: %d %s", code, b)
	}
	if n := tr.count(`SELECT COUNT(*) FROM suppressions WHERE (email = 'cy@gamma.example' AND reason = 'bounced') OR (email = 'ann@acme.example' AND reason = 'complained')`); n != 2 {
		t.Errorf("%d suppressions, want 2", n)
	}
	var props string
	tr.st.DB().QueryRow(`SELECT props FROM events WHERE id = 'webhook/p-2'`).Scan(&props)
	if !strings.Contains(props, `"sequence":"welcome"`) || !strings.Contains(props, `"kind":"hard"`) {
		t.Errorf("the hard bounce's event does not name its send: %s", props)
	}
	for body, want := range map[string]string{
		`{"type":"bounce","bounce":"hard","email":"a@b.example"}`:           `field \"id\"`,
		`{"id":"x","type":"bounced","email":"a@b.example"}`:                 `field \"type\"`,
		`{"id":"x","type":"bounce","bounce":"maybe","email":"a@b.example"}`: `field \"bounce\"`,
		`{"id":"x","type":"complaint"}`:                                     `fields \"email\" and \"message_id\"`,
		`[{"id":"x","type":"complaint","email":"a@b.example"},{"id":"y"}]`:  `notice 2: field \"type\"`,
		`nonsense`: "not a bounce notice",
	} {
		if code, b := bounce(body); code != http.StatusBadRequest || !strings.Contains(b, want) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, code, b, want)
		}
	}
}

// The API keeps an event of an address not imported yet, as events import
// does, and the contact's import attaches it: a web visitor who becomes a
// lead later keeps their history.
func TestServeAPIKeepsUnknownAddresses(t *testing.T) {
	tr := newTracked(t)
	now := func() time.Time { return time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC) }
	tr.srv.Store = keepUnknown(tr.srv.Store, 30*24*time.Hour, now)
	const body = `{"id":"web-1","email":"dee@delta.example","name":"page_view","at":"2026-11-23T15:00:00Z","properties":{"path":"/pricing"}}
`
	resp, b := tr.do("POST", "/v1/events", body, "Authorization", "Bearer s3cret-token")
	if resp.StatusCode != http.StatusOK || !strings.Contains(b, `{"inserted":0,"duplicate":0,"pending":1,"rejected":[]}`) {
		t.Fatalf("an unknown address's event: %s %s; want it counted as pending", resp.Status, b)
	}
	if n := tr.count(`SELECT COUNT(*) FROM pending_events WHERE id = 'web-1'`); n != 1 {
		t.Fatalf("%d events kept, want 1", n)
	}
	// Kept beside a line that is wrong: the request did something, so it
	// is not refused as a whole (422).
	mixed := `{"id":"web-2","email":"dee@delta.example","name":"no_such_event","at":"2026-11-23T15:00:00Z"}
{"id":"web-3","email":"eve@delta.example","name":"page_view","at":"2026-11-23T15:01:00Z","properties":{"path":"/"}}
`
	resp, b = tr.do("POST", "/v1/events", mixed, "Authorization", "Bearer s3cret-token")
	if resp.StatusCode != http.StatusOK || !strings.Contains(b, `{"inserted":0,"duplicate":0,"pending":1,"rejected":[{"line":1`) {
		t.Fatalf("kept events beside a wrong line: %s %s", resp.Status, b)
	}
	csv := filepath.Join(t.TempDir(), "dee.csv")
	if err := os.WriteFile(csv, []byte("email,company,industry,employees,signup_at,first_name\ndee@delta.example,Delta,saas,80,2026-11-23T16:30:00Z,Dee\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, e, code := run(t, "contacts", "import", csv, tr.store); code != 0 {
		t.Fatalf("import: %s%s", o, e)
	}
	if n := tr.count(`SELECT COUNT(*) FROM events e JOIN contacts c ON c.id = e.contact_id WHERE e.id = 'web-1' AND c.email = 'dee@delta.example'`); n != 1 {
		t.Errorf("the kept event is not the new contact's: %d", n)
	}
	if n := tr.count(`SELECT COUNT(*) FROM pending_events WHERE id = 'web-1'`); n != 0 {
		t.Errorf("%d events still kept after the import", n)
	}
}

// TestServeWebView follows the "View in your browser" link of a delivered
// email on the real server: the page is the email the contact got, with
// the same signed links, as the version it was planned under, even after
// a new version changed the email; it counts no open and links to no web
// view; a forged token, or a token of another kind, gets 404.
func TestServeWebView(t *testing.T) {
	t.Parallel()
	eachStore(t, testServeWebView)
}

func testServeWebView(t *testing.T, tr *tracked) {
	tr.srv.Programs = appliedVersions(tr.st)
	m := tr.mail["ann@acme.example"]
	view := tr.link("ann@acme.example", track.WebView)
	if !strings.Contains(m.HTML, ">View in your browser</a>") {
		t.Fatalf("the email has no web-view line:\n%s", m.HTML)
	}
	content := func(page string) string {
		i := strings.Index(page, `class="content"`)
		j := strings.LastIndex(page, "</td>")
		if i < 0 || j < i {
			t.Fatalf("no content cell in:\n%s", page)
		}
		return page[i:j]
	}
	check := func(when string) {
		t.Helper()
		resp, body := tr.do("GET", view, "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: web view: %s %s\n%s", when, resp.Status, resp.Header.Get("Content-Type"), body)
		}
		// The message's lines end in CRLF, as mail's do.
		if got, want := content(body), content(strings.ReplaceAll(m.HTML, "\r\n", "\n")); got != want {
			t.Errorf("%s: the web view is not the email Ann got:\n--- email\n%s\n--- web view\n%s", when, want, got)
		}
		if strings.Contains(body, "/o/") || strings.Contains(body, "/v/") {
			t.Errorf("%s: the web view carries the open pixel or a link to itself:\n%s", when, body)
		}
	}
	check("as applied")
	if n := tr.events("email.opened"); n != 0 {
		t.Errorf("the web view recorded %d opens", n)
	}

	// A new version rewrites the welcome email; Ann's web view still
	// shows the one she got.
	hello := filepath.Join(tr.prog, "emails", "welcome", "hello.md")
	src, _ := os.ReadFile(hello)
	if err := os.WriteFile(hello, []byte(strings.Replace(string(src), "Welcome to Acme.", "A rewritten welcome.", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, e, code := run(t, "apply", tr.prog, "--auto-approve", tr.store); code != 0 {
		t.Fatalf("apply: %s%s", o, e)
	}
	v, err := tr.st.Applied(context.Background())
	if err != nil || v == nil {
		t.Fatalf("no applied version: %v", err)
	}
	p := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Emails["emails/welcome/hello.md"].HTML.String(), "A rewritten welcome.") {
		t.Fatalf("the new version does not rewrite the email")
	}
	tr.srv.SetProgram(p)
	check("after a new version")

	forged := []byte(view)
	forged[len(forged)-2] ^= 1
	unsub := strings.Replace(tr.link("ann@acme.example", track.Unsubscribe), "/u/", "/v/", 1)
	for _, path := range []string{string(forged), unsub, "/v/"} {
		if resp, _ := tr.do("GET", path, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// TestServeUnsubscribeChoices walks the unsubscribe page on the real
// server: it names the company, offers one email a month instead, says
// "you are unsubscribed" with an undo once done and never asks again,
// undoes only what it did, and the preference page names the company.
func TestServeUnsubscribeChoices(t *testing.T) {
	eachStore(t, testServeUnsubscribeChoices)
}

func testServeUnsubscribeChoices(t *testing.T, tr *tracked) {
	ctx := context.Background()
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	page := tr.link("cy@gamma.example", track.Unsubscribe)
	asks := func(body string) bool { return strings.Contains(body, "Unsubscribe from Acme Analytics?</h1>") }
	get := func(path string) string {
		t.Helper()
		resp, body := tr.do("GET", path, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
		}
		return body
	}
	post := func(path, data string) string {
		t.Helper()
		resp, body := tr.do("POST", path, data, form...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s %s: %s\n%s", path, data, resp.Status, body)
		}
		return body
	}
	suppressed := func(email string) int {
		return tr.count(`SELECT COUNT(*) FROM suppressions WHERE email = ? AND reason = 'unsubscribed'`, email)
	}

	body := get(page)
	if !asks(body) || !strings.Contains(body, `name="instead" value="monthly"`) || !strings.Contains(body, "no more marketing email from Acme Analytics") {
		t.Fatalf("the confirm page does not name the company or offer less often:\n%s", body)
	}

	// Less often instead: a preference, not a suppression.
	body = post(page, "instead=monthly")
	if !strings.Contains(body, "at most one email a month from Acme Analytics") || !strings.Contains(body, `href="/p/`) {
		t.Errorf("less often: %s", body)
	}
	cy, err := tr.st.Contact(ctx, "cy@gamma.example")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tr.st.Preferences(ctx, cy.ID); err != nil || p.Frequency != "monthly" {
		t.Errorf("less often stored %+v, %v; want monthly", p, err)
	}
	if n := suppressed("cy@gamma.example"); n != 0 {
		t.Errorf("less often unsubscribed")
	}
	if body = get(page); !asks(body) || strings.Contains(body, `name="instead"`) {
		t.Errorf("after choosing monthly, the page should still ask, without offering monthly again:\n%s", body)
	}

	// Unsubscribed: the page says so, with an undo, and never asks again.
	body = post(page, "List-Unsubscribe=One-Click")
	if !strings.Contains(body, "You are unsubscribed") || !strings.Contains(body, `name="undo"`) {
		t.Errorf("after unsubscribing: %s", body)
	}
	body = get(page)
	if asks(body) || strings.Contains(body, "Unsubscribe?") || !strings.Contains(body, "You are unsubscribed") || !strings.Contains(body, `name="undo"`) {
		t.Errorf("the page asks again once unsubscribed:\n%s", body)
	}
	prefs := tr.link("cy@gamma.example", track.Preferences)
	if body = get(prefs); !strings.Contains(body, "Email from Acme Analytics to cy@gamma.example") || !strings.Contains(body, "You are unsubscribed") {
		t.Errorf("the preference page does not name the company or the unsubscribe:\n%s", body)
	}

	// Undo.
	if body = post(page, "undo=1"); !strings.Contains(body, "You are subscribed again") {
		t.Errorf("undo: %s", body)
	}
	if n := suppressed("cy@gamma.example"); n != 0 {
		t.Errorf("undo left %d suppressions", n)
	}
	if body = get(page); !asks(body) {
		t.Errorf("after the undo the page should ask again:\n%s", body)
	}
	// A one-click POST unsubscribes whatever else it carries.
	post(page, "List-Unsubscribe=One-Click&undo=1")
	if n := suppressed("cy@gamma.example"); n != 1 {
		t.Errorf("a one-click POST with undo did not unsubscribe")
	}

	// An unsubscribe that did not come through the page stays.
	if _, err := tr.st.Suppress(ctx, []runtime.Suppression{{Email: "ann@acme.example", Reason: runtime.ReasonUnsubscribed, Source: "old-esp.csv", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	ann := tr.link("ann@acme.example", track.Unsubscribe)
	if body = get(ann); asks(body) || !strings.Contains(body, "You are unsubscribed") {
		t.Errorf("Ann, unsubscribed elsewhere, is asked again:\n%s", body)
	}
	if body = post(ann, "undo=1"); !strings.Contains(body, "cannot be undone here") {
		t.Errorf("undoing an imported unsubscribe: %s", body)
	}
	if n := suppressed("ann@acme.example"); n != 1 {
		t.Errorf("the page lifted an unsubscribe it did not make")
	}
}

// A reply posted to the API is recorded as email.replied of the send its
// In-Reply-To (or References) names, once, and the report counts it for
// that email; an automatic reply is not recorded, and a reply that names
// no send counts for its sender alone.
func TestServeReplies(t *testing.T) {
	eachStore(t, testServeReplies)
}

func testServeReplies(t *testing.T, tr *tracked) {
	mid := tr.mail["cy@gamma.example"].Header.Get("Message-ID")
	// As if cy's email were arm b of an A/B send: the reply, and a
	// bounce notice, name the arm too.
	q := `UPDATE sends SET variant = 'b' WHERE message_id = ?`
	if tr.postgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	if _, err := tr.st.DB().Exec(q, strings.Trim(mid, "<>")); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		resp, b := tr.do("POST", "/v1/replies", body, "Authorization", "Bearer s3cret-token")
		return resp.StatusCode, b
	}
	if resp, _ := tr.do("POST", "/v1/replies", `{"id":"r"}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %s", resp.Status)
	}
	replies := `[{"id":"<r1@gamma.example>","in_reply_to":"` + mid + `","from":"Cy <cy@gamma.example>","at":"2026-11-23T16:30:00Z"},
{"id":"<ooo@gamma.example>","in_reply_to":"` + mid + `","from":"cy@gamma.example","auto":true},
{"id":"<r2@acme.example>","references":["<older@elsewhere.example>"],"from":"ann@acme.example","at":"2026-11-23T16:40:00Z"},
{"id":"<r3@nowhere.example>","in_reply_to":"<nothing@x.example>"}]`
	if code, b := post(replies); code != http.StatusOK || b != `{"recorded":2,"duplicate":0,"matched":1,"auto_replies":1,"unknown_address":1,"unsubscribed":0}`+"\n" {
		t.Errorf("replies: %d %s", code, b)
	}
	if code, b := post(replies); code != http.StatusOK || !strings.Contains(b, `"recorded":0,"duplicate":2`) {
		t.Errorf("replayed replies: %d %s", code, b)
	}
	var props string
	if err := tr.st.DB().QueryRow(`SELECT props FROM events WHERE id = 'reply/<r1@gamma.example>'`).Scan(&props); err != nil {
		t.Fatal(err)
	}
	if p := strings.ReplaceAll(props, " ", ""); !strings.Contains(p, `"sequence":"welcome"`) || !strings.Contains(p, `"variant":"b"`) {
		t.Errorf("the reply's event does not name its send and arm: %s", props)
	}
	if resp, b := tr.do("POST", "/v1/bounces", `{"id":"soft-1","type":"bounce","bounce":"soft","message_id":"`+strings.Trim(mid, "<>")+`"}`,
		"Authorization", "Bearer s3cret-token"); resp.StatusCode != http.StatusOK {
		t.Fatalf("bounce: %s %s", resp.Status, b)
	}
	if err := tr.st.DB().QueryRow(`SELECT props FROM events WHERE id = 'webhook/soft-1'`).Scan(&props); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ReplaceAll(props, " ", ""), `"variant":"b"`) {
		t.Errorf("the bounce's event does not name its send's arm: %s", props)
	}
	if n := tr.events(campaigns.EventReplied); n != 2 {
		t.Errorf("%d replies recorded, want 2 (the automatic one left out)", n)
	}
	for body, want := range map[string]string{
		`{"in_reply_to":"<a@b.example>"}`:                          `field \"id\"`,
		`{"id":"x"}`:                                               `fields \"from\", \"in_reply_to\" and \"references\"`,
		`{"id":"x","from":"not an address"}`:                       `field \"from\": \"not an address\" is not an address`,
		`[{"id":"x","from":"a@b.example"},{"from":"c@d.example"}]`: `reply 2: field \"id\"`,
		`nonsense`: "not a reply",
	} {
		if code, b := post(body); code != http.StatusBadRequest || !strings.Contains(b, want) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, code, b, want)
		}
	}

	out, errOut, code := run(t, "report", tr.store, "--since", "2026-11-23", "--until", "2026-11-24", "--format", "json")
	if code != 0 {
		t.Fatalf("report: %s", errOut)
	}
	var r struct {
		Sequences []struct {
			Name  string
			Total struct {
				Replies   int
				ReplyRate struct{ Count, Of int } `json:"reply_rate"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	// ann's reply names no send; cy's send counts as bounced, which the
	// report counts whatever the bounce's kind.
	if len(r.Sequences) != 1 || r.Sequences[0].Total.Replies != 1 || r.Sequences[0].Total.ReplyRate.Of != 1 {
		t.Errorf("the report counts %+v; want welcome's 1 reply of 1 delivered", r.Sequences)
	}
}

// A contact who chooses one email every two weeks on the preference page
// is held to it by the engine, on either store: the guide due a week
// after the welcome waits until the welcome is two weeks old.
func TestServePreferencesBiweekly(t *testing.T) {
	eachStore(t, func(t *testing.T, tr *tracked) {
		ann := tr.link("ann@acme.example", track.Preferences)
		resp, body := tr.do("GET", ann, "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="biweekly"`) || !strings.Contains(body, "At most one email every two weeks") {
			t.Fatalf("preference page: %s\n%s", resp.Status, body)
		}
		resp, body = tr.do("POST", ann, "frequency=biweekly&topic=product&topic=events", "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != http.StatusOK || !regexp.MustCompile(`value="biweekly" checked`).MatchString(body) {
			t.Fatalf("saving Ann's preferences: %s\n%s", resp.Status, body)
		}
		c, err := tr.st.Contact(context.Background(), "ann@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := tr.st.Preferences(context.Background(), c.ID); err != nil || p.Frequency != "biweekly" {
			t.Fatalf("stored preferences: %+v, %v", p, err)
		}
		// Cy, who chose nothing, gets the guide; Ann waits.
		o, e, code := run(t, "tick", "--now", "2026-11-30T15:00:00Z", tr.store)
		if code != 0 || !strings.Contains(o, "emails: 1 planned, 1 held back") {
			t.Errorf("tick a week on: %s%s", o, e)
		}
		o, _, _ = run(t, "explain", "ann@acme.example", "--now", "2026-11-30T15:00:00Z", tr.store)
		if !strings.Contains(o, "next check 2026-12-07T15:00:00Z: held back by the contact's preferences (biweekly: at most 1 per 2w)") ||
			!strings.Contains(o, "at most one email every two weeks (biweekly, at most 1 per 2w)\n") {
			t.Errorf("explain does not say why the guide waits:\n%s", o)
		}
	})
}
