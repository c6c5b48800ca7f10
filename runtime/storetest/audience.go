package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

func ev(name string, where ...campaigns.Condition) *campaigns.EventCondition {
	return &campaigns.EventCondition{Name: name, Where: where, MinCount: 1}
}

func pe(e *campaigns.EventCondition) campaigns.Predicate {
	return campaigns.Predicate{Op: campaigns.OpEvent, Event: e}
}

var all, not = campaigns.All, campaigns.Not

func anyOf(args ...campaigns.Predicate) campaigns.Predicate {
	return campaigns.Predicate{Op: campaigns.OpAny, Args: args}
}

// AudienceCases are the predicates the suite checks, with the contacts of
// audienceData each must hold.
func audienceCases() []struct {
	name string
	p    campaigns.Predicate
	want []string
} {
	d := campaigns.MustDuration
	one := 1
	pricing := campaigns.Condition{Field: "path", Cmp: campaigns.CmpEq, Value: "/pricing"}
	everyone := []string{"ann", "bob", "cara", "dan", "eve"}
	return []struct {
		name string
		p    campaigns.Predicate
		want []string
	}{
		{"eq", attr("industry", campaigns.CmpEq, "saas"), []string{"ann", "dan", "eve"}},
		{"ne", attr("industry", campaigns.CmpNe, "saas"), []string{"bob", "cara"}},
		{"in", attr("industry", campaigns.CmpIn, []any{"saas", "fintech"}), []string{"ann", "bob", "dan", "eve"}},
		{"not in", attr("industry", campaigns.CmpNotIn, []any{"saas"}), []string{"bob", "cara"}},
		{"gte int", attr("employees", campaigns.CmpGte, 100.0), []string{"ann", "bob", "eve"}},
		{"lt int, missing excluded", attr("employees", campaigns.CmpLt, 100.0), []string{"dan"}},
		{"not gte, missing included", not(attr("employees", campaigns.CmpGte, 100.0)), []string{"cara", "dan"}},
		{"gt number", attr("revenue", campaigns.CmpGt, 1000.0), []string{"ann"}},
		{"bool true", attr("trial", campaigns.CmpEq, true), []string{"ann"}},
		{"bool false", attr("trial", campaigns.CmpEq, false), []string{"bob"}},
		{"time within", attr("signup_at", campaigns.CmpWithin, d("30d")), []string{"ann"}},
		{"time older than", attr("signup_at", campaigns.CmpOlderThan, d("30d")), []string{"bob"}},
		{"time gt date", attr("signup_at", campaigns.CmpGt, "2026-09-01"), []string{"ann"}},
		{"stage from mql", attr("stage", campaigns.CmpGte, "mql"), []string{"bob", "dan", "eve"}},
		{"stage up to mql", attr("stage", campaigns.CmpLte, "mql"), []string{"ann", "bob"}},
		{"exists", attr("first_name", campaigns.CmpExists, true), []string{"ann", "dan"}},
		{"not exists", attr("first_name", campaigns.CmpExists, false), []string{"bob", "cara", "eve"}},
		{"matches email", attr("email", campaigns.CmpMatches, `@corp\.example$`), []string{"eve"}},
		{"matches attribute", attr("first_name", campaigns.CmpMatches, "^D"), []string{"dan"}},
		{"event count in window", pe(&campaigns.EventCondition{Name: "page_view", Where: []campaigns.Condition{pricing},
			Within: d("7d"), MinCount: 2}), []string{"ann"}},
		{"event at all", pe(ev("page_view")), []string{"ann", "bob", "dan"}},
		{"event at most once", pe(&campaigns.EventCondition{Name: "page_view", MaxCount: &one}), []string{"bob", "cara", "dan", "eve"}},
		{"event int property", pe(ev("page_view", campaigns.Condition{Field: "seconds", Cmp: campaigns.CmpGte, Value: 10.0})), []string{"dan"}},
		{"event property pattern", pe(ev("page_view", campaigns.Condition{Field: "path", Cmp: campaigns.CmpMatches, Value: "^/docs/"})), []string{"dan"}},
		{"event within", pe(&campaigns.EventCondition{Name: "demo_requested", Within: d("7d"), MinCount: 1}), []string{"bob"}},
		{"any", anyOf(campaigns.Predicate{Op: campaigns.OpSegment, Segment: "saas"}, pe(ev("demo_requested"))), []string{"ann", "bob", "dan", "eve"}},
		{"segment and not event", all(campaigns.Predicate{Op: campaigns.OpSegment, Segment: "saas"}, not(pe(ev("page_view")))), []string{"eve"}},
		{"inactive, machine opens not counted", campaigns.Predicate{Op: campaigns.OpInactive, Inactive: d("2d")}, []string{"bob"}},
		{"score reached, none scored", campaigns.Predicate{Op: campaigns.OpScore, Score: &campaigns.ScoreCondition{Model: "lead", Cmp: campaigns.CmpGte, Value: 50}}, nil},
		{"score below, unscored count as zero", campaigns.Predicate{Op: campaigns.OpScore, Score: &campaigns.ScoreCondition{Model: "lead", Cmp: campaigns.CmpLt, Value: 50}}, everyone},
		{"empty all", all(), everyone},
		{"empty any", anyOf(), nil},
	}
}

