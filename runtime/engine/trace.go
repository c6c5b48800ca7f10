package engine

import (
	"strconv"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Trace is what the engine did to one enrollment, beside the decision it
// wrote: the step it acted on and the way it went, the exit rule that
// fired, the email a cap held back. Scenario tests read journey coverage
// and timelines from it, and simulations their cadence pressure; nothing
// in a tick depends on it.
type Trace struct {
	At       time.Time
	Contact  int64
	Sequence string
	// Step is the step acted on; empty for an exit by rule.
	Step string
	// Outcome is the way a wait_for or branch step went: OutcomeThen or
	// OutcomeElse.
	Outcome string
	// Rule is the exit rule that fired, when one did: RuleRef's form.
	Rule string
	// Deferred is set when a cap, the sending window or a blackout date
	// held Email back
	// until Until: Held says which (a Held constant), Why in words.
	Deferred bool
	Email    string
	Until    time.Time
	Held     string
	Why      string
	// HeldOut is the holdout arm (campaigns.ArmControl,
	// ArmGlobalControl) that kept Email from the contact: the step was
	// walked and nothing planned.
	HeldOut string
	// Decision is what was written.
	Decision runtime.Decision
}

// What held a send back: the limit that frees it last.
const (
	HeldCadence     = "cadence_caps"
	HeldSequenceCap = "sequence_cap"
	HeldAccountCap  = "account_cap"
	HeldPreferences = "preferences"
	HeldWindow      = "sending_window"
	HeldBlackout    = "blackout_dates"
	// HeldPaused: the contact paused its marketing email.
	HeldPaused = "paused"
)

// Outcomes of wait_for and branch steps.
const (
	OutcomeThen = "then"
	OutcomeElse = "else"
)

// RuleRef names an exit rule as coverage reports it: a sequence's own
// "sequences.NAME.exit[I]", the programme's "exits[I]".
func RuleRef(prog *campaigns.Program, sequence string, i int) string {
	seq := prog.Sequences[sequence]
	if seq != nil && i < len(seq.Exits) {
		return "sequences." + sequence + ".exit[" + strconv.Itoa(i) + "]"
	}
	if seq != nil {
		i -= len(seq.Exits)
	}
	return "exits[" + strconv.Itoa(i) + "]"
}

// trace reports t when someone listens.
func (e *Engine) trace(t Trace) {
	if e.Observe != nil {
		e.Observe(t)
	}
}
