package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// An account hand-off hands the account over once, whichever of its
// contacts reach it and however many: the CRM's webhook, a real HTTP
// server, gets one POST per account carrying the account and its
// contacts, and the account's owner one email; a contact reaching it
// later joins it without a second call; the account score crossing its
// threshold hands an account over although no contact of it asked;
// and a return from sales through any contact takes back every contact
// that reached the hand-off. On dates in 2027, so that nothing leans on
// today.
func TestAccountHandoffOncePerAccount(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, b)
	}))
	defer srv.Close()
	posts := func() []engine.HandoffPayload {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		var out []engine.HandoffPayload
		for _, b := range bodies {
			var p engine.HandoffPayload
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}

	// Monday 15 March 2027, 11:00 in New York.
	t0 := time.Date(2027, 3, 15, 15, 0, 0, 0, time.UTC)
	w := newWorld(t)
	w.clock = t0.AddDate(0, 0, -1)
	p := w.eng.Program
	p.Accounts.Attributes = map[string]*campaigns.Attribute{"owner": {Type: campaigns.TypeString}}
	p.Accounts.Score = &campaigns.AccountScore{Model: "lead", Rollup: campaigns.RollupSum, Thresholds: map[string]float64{"hot": 60}}
	h := p.Handoffs["sales"]
	h.WebhookURL, h.SecretEnv, h.NotifyAttribute, h.Per = srv.URL, "", "owner", campaigns.PerAccount
	h.ReturnStage = "lead"
	welcome := p.Sequences["welcome"]
	welcome.Exits = append(welcome.Exits, campaigns.ExitRule{Reason: "account_hot", Handoff: "sales",
		When: &campaigns.Predicate{Op: campaigns.OpAccountScore, Score: &campaigns.ScoreCondition{Cmp: campaigns.CmpGte, Value: 60, Threshold: "hot"}}})
	if err := w.st.SyncAccountSchema(ctx, p.Accounts.Attributes); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.UpsertAccounts(ctx, p.Accounts.Attributes, []runtime.AccountRecord{
		{Line: 2, Key: "acme", Values: map[string]any{"owner": "olivia@seller.example"}},
		{Line: 3, Key: "globex", Values: map[string]any{"owner": "gus@seller.example"}},
	}); err != nil {
		t.Fatal(err)
	}
	// acme scores 30 (one saas contact), globex 30: neither is hot.
	signed := t0.AddDate(0, 0, -1)
	w.contact("ann@acme.example", signed, "account", "acme")
	w.contact("al@acme.example", signed, "account", "acme", "industry", "retail")
	w.contact("bo@acme.example", signed, "account", "acme", "industry", "retail")
	w.contact("cy@globex.example", signed, "account", "globex")
	w.contact("dee@globex.example", signed, "account", "globex", "industry", "retail")
	w.tick(t0)

	event := func(id, email, name string, at time.Time, props map[string]any) {
		t.Helper()
		if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: id, Email: email, Name: name, At: at, Props: props}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	deliver := func(at time.Time) int {
		t.Helper()
		done, failed, err := w.eng.Handoffs(ctx, w.st, srv.Client(), mail.FileSink{Dir: dir}, at)
		if err != nil || failed != 0 {
			t.Fatalf("hand-offs at %s: %d failed, %v", at, failed, err)
		}
		return done
	}

	// Ann and Al of acme both ask for a demo: one hand-off of acme.
	event("d1", "ann@acme.example", "demo_requested", t0.Add(time.Hour), nil)
	event("d2", "al@acme.example", "demo_requested", t0.Add(time.Hour), nil)
	at := t0.Add(2 * time.Hour)
	if r := w.tick(at); r.Exited["converted"] != 2 {
		t.Fatalf("demo requests: %+v", r)
	}
	if done := deliver(at); done != 1 {
		t.Fatalf("%d hand-offs delivered; want acme's, once", done)
	}
	got := posts()
	if len(got) != 1 {
		t.Fatalf("%d POSTs; want one for acme", len(got))
	}
	thirty, zero := 30.0, 0.0
	want := &engine.HandoffAccount{Key: "acme", Attributes: map[string]any{"owner": "olivia@seller.example"}, Score: &thirty,
		Contacts: []engine.HandoffAccountContact{
			{Email: "ann@acme.example", Role: "triggered", Score: &thirty, Reason: "converted", Sequence: "welcome", At: at},
			{Email: "al@acme.example", Role: "joined", Score: &zero, Reason: "converted", Sequence: "welcome", At: at},
			{Email: "bo@acme.example", Role: "engaged", Score: &zero},
		}}
	if got[0].Contact["email"] != "ann@acme.example" || got[0].Handoff != "sales" || got[0].Reason != "converted" {
		t.Errorf("the webhook's lead: %+v", got[0])
	}
	if diff := cmp.Diff(want, got[0].Account); diff != "" {
		t.Errorf("the webhook's account (-want +got):\n%s", diff)
	}
	hs, err := w.st.Handoffs(ctx, runtime.HandoffFilter{Account: "acme"})
	if err != nil || len(hs) != 1 {
		t.Fatalf("acme's hand-offs: %+v, %v", hs, err)
	}
	eml, err := os.ReadFile(filepath.Join(dir, "handoff-"+strconv.FormatInt(hs[0].ID, 10)+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"To: <olivia@seller.example>", "Subject: Account for you: acme (converted)", "ann@acme.example  triggered, score 30, converted", "al@acme.example  joined", "bo@acme.example  engaged"} {
		if !strings.Contains(string(eml), s) {
			t.Errorf("the owner's email lacks %q:\n%s", s, eml)
		}
	}

	// Bo asks a day later: he joins acme's hand-off, and sales hears
	// nothing more.
	event("d3", "bo@acme.example", "demo_requested", t0.Add(24*time.Hour), nil)
	at = t0.Add(25 * time.Hour)
	w.tick(at)
	if done := deliver(at); done != 0 || len(posts()) != 1 {
		t.Errorf("after bo joined: %d delivered, %d POSTs; want none more", done, len(posts()))
	}
	hs, _ = w.st.Handoffs(ctx, runtime.HandoffFilter{Account: "acme"})
	if len(hs) != 1 || len(hs[0].Contacts) != 3 || hs[0].Contacts[2].Email != "bo@acme.example" {
		t.Errorf("acme's hand-off after bo: %+v", hs)
	}

	// Dee turns out to be in saas too: globex's score reaches 60, and
	// globex is handed over once although neither contact asked.
	if _, err := w.st.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{{Email: "dee@globex.example", Values: map[string]any{"industry": "saas"}}}, "test"); err != nil {
		t.Fatal(err)
	}
	at = t0.Add(48 * time.Hour)
	if r := w.tick(at); r.Exited["account_hot"] != 2 {
		t.Fatalf("globex turning hot: %+v", r)
	}
	if done := deliver(at); done != 1 {
		t.Fatalf("%d delivered; want globex's", done)
	}
	if got := posts(); len(got) != 2 || got[1].Account.Key != "globex" || len(got[1].Account.Contacts) != 2 ||
		!cmp.Equal(got[1].Account.Thresholds, []string{"hot"}) || got[1].Reason != "account_hot" {
		t.Errorf("globex's POST: %+v", got[len(got)-1])
	}

	// Sales returns acme through Al: all three of acme go back to lead.
	event("r1", "al@acme.example", campaigns.EventReturned, t0.Add(72*time.Hour), map[string]any{"handoff": "sales"})
	if r := w.tick(t0.Add(73 * time.Hour)); r.Returned != 3 {
		t.Fatalf("acme returned: %+v; want its three contacts back", r)
	}
	for _, email := range []string{"ann@acme.example", "al@acme.example", "bo@acme.example"} {
		if c, _ := w.st.Contact(ctx, email); c.Values[campaigns.AttrStage] != "lead" {
			t.Errorf("%s after the return: stage %v; want lead", email, c.Values[campaigns.AttrStage])
		}
	}
	if c, _ := w.st.Contact(ctx, "cy@globex.example"); c.Values[campaigns.AttrStage] == "lead" {
		t.Errorf("globex was not returned, yet cy is back to lead")
	}
}

