package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

func TestAtEntry(t *testing.T) {
	event := func(within campaigns.Duration, minCount int) campaigns.Predicate {
		return campaigns.Predicate{Op: campaigns.OpEvent, Event: &campaigns.EventCondition{Name: "demo_requested", Within: within, MinCount: minCount}}
	}
	customer := campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "stage", Cmp: campaigns.CmpEq, Value: "customer"}}
	never := campaigns.Predicate{Op: campaigns.OpAny}
	for _, tc := range []struct {
		name    string
		p, want campaigns.Predicate
	}{
		{"an event without a window counts none yet", event(0, 1), never},
		{"an event with a window counts what came before entry", event(campaigns.MustDuration("7d"), 1), event(campaigns.MustDuration("7d"), 1)},
		{"no event yet meets at most so many", event(0, 0), campaigns.All()},
		{"an attribute holds at entry as it does later", customer, customer},
		{"the parts of a rule are read one by one", campaigns.All(customer, campaigns.Not(event(0, 1))),
			campaigns.All(customer, campaigns.Not(never))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, atEntry(tc.p)); diff != "" {
				t.Errorf("atEntry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeepStage(t *testing.T) {
	e := &Engine{Program: &campaigns.Program{Contact: campaigns.ContactSchema{Stages: []string{"lead", "mql", "sql", "customer"}}}}
	for _, tc := range []struct {
		name    string
		current any
		set     map[string]any
		demote  bool
		want    map[string]any
	}{
		{"forward goes", "mql", map[string]any{"stage": "sql"}, false, map[string]any{"stage": "sql"}},
		{"back is skipped", "sql", map[string]any{"stage": "mql"}, false, nil},
		{"back is skipped, the rest is set", "sql", map[string]any{"stage": "mql", "persona": "analyst"}, false, map[string]any{"persona": "analyst"}},
		{"back goes when the step says demote", "sql", map[string]any{"stage": "lead"}, true, map[string]any{"stage": "lead"}},
		{"from no stage any goes", nil, map[string]any{"stage": "lead"}, false, map[string]any{"stage": "lead"}},
		{"the same stage is no move", "mql", map[string]any{"stage": "mql"}, false, map[string]any{"stage": "mql"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := runtime.Decision{Set: tc.set}
			e.keepStage(&d, tc.current, tc.demote)
			if diff := cmp.Diff(tc.want, d.Set); diff != "" {
				t.Errorf("set (-want +got):\n%s", diff)
			}
		})
	}
}
