package runtime

import (
	"slices"
	"time"
)

// Active is an active enrollment as the engine reads it.
type Active struct {
	ID, Contact int64
	Sequence    string
	Step        string
	StepSince   time.Time
	EnteredAt   time.Time
	Version     int64
	// Waiting is why it waits; an enrollment no decision has moved yet
	// says how it began (WaitingEntry, WaitingStart).
	Waiting string
	// Trigger is the ID of the event that brought the contact to where
	// it is: the one that entered it, or the one a wait_for waited for;
	// empty when none did. {{ trigger.PROP }} reads its properties.
	Trigger string
	// Arm is the holdout arm the enrollment was assigned to with its
	// first decision (campaigns.ArmTreatment, ArmControl,
	// ArmGlobalControl); empty when no holdout was in force then.
	Arm string
}

// An enrollment begins waiting for its first decision with one of these,
// which the decision replaces. The store keeps them so that a tick
// interrupted between starting an enrollment and deciding its first
// step, and run again, applies to it the exit rules a tick that was not
// interrupted would have: those its entry could not settle for one an
// entry segment admitted, every rule for one a decision started.
const (
	WaitingEntry = "its exit rules, before its first step (entered)"
	WaitingStart = "its exit rules, before its first step (started)"
)

// TickMark records how far a tick that has not finished got: the phases
// of a tick up to Reached are done and need not be run again by a tick
// at the same time on the same version (see worker).
type TickMark struct {
	At, Started time.Time
	Worker      string
	Version     int64
	Reached     string
	// Full is set when the tick looked at every contact.
	Full bool
}

// Decision is what the engine decided about one enrollment at At: where
// it is now, and what that decision writes beside it.
type Decision struct {
	Enrollment int64
	Contact    int64
	At         time.Time
	// Step and StepSince are where the enrollment is now; NextCheck when
	// to look at it again (zero: when something about the contact
	// changes). Waiting says why it waits.
	Step      string
	StepSince time.Time
	NextCheck time.Time
	Waiting   string
	// Exit, when set, ends the enrollment with this reason.
	Exit string
	// Send is a ledger row to plan with the decision.
	Send *Send
	// Set updates contact attributes.
	Set map[string]any
	// Handoff hands the lead to sales.
	Handoff string
	// HandoffAccount hands over the contact's account instead, once: a
	// contact of an account whose hand-off is open joins it. The hand-off
	// stays open until sales returns the account, or until HandoffUntil
	// when set. A contact without an account is handed over alone.
	HandoffAccount bool
	HandoffUntil   time.Time
	// Returned closes the open account hand-off of this name of the
	// contact's account: sales handed the account back.
	Returned string
	// Enroll starts the contact in these sequences, at their first step.
	Enroll []Start
	// Suppress suppresses the contact from marketing with this reason.
	Suppress string
	Sequence string
	Version  int64
	// Trigger is the enrollment's triggering event after the decision.
	Trigger string
	// Arm, when set, is the holdout arm the decision assigns: the first
	// decision of an enrollment begun under a holdout. An arm once
	// recorded is never changed.
	Arm string
}

// Start is an enrollment a decision begins.
type Start struct {
	Sequence, Step string
}

// Send is a planned email in the ledger. Key makes it idempotent: one
// row per contact, sequence, step and programme version.
type Send struct {
	Key      string
	Sequence string
	Step     string
	Email    string
	Variant  string
	// Trigger is the event whose properties the email merges.
	Trigger string
	// SubjectVariant names the subject line the send gets when its email
	// tests more than one: chosen from Key, as delivery renders it.
	SubjectVariant string
}

// Sent is an email counted against the caps.
type Sent struct {
	Sequence string
	At       time.Time
}

// Claim is a planned email a worker has claimed to send.
type Claim struct {
	ID       int64
	Key      string
	Contact  int64
	Sequence string
	Step     string
	Email    string
	Variant  string
	Version  int64
	// Attempts counts the earlier tries the mail server deferred.
	Attempts int
	// TriggerProps are the properties of the event the send was planned
	// with (see Send.Trigger); nil when none.
	TriggerProps map[string]any
	// Planned is when the engine planned the send to go.
	Planned time.Time
}

// Handed is an email handed over to the mail server: planned for one
// time, handed over at another.
type Handed struct {
	Sequence      string
	Planned, Sent time.Time
}

// SendRecord is a row of the ledger as the tracking server reads it.
type SendRecord struct {
	ID        int64
	Key       string
	Contact   int64
	Sequence  string
	Step      string
	Email     string
	Variant   string
	Status    string
	MessageID string
	SentAt    time.Time
	// Version is the programme version the send was planned under: the
	// email it renders.
	Version int64
	// TriggerProps are the properties of the event the send was planned
	// with; nil when none.
	TriggerProps map[string]any
}

// TrackingKey signs tracked links.
type TrackingKey struct {
	ID        int64
	Secret    []byte
	CreatedAt time.Time
	RetiredAt time.Time
}

// DeliveryStats counts, over a window, what the circuit breaker weighs:
// emails accepted, hard bounces and complaints.
type DeliveryStats struct {
	Sent, Bounced, Complained int
}

// ClaimLease is how long a claimed send may stay unfinished before its
// worker counts as stopped: the send is then planned again if it was
// never handed over, or unknown if it may have been.
const ClaimLease = 15 * time.Minute

// Recovered counts what recovery did with the claims of stopped workers.
type Recovered struct {
	// Requeued were never handed over, and are planned again.
	Requeued int
	// Unknown may have been handed over: they count as sent until
	// evidence or an operator resolves them.
	Unknown int
	// Failed were never handed over, but had been tried too often.
	Failed int
}

