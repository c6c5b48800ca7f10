package cli

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// The holdouts of the suite's holdout fixture, in each format, and the
// lift against figures worked by hand: welcome's treated contacts
// reached the goal 3 times in 6 (50%), its control group once in 4
// (25%): a lift of 25 points, the risk ratio 2 (relative lift +100%);
// the programme's treated contacts 4 in 10 (40%) against its control
// group's 1 in 2 (50%): -10 points.
func TestReportHoldouts(t *testing.T) {
	store := "--store=sqlite:" + fixtureStore(t, storetest.HoldoutFixture, func(p *campaigns.Program) {
		p.Goals = &campaigns.Goals{Exits: []string{"converted"}, Stage: "customer"}
	})
	week := []string{"--since", "7d", "--until", storetest.Now.Format(time.RFC3339)}
	for _, c := range []struct{ format, file string }{{"text", "holdouts.txt"}, {"markdown", "holdouts.md"}} {
		t.Run(c.format, func(t *testing.T) {
			out, errOut, code := run(t, append([]string{"report", store, "--format", c.format}, week...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, c.file, out)
		})
	}
	out, errOut, code := run(t, append([]string{"report", store, "--format", "json"}, week...)...)
	if code != 0 {
		t.Fatal(errOut)
	}
	type interval struct{ Value, Low, High float64 }
	var r struct {
		FormatVersion int `json:"format_version"`
		Holdouts      []struct {
			Sequence     string
			ControlArm   string `json:"control_arm"`
			Treatment    struct{ Count, Of int }
			Control      struct{ Count, Of int }
			Lift         interval
			RelativeLift interval `json:"relative_lift"`
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.FormatVersion != 1 || len(r.Holdouts) != 3 {
		t.Fatalf("format %d, %d holdouts; want 1 and 3 (the programme, nurture, welcome):\n%s", r.FormatVersion, len(r.Holdouts), out)
	}
	// JSON carries six significant digits.
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	prog, welcome := r.Holdouts[0], r.Holdouts[2]
	if prog.Sequence != "" || prog.ControlArm != campaigns.ArmGlobalControl || prog.Treatment.Count != 4 || prog.Treatment.Of != 10 || prog.Control.Count != 1 || prog.Control.Of != 2 {
		t.Errorf("the programme's holdout: %+v", prog)
	}
	near("the programme's lift", prog.Lift.Value, -0.1)
	near("the programme's relative lift", prog.RelativeLift.Value, -0.2)
	if welcome.Sequence != "welcome" || welcome.ControlArm != campaigns.ArmControl || welcome.Treatment.Count != 3 || welcome.Treatment.Of != 6 || welcome.Control.Count != 1 || welcome.Control.Of != 4 {
		t.Errorf("welcome's holdout: %+v", welcome)
	}
	near("welcome's lift", welcome.Lift.Value, 0.25)
	near("welcome's relative lift", welcome.RelativeLift.Value, 1)
	// exp(ln 2 ± 1.959964 × sqrt(1/3 - 1/6 + 1/1 - 1/4)) - 1.
	se := math.Sqrt(1.0/3 - 1.0/6 + 1 - 1.0/4)
	near("welcome's relative lift, low", welcome.RelativeLift.Low, math.Exp(math.Log(2)-1.959963984540054*se)-1)
	near("welcome's relative lift, high", welcome.RelativeLift.High, math.Exp(math.Log(2)+1.959963984540054*se)-1)
}
