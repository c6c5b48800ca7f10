package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/sqlite"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// Monday 23 November 2026, 10:00 in New York.
var monday = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func TestSince(t *testing.T) {
	applied := monday.Add(-time.Hour)
	for _, c := range []struct {
		name               string
		last, applied, now time.Time
		want               time.Time
	}{
		{"a later tick counts events since the last one", monday.Add(-5 * time.Minute), applied, monday, monday.Add(-5 * time.Minute)},
		{"the first tick counts events since the apply", time.Time{}, applied, monday, applied},
		{"a first tick dated before the apply acts on no old event", time.Time{}, monday.AddDate(0, 0, 11), monday, monday},
		{"a version with no apply time acts on no old event", time.Time{}, time.Time{}, monday, monday},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := worker.Since(c.last, c.applied, c.now); !got.Equal(c.want) {
				t.Errorf("Since(%s, %s, %s) = %s; want %s", c.last, c.applied, c.now, got, c.want)
			}
		})
	}
}

// store is a SQLite store with the engine tests' base programme and one
// more sequence entered by an event, applied at appliedAt; its clock is
// *clock.
func store(t *testing.T, appliedAt time.Time, clock *time.Time) (*sqlstore.Store, *campaigns.Program) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nurture.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.Now = func() time.Time { return *clock }
	b, err := os.ReadFile("../engine/testdata/base.json")
	if err != nil {
		t.Fatal(err)
	}
	p := new(campaigns.Program)
	if err := json.Unmarshal(b, p); err != nil {
		t.Fatal(err)
	}
	welcome := p.Sequences["welcome"]
	p.Sequences["demo_followup"] = &campaigns.Sequence{
		Entry:    campaigns.Entry{Event: &campaigns.EventCondition{Name: "demo_requested"}},
		Reentry:  campaigns.Reentry{Policy: campaigns.ReentryNever},
		Priority: 50, TransactionalReason: "the contact asked for a demo",
		Steps: []campaigns.Step{welcome.Steps[0]},
		UTM:   welcome.UTM,
	}
	if err := st.SyncSchema(ctx, &p.Contact); err != nil {
		t.Fatal(err)
	}
	prog, err := campaigns.Canonical(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, runtime.Version{Hash: p.Hash(), AppliedAt: appliedAt, AppliedBy: "test", Program: prog}, campaigns.PlanBase{}, nil); err != nil {
		t.Fatal(err)
	}
	return st, p
}

func contact(t *testing.T, st *sqlstore.Store, p *campaigns.Program, email string, signedUp time.Time) {
	t.Helper()
	// The programme mails on consent: the contact gave it at sign-up.
	r := runtime.ContactRecord{Email: email, Values: map[string]any{"company": "Acme", "industry": "saas", "signup_at": signedUp},
		Consent: &runtime.Consent{Email: email, At: signedUp, Source: "signup_form", Wording: "v1", Who: "test"}}
	if _, err := st.UpsertContacts(context.Background(), &p.Contact, []runtime.ContactRecord{r}, "test"); err != nil {
		t.Fatal(err)
	}
}