// A cooldown reopens an account hand-off: a contact of the account
// reaching it within the cooldown joins it, one after it makes another.
// And a hand-off carries the contacts that reached it and at most
// AccountHandoffContacts of the account's others.
func TestAccountHandoffCooldown(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var got []engine.HandoffPayload
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var p engine.HandoffPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
	}))
	defer srv.Close()

	// Tuesday 1 June 2027, 11:00 in New York.
	t0 := time.Date(2027, 6, 1, 15, 0, 0, 0, time.UTC)
	w := newWorld(t)
	w.clock = t0.AddDate(0, 0, -1)
	p := w.eng.Program
	p.Accounts.Attributes = map[string]*campaigns.Attribute{"owner": {Type: campaigns.TypeString}}
	h := p.Handoffs["sales"]
	h.WebhookURL, h.SecretEnv, h.Per, h.Cooldown = srv.URL, "", campaigns.PerAccount, campaigns.Duration(48*time.Hour)
	if err := w.st.SyncAccountSchema(ctx, p.Accounts.Attributes); err != nil {
		t.Fatal(err)
	}
	signed := t0.AddDate(0, 0, -1)
	for i := range engine.AccountHandoffContacts + 3 {
		w.contact("c"+strconv.Itoa(i)+"@acme.example", signed, "account", "acme")
	}
	w.tick(t0)
	demo := func(who int, at time.Time) {
		t.Helper()
		email := "c" + strconv.Itoa(who) + "@acme.example"
		if _, err := w.st.RecordEvents(ctx, []runtime.Event{{ID: "d" + strconv.Itoa(who), Email: email, Name: "demo_requested", At: at}}); err != nil {
			t.Fatal(err)
		}
	}
	deliver := func(at time.Time) {
		t.Helper()
		if _, failed, err := w.eng.Handoffs(ctx, w.st, srv.Client(), nil, at); err != nil || failed != 0 {
			t.Fatalf("hand-offs at %s: %d failed, %v", at, failed, err)
		}
	}
	demo(0, t0.Add(time.Hour))
	w.tick(t0.Add(2 * time.Hour))
	deliver(t0.Add(2 * time.Hour))
	demo(1, t0.Add(24*time.Hour)) // within the two days: joins
	w.tick(t0.Add(25 * time.Hour))
	deliver(t0.Add(25 * time.Hour))
	demo(2, t0.Add(72*time.Hour)) // after them: a new hand-off
	w.tick(t0.Add(73 * time.Hour))
	deliver(t0.Add(73 * time.Hour))

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d POSTs; want two, the second after the cooldown", len(got))
	}
	var roles []string
	for _, c := range got[0].Account.Contacts {
		roles = append(roles, c.Role)
	}
	want := append([]string{"triggered"}, slices.Repeat([]string{"engaged"}, engine.AccountHandoffContacts)...)
	if diff := cmp.Diff(want, roles); diff != "" {
		t.Errorf("the first hand-off's contacts (-want +got):\n%s", diff)
	}
	if c := got[1].Account.Contacts[0]; c.Email != "c2@acme.example" || c.Role != "triggered" {
		t.Errorf("the second hand-off was made by %+v; want c2", c)
	}
	hs, err := w.st.Handoffs(ctx, runtime.HandoffFilter{Account: "acme"})
	if err != nil || len(hs) != 2 || len(hs[1].Contacts) != 2 || hs[1].Contacts[1].Email != "c1@acme.example" {
		t.Errorf("acme's hand-offs: %+v, %v; want c1 joined to the first", hs, err)
	}
}
