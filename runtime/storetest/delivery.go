package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// deliveryStore is what delivery and the tracking server ask of a store.
type deliveryStore interface {
	runtime.Store
	ClaimSends(ctx context.Context, worker string, now time.Time, limit int, messageID func(string) string) ([]runtime.Claim, error)
	OptOutSerial(ctx context.Context) (int64, error)
	OptOuts(ctx context.Context, ids []int64) (map[int64]runtime.OptOut, error)
	ChosenFrequencies(ctx context.Context) (map[string]int, error)
	Ledger(ctx context.Context, f runtime.SendFilter) ([]runtime.LedgerRow, error)
	RequeueSend(ctx context.Context, id int64, at time.Time, why string) (bool, error)
	HandOver(ctx context.Context, worker string, marks, accepted map[int64]string, now time.Time) ([]int64, int64, error)
	ReleaseSends(ctx context.Context, worker string, ids []int64) error
	HoldSend(ctx context.Context, worker string, id int64, until time.Time, why string) error
	HandedOver(ctx context.Context, ids []int64, since time.Time) (map[int64][]runtime.Handed, error)
	RecoverSends(ctx context.Context, now time.Time, maxAttempts int) (runtime.Recovered, error)
	FinishSend(ctx context.Context, id int64, status, messageID, failure string, now time.Time) error
	RetrySend(ctx context.Context, id int64, at time.Time, failure string) error
	ResolveSend(ctx context.Context, id int64, status, why string) (bool, error)
	Send(ctx context.Context, id int64) (*runtime.SendRecord, error)
	SendByMessageID(ctx context.Context, messageID string) (*runtime.SendRecord, error)
	DeliveryStats(ctx context.Context, since time.Time) (runtime.DeliveryStats, error)
	TrackingKeys(ctx context.Context) ([]runtime.TrackingKey, error)
	RotateTrackingKey(ctx context.Context) (runtime.TrackingKey, error)
	RetireTrackingKey(ctx context.Context, id int64) (bool, error)
	Preferences(ctx context.Context, contact int64) (runtime.Preferences, error)
	SetPreferences(ctx context.Context, contact int64, p runtime.Preferences, now time.Time) error
	ContactsByID(ctx context.Context, ids []int64) (map[int64]*runtime.Contact, error)
	Matches(ctx context.Context, prog *campaigns.Program, id int64, ps []campaigns.Predicate, now time.Time) ([]bool, error)
}

