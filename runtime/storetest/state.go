package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

func testVersions(t *testing.T, o Opener) {
	ctx := context.Background()
	s, _ := open(t, o)
	if v, err := s.Applied(ctx); err != nil || v != nil {
		t.Fatalf("Applied on a new store = %v, %v; want nil", v, err)
	}
	first := runtime.Version{Hash: "sha256:aa", AppliedBy: "ann", GitCommit: "abc123", Program: []byte(`{"a":1}`)}
	r, err := s.Apply(ctx, first, campaigns.PlanBase{}, nil)
	if err != nil || r.Serial != 1 {
		t.Fatalf("first Apply = %+v, %v; want serial 1", r, err)
	}
	v1, err := s.Applied(ctx)
	if err != nil || v1 == nil {
		t.Fatalf("Applied = %v, %v", v1, err)
	}
	if v1.Lineage == "" || v1.Hash != "sha256:aa" || v1.AppliedBy != "ann" || v1.GitCommit != "abc123" ||
		string(v1.Program) != `{"a":1}` || !v1.AppliedAt.Equal(Now) {
		t.Errorf("Applied = %+v", v1)
	}
	// A second plan made against the empty store is stale now.
	if _, err := s.Apply(ctx, first, campaigns.PlanBase{}, nil); !errors.Is(err, runtime.ErrStale) {
		t.Errorf("Apply against no version after one was applied: %v; want ErrStale", err)
	}
	if _, err := s.Apply(ctx, first, campaigns.PlanBase{Serial: 1, Lineage: "elsewhere"}, nil); !errors.Is(err, runtime.ErrStale) {
		t.Errorf("Apply against another lineage: %v; want ErrStale", err)
	}
	base := campaigns.PlanBase{Serial: 1, Lineage: v1.Lineage, Hash: v1.Hash}
	r, err = s.Apply(ctx, runtime.Version{Hash: "sha256:bb", AppliedBy: "bob", Program: []byte(`{"a":2}`)}, base, nil)
	if err != nil || r.Serial != 2 {
		t.Fatalf("second Apply = %+v, %v; want serial 2", r, err)
	}
	if _, err := s.Apply(ctx, first, base, nil); !errors.Is(err, runtime.ErrStale) {
		t.Errorf("Apply against version 1 when 2 is in force: %v; want ErrStale", err)
	}
	vs, err := s.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		if v.Lineage != v1.Lineage || v.Program != nil {
			t.Errorf("version %d: lineage %q, programme %q; want %q and none", v.Serial, v.Lineage, v.Program, v1.Lineage)
		}
		got = append(got, v.Hash+" "+v.AppliedBy)
	}
	if diff := cmp.Diff([]string{"sha256:bb bob", "sha256:aa ann"}, got); diff != "" {
		t.Errorf("Versions (-want +got):\n%s", diff)
	}
	if v, err := s.Version(ctx, 1); err != nil || v == nil || string(v.Program) != `{"a":1}` {
		t.Errorf("Version(1) = %+v, %v", v, err)
	}
	if v, err := s.Version(ctx, 9); err != nil || v != nil {
		t.Errorf("Version(9) = %+v, %v; want nil", v, err)
	}
}

func testLocks(t *testing.T, o Opener) {
	ctx := context.Background()
	s, _ := open(t, o)
	l, err := s.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "ann@laptop", Operation: "apply"}, time.Minute)
	if err != nil || l.ID == "" || !l.Expires.Equal(Now.Add(time.Minute)) {
		t.Fatalf("AcquireLock = %+v, %v", l, err)
	}
	_, err = s.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "bob@ci", Operation: "apply"}, time.Minute)
	var locked *runtime.LockedError
	if !errors.As(err, &locked) || locked.Lock.Holder != "ann@laptop" || locked.Lock.ID != l.ID {
		t.Fatalf("second AcquireLock: %v; want locked by ann@laptop", err)
	}
	// Another lock name is free.
	if _, err := s.AcquireLock(ctx, runtime.Lock{Name: "tick", Holder: "bob@ci", Operation: "tick"}, time.Minute); err != nil {
		t.Errorf("AcquireLock(tick): %v", err)
	}
	if err := s.ReleaseLock(ctx, "apply", "not-the-id"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "bob@ci"}, time.Minute); err == nil {
		t.Errorf("a release with the wrong ID freed the lock")
	}
	if err := s.ReleaseLock(ctx, "apply", l.ID); err != nil {
		t.Fatal(err)
	}
	l2, err := s.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "bob@ci", Operation: "apply"}, -time.Second)
	if err != nil {
		t.Fatalf("AcquireLock after release: %v", err)
	}
	// bob's lease has expired: carol takes it over.
	l3, err := s.AcquireLock(ctx, runtime.Lock{Name: "apply", Holder: "carol", Operation: "apply"}, time.Minute)
	if err != nil || l3.ID == l2.ID {
		t.Fatalf("AcquireLock over an expired lease = %+v, %v", l3, err)
	}
	// carol renews her lease; bob, whose lease carol took over, cannot.
	r, err := s.RenewLock(ctx, l3, 2*time.Minute)
	if err != nil || r.ID != l3.ID || !r.Expires.Equal(Now.Add(2*time.Minute)) {
		t.Errorf("RenewLock = %+v, %v; want carol's lease to %s", r, err, Now.Add(2*time.Minute))
	}
	if _, err := s.RenewLock(ctx, l2, time.Minute); !errors.As(err, &locked) || locked.Lock.Holder != "carol" {
		t.Errorf("RenewLock of a lease taken over = %v; want locked by carol", err)
	}
	if ok, err := s.ForceUnlock(ctx, l3.ID); err != nil || !ok {
		t.Errorf("ForceUnlock = %v, %v; want true", ok, err)
	}
	if ok, err := s.ForceUnlock(ctx, l3.ID); err != nil || ok {
		t.Errorf("ForceUnlock again = %v, %v; want false", ok, err)
	}
	// A lease removed by hand is lost too: its holder must stop.
	if _, err := s.RenewLock(ctx, l3, time.Minute); !errors.As(err, &locked) {
		t.Errorf("RenewLock of a removed lease = %v; want a *LockedError", err)
	}
}

