package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/campaigns"
)

func TestArm(t *testing.T) {
	prog := func(global, seq campaigns.Share, transactional string) *campaigns.Program {
		return &campaigns.Program{Holdout: global, Sequences: map[string]*campaigns.Sequence{
			"welcome": {Holdout: seq, TransactionalReason: transactional}}}
	}
	// Addresses the hash puts in and out at 50%, found once: the cases
	// below pin what the hash gives them.
	var in, out string
	for i := 0; in == "" || out == ""; i++ {
		e := fmt.Sprintf("c%d@x.example", i)
		if Held(e, "welcome", 5000) {
			out = or(out, e)
		} else {
			in = or(in, e)
		}
	}
	for _, c := range []struct {
		name  string
		prog  *campaigns.Program
		email string
		want  string
	}{
		{"no holdout in force gives no arm", prog(0, 0, ""), out, ""},
		{"a sequence's holdout holds its contact out", prog(0, 5000, ""), out, campaigns.ArmControl},
		{"and keeps the others in", prog(0, 5000, ""), in, campaigns.ArmTreatment},
		{"the address is folded as stores key it", prog(0, 5000, ""), upper(out), campaigns.ArmControl},
		{"a transactional sequence holds nobody out", prog(5000, 5000, "receipts"), out, ""},
		{"the programme's holdout alone is in force: treatment", prog(1, 0, ""), in, campaigns.ArmTreatment},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Arm(c.prog, "welcome", c.email); got != c.want {
				t.Errorf("Arm(%q) = %q, want %q", c.email, got, c.want)
			}
		})
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func upper(s string) string { return strings.ToUpper(s) }

// The programme's holdout comes first and picks its contacts apart from
// any sequence's; the shares held out are the shares declared; raising
// a holdout only adds contacts to its control group.
func TestHeldShares(t *testing.T) {
	const n = 20000
	p := &campaigns.Program{Holdout: 1000, Sequences: map[string]*campaigns.Sequence{"welcome": {Holdout: 2000}}}
	counts := map[string]int{}
	both := 0
	for i := range n {
		e := fmt.Sprintf("contact%d@example.com", i)
		counts[Arm(p, "welcome", e)]++
		if Held(e, ProgrammeSalt, 1000) && Held(e, "welcome", 2000) {
			both++
		}
		if Held(e, "welcome", 1000) && !Held(e, "welcome", 2000) {
			t.Fatalf("%s is held out at 10%% and not at 20%%", e)
		}
	}
	// Global 10%; of the rest, 20% control: 18% of all; 72% treatment.
	// Three standard errors of a share of 20,000 are under 1 point.
	for arm, want := range map[string]float64{campaigns.ArmGlobalControl: 0.10, campaigns.ArmControl: 0.18, campaigns.ArmTreatment: 0.72} {
		if got := float64(counts[arm]) / n; got < want-0.01 || got > want+0.01 {
			t.Errorf("%s: %.3f of contacts, want %.2f ± 0.01", arm, got, want)
		}
	}
	// Independent: about 2% are in both holdouts' groups.
	if got := float64(both) / n; got < 0.015 || got > 0.025 {
		t.Errorf("held out by both: %.3f, want about 0.02 (independent draws)", got)
	}
}