func testDelivery(t *testing.T, o Opener) {
	ctx := context.Background()
	emails := []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example"}
	s, ids := deliveryContacts(t, o, emails...)
	for i, e := range emails {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, 'welcome', 'hello', 1, 'emails/hello.md', 'planned', ?)`,
			e, ids[e], Now.Add(time.Duration(i)*time.Minute))
	}
	// One later than now is not claimed; a suppressed address is
	// cancelled, not claimed.
	o.Exec(t, s, `UPDATE sends SET planned_at = ? WHERE key = 'e@x.example'`, Now.Add(time.Hour))
	if _, err := s.Suppress(ctx, []runtime.Suppression{{Email: "b@x.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: Now}}); err != nil {
		t.Fatal(err)
	}
	// A claim of 2 takes a and cancels b: a claim may come back short.
	cs, err := s.ClaimSends(ctx, "w1", Now.Add(10*time.Minute), 2, nil)
	if err != nil || len(cs) != 1 || cs[0].Key != "a@x.example" {
		t.Fatalf("first claim: %+v, %v", cs, err)
	}
	if b, _ := s.Send(ctx, sendID(t, o, s, "b@x.example")); b == nil || b.Status != runtime.SendCancelled {
		t.Errorf("the suppressed address's send: %+v", b)
	}
	cs2, err := s.ClaimSends(ctx, "w1", Now.Add(10*time.Minute), 10, func(key string) string { return "claim-" + key })
	if err != nil || len(cs2) != 2 || cs2[0].Key != "c@x.example" || cs2[1].Key != "d@x.example" {
		t.Fatalf("second claim: %+v, %v", cs2, err)
	}
	// The Message-ID is written with the claim: a bounce finds the send
	// even if its worker never records it.
	if d, err := s.SendByMessageID(ctx, "claim-d@x.example"); err != nil || d == nil || d.Status != runtime.SendClaimed {
		t.Errorf("a claimed send by its Message-ID: %+v, %v", d, err)
	}
	cs = append(cs, cs2[0])
	cs2 = cs2[1:]
	if more, err := s.ClaimSends(ctx, "w1", Now.Add(10*time.Minute), 10, nil); err != nil || len(more) != 0 {
		t.Errorf("third claim: %+v, %v", more, err)
	}

	// a accepted with c in one statement; d deferred and planned again.
	at := Now.Add(11 * time.Minute)
	if _, _, err := s.HandOver(ctx, "w1", nil, map[int64]string{cs[0].ID: "mid-a@x.example", cs[1].ID: "mid-c@x.example"}, at); err != nil {
		t.Fatal(err)
	}
	if err := s.RetrySend(ctx, cs2[0].ID, at.Add(30*time.Minute), "temporary 451: try later"); err != nil {
		t.Fatal(err)
	}
	a, err := s.SendByMessageID(ctx, "<mid-a@x.example>")
	if err != nil || a == nil || a.Key != "a@x.example" || a.Status != runtime.SendAccepted || !a.SentAt.Equal(at) || a.Contact != ids["a@x.example"] {
		t.Errorf("SendByMessageID: %+v, %v", a, err)
	}
	if none, err := s.SendByMessageID(ctx, "nothing@x.example"); none != nil || err != nil {
		t.Errorf("an unknown Message-ID: %+v, %v", none, err)
	}
	if retry, err := s.ClaimSends(ctx, "w2", at.Add(30*time.Minute), 10, nil); err != nil || len(retry) != 1 || retry[0].Key != "d@x.example" || retry[0].Attempts != 1 {
		t.Errorf("the deferred send's next claim: %+v, %v", retry, err)
	} else if err := s.FinishSend(ctx, retry[0].ID, runtime.SendUnknown, "mid-d@x.example", "lost after DATA", at.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Evidence settles an unknown send once; an accepted one stays.
	d, _ := s.SendByMessageID(ctx, "mid-d@x.example")
	if ok, err := s.ResolveSend(ctx, d.ID, runtime.SendAccepted, "clicked"); !ok || err != nil {
		t.Errorf("resolving the unknown send: %v, %v", ok, err)
	}
	if ok, _ := s.ResolveSend(ctx, d.ID, runtime.SendFailed, "bounced"); ok {
		t.Error("a resolved send was resolved again")
	}
	if d, _ = s.Send(ctx, d.ID); d.Status != runtime.SendAccepted {
		t.Errorf("after resolving: %+v", d)
	}

	// The breaker's counts: three accepted, one hard bounce (a soft one
	// does not count), one complaint.
	if _, err := s.RecordEvents(ctx, []runtime.Event{
		{ID: "b1", Email: "a@x.example", Name: campaigns.EventBounced, At: at, Props: map[string]any{"kind": "hard"}},
		{ID: "b2", Email: "c@x.example", Name: campaigns.EventBounced, At: at, Props: map[string]any{"kind": "soft"}},
		{ID: "b3", Email: "c@x.example", Name: campaigns.EventComplained, At: at},
		{ID: "b4", Email: "c@x.example", Name: campaigns.EventComplained, At: Now.Add(-48 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	stats, err := s.DeliveryStats(ctx, Now)
	if diff := cmp.Diff(runtime.DeliveryStats{Sent: 3, Bounced: 1, Complained: 1}, stats); err != nil || diff != "" {
		t.Errorf("DeliveryStats: %v (-want +got):\n%s", err, diff)
	}

	// Tracking keys: made on first use, rotated, retired.
	k1, err := s.TrackingKeys(ctx)
	if err != nil || len(k1) != 1 || len(k1[0].Secret) != 32 {
		t.Fatalf("first keys: %+v, %v", k1, err)
	}
	if again, _ := s.TrackingKeys(ctx); len(again) != 1 || string(again[0].Secret) != string(k1[0].Secret) {
		t.Error("asking twice made a second key")
	}
	k2, err := s.RotateTrackingKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.TrackingKeys(ctx); len(ks) != 2 || ks[0].ID != k2.ID {
		t.Errorf("after rotation the new key does not sign first: %+v", ks)
	}
	if ok, err := s.RetireTrackingKey(ctx, k1[0].ID); !ok || err != nil {
		t.Errorf("retire: %v, %v", ok, err)
	}
	if ks, _ := s.TrackingKeys(ctx); len(ks) != 1 || ks[0].ID != k2.ID {
		t.Errorf("after retiring: %+v", ks)
	}

	// Preferences: stored, read with the contact, and in conditions.
	c := ids["c@x.example"]
	if err := s.SetPreferences(ctx, c, runtime.Preferences{Frequency: runtime.FrequencyMonthly, TopicsOut: []string{"events", "product"}}, Now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPreferences(ctx, ids["a@x.example"], runtime.Preferences{TopicsOut: []string{"product_news"}}, Now); err != nil {
		t.Fatal(err)
	}
	got, err := s.Preferences(ctx, c)
	if diff := cmp.Diff(runtime.Preferences{Frequency: "monthly", TopicsOut: []string{"events", "product"}, UpdatedAt: Now}, got); err != nil || diff != "" {
		t.Errorf("Preferences: %v (-want +got):\n%s", err, diff)
	}
	byID, err := s.ContactsByID(ctx, []int64{c, ids["d@x.example"]})
	if err != nil || byID[c].Prefs.Frequency != "monthly" || byID[ids["d@x.example"]].Prefs.Frequency != "" {
		t.Errorf("ContactsByID's preferences: %+v, %v", byID, err)
	}
	p := Program()
	optedOut := func(topic string) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpOptedOut, Topic: topic}
	}
	for _, tc := range []struct {
		email string
		want  []bool
	}{
		{"c@x.example", []bool{true, true, false}},
		{"a@x.example", []bool{false, false, true}}, // "product" is not "product_news"
		{"d@x.example", []bool{false, false, false}},
	} {
		m, err := s.Matches(ctx, p, ids[tc.email], []campaigns.Predicate{optedOut("product"), optedOut("events"), optedOut("product_news")}, Now)
		if diff := cmp.Diff(tc.want, m); err != nil || diff != "" {
			t.Errorf("%s opted out: %v (-want +got):\n%s", tc.email, err, diff)
		}
	}
}

// sendID finds a send's ID by its key.
func sendID(t *testing.T, o Opener, s deliveryStore, key string) int64 {
	t.Helper()
	for id := int64(1); id < 100; id++ {
		r, err := s.Send(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil && r.Key == key {
			return id
		}
	}
	t.Fatalf("no send %s", key)
	return 0
}

// testOptOutsAndLedger: the opt-out serial moves with every suppression
// and preference written, OptOuts reads what keeps contacts from email,
// and the ledger lists and requeues sends for an operator.
func testOptOutsAndLedger(t *testing.T, o Opener) {
	ctx := context.Background()
	emails := []string{"a@x.example", "b@x.example", "c@x.example"}
	s, ids := deliveryContacts(t, o, emails...)
	serial := func() int64 {
		t.Helper()
		n, err := s.OptOutSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s0 := serial()
	if _, err := s.Suppress(ctx, []runtime.Suppression{{Email: "A@x.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: Now}}); err != nil {
		t.Fatal(err)
	}
	s1 := serial()
	if s1 == s0 {
		t.Error("a suppression did not move the opt-out serial")
	}
	if err := s.SetPreferences(ctx, ids["b@x.example"], runtime.Preferences{TopicsOut: []string{"news", "events"}}, Now); err != nil {
		t.Fatal(err)
	}
	s2 := serial()
	if s2 == s1 {
		t.Error("a preference did not move the opt-out serial")
	}
	if serial() != s2 {
		t.Error("reading moved the opt-out serial")
	}
	// A pause is an opt-out until it ends: written, it moves the serial
	// as any preference does, and OptOuts returns it.
	until := time.Date(2027, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := s.SetPreferences(ctx, ids["c@x.example"], runtime.Preferences{Frequency: "biweekly", PausedUntil: until}, Now); err != nil {
		t.Fatal(err)
	}
	s3 := serial()
	if s3 == s2 {
		t.Error("a pause did not move the opt-out serial")
	}
	if p, err := s.Preferences(ctx, ids["c@x.example"]); err != nil || !p.PausedUntil.Equal(until) || p.Frequency != "biweekly" {
		t.Errorf("Preferences after a pause: %+v, %v", p, err)
	}
	outs, err := s.OptOuts(ctx, []int64{ids["a@x.example"], ids["b@x.example"], ids["c@x.example"]})
	want := map[int64]runtime.OptOut{
		ids["a@x.example"]: {Suppressed: true},
		ids["b@x.example"]: {TopicsOut: []string{"news", "events"}},
		ids["c@x.example"]: {PausedUntil: until},
	}
	if diff := cmp.Diff(want, outs); err != nil || diff != "" {
		t.Errorf("OptOuts: %v (-want +got):\n%s", err, diff)
	}
	if why := outs[ids["c@x.example"]].Withholds("", true, until.Add(-time.Minute)); why == "" {
		t.Error("a paused contact's marketing email is not withheld")
	}
	if why := outs[ids["c@x.example"]].Withholds("", false, until.Add(-time.Minute)); why != "" {
		t.Errorf("a paused contact's transactional email is withheld: %s", why)
	}
	if why := outs[ids["c@x.example"]].Withholds("", true, until); why != "" {
		t.Errorf("marketing email is withheld as the pause ends: %s", why)
	}
	// Resuming early clears it, and moves the serial again.
	if err := s.SetPreferences(ctx, ids["c@x.example"], runtime.Preferences{Frequency: "biweekly"}, Now); err != nil {
		t.Fatal(err)
	}
	if serial() == s3 {
		t.Error("resuming did not move the opt-out serial")
	}
	delete(want, ids["c@x.example"])
	outs, err = s.OptOuts(ctx, []int64{ids["a@x.example"], ids["b@x.example"], ids["c@x.example"]})
	if diff := cmp.Diff(want, outs); err != nil || diff != "" {
		t.Errorf("OptOuts after resuming: %v (-want +got):\n%s", err, diff)
	}
	if byID, err := s.ContactsByID(ctx, []int64{ids["c@x.example"]}); err != nil || !byID[ids["c@x.example"]].Prefs.PausedUntil.IsZero() {
		t.Errorf("ContactsByID after resuming: %+v, %v", byID[ids["c@x.example"]], err)
	}
	// The plan counts the frequencies chosen (NRT318); b chose none.
	if got, err := s.ChosenFrequencies(ctx); err != nil || !cmp.Equal(got, map[string]int{"biweekly": 1}) {
		t.Errorf("ChosenFrequencies = %v, %v; want biweekly 1", got, err)
	}

	for i, e := range emails {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, 'welcome', 'hello', 1, 'emails/hello.md', 'planned', ?)`,
			"k-"+e, ids[e], Now.Add(time.Duration(i)*time.Hour))
	}
	o.Exec(t, s, `UPDATE sends SET status = 'unknown', message_id = 'mid-a', claimed_by = 'w1', error = 'lost' WHERE key = 'k-a@x.example'`)
	list := func(f runtime.SendFilter) []string {
		t.Helper()
		rows, err := s.Ledger(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.Key+" "+r.Status+" "+r.Address)
		}
		return out
	}
	now := Now.Add(90 * time.Minute)
	for _, tc := range []struct {
		f    runtime.SendFilter
		want []string
	}{
		{runtime.SendFilter{Now: now}, []string{"k-a@x.example unknown a@x.example", "k-b@x.example planned b@x.example", "k-c@x.example planned c@x.example"}},
		{runtime.SendFilter{State: runtime.SendPlanned, Now: now}, []string{"k-b@x.example planned b@x.example"}},
		{runtime.SendFilter{State: "held", Now: now}, []string{"k-c@x.example planned c@x.example"}},
		{runtime.SendFilter{State: runtime.SendUnknown, Now: now}, []string{"k-a@x.example unknown a@x.example"}},
		{runtime.SendFilter{Email: "C@X.example", Now: now}, []string{"k-c@x.example planned c@x.example"}},
		{runtime.SendFilter{Sequence: "other", Now: now}, nil},
		{runtime.SendFilter{Now: now, Limit: 1}, []string{"k-a@x.example unknown a@x.example"}},
	} {
		if diff := cmp.Diff(tc.want, list(tc.f)); diff != "" {
			t.Errorf("Ledger(%+v) (-want +got):\n%s", tc.f, diff)
		}
	}
	a := sendID(t, o, s, "k-a@x.example")
	if ok, err := s.RequeueSend(ctx, a, now, "not in the mail server's log"); !ok || err != nil {
		t.Errorf("requeue: %v, %v", ok, err)
	}
	if ok, _ := s.RequeueSend(ctx, a, now, "again"); ok {
		t.Error("a planned send was requeued")
	}
	rows, _ := s.Ledger(ctx, runtime.SendFilter{Email: "a@x.example", Now: now})
	if len(rows) != 1 || rows[0].Status != runtime.SendPlanned || !rows[0].PlannedAt.Equal(now) || rows[0].Error != "lost; requeued: not in the mail server's log" {
		t.Errorf("after requeue: %+v", rows)
	}

	// A claim, an acceptance, and a claim that skips a suppressed
	// address.
	later := Now.Add(3 * time.Hour)
	first, err := s.ClaimSends(ctx, "w2", later, 1, nil)
	if err != nil || len(first) != 1 || first[0].Key != "k-b@x.example" {
		t.Fatalf("ClaimSends: %+v, %v", first, err)
	}
	if _, _, err := s.HandOver(ctx, "w1", nil, map[int64]string{first[0].ID: "mid-b"}, later); err != nil {
		t.Fatal(err)
	}
	next, err := s.ClaimSends(ctx, "w2", later, 1, func(k string) string { return "claim-" + k })
	// a's address is suppressed: cancelled, and c claimed in its place.
	if err != nil || len(next) != 1 || next[0].Key != "k-c@x.example" {
		t.Fatalf("ClaimSends after a cancelled one: %+v, %v", next, err)
	}
	got := list(runtime.SendFilter{Now: later})
	if diff := cmp.Diff([]string{"k-b@x.example accepted b@x.example", "k-a@x.example cancelled a@x.example", "k-c@x.example claimed c@x.example"}, got); diff != "" {
		t.Errorf("after the claims (-want +got):\n%s", diff)
	}
	if b, _ := s.SendByMessageID(ctx, "mid-b"); b == nil || b.Status != runtime.SendAccepted || !b.SentAt.Equal(later) {
		t.Errorf("the accepted send: %+v", b)
	}
}

