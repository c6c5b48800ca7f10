package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// Version is one applied programme version.
type Version struct {
	Serial int64
	// Lineage is fixed at the first apply to a store and kept by every
	// later one: a plan made against another store's state never applies.
	Lineage   string
	Hash      string
	AppliedAt time.Time
	AppliedBy string
	GitCommit string
	// Program is the canonical JSON of the applied programme; lists of
	// versions leave it empty.
	Program []byte
}

// ErrStale is returned by Apply when the store's applied version is no
// longer the one the change was planned against.
var ErrStale = errors.New("the plan is stale")

// Lock is a lease on an operation in the store: one apply at a time.
type Lock struct {
	Name      string
	ID        string
	Holder    string
	Operation string
	Created   time.Time
	Expires   time.Time
}

// LockedError is returned when another holder has the lock.
type LockedError struct{ Lock Lock }

func (e *LockedError) Error() string {
	l := e.Lock
	return fmt.Sprintf("the store is locked by %s (%s, lock %s, since %s, until %s)",
		l.Holder, l.Operation, l.ID, l.Created.UTC().Format(time.RFC3339), l.Expires.UTC().Format(time.RFC3339))
}

// StepCount is how many contacts are active in one step of a sequence.
type StepCount struct {
	Sequence, Step string
	Contacts       int
}

// ApplyResult says what an apply did to contacts already in sequences.
type ApplyResult struct {
	Serial int64
	// Moved and Exited count the enrollments each migration moved on or
	// ended, in the order of the migrations given.
	Moved, Exited []int
}

// Migrations ask Apply to move or end enrollments.
type Migrations = []campaigns.Migration

// ScoreShift is how contacts' scores under one model move between the
// applied programme and a new one.
type ScoreShift struct {
	Contacts int
	// Higher and Lower count the contacts whose score rises or falls;
	// BandChanged those who cross a named threshold either way.
	Higher, Lower, BandChanged int
	// Thresholds in ascending order, with who crosses each.
	Thresholds []ThresholdShift
	// Sample is a few contacts whose band changes.
	Sample []string
}

// ThresholdShift counts the contacts who reach a threshold (Up) or fall
// below it (Down).
type ThresholdShift struct {
	Name     string
	Up, Down int
}

// Breakdown is one contact's score under one model, rule by rule.
type Breakdown struct {
	Score float64
	Rules []RulePoints
}

// RulePoints is what one rule ("fit.NAME", "behavior.NAME") gives.
type RulePoints struct {
	Rule   string
	Points float64
}

// Enrollment is a contact's passage through a sequence.
type Enrollment struct {
	Sequence    string
	State       string
	Step        string
	StepSince   time.Time
	NextCheckAt time.Time // zero: nothing scheduled
	// Waiting says what the next check waits for: a wait step, an event,
	// the caps or the sending window.
	Waiting    string
	Version    int64
	EnteredAt  time.Time
	ExitedAt   time.Time
	ExitReason string
	// Arm is the holdout arm the enrollment was assigned (see
	// Active.Arm); empty when no holdout was in force as it began.
	Arm string
}