// Ledger states of a send.
const (
	SendPlanned   = "planned"
	SendClaimed   = "claimed"
	SendAccepted  = "accepted"
	SendFailed    = "failed"
	SendUnknown   = "unknown"
	SendCancelled = "cancelled"
)

// States of a hand-off to sales.
const (
	HandoffPending = "pending"
	HandoffDone    = "done"
	HandoffFailed  = "failed"
)

// HandoffRecord is one hand-off to sales and how its delivery went.
type HandoffRecord struct {
	ID        int64     `json:"id"`
	Contact   int64     `json:"contact"`
	Email     string    `json:"email"`
	Handoff   string    `json:"handoff"`
	Reason    string    `json:"reason"`
	Sequence  string    `json:"sequence,omitempty"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"created_at"`
	// NextAt is when a pending hand-off is tried next; DoneAt when it was
	// delivered or failed for good.
	NextAt    time.Time `json:"next_at,omitzero"`
	DoneAt    time.Time `json:"done_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Account is the account an account hand-off hands over, and
	// Contacts the contacts of it that reached the hand-off, the one
	// that made it first.
	Account  string           `json:"account,omitempty"`
	Contacts []HandoffContact `json:"contacts,omitempty"`
}

// HandoffContact is a contact that reached an account hand-off: the one
// that made it, or one that joined it later.
type HandoffContact struct {
	Contact  int64     `json:"contact"`
	Email    string    `json:"email"`
	Reason   string    `json:"reason"`
	Sequence string    `json:"sequence,omitempty"`
	At       time.Time `json:"at"`
}

// ScoredContact is a contact of an account with its score.
type ScoredContact struct {
	Contact int64   `json:"contact"`
	Email   string  `json:"email"`
	Score   float64 `json:"score"`
}

// HandoffFilter picks hand-offs: of one contact, in one state, the
// newest first up to Limit (0: all).
type HandoffFilter struct {
	// Contact picks the hand-offs the contact made or joined; Account
	// the hand-offs of one account.
	Contact int64
	Account string
	Status  string
	Limit   int
}

// PendingHandoff is a hand-off to sales waiting to be delivered.
type PendingHandoff struct {
	ID        int64
	Contact   int64
	Handoff   string
	Reason    string
	Sequence  string
	Attempts  int
	CreatedAt time.Time
	// Account is the account an account hand-off hands over.
	Account string
}

// Watch is what an incremental tick looks at beside the contacts that
// changed since the last one: the conditions that time alone turns. Each
// turns a span after a stored time — an event's, an attribute's, the
// last engagement, an enrollment's start or end — so the contacts whose
// stored time plus span fell between Since and Now are the ones a tick
// must look at again, found through an index on that time.
//
// Since and Now are by the ticks' clock, which dates events, attributes
// and enrollments; Changed is by the store's clock, which stamps what
// was imported, recorded or decided: a tick run with a --now of its own
// compares each stamp with the last tick by the clock that wrote it.
type Watch struct {
	Since, Now time.Time
	// Changed: contacts whose attributes, events or scores the store
	// stamped as changed at or after it. Zero: Since.
	Changed time.Time
	Events  []EventSpan
	Attrs   []AttrSpan
	// Inactive: the last engagement, or the contact's creation when it
	// never engaged, this long ago.
	Inactive []time.Duration
	// Entered: active enrollments in a sequence that began Span ago.
	Entered []SequenceSpan
	// Exited: enrollments in a sequence that ended Span ago.
	Exited []SequenceSpan
}

// EventSpan watches the events of one name a span after they happened.
type EventSpan struct {
	Event string
	Span  time.Duration
}

// AttrSpan watches a time attribute a span after its value.
type AttrSpan struct {
	Field string
	Span  time.Duration
}

// SequenceSpan watches a sequence's enrollments a span after they began
// or ended.
type SequenceSpan struct {
	Sequence string
	Span     time.Duration
}

// OptOut is what keeps a contact from an email at the moment of sending:
// a suppressed address, topics the contact opted out of, or a pause of
// its marketing email.
type OptOut struct {
	Suppressed bool
	TopicsOut  []string
	// PausedUntil is when a pause the contact chose ends; zero: none.
	PausedUntil time.Time
}

// Withholds says why a message must not go at now, or "": always to a
// suppressed address, on a topic the contact opted out of, and marketing
// email while the contact's pause lasts (transactional mail is owed
// whatever the contact paused).
func (o OptOut) Withholds(topic string, marketing bool, now time.Time) string {
	switch {
	case o.Suppressed:
		return "the address is suppressed"
	case topic != "" && slices.Contains(o.TopicsOut, topic):
		return "the contact opted out of " + topic
	case marketing && o.PausedUntil.After(now):
		return "the contact paused marketing email until " + o.PausedUntil.UTC().Format(time.RFC3339)
	}
	return ""
}

// SendFilter selects rows of the send ledger; zero fields select all.
type SendFilter struct {
	// State is a ledger state, or "held" for planned sends held back
	// past Now (by the caps or the sending window).
	State    string
	Sequence string
	// Email is a contact's address.
	Email string
	Now   time.Time
	Limit int
}

// LedgerRow is a send as an operator lists it.
type LedgerRow struct {
	ID        int64
	Key       string
	Address   string
	Sequence  string
	Step      string
	Email     string
	Status    string
	PlannedAt time.Time
	ClaimedAt time.Time
	ClaimedBy string
	SentAt    time.Time
	MessageID string
	Attempts  int
	Error     string
}
