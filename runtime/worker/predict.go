package worker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
)

// Rehearser is a store that can run work none of whose writes are kept
// (see sqlstore.Store.Rehearse).
type Rehearser interface {
	Rehearse(ctx context.Context) (runtime.Store, error)
}

// Predict rehearses the next tick at now as it would run once v (nil:
// the version in force) is applied with its migrations ms on base: the
// worker itself decides, on the store's real data, inside a transaction
// that is then rolled back. Nothing is sent and nothing is kept.
func Predict(ctx context.Context, st Rehearser, v *runtime.Version, base campaigns.PlanBase, ms runtime.Migrations, prog *campaigns.Program, now time.Time) (*campaigns.NextTick, error) {
	rs, err := st.Rehearse(ctx)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	ws, ok := rs.(Store)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot run a tick", rs.Dialect())
	}
	if v != nil {
		if err := ws.SyncSchema(ctx, &prog.Contact); err != nil {
			return nil, err
		}
		if _, err := ws.Apply(ctx, *v, base, ms); err != nil {
			return nil, fmt.Errorf("rehearsing the apply: %w", err)
		}
	}
	next := &campaigns.NextTick{At: now.UTC()}
	emails := map[[2]string]int{}
	add := func(m *map[string]int, k string) {
		if *m == nil {
			*m = map[string]int{}
		}
		(*m)[k]++
	}
	controls := map[int64]bool{}
	w := &Worker{Store: ws, Name: "plan", Program: prog, rehearsal: true,
		Configure: func(e *engine.Engine) {
			e.Observe = func(t engine.Trace) {
				d := t.Decision
				if campaigns.HeldOut(d.Arm) && !controls[d.Enrollment] {
					controls[d.Enrollment] = true
					add(&next.Control, d.Sequence)
				}
				switch {
				case t.Deferred:
					add(&next.HeldBack, t.Held)
				case t.HeldOut != "":
					add(&next.HeldOut, t.Sequence)
				case d.Send != nil:
					emails[[2]string{d.Send.Sequence, d.Send.Email}]++
				}
				if d.Handoff != "" && !d.HandoffAccount {
					add(&next.Handoffs, d.Handoff)
				}
			}
		}}
	res, err := w.Tick(ctx, now, false)
	if err != nil {
		return nil, fmt.Errorf("rehearsing the next tick: %w", err)
	}
	// An account hand-off is made once per account, the account's other
	// contacts joining it: count those the rehearsed tick made, as the
	// store made them.
	if hasAccountHandoff(prog) {
		hs, err := ws.Handoffs(ctx, runtime.HandoffFilter{})
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			if h.Account != "" && !h.CreatedAt.Before(now.Truncate(time.Millisecond)) {
				add(&next.Handoffs, h.Handoff)
			}
		}
	}
	next.Entered, next.Exited = nonZero(res.Report.Enrolled), nonZero(res.Report.Exited)
	for k, n := range emails {
		next.Emails = append(next.Emails, campaigns.EmailCount{Sequence: k[0], Email: k[1], Contacts: n})
	}
	slices.SortFunc(next.Emails, func(a, b campaigns.EmailCount) int {
		return cmp.Or(cmp.Compare(a.Sequence, b.Sequence), cmp.Compare(a.Email, b.Email))
	})
	return next, nil
}

func nonZero(m map[string]int) map[string]int {
	var out map[string]int
	for k, n := range m {
		if n > 0 {
			if out == nil {
				out = map[string]int{}
			}
			out[k] = n
		}
	}
	return out
}

func hasAccountHandoff(prog *campaigns.Program) bool {
	for _, h := range prog.Handoffs {
		if h.ForAccount() {
			return true
		}
	}
	return false
}
