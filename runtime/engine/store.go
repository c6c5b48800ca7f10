package engine

import (
	"context"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// Store is what the engine needs of the contact store.
type Store interface {
	Rescore(ctx context.Context, prog *campaigns.Program, ids []int64, now time.Time) (int, error)
	Matches(ctx context.Context, prog *campaigns.Program, id int64, ps []campaigns.Predicate, now time.Time) ([]bool, error)
	// MatchesEach evaluates p for each of the contacts in ids at once
	// and returns those that meet it.
	MatchesEach(ctx context.Context, prog *campaigns.Program, ids []int64, p campaigns.Predicate, now time.Time) (map[int64]bool, error)
	// EnrollWhere starts the contacts that meet p at now in sequence at
	// step, due at now; those already active in it are skipped. With a
	// trigger, each enrollment records the contact's latest event that
	// meets it as its triggering event. It reports how many it enrolled.
	EnrollWhere(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, trigger *campaigns.EventCondition, sequence, step string, version int64, now time.Time) (int, error)
	// LatestEvent returns the ID of the contact's latest event that
	// meets ev at now, or "" when none does.
	LatestEvent(ctx context.Context, prog *campaigns.Program, id int64, ev campaigns.EventCondition, now time.Time) (string, error)
	// Active lists active enrollments above ID after; Due those whose
	// next check is at or before now.
	Active(ctx context.Context, after int64, limit int) ([]runtime.Active, error)
	Due(ctx context.Context, now time.Time, limit int) ([]runtime.Active, error)
	// ActiveWhere lists, above enrollment after, the active enrollments
	// in sequence (at step, when given; entered at or before enteredBy,
	// when given) whose contact meets p at now.
	ActiveWhere(ctx context.Context, prog *campaigns.Program, sequence, step string, enteredBy time.Time, p campaigns.Predicate, now time.Time, after int64, limit int) ([]runtime.Active, error)
	// ContactsWhere lists, above ID after, the contacts that meet p at now.
	ContactsWhere(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, now time.Time, after int64, limit int) ([]int64, error)
	// Changed returns the contacts whose attributes changed or who got
	// events since a time, above after.
	Changed(ctx context.Context, since time.Time, after int64, limit int) ([]int64, error)
	// Candidates lists, by ID, the contacts an incremental tick looks
	// at: changed at or after w.Since, or turned by a condition in w.
	Candidates(ctx context.Context, w runtime.Watch) ([]int64, error)
	// DecideAll writes decisions in order, all or nothing.
	DecideAll(ctx context.Context, ds []runtime.Decision) error
	// SendsOf lists the emails planned or sent to contacts since a time.
	SendsOf(ctx context.Context, ids []int64, since time.Time) (map[int64][]runtime.Sent, error)
	// AccountSends lists, by account, the emails planned or sent to any
	// of its contacts since a time.
	AccountSends(ctx context.Context, accounts []string, since time.Time) (map[string][]runtime.Sent, error)
	// Counts counts the contacts that meet each predicate at now.
	Counts(ctx context.Context, prog *campaigns.Program, ps []campaigns.Predicate, now time.Time) ([]int, error)
	// ReachedHandoff reports which of the contacts reached an account
	// hand-off of this name (made it or joined it).
	ReachedHandoff(ctx context.Context, handoff string, ids []int64) (map[int64]bool, error)
	// ContactsByID finds contacts by ID.
	ContactsByID(ctx context.Context, ids []int64) (map[int64]*runtime.Contact, error)
}
