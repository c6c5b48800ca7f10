package runtime

import (
	"context"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// Store is what nurture keeps between runs: contacts, events, scores,
// enrollments, the send ledger, suppressions, consent records, applied
// programme versions and locks. The adapters in runtime/sqlite and
// runtime/postgres implement it and pass the suite in runtime/storetest.
type Store interface {
	// Close releases the store.
	Close() error

	// Dialect names the adapter: "sqlite" or "postgres".
	Dialect() string

	// SyncSchema makes room for the contact attributes the programme
	// declares. It adds what is new and never drops what the programme no
	// longer declares; an attribute whose type changed is refused.
	SyncSchema(ctx context.Context, schema *campaigns.ContactSchema) error

	// UpsertContacts inserts or updates one batch by email, in one
	// transaction. A record that cannot be stored (a new contact without a
	// required attribute) is reported in the result, not written.
	UpsertContacts(ctx context.Context, schema *campaigns.ContactSchema, batch []ContactRecord, who string) (UpsertResult, error)

	// SyncAccountSchema makes room for the account attributes the
	// programme declares, as SyncSchema does for contacts.
	SyncAccountSchema(ctx context.Context, attrs map[string]*campaigns.Attribute) error

	// UpsertAccounts inserts or updates one batch of accounts by key, in
	// one transaction, and marks the contacts of each account whose values
	// changed as changed, so that the next tick looks at them again.
	UpsertAccounts(ctx context.Context, attrs map[string]*campaigns.Attribute, batch []AccountRecord) (UpsertResult, error)

	// Account finds an account by key, or returns nil.
	Account(ctx context.Context, key string) (*Account, error)

	// AccountCounts counts, for each predicate, the accounts with at least
	// one contact that meets it at now, in one pass over the contacts.
	AccountCounts(ctx context.Context, prog *campaigns.Program, ps []campaigns.Predicate, now time.Time) ([]int, error)

	// AccountScore is the account's score under prog's accounts.score at
	// the contacts' stored scores, and how many contacts it rolls up.
	AccountScore(ctx context.Context, prog *campaigns.Program, key string) (float64, int, error)

	// RecordEvents stores one batch of events, each once by its ID. Events
	// of unknown contacts are reported in the result, not written.
	RecordEvents(ctx context.Context, batch []Event) (EventResult, error)

	// Suppress adds suppressions; an address and reason already suppressed
	// keeps its first record. It reports how many were new.
	Suppress(ctx context.Context, batch []Suppression) (int, error)

	// Suppressions calls fn for each suppression, by address.
	Suppressions(ctx context.Context, fn func(Suppression) error) error

	// Consents returns the consent records of the address, oldest first.
	Consents(ctx context.Context, email string) ([]Consent, error)

	// Contacts calls fn for each contact, by ID.
	Contacts(ctx context.Context, fn func(Contact) error) error

	// Applied returns the version in force, or nil when nothing was
	// applied.
	Applied(ctx context.Context) (*Version, error)

	// Versions lists the applied versions, newest first, without their
	// programmes; Version returns one with its programme, or nil.
	Versions(ctx context.Context) ([]Version, error)
	Version(ctx context.Context, serial int64) (*Version, error)

	// Apply records v as the version in force and carries out the
	// migrations on active enrollments, in one transaction. It returns
	// ErrStale unless the version in force is still base (serial and
	// lineage; serial 0: none). v's Serial is assigned; an empty Lineage
	// takes base's, or a new one on the first apply.
	Apply(ctx context.Context, v Version, base campaigns.PlanBase, m Migrations) (ApplyResult, error)

	// AcquireLock takes the named lease for ttl, or returns a
	// *LockedError naming its holder; an expired lease is taken over.
	// ReleaseLock gives back a lease by its ID; ForceUnlock removes one
	// whoever holds it and reports whether there was one.
	AcquireLock(ctx context.Context, l Lock, ttl time.Duration) (Lock, error)
	// RenewLock extends a lease its holder still has to ttl from now,
	// or returns a *LockedError when it was lost.
	RenewLock(ctx context.Context, l Lock, ttl time.Duration) (Lock, error)
	ReleaseLock(ctx context.Context, name, id string) error
	ForceUnlock(ctx context.Context, id string) (bool, error)

	// StepCounts counts the active enrollments in each sequence step.
	StepCounts(ctx context.Context) ([]StepCount, error)

	// ScoreShift scores every contact under the named model of old (nil:
	// none) and of new at now, and counts who crosses each threshold.
	ScoreShift(ctx context.Context, old, new *campaigns.Program, model string, now time.Time, sample int) (ScoreShift, error)

	// Rescore computes every scoring model's score of the contacts with
	// the given IDs (all contacts when ids is nil) at now and stores it.
	Rescore(ctx context.Context, prog *campaigns.Program, ids []int64, now time.Time) (int, error)

	// Contact finds a contact by address, or returns nil.
	Contact(ctx context.Context, email string) (*Contact, error)

	// Matches says, for one contact, which of the predicates it meets at
	// now.
	Matches(ctx context.Context, prog *campaigns.Program, id int64, ps []campaigns.Predicate, now time.Time) ([]bool, error)

	// ScoreBreakdown scores one contact under the named model at now,
	// rule by rule.
	ScoreBreakdown(ctx context.Context, prog *campaigns.Program, model string, id int64, now time.Time) (Breakdown, error)

	// Handoffs lists hand-offs to sales, newest first, as f picks them.
	Handoffs(ctx context.Context, f HandoffFilter) ([]HandoffRecord, error)

	// RetryHandoffs makes failed hand-offs pending again, due at now with
	// a fresh run of retries: those with the given IDs, or every failed
	// one when ids is empty. It reports how many it requeued.
	RetryHandoffs(ctx context.Context, ids []int64, now time.Time) (int, error)

	// Enrollments lists a contact's enrollments, newest first.
	Enrollments(ctx context.Context, id int64) ([]Enrollment, error)

	// Counts counts the contacts that meet each predicate at now, in one
	// pass over the contacts.
	Counts(ctx context.Context, prog *campaigns.Program, ps []campaigns.Predicate, now time.Time) ([]int, error)

	// Sample returns up to n contacts that meet p at now, by ID.
	Sample(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, now time.Time, n int) ([]Contact, error)

	// Audience counts the contacts that meet p at now and returns up to
	// sample of them, by ID.
	Audience(ctx context.Context, prog *campaigns.Program, p campaigns.Predicate, now time.Time, sample int) (int, []Contact, error)
}

// UpsertResult counts what happened to a batch of contact records.
type UpsertResult struct {
	Inserted, Updated, Unchanged int
	Rejected                     []Rejected
}

// EventResult counts what happened to a batch of events.
type EventResult struct {
	Inserted, Duplicate int
	// Pending counts the events kept for addresses not imported yet
	// (RecordEventsPending); RecordEvents rejects those instead.
	Pending  int
	Rejected []Rejected
}

// Rejected is a record the store would not take, and why.
type Rejected struct {
	Line   int
	Email  string
	Reason string
}