// A programme applied today to a store of old history, ticked as of a day
// in that history, acts on none of it as if it were new: the demo a
// contact asked for before the tick enrolls it in no follow-up, while one
// asked for after the first tick does.
func TestFirstTickActsOnNoOldEvent(t *testing.T) {
	ctx := context.Background()
	clock := monday.AddDate(0, 0, 11) // the day the programme is applied
	st, p := store(t, clock, &clock)
	contact(t, st, p, "old@acme.example", monday.AddDate(0, -5, 0))
	contact(t, st, p, "new@acme.example", monday.AddDate(0, -5, 0))
	if _, err := st.RecordEvents(ctx, []runtime.Event{{ID: "d1", Email: "old@acme.example", Name: "demo_requested", At: monday.AddDate(0, -4, 0)}}); err != nil {
		t.Fatal(err)
	}
	w := &worker.Worker{Store: st, Name: "test"}
	res, err := w.Tick(ctx, monday, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Report.Enrolled["demo_followup"]; n != 0 {
		t.Errorf("the first tick enrolled %d in demo_followup from a demo asked for months ago; want 0", n)
	}
	if _, err := st.RecordEvents(ctx, []runtime.Event{{ID: "d2", Email: "new@acme.example", Name: "demo_requested", At: monday.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	res, err = w.Tick(ctx, monday.Add(5*time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Report.Enrolled["demo_followup"]; n != 1 {
		t.Errorf("the tick after a new demo request enrolled %d in demo_followup; want 1", n)
	}
}

// A tick run with a --now before the store's clock counts changes by the
// store's clock, which stamps imports and events: the contacts imported
// before it are not changed for the next tick, which looks only at those
// that changed after it, and is not made full by the imports.
func TestTickDatedEarlierCountsChangesByTheStoresClock(t *testing.T) {
	ctx := context.Background()
	clock := monday.AddDate(0, 0, 11) // today, when the list is imported
	st, p := store(t, clock, &clock)
	for _, who := range []string{"ann", "bob", "cara", "dan", "eve", "fay", "gus", "hal"} {
		contact(t, st, p, who+"@acme.example", monday.AddDate(0, -5, 0))
	}
	clock = clock.Add(10 * time.Minute)
	w := &worker.Worker{Store: st, Name: "test"}
	res, err := w.Tick(ctx, monday, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Report.Full {
		t.Fatal("the first tick of a version was not full")
	}
	clock = clock.Add(10 * time.Minute)
	r := runtime.ContactRecord{Email: "bob@acme.example", Values: map[string]any{"company": "Bobco"}}
	if _, err := st.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{r}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordEvents(ctx, []runtime.Event{{ID: "v1", Email: "cara@acme.example", Name: "page_view", At: monday.Add(30 * time.Minute), Props: map[string]any{"path": "/"}}}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Minute)
	res, err = w.Tick(ctx, monday.Add(time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Full || res.Report.Looked != 2 {
		t.Errorf("the tick after bob changed and cara got an event: full %v, looked at %d; want the two of them", res.Report.Full, res.Report.Looked)
	}
}

// slowStore holds the engine's first read until released or until the
// tick's context ends, so that a test can act while a tick holds the
// lock.
type slowStore struct {
	engine.Store
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *slowStore) Rescore(ctx context.Context, prog *campaigns.Program, ids []int64, now time.Time) (int, error) {
	s.once.Do(func() { close(s.started) })
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.Store.Rescore(ctx, prog, ids, now)
}

func slow(w *worker.Worker) *slowStore {
	s := &slowStore{started: make(chan struct{}), release: make(chan struct{})}
	w.Configure = func(e *engine.Engine) {
		s.Store = e.Store
		e.Store = s
	}
	return s
}

// While a tick runs, its lease is renewed past its length and another
// worker is told who holds the lock; once it ends, the lock is free.
func TestLockHeldAndRenewed(t *testing.T) {
	ctx := context.Background()
	clock := monday
	st, p := store(t, monday, &clock)
	contact(t, st, p, "ann@acme.example", monday.Add(-time.Hour))
	// The store's clock runs in real time here: leases expire.
	start := time.Now()
	st.Now = func() time.Time { return monday.Add(time.Since(start)) }
	lease := 300 * time.Millisecond
	a := &worker.Worker{Store: st, Name: "ann@host", Lease: lease}
	hold := slow(a)
	done := make(chan error, 1)
	go func() {
		_, err := a.Tick(ctx, monday, false)
		done <- err
	}()
	<-hold.started
	// Three leases on, a's tick still holds the lock.
	time.Sleep(3 * lease)
	b := &worker.Worker{Store: st, Name: "bob@host", Lease: lease}
	_, err := b.Tick(ctx, monday, false)
	var locked *runtime.LockedError
	if !errors.As(err, &locked) || locked.Lock.Holder != "ann@host" || locked.Lock.Name != worker.LockName {
		t.Fatalf("a second worker's tick during the first = %v; want the tick lock held by ann@host", err)
	}
	close(hold.release)
	if err := <-done; err != nil {
		t.Fatalf("the first tick: %v", err)
	}
	if _, err := b.Tick(ctx, monday.Add(time.Minute), false); err != nil {
		t.Errorf("a tick after the first ended: %v; want the lock free", err)
	}
}

// A worker killed mid-tick never releases its lock: the lease frees it,
// so the next tick runs after one lease, not ten minutes.
func TestKilledWorkersLockFreesItself(t *testing.T) {
	ctx := context.Background()
	clock := monday
	st, _ := store(t, monday, &clock)
	if _, err := st.AcquireLock(ctx, runtime.Lock{Name: worker.LockName, Holder: "killed@host", Operation: "tick"}, worker.DefaultLease); err != nil {
		t.Fatal(err)
	}
	w := &worker.Worker{Store: st, Name: "next@host"}
	var locked *runtime.LockedError
	if _, err := w.Tick(ctx, monday, false); !errors.As(err, &locked) || locked.Lock.Holder != "killed@host" {
		t.Fatalf("a tick within the dead worker's lease = %v; want the lock held by killed@host", err)
	}
	clock = clock.Add(worker.DefaultLease + time.Second)
	if _, err := w.Tick(ctx, clock, false); err != nil {
		t.Fatalf("a tick after the dead worker's lease: %v", err)
	}
}

// A worker whose lease was taken over (it stalled past it, or an operator
// removed the lock) stops deciding, and says why.
func TestLostLeaseStopsTheTick(t *testing.T) {
	ctx := context.Background()
	clock := monday
	st, p := store(t, monday, &clock)
	contact(t, st, p, "ann@acme.example", monday.Add(-time.Hour))
	a := &worker.Worker{Store: st, Name: "ann@host", Lease: 150 * time.Millisecond}
	hold := slow(a)
	done := make(chan error, 1)
	go func() {
		_, err := a.Tick(ctx, monday, false)
		done <- err
	}()
	<-hold.started
	// An operator removes the lock, as nurture state unlock does.
	var id string
	if err := st.DB().QueryRow(`SELECT id FROM locks WHERE name = 'tick'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.ForceUnlock(ctx, id); err != nil || !ok {
		t.Fatalf("ForceUnlock = %v, %v", ok, err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "lost the tick lock") {
			t.Errorf("the tick whose lock was removed = %v; want it stopped for losing the lock", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tick went on after losing its lock")
	}
}

// keep is a sender that keeps what it is given.
type keep struct {
	mu   sync.Mutex
	msgs []*mail.Outgoing
}

func (k *keep) Send(_ context.Context, m *mail.Outgoing) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.msgs = append(k.msgs, m)
	return nil
}

// An email planned under one version goes out as that version wrote it,
// even when a later version changed it before delivery: what the
// reviewer approved is what the contact gets.
func TestDeliveryRendersThePlannedVersion(t *testing.T) {
	ctx := context.Background()
	clock := monday
	st, p := store(t, monday, &clock)
	contact(t, st, p, "ann@acme.example", monday.Add(-time.Hour))
	// Planned under version 1, with no sender to deliver it.
	if _, err := (&worker.Worker{Store: st, Name: "test"}).Tick(ctx, monday, false); err != nil {
		t.Fatal(err)
	}
	// Version 2 rewrites the subject of the same email.
	cur, err := st.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Emails["emails/welcome/hello.md"].Subjects[0].Subject = campaigns.Template{{Text: "Rewritten after planning"}}
	body, err := campaigns.Canonical(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, runtime.Version{Hash: p.Hash(), AppliedAt: monday, AppliedBy: "test", Program: body},
		campaigns.PlanBase{Serial: cur.Serial, Lineage: cur.Lineage, Hash: cur.Hash}, nil); err != nil {
		t.Fatal(err)
	}
	got := &keep{}
	clock = monday.Add(time.Minute)
	if _, err := (&worker.Worker{Store: st, Name: "test", Sender: got}).Tick(ctx, clock, false); err != nil {
		t.Fatal(err)
	}
	if len(got.msgs) != 1 {
		t.Fatalf("delivered %d messages; want ann's welcome", len(got.msgs))
	}
	if s := got.msgs[0].Subject; s != "Welcome to Acme, there" {
		t.Errorf("the welcome planned under version 1 went out as %q; want version 1's subject", s)
	}
}

// Run ticks at once and then on its period, the first tick and then one
// every FullEvery looking at every contact, and stops when asked once
// the tick under way is over.
func TestRunSchedule(t *testing.T) {
	clock := monday
	st, _ := store(t, monday, &clock)
	w := &worker.Worker{Store: st, Name: "test"}
	ctx, cancel := context.WithCancel(context.Background())
	var fulls []bool
	err := w.Run(ctx, worker.Schedule{Every: 20 * time.Millisecond, FullEvery: time.Hour}, func(res worker.Result, took time.Duration, err error) {
		if err != nil {
			t.Errorf("tick %d: %v", len(fulls)+1, err)
		}
		fulls = append(fulls, res.Report.Full)
		if len(fulls) == 3 {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false}; !slices.Equal(fulls, want) {
		t.Errorf("full ticks %v; want %v", fulls, want)
	}
	if err := w.Run(context.Background(), worker.Schedule{}, nil); err == nil {
		t.Error("Run with no period: want an error")
	}
}

// A paused sequence neither advances nor delivers while paused, whatever
// came due meanwhile; resumed, it carries on where it was.
func TestPausedSequenceNeitherAdvancesNorSends(t *testing.T) {
	ctx := context.Background()
	clock := monday
	st, p := store(t, monday, &clock)
	contact(t, st, p, "ann@acme.example", monday.Add(-time.Hour))
	// The welcome is planned, not yet delivered, when the sequence is
	// paused.
	if _, err := (&worker.Worker{Store: st, Name: "test"}).Tick(ctx, monday, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pause(ctx, runtime.Pause{Sequence: "welcome", By: "ops", Reason: "wrong link", At: monday}); err != nil {
		t.Fatal(err)
	}
	got := &keep{}
	w := &worker.Worker{Store: st, Name: "test", Sender: got}
	step := func() string {
		t.Helper()
		es, err := st.Enrollments(ctx, 1)
		if err != nil || len(es) != 1 {
			t.Fatalf("enrollments: %+v, %v", es, err)
		}
		return es[0].Step
	}
	for _, at := range []time.Time{monday.Add(time.Minute), monday.AddDate(0, 0, 8)} {
		clock = at
		res, err := w.Tick(ctx, at, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.msgs) != 0 {
			t.Fatalf("at %s a paused sequence delivered %d messages", at, len(got.msgs))
		}
		if res.Delivered == nil || res.Delivered.Accepted != 0 || !slices.Equal(res.Paused, []string{"welcome"}) {
			t.Errorf("at %s: delivered %+v, paused %v; want nothing delivered and welcome paused", at, res.Delivered, res.Paused)
		}
		if s := step(); s != "wait_7d" {
			t.Errorf("at %s the paused enrollment moved to %s; want it kept at wait_7d", at, s)
		}
	}
	// All sending paused holds it too, after the sequence is resumed.
	if _, err := st.Pause(ctx, runtime.Pause{Sequence: runtime.AllSending, By: "ops", Reason: "incident", At: monday}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Resume(ctx, "welcome"); err != nil {
		t.Fatal(err)
	}
	res, err := w.Tick(ctx, clock.Add(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.msgs) != 0 || !slices.Equal(res.Paused, []string{worker.PausedAll}) || step() != "wait_7d" {
		t.Fatalf("with all sending paused: %d delivered, paused %v, at %s", len(got.msgs), res.Paused, step())
	}
	if _, err := st.Resume(ctx, runtime.AllSending); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Minute)
	res, err = w.Tick(ctx, clock, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.msgs) == 0 || got.msgs[0].To != "ann@acme.example" || len(res.Paused) != 0 {
		t.Fatalf("after resuming: %d delivered, paused %v; want ann's welcome", len(got.msgs), res.Paused)
	}
	if s := step(); s == "wait_7d" {
		t.Errorf("after resuming, the enrollment is still at wait_7d, past its wait")
	}
}

// A send of an email that tests subject lines records, as it is
// planned, the line delivery then renders for it, so that the report can
// judge the lines by what each contact got.
func TestSubjectLineRecordedAsPlanned(t *testing.T) {
	ctx := context.Background()
	clock := monday
	st, p := store(t, monday, &clock)
	cur, err := st.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{"a": "Welcome aboard", "b": "Your first week with Acme"}
	p.Emails["emails/welcome/hello.md"].Subjects = []campaigns.SubjectVariant{
		{Name: "a", Subject: campaigns.Template{{Text: lines["a"]}}, Weight: 50},
		{Name: "b", Subject: campaigns.Template{{Text: lines["b"]}}, Weight: 50},
	}
	body, err := campaigns.Canonical(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, runtime.Version{Hash: p.Hash(), AppliedAt: monday, AppliedBy: "test", Program: body},
		campaigns.PlanBase{Serial: cur.Serial, Lineage: cur.Lineage, Hash: cur.Hash}, nil); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"ann", "bob", "cara", "dan", "eve", "fay", "gus", "hal"} {
		contact(t, st, p, who+"@acme.example", monday.Add(-time.Hour))
	}
	got := &keep{}
	if _, err := (&worker.Worker{Store: st, Name: "test", Sender: got}).Tick(ctx, monday, false); err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	rows, err := st.DB().QueryContext(ctx, `SELECT c.email, COALESCE(s.subject_variant, '') FROM sends s JOIN contacts c ON c.id = s.contact_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var email, v string
		if err := rows.Scan(&email, &v); err != nil {
			t.Fatal(err)
		}
		recorded[email] = v
	}
	if len(got.msgs) != 8 || len(recorded) != 8 {
		t.Fatalf("delivered %d messages, recorded %d sends; want the 8 welcomes", len(got.msgs), len(recorded))
	}
	seen := map[string]bool{}
	for _, m := range got.msgs {
		v := recorded[m.To]
		seen[v] = true
		if m.Subject != lines[v] {
			t.Errorf("%s got %q but its send records line %q (%q)", m.To, m.Subject, v, lines[v])
		}
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("the 8 contacts got lines %v; want both lines tested", seen)
	}
}
