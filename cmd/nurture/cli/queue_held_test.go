package cli

import (
	"testing"

	"github.com/nurture-dev/nurture/runtime/engine"
)

// The queue's HELD BY is read from the words the engine writes for each
// hold: every hold the engine makes has its token.
func TestHeldByReadsEveryHold(t *testing.T) {
	t.Parallel()
	for waiting, want := range map[string]string{
		"held back by the cadence caps":                                         engine.HeldCadence,
		"held back by the sequence's cap":                                       engine.HeldSequenceCap,
		"held back by the account's cap (acme)":                                 engine.HeldAccountCap,
		"held back by the contact's preferences (monthly)":                      engine.HeldPreferences,
		"paused by the contact until 2027-03-15T16:30:00Z":                      engine.HeldPaused,
		"outside the sending window in America/New_York":                        engine.HeldWindow,
		"held back by the blackout date Thu 24 Dec 2026 in Europe/Berlin":       engine.HeldBlackout,
		"held back by the blackout date Thu 26 Nov 2026 (US) in America/Denver": engine.HeldBlackout,
		"wait 7d": "",
	} {
		if got := heldBy(waiting); got != want {
			t.Errorf("heldBy(%q) = %q, want %q", waiting, got, want)
		}
	}
}
