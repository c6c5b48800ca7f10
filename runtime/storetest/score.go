package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

func testScoreShift(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "ann@acme.example", "industry", "saas", "employees", int64(500)),
		rec(3, "bob@acme.example", "industry", "fintech", "employees", int64(20)),
		rec(4, "cy@acme.example", "industry", "other"),
	}, "t"); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	pricing := map[string]any{"path": "/pricing"}
	if _, err := s.RecordEvents(ctx, []runtime.Event{
		{ID: "a1", Email: "ann@acme.example", Name: "page_view", At: Now.Add(-day), Props: pricing},
		{ID: "a2", Email: "ann@acme.example", Name: "page_view", At: Now.Add(-day), Props: pricing},
		{ID: "a3", Email: "ann@acme.example", Name: "page_view", At: Now.Add(-day), Props: pricing},
		{ID: "a4", Email: "ann@acme.example", Name: "page_view", At: Now.Add(-40 * day), Props: pricing},
		{ID: "a5", Email: "ann@acme.example", Name: "page_view", At: Now.Add(-day), Props: map[string]any{"path": "/blog"}},
		{ID: "a6", Email: "ann@acme.example", Name: "page_view", At: Now.Add(day), Props: pricing}, // not yet
		{ID: "b1", Email: "bob@acme.example", Name: "page_view", At: Now.Add(-30 * day), Props: pricing},
		{ID: "c1", Email: "cy@acme.example", Name: "page_view", At: Now.Add(-90 * day), Props: pricing}, // outside the window
	}); err != nil {
		t.Fatal(err)
	}
	attr := func(field, cmp string, v any, vs ...any) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: field, Cmp: cmp, Value: v, Values: vs}}
	}
	model := func(big int, max int) *campaigns.ScoringModel {
		m := &campaigns.ScoringModel{
			Fit: map[string]*campaigns.FitRule{"saas": {When: attr("industry", campaigns.CmpIn, nil, "saas", "fintech"), Points: 30}},
			Behavior: map[string]*campaigns.BehaviorRule{"pricing": {Event: "page_view", Points: 20, Max: max, Within: campaigns.MustDuration("60d"),
				Where: []campaigns.Condition{{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}}}},
			HalfLife:   campaigns.MustDuration("30d"),
			Max:        100,
			Thresholds: map[string]float64{"mql": 50, "sql": 80},
		}
		if big > 0 {
			m.Fit["big"] = &campaigns.FitRule{When: attr("employees", campaigns.CmpGte, float64(200)), Points: big}
		}
		return m
	}
	with := func(m *campaigns.ScoringModel) *campaigns.Program {
		q := *p
		q.Scoring = map[string]*campaigns.ScoringModel{}
		if m != nil {
			q.Scoring["lead"] = m
		}
		return &q
	}
	// Under the old model ann scores 30 + min(40, 3×19.5 + 7.9) = 70 and
	// bob 30 + 20×½ = 40; under the new one ann reaches 30 + 15 + 66.6,
	// held at 100, and bob stays at 40.
	old, new := with(model(0, 40)), with(model(15, 60))
	for _, c := range []struct {
		name     string
		old, new *campaigns.Program
		want     runtime.ScoreShift
	}{
		{"changed", old, new, runtime.ScoreShift{Contacts: 3, Higher: 1, BandChanged: 1,
			Thresholds: []runtime.ThresholdShift{{Name: "mql"}, {Name: "sql", Up: 1}}, Sample: []string{"ann@acme.example"}}},
		{"added", nil, new, runtime.ScoreShift{Contacts: 3, Higher: 2, BandChanged: 1,
			Thresholds: []runtime.ThresholdShift{{Name: "mql", Up: 1}, {Name: "sql", Up: 1}}, Sample: []string{"ann@acme.example"}}},
		{"removed", old, with(nil), runtime.ScoreShift{Contacts: 3, Lower: 2, BandChanged: 1,
			Thresholds: []runtime.ThresholdShift{{Name: "mql", Down: 1}, {Name: "sql"}}, Sample: []string{"ann@acme.example"}}},
		{"unchanged", old, old, runtime.ScoreShift{Contacts: 3,
			Thresholds: []runtime.ThresholdShift{{Name: "mql"}, {Name: "sql"}}}},
	} {
		got, err := s.ScoreShift(ctx, c.old, c.new, "lead", Now, 3)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func testRescore(t *testing.T, o Opener) {
	ctx := context.Background()
	s, p := open(t, o)
	if _, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "ann@acme.example", "industry", "saas", "employees", int64(500)),
		rec(3, "bob@acme.example", "industry", "other"),
	}, "t"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	_ = s.Contacts(ctx, func(c runtime.Contact) error { ids[c.Email] = c.ID; return nil })
	view := func(id string, email string, at time.Time) runtime.Event {
		return runtime.Event{ID: id, Email: email, Name: "page_view", At: at, Props: map[string]any{"path": "/pricing"}}
	}
	if _, err := s.RecordEvents(ctx, []runtime.Event{view("a1", "ann@acme.example", Now.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Scoring = map[string]*campaigns.ScoringModel{"lead": {
		Fit:        map[string]*campaigns.FitRule{"saas": {When: campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "industry", Cmp: campaigns.CmpEq, Value: "saas"}}, Points: 45}},
		Behavior:   map[string]*campaigns.BehaviorRule{"pricing": {Event: "page_view", Points: 10, Where: []campaigns.Condition{{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}}}},
		Max:        100,
		Thresholds: map[string]float64{"mql": 50},
	}}
	mql := campaigns.Predicate{Op: campaigns.OpScore, Score: &campaigns.ScoreCondition{Model: "lead", Cmp: campaigns.CmpGte, Value: 50, Threshold: "mql"}}
	count := func() int {
		t.Helper()
		n, _, err := s.Audience(ctx, &q, mql, Now, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("before scoring, %d contacts reach mql; want 0", n)
	}
	if n, err := s.Rescore(ctx, &q, nil, Now); err != nil || n != 2 {
		t.Fatalf("Rescore(all) = %d, %v; want 2 scores", n, err)
	}
	if n := count(); n != 1 { // ann: 45 + 10
		t.Errorf("after scoring, %d contacts reach mql; want 1", n)
	}
	// bob views pricing six times: rescoring only ann leaves him below.
	var views []runtime.Event
	for i := range 6 {
		views = append(views, view(fmt.Sprintf("b%d", i), "bob@acme.example", Now.Add(-time.Minute)))
	}
	if _, err := s.RecordEvents(ctx, views); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Rescore(ctx, &q, []int64{ids["ann@acme.example"]}, Now); err != nil || n != 1 {
		t.Fatalf("Rescore(ann) = %d, %v; want 1", n, err)
	}
	if n := count(); n != 1 {
		t.Errorf("after rescoring ann alone, %d reach mql; want 1", n)
	}
	if n, err := s.Rescore(ctx, &q, []int64{ids["bob@acme.example"]}, Now); err != nil || n != 1 {
		t.Fatalf("Rescore(bob) = %d, %v; want 1", n, err)
	}
	if n := count(); n != 2 { // bob: 0 + 60
		t.Errorf("after rescoring bob, %d reach mql; want 2", n)
	}

	// One contact, rule by rule, and which conditions it meets.
	c, err := s.Contact(ctx, "ANN@acme.example")
	if err != nil || c == nil || c.ID != ids["ann@acme.example"] {
		t.Fatalf("Contact(ANN@) = %+v, %v", c, err)
	}
	if c, err := s.Contact(ctx, "nobody@acme.example"); err != nil || c != nil {
		t.Errorf("Contact(nobody@) = %+v, %v; want nil", c, err)
	}
	b, err := s.ScoreBreakdown(ctx, &q, "lead", c.ID, Now)
	want := runtime.Breakdown{Score: 55, Rules: []runtime.RulePoints{{Rule: "fit.saas", Points: 45}, {Rule: "behavior.pricing", Points: 10}}}
	if diff := cmp.Diff(want, b); err != nil || diff != "" {
		t.Errorf("ScoreBreakdown(ann): %v (-want +got):\n%s", err, diff)
	}
	saas := campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "industry", Cmp: campaigns.CmpEq, Value: "saas"}}
	got, err := s.Matches(ctx, &q, ids["bob@acme.example"], []campaigns.Predicate{saas, mql, {Op: campaigns.OpNot, Args: []campaigns.Predicate{saas}}}, Now)
	if diff := cmp.Diff([]bool{false, true, true}, got); err != nil || diff != "" {
		t.Errorf("Matches(bob): %v (-want +got):\n%s", err, diff)
	}
	// Many contacts at once: those that meet it, and no others.
	each, ok := s.(interface {
		MatchesEach(ctx context.Context, prog *campaigns.Program, ids []int64, p campaigns.Predicate, now time.Time) (map[int64]bool, error)
	})
	if !ok {
		t.Fatalf("%T cannot evaluate a predicate for many contacts at once", s)
	}
	both := []int64{ids["ann@acme.example"], ids["bob@acme.example"]}
	for _, c := range []struct {
		name string
		p    campaigns.Predicate
		want map[int64]bool
	}{
		{"saas", saas, map[int64]bool{ids["ann@acme.example"]: true}},
		{"mql", mql, map[int64]bool{ids["ann@acme.example"]: true, ids["bob@acme.example"]: true}},
		{"neither", campaigns.Predicate{Op: campaigns.OpNot, Args: []campaigns.Predicate{mql}}, map[int64]bool{}},
	} {
		got, err := each.MatchesEach(ctx, &q, both, c.p, Now)
		if diff := cmp.Diff(c.want, got); err != nil || diff != "" {
			t.Errorf("MatchesEach(ann, bob, %s): %v (-want +got):\n%s", c.name, err, diff)
		}
	}
}
