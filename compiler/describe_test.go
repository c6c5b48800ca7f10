package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

// A plan and the coverage report describe a rule or step with what
// changes its effect: the sequences a programme-wide rule spares, a set
// step that may move the stage back.
func TestDescribeSparingAndDemoting(t *testing.T) {
	open := campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: "opportunity", Cmp: campaigns.CmpEq, Value: true}}
	got := []string{
		DescribeExit(campaigns.ExitRule{Reason: "opportunity_open", When: &open, Except: []string{"opportunity", "renewal"}}),
		DescribeStep(campaigns.Step{Kind: campaigns.StepSet, Set: map[string]any{"stage": "lead"}, Demote: true}),
		DescribeStep(campaigns.Step{Kind: campaigns.StepSet, Set: map[string]any{"stage": "mql"}}),
	}
	want := []string{
		`when opportunity = true: exit "opportunity_open" (not in opportunity, renewal)`,
		`set stage = "lead" (may demote)`,
		`set stage = "mql"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("descriptions (-want +got):\n%s", diff)
	}
}
