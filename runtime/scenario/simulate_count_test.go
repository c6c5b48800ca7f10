package scenario

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// A send held back for days is one send held back in the totals, and one
// on each day it waited; a send held back again after the contact's last
// went out is another.
func TestSimulateCountsEachHeldSendOnce(t *testing.T) {
	loc := time.UTC
	day := func(d, h int) time.Time { return time.Date(2026, 11, 23+d, h, 0, 0, 0, loc) }
	held := func(at time.Time, contact int64, step, why string) engine.Trace {
		return engine.Trace{At: at, Contact: contact, Sequence: "nurture", Step: step, Deferred: true, Held: why}
	}
	sent := func(at time.Time, contact int64, step string) engine.Trace {
		return engine.Trace{At: at, Contact: contact, Sequence: "nurture", Step: step,
			Decision: runtime.Decision{Send: &runtime.Send{Sequence: "nurture"}}}
	}
	exit := func(at time.Time, contact int64) engine.Trace {
		return engine.Trace{At: at, Contact: contact, Sequence: "nurture", Decision: runtime.Decision{Exit: "completed"}}
	}
	t0 := &tally{loc: loc, first: day(0, 0)}
	for _, tr := range []engine.Trace{
		// Contact 1's first email waits three days: four deferrals.
		held(day(0, 4), 1, "first", engine.HeldWindow),
		held(day(0, 20), 1, "first", engine.HeldWindow),
		held(day(1, 4), 1, "first", engine.HeldCadence),
		held(day(2, 4), 1, "first", engine.HeldCadence),
		sent(day(3, 9), 1, "first"),
		// Its next email waits a day: another send held back.
		held(day(4, 4), 1, "second", engine.HeldCadence),
		sent(day(5, 9), 1, "second"),
		// Contact 2 waits and leaves, then re-enters and waits again at
		// the same step: two sends.
		held(day(0, 4), 2, "first", engine.HeldWindow),
		exit(day(1, 12), 2),
		held(day(2, 4), 2, "first", engine.HeldWindow),
	} {
		t0.observe(tr)
	}
	prog := &campaigns.Program{Sequences: map[string]*campaigns.Sequence{"nurture": {}}}
	rep := &SimReport{}
	rep.finish(prog, t0.days, t0.heldOnce)

	if got, want := rep.Total.HeldBack, 4; got != want {
		t.Errorf("total held back = %d, want %d (each send once)", got, want)
	}
	if got, want := rep.Sequences[0].HeldBack, 4; got != want {
		t.Errorf("nurture held back = %d, want %d", got, want)
	}
	if diff := cmp.Diff(map[string]int{engine.HeldWindow: 3, engine.HeldCadence: 1}, rep.Total.HeldBackBy); diff != "" {
		t.Errorf("held back by what held each first (-want +got):\n%s", diff)
	}
	if got, want := rep.Total.Deferrals, 7; got != want {
		t.Errorf("deferrals = %d, want %d (every one)", got, want)
	}
	var daily []int
	for _, d := range rep.Daily {
		daily = append(daily, d.HeldBack)
	}
	if diff := cmp.Diff([]int{2, 1, 2, 0, 1, 0}, daily); diff != "" {
		t.Errorf("held back per day, each send once a day (-want +got):\n%s", diff)
	}
}
