package report

import (
	"math"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// The lift's interval is Newcombe's hybrid score interval, checked
// against his published values (Newcombe 1998, "Interval estimation for
// the difference between independent proportions", Statistics in
// Medicine 17, table II, method 10), and the relative lift's the Katz
// log interval of the risk ratio, computed by hand.
func TestLift(t *testing.T) {
	near := func(name string, got Number, want, tol float64) {
		t.Helper()
		if math.Abs(float64(got)-want) > tol {
			t.Errorf("%s = %.5f, want %.5f", name, float64(got), want)
		}
	}
	for _, c := range []struct {
		x1, n1, x2, n2  int
		diff, low, high float64
	}{
		{56, 70, 48, 80, 0.2, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.6, 0.1705, 0.8090},
		{6, 7, 2, 7, 0.5714, 0.0582, 0.8062},
		{0, 10, 0, 10, 0, -0.2775, 0.2775},
		{5, 56, 0, 29, 0.0893, -0.0381, 0.1926},
		{0, 10, 0, 20, 0, -0.1611, 0.2775},
	} {
		h := Lift(c.x1, c.n1, c.x2, c.n2)
		near("lift", h.Lift.Value, c.diff, 0.00005)
		near("lift low", h.Lift.Low, c.low, 0.00006)
		near("lift high", h.Lift.High, c.high, 0.00006)
	}
	// 56/70 = 80% against 48/80 = 60%: risk ratio 4/3, the standard error
	// of its log sqrt(1/56 - 1/70 + 1/48 - 1/80) = 0.109109; exp(ln(4/3)
	// ± 1.959964 × 0.109109) = 1.07663 and 1.65124.
	h := Lift(56, 70, 48, 80)
	near("relative lift", h.RelativeLift.Value, 1.0/3, 0.00001)
	near("relative lift low", h.RelativeLift.Low, 0.07663, 0.00001)
	near("relative lift high", h.RelativeLift.High, 0.65124, 0.00001)
	// z = 0.2 / sqrt(104/150 × 46/150 × (1/70 + 1/80)) = 2.6502: p = 0.00804.
	near("p", h.PValue, 0.00804, 0.00001)
	if want := "the email lifts the goal rate: 80% against 60% held out (+20 points, 95% interval +5.2 to +33.4; p = 0.008)"; h.Verdict != want {
		t.Errorf("verdict %q\nwant    %q", h.Verdict, want)
	}
	if h := Lift(5, 56, 0, 29); !math.IsNaN(float64(h.RelativeLift.Value)) || !strings.HasPrefix(h.Verdict, "no lift shown yet: 8.9% against 0% held out (+8.9 points, 95% interval -3.8 to +19.3;") {
		t.Errorf("no goal held out: relative %v, verdict %q", h.RelativeLift.Value, h.Verdict)
	}
	if h := Lift(10, 100, 30, 100); !strings.HasPrefix(h.Verdict, "the control group does better: 30% against 10% treated") {
		t.Errorf("control better: %q", h.Verdict)
	}
	if h := Lift(3, 10, 0, 0); h.Verdict != "not enough data yet: no contact was held out in the period" {
		t.Errorf("nobody held out: %q", h.Verdict)
	}
}

// A sequence is compared with its own control group, or the
// programme's where it has none; a sequence nobody was held out of is
// left out.
func TestHoldouts(t *testing.T) {
	rows := []runtime.HoldoutStats{
		{Sequence: "", Arm: campaigns.ArmGlobalControl, Contacts: 20, Goals: 2},
		{Sequence: "", Arm: campaigns.ArmTreatment, Contacts: 180, Goals: 36},
		{Sequence: "nurture", Arm: campaigns.ArmGlobalControl, Contacts: 5, Goals: 1},
		{Sequence: "nurture", Arm: campaigns.ArmTreatment, Contacts: 50, Goals: 10},
		{Sequence: "onboarding", Arm: campaigns.ArmTreatment, Contacts: 50, Goals: 10},
		{Sequence: "welcome", Arm: campaigns.ArmControl, Contacts: 10, Goals: 1},
		{Sequence: "welcome", Arm: campaigns.ArmGlobalControl, Contacts: 3, Goals: 0},
		{Sequence: "welcome", Arm: campaigns.ArmTreatment, Contacts: 90, Goals: 27},
	}
	got := holdouts(rows, true)
	var seen []string
	for _, h := range got {
		seen = append(seen, h.Sequence+"/"+h.ControlArm)
	}
	if strings.Join(seen, " ") != "/global_control nurture/global_control welcome/control" {
		t.Fatalf("holdouts compared: %v", seen)
	}
	if w := got[2]; w.Treatment.Count != 27 || w.Treatment.Of != 90 || w.Control.Count != 1 || w.Control.Of != 10 {
		t.Errorf("welcome: %+v against %+v", w.Treatment, w.Control)
	}
	if h := holdouts(rows, false); !strings.HasPrefix(h[0].Verdict, "no goals declared") {
		t.Errorf("without goals: %q", h[0].Verdict)
	}
}