// testRecovery: the claims of a stopped worker are settled by whether
// they were marked as handed over. Marked ones may have reached the
// server and become unknown; unmarked ones provably did not and are
// planned again, one attempt more, or fail once they had their tries.
// A worker whose claim was recovered cannot mark it any more.
func testRecovery(t *testing.T, o Opener) {
	ctx := context.Background()
	emails := []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example"}
	s, ids := deliveryContacts(t, o, emails...)
	for i, e := range emails {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, 'welcome', 'hello', 1, 'emails/hello.md', 'planned', ?)`,
			e, ids[e], Now.Add(time.Duration(i)*time.Minute))
	}
	// d has been tried 7 times already.
	o.Exec(t, s, `UPDATE sends SET attempts = 7 WHERE key = 'd@x.example'`)
	at := Now.Add(10 * time.Minute)
	cs, err := s.ClaimSends(ctx, "w-dead", at, 4, nil)
	if err != nil || len(cs) != 4 {
		t.Fatalf("claim: %+v, %v", cs, err)
	}
	id := map[string]int64{}
	for _, c := range cs {
		id[c.Key] = c.ID
	}
	// b is marked and went. a is marked, with its Message-ID, and b
	// recorded as accepted with it; e's claim is no one's: it is not
	// marked.
	before, err := s.OptOutSerial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	marked, serial, err := s.HandOver(ctx, "w-dead", map[int64]string{id["b@x.example"]: "mid-b"}, nil, at)
	if err != nil || len(marked) != 1 || serial != before {
		t.Fatalf("HandOver of b: marked %v, serial %d (read %d before), %v", marked, serial, before, err)
	}
	marked, _, err = s.HandOver(ctx, "w-dead", map[int64]string{id["a@x.example"]: "mid-a", sendID(t, o, s, "e@x.example"): "mid-e"}, map[int64]string{id["b@x.example"]: "mid-b"}, at)
	if err != nil || len(marked) != 1 || marked[0] != id["a@x.example"] {
		t.Fatalf("HandOver: marked %v, %v; want a's alone", marked, err)
	}
	if b, err := s.SendByMessageID(ctx, "mid-b"); err != nil || b == nil || b.Status != runtime.SendAccepted || !b.SentAt.Equal(at) {
		t.Errorf("b, accepted with a's mark: %+v, %v", b, err)
	}
	if a, err := s.SendByMessageID(ctx, "mid-a"); err != nil || a == nil || a.Status != runtime.SendClaimed {
		t.Errorf("a marked send by its Message-ID: %+v, %v", a, err)
	}
	if e, err := s.SendByMessageID(ctx, "mid-e"); err != nil || e != nil {
		t.Errorf("a send not marked has a Message-ID: %+v, %v", e, err)
	}
	if _, err := s.Suppress(ctx, []runtime.Suppression{{Email: "e@x.example", Reason: runtime.ReasonUnsubscribed, Source: "test", At: at}}); err != nil {
		t.Fatal(err)
	}
	// b went: a finished claim is not the stopped worker's to recover.
	// c was not begun.

	// Within the lease nothing is recovered.
	if r, err := s.RecoverSends(ctx, at.Add(runtime.ClaimLease-time.Minute), 8); err != nil || r != (runtime.Recovered{}) {
		t.Errorf("recovery within the lease: %+v, %v", r, err)
	}
	later := at.Add(runtime.ClaimLease + time.Minute)
	r, err := s.RecoverSends(ctx, later, 8)
	if want := (runtime.Recovered{Requeued: 1, Unknown: 1, Failed: 1}); err != nil || r != want {
		t.Errorf("recovery: %+v, %v; want %+v", r, err, want)
	}
	type row struct {
		Status    string
		Attempts  int
		ClaimedBy string
	}
	got := map[string]row{}
	rows, err := s.Ledger(ctx, runtime.SendFilter{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, r := range rows {
		got[r.Key] = row{r.Status, r.Attempts, r.ClaimedBy}
		why[r.Key] = r.Error
	}
	want := map[string]row{
		"a@x.example": {runtime.SendUnknown, 0, "w-dead"},
		"b@x.example": {runtime.SendAccepted, 0, "w-dead"},
		"c@x.example": {runtime.SendPlanned, 1, ""},
		"d@x.example": {runtime.SendFailed, 8, "w-dead"},
		"e@x.example": {runtime.SendPlanned, 0, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after recovery (-want +got):\n%s", diff)
	}
	for k, w := range map[string]string{"a@x.example": "w-dead", "c@x.example": "planned again", "d@x.example": "tried 8 times"} {
		if !strings.Contains(why[k], w) {
			t.Errorf("%s's error %q does not say %q", k, why[k], w)
		}
	}
	// The stopped worker, back, can no longer mark what it lost.
	// Its answer still reads the serial, which the suppression of e moved.
	if marked, serial, err := s.HandOver(ctx, "w-dead", map[int64]string{id["c@x.example"]: "mid-c"}, nil, later); err != nil || len(marked) != 0 || serial <= before {
		t.Errorf("marking a recovered claim: %v, serial %d (was %d), %v; want none, and the serial moved", marked, serial, before, err)
	}
	if marked, serial, err := s.HandOver(ctx, "w-dead", nil, nil, later); err != nil || len(marked) != 0 || serial <= before {
		t.Errorf("HandOver of nothing: %v, serial %d (was %d), %v; want the serial alone", marked, serial, before, err)
	}
	// c is claimed again, and its next recovery, marked, is unknown;
	// a retry clears the mark.
	again, err := s.ClaimSends(ctx, "w2", later, 10, nil)
	if err != nil || len(again) != 1 || again[0].Key != "c@x.example" || again[0].Attempts != 1 {
		t.Fatalf("claim after recovery: %+v, %v; want c alone (e is suppressed)", again, err)
	}
	if marked, _, err := s.HandOver(ctx, "w2", map[int64]string{again[0].ID: "mid-c"}, nil, later); err != nil || len(marked) != 1 {
		t.Fatalf("marking c: %v, %v", marked, err)
	}
	if err := s.RetrySend(ctx, again[0].ID, later, "451 later"); err != nil {
		t.Fatal(err)
	}
	if again, err = s.ClaimSends(ctx, "w3", later, 10, nil); err != nil || len(again) != 1 {
		t.Fatalf("claim after retry: %+v, %v", again, err)
	}
	if r, err := s.RecoverSends(ctx, later.Add(runtime.ClaimLease+time.Minute), 8); err != nil || r != (runtime.Recovered{Requeued: 1}) {
		t.Errorf("recovering a retried claim, its old mark cleared: %+v, %v; want requeued", r, err)
	}
}

// testRelease: sends a worker claimed and did not hand over go back to
// planned as they were, attempts and planned times untouched, a mark
// cleared; one another worker holds is not released.
func testRelease(t *testing.T, o Opener) {
	ctx := context.Background()
	emails := []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example"}
	s, ids := deliveryContacts(t, o, emails...)
	for i, e := range emails {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at, attempts) VALUES (?, ?, 'welcome', 'hello', 1, 'emails/hello.md', 'planned', ?, ?)`,
			e, ids[e], Now.Add(time.Duration(i)*time.Minute), i)
	}
	at := Now.Add(10 * time.Minute)
	mine, err := s.ClaimSends(ctx, "w1", at, 3, nil)
	if err != nil || len(mine) != 3 {
		t.Fatalf("claim: %+v, %v", mine, err)
	}
	theirs, err := s.ClaimSends(ctx, "w2", at, 1, nil)
	if err != nil || len(theirs) != 1 {
		t.Fatalf("claim: %+v, %v", theirs, err)
	}
	// a reached the last check, marked, and the pass stopped there.
	if marked, _, err := s.HandOver(ctx, "w1", map[int64]string{mine[0].ID: "mid-a"}, nil, at); err != nil || len(marked) != 1 {
		t.Fatalf("HandOver: %v, %v", marked, err)
	}
	if err := s.ReleaseSends(ctx, "w1", []int64{mine[0].ID, mine[1].ID, mine[2].ID, theirs[0].ID}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Ledger(ctx, runtime.SendFilter{Now: at})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Status    string
		Attempts  int
		ClaimedBy string
		Planned   time.Time
	}
	got := map[string]row{}
	for _, r := range rows {
		got[r.Key] = row{r.Status, r.Attempts, r.ClaimedBy, r.PlannedAt}
	}
	want := map[string]row{
		"a@x.example": {runtime.SendPlanned, 0, "", Now},
		"b@x.example": {runtime.SendPlanned, 1, "", Now.Add(time.Minute)},
		"c@x.example": {runtime.SendPlanned, 2, "", Now.Add(2 * time.Minute)},
		"d@x.example": {runtime.SendClaimed, 3, "w2", Now.Add(3 * time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after release (-want +got):\n%s", diff)
	}
	// Released, a's mark is gone: recovered later, it would be planned
	// again, not unknown.
	if again, err := s.ClaimSends(ctx, "w3", at, 1, nil); err != nil || len(again) != 1 || again[0].Key != "a@x.example" {
		t.Fatalf("claim after release: %+v, %v", again, err)
	}
	if r, err := s.RecoverSends(ctx, at.Add(runtime.ClaimLease+time.Minute), 8); err != nil || r.Unknown != 0 || r.Requeued < 1 {
		t.Errorf("recovering a released and claimed again: %+v, %v; want it planned again", r, err)
	}
}

// testHold: a claimed send held goes back to planned for later with its
// note, attempts and nothing else changed, and only by the worker that
// holds it; HandedOver lists the emails that went, with when each was
// planned and when it went.
func testHold(t *testing.T, o Opener) {
	ctx := context.Background()
	s, ids := deliveryContacts(t, o, "a@x.example")
	id := ids["a@x.example"]
	for i, step := range []string{"hello", "guide"} {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at, attempts) VALUES (?, ?, 'welcome', ?, 1, 'emails/hello.md', 'planned', ?, 2)`,
			step, id, step, Now.Add(time.Duration(i)*7*24*time.Hour))
	}
	at := Now.Add(8 * 24 * time.Hour)
	cs, err := s.ClaimSends(ctx, "w1", at, 10, nil)
	if err != nil || len(cs) != 2 || cs[0].Key != "hello" || !cs[0].Planned.Equal(Now) || !cs[1].Planned.Equal(Now.Add(7*24*time.Hour)) {
		t.Fatalf("claim: %+v, %v; want hello then guide with their planned times", cs, err)
	}
	if _, _, err := s.HandOver(ctx, "w1", nil, map[int64]string{cs[0].ID: "mid-hello"}, at); err != nil {
		t.Fatal(err)
	}
	until := at.Add(7 * 24 * time.Hour)
	if err := s.HoldSend(ctx, "w2", cs[1].ID, until, "not mine"); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldSend(ctx, "w1", cs[1].ID, until, "held back to keep the gap"); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Ledger(ctx, runtime.SendFilter{Now: until})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Key == "guide" && (r.Status != runtime.SendPlanned || !r.PlannedAt.Equal(until) || r.Attempts != 2 || r.ClaimedBy != "" || r.Error != "held back to keep the gap") {
			t.Errorf("the held send: %+v", r)
		}
	}
	handed, err := s.HandedOver(ctx, []int64{id}, Now)
	want := map[int64][]runtime.Handed{id: {{Sequence: "welcome", Planned: Now, Sent: at}}}
	if diff := cmp.Diff(want, handed); err != nil || diff != "" {
		t.Errorf("HandedOver (-want +got):\n%s%v", diff, err)
	}
	if handed, err := s.HandedOver(ctx, []int64{id}, at.Add(time.Minute)); err != nil || len(handed) != 0 {
		t.Errorf("HandedOver since after it went: %v, %v", handed, err)
	}
}

// deliveryContacts opens a store that delivers, skipping the test for one
// that does not, with a contact for each of emails; it returns the
// contacts' IDs by address.
func deliveryContacts(t *testing.T, o Opener, emails ...string) (deliveryStore, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	st, p := open(t, o)
	s, ok := st.(deliveryStore)
	if !ok {
		t.Skip("the store does not deliver")
	}
	var batch []runtime.ContactRecord
	for i, e := range emails {
		batch = append(batch, rec(i+2, e, "industry", "saas"))
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, batch, "test"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email] = c.ID; return nil })
	return s, ids
}

// ServerRestart checks recovery after the database server restarted,
// for a store whose hand-over marks commit without waiting for the disk
// (sqlstore.Dialect.ServerEpoch): restart is a statement that makes the
// claims made so far look as if made before the server last started. An
// unmarked claim from before the restart may have lost its mark with
// it, so it becomes unknown, never planned again; a claim made since is
// planned again as usual.
func ServerRestart(t *testing.T, o Opener, restart string) {
	ctx := context.Background()
	emails := []string{"a@x.example", "b@x.example", "c@x.example"}
	s, ids := deliveryContacts(t, o, emails...)
	for i, e := range emails {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, 'welcome', 'hello', 1, 'emails/hello.md', 'planned', ?)`,
			e, ids[e], Now.Add(time.Duration(i)*time.Minute))
	}
	at := Now.Add(10 * time.Minute)
	before, err := s.ClaimSends(ctx, "w-dead", at, 2, nil)
	if err != nil || len(before) != 2 {
		t.Fatalf("claim: %+v, %v", before, err)
	}
	if marked, _, err := s.HandOver(ctx, "w-dead", map[int64]string{before[0].ID: "mid-a"}, nil, at); err != nil || len(marked) != 1 {
		t.Fatalf("marking a: %v, %v", marked, err)
	}
	o.Exec(t, s, restart)
	after, err := s.ClaimSends(ctx, "w-dead", at, 2, nil)
	if err != nil || len(after) != 1 || after[0].Key != "c@x.example" {
		t.Fatalf("claim after the restart: %+v, %v; want c", after, err)
	}
	later := at.Add(runtime.ClaimLease + time.Minute)
	r, err := s.RecoverSends(ctx, later, 8)
	if want := (runtime.Recovered{Unknown: 2, Requeued: 1}); err != nil || r != want {
		t.Errorf("recovery: %+v, %v; want %+v", r, err, want)
	}
	rows, err := s.Ledger(ctx, runtime.SendFilter{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Key] = r.Status
		if r.Key == "b@x.example" && !strings.Contains(r.Error, "restarted") {
			t.Errorf("b's error %q does not say the server restarted", r.Error)
		}
	}
	want := map[string]string{"a@x.example": runtime.SendUnknown, "b@x.example": runtime.SendUnknown, "c@x.example": runtime.SendPlanned}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after recovery (-want +got):\n%s", diff)
	}
}