func testEnrollmentMigrations(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	var batch []runtime.ContactRecord
	for i, e := range []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example"} {
		batch = append(batch, rec(i+2, e, "industry", "saas"))
	}
	if _, err := s.UpsertContacts(ctx, &p.Contact, batch, "test"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email] = c.ID; return nil })
	enroll := func(email, seq, step, state string) {
		o.Exec(t, s, `INSERT INTO enrollments (contact_id, sequence, state, step, step_since, version, entered_at) VALUES (?, ?, ?, ?, ?, 1, ?)`,
			ids[email], seq, state, step, Now.Add(-time.Hour), Now.Add(-time.Hour))
	}
	enroll("a@x.example", "welcome", "intro", "active")
	enroll("b@x.example", "welcome", "old_name", "active")
	enroll("c@x.example", "welcome", "intro", "exited") // left already: untouched
	enroll("c@x.example", "retired", "one", "active")
	enroll("d@x.example", "welcome", "last", "active")

	counts, err := s.StepCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.StepCount{{Sequence: "retired", Step: "one", Contacts: 1}, {Sequence: "welcome", Step: "intro", Contacts: 1}, {Sequence: "welcome", Step: "last", Contacts: 1}, {Sequence: "welcome", Step: "old_name", Contacts: 1}}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("StepCounts (-want +got):\n%s", diff)
	}
	ms := runtime.Migrations{
		{Sequence: "retired", Exit: campaigns.ExitSequenceRemoved},
		{Sequence: "welcome", Step: "intro", To: "second"},
		{Sequence: "welcome", Step: "old_name", To: "new_name"},
		{Sequence: "welcome", Step: "last", Exit: campaigns.ExitStepRemoved},
	}
	r, err := s.Apply(ctx, runtime.Version{Hash: "sha256:cc", AppliedBy: "ann", Program: []byte(`{}`)}, campaigns.PlanBase{}, ms)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1, 1, 0}, r.Moved); diff != "" {
		t.Errorf("moved (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 0, 0, 1}, r.Exited); diff != "" {
		t.Errorf("exited (-want +got):\n%s", diff)
	}
	counts, _ = s.StepCounts(ctx)
	want = []runtime.StepCount{{Sequence: "welcome", Step: "new_name", Contacts: 1}, {Sequence: "welcome", Step: "second", Contacts: 1}}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("StepCounts after apply (-want +got):\n%s", diff)
	}
	es, err := s.Enrollments(ctx, ids["c@x.example"])
	if err != nil || len(es) != 2 {
		t.Fatalf("Enrollments(c) = %+v, %v; want 2", es, err)
	}
	for _, e := range es {
		switch e.Sequence {
		case "retired":
			if e.State != "exited" || e.ExitReason != campaigns.ExitSequenceRemoved || !e.ExitedAt.Equal(Now) {
				t.Errorf("c's enrollment in retired: %+v", e)
			}
		case "welcome":
			if e.State != "exited" || e.Step != "intro" || !e.EnteredAt.Equal(Now.Add(-time.Hour)) {
				t.Errorf("c's enrollment in welcome: %+v", e)
			}
		}
	}
	// Several counts in one pass, and a sample, agree with Audience.
	ever := campaigns.Predicate{Op: campaigns.OpEnrolled, Enrolled: &campaigns.Enrolled{Sequence: "welcome"}}
	now := campaigns.Predicate{Op: campaigns.OpEnrolled, Enrolled: &campaigns.Enrolled{Sequence: "welcome", Active: true}}
	got, err := s.Counts(ctx, p, []campaigns.Predicate{{Op: campaigns.OpAll}, now, {Op: campaigns.OpAny}, {Op: campaigns.OpNot, Args: []campaigns.Predicate{now}}}, Now)
	if diff := cmp.Diff([]int{4, 2, 0, 2}, got); err != nil || diff != "" {
		t.Errorf("Counts: %v (-want +got):\n%s", err, diff)
	}
	cs, err := s.Sample(ctx, p, ever, Now, 2)
	if err != nil || len(cs) != 2 || cs[0].Email != "a@x.example" || cs[1].Email != "b@x.example" {
		t.Errorf("Sample = %v, %v; want a@ and b@", cs, err)
	}
	// Who is in a sequence, for plans: the exited count as ever enrolled.
	n, _, err := s.Audience(ctx, p, ever, Now, 0)
	if err != nil || n != 4 {
		t.Errorf("ever in welcome = %d, %v; want 4", n, err)
	}
	n, _, err = s.Audience(ctx, p, now, Now, 0)
	if err != nil || n != 2 {
		t.Errorf("now in welcome = %d, %v; want 2", n, err)
	}
}