// audienceData loads five contacts and their events.
func audienceData(t *testing.T, s runtime.Store, p *campaigns.Program) {
	t.Helper()
	ctx := context.Background()
	day := 24 * time.Hour
	_, err := s.UpsertContacts(ctx, &p.Contact, []runtime.ContactRecord{
		rec(2, "ann@acme.example", "industry", "saas", "employees", int64(120), "revenue", 2.5e6, "trial", true,
			"signup_at", Now.Add(-10*day), "stage", "lead", "first_name", "Ann"),
		rec(3, "bob@bank.example", "industry", "fintech", "employees", int64(5000), "trial", false,
			"signup_at", Now.Add(-100*day), "stage", "mql"),
		rec(4, "cara@misc.example", "industry", "other"),
		rec(5, "dan@dev.example", "industry", "saas", "employees", int64(40), "revenue", 10.5, "stage", "sql", "first_name", "Dan"),
		rec(6, "eve@corp.example", "industry", "saas", "employees", int64(120), "stage", "customer"),
	}, "t")
	if err != nil {
		t.Fatal(err)
	}
	view := func(id, email, path string, ago time.Duration, props ...any) runtime.Event {
		e := runtime.Event{ID: id, Email: email, Name: "page_view", At: Now.Add(-ago), Props: map[string]any{"path": path}}
		for i := 0; i < len(props); i += 2 {
			e.Props[props[i].(string)] = props[i+1]
		}
		return e
	}
	_, err = s.RecordEvents(ctx, []runtime.Event{
		view("a1", "ann@acme.example", "/pricing", day),
		view("a2", "ann@acme.example", "/pricing", 2*day),
		view("a3", "ann@acme.example", "/", 3*day),
		{ID: "a4", Email: "ann@acme.example", Name: campaigns.EventOpened, At: Now.Add(-day)},
		view("b1", "bob@bank.example", "/pricing", 20*day),
		{ID: "b2", Email: "bob@bank.example", Name: "demo_requested", At: Now.Add(-5 * day)},
		// A privacy proxy fetched the images of an email to bob: a
		// machine's open, which does not make him engaged.
		{ID: "b3", Email: "bob@bank.example", Name: campaigns.EventOpened, At: Now.Add(-time.Hour), Props: map[string]any{"unreliable": true}},
		view("d1", "dan@dev.example", "/docs/api", time.Hour, "seconds", int64(30)),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testAudience(t *testing.T, o Opener) {
	s, p := open(t, o)
	audienceData(t, s, p)
	for _, tc := range audienceCases() {
		t.Run(tc.name, func(t *testing.T) {
			n, sample, err := s.Audience(context.Background(), p, tc.p, Now, 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range sample {
				name, _, _ := strings.Cut(c.Email, "@")
				got = append(got, name)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("audience (-want +got):\n%s", diff)
			}
			if n != len(tc.want) {
				t.Errorf("count = %d, want %d", n, len(tc.want))
			}
		})
	}
}