// testClaimMessageIDs: a claim writes each send's Message-ID as
// mail.MessageID derives it from the key, whether the store computes it
// in SQL or writes what delivery gives.
func testClaimMessageIDs(t *testing.T, o Opener) {
	ctx := context.Background()
	emails := []string{"a@x.example", "b@x.example"}
	s, ids := deliveryContacts(t, o, emails...)
	keys := []string{"a@x.example/welcome/hello", "b@x.example/bienvenue/été"}
	for i, e := range emails {
		o.Exec(t, s, `INSERT INTO sends (key, contact_id, sequence, step, version, email, status, planned_at) VALUES (?, ?, 'welcome', 'hello', 1, 'emails/hello.md', 'planned', ?)`,
			keys[i], ids[e], Now.Add(time.Duration(i)*time.Minute))
	}
	mid := func(key string) string { return mail.MessageID(key, "news@acme.example") }
	cs, err := s.ClaimSends(ctx, "w1", Now.Add(10*time.Minute), 10, mid)
	if err != nil || len(cs) != 2 {
		t.Fatalf("claim: %+v, %v", cs, err)
	}
	for _, k := range keys {
		if r, err := s.SendByMessageID(ctx, mid(k)); err != nil || r == nil || r.Key != k {
			t.Errorf("send %s by its Message-ID %s: %+v, %v", k, mid(k), r, err)
		}
	}
}
