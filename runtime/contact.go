package runtime

import (
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// ContactRecord is one contact as an import file states it: the normalised
// email and the values of the attributes the row has a column for. Values
// are keyed by attribute name, built-in ones (stage, timezone, account,
// account_tier) included, and typed by the contact schema: string (string
// and enum), int64, float64, bool or time.Time in UTC. A nil value clears
// the attribute. Attributes the row does not mention keep what the store
// holds.
type ContactRecord struct {
	// Line is where the record starts in its file, from 1.
	Line  int
	Email string
	// Role is set for role addresses (info@, support@, …).
	Role   bool
	Values map[string]any
	// Consent, when the file records it, is the opt-in behind this contact.
	Consent *Consent
}

// Contact is one person the programme may email, as the store holds it.
type Contact struct {
	ID    int64
	Email string
	Role  bool
	// Values holds every attribute with a value, built-in ones but email
	// included, typed as in ContactRecord.
	Values    map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
	// Prefs is what the contact chose on the preference page; the engine
	// reads it, other listings leave it empty.
	Prefs Preferences
}

// Preferences are a contact's own choices about marketing email.
type Preferences struct {
	// Frequency lowers how often marketing email may come: the name of
	// one of the programme's frequencies (campaigns.Program.Frequency);
	// empty means as the programme's caps allow.
	Frequency string
	// TopicsOut are the topics the contact wants no more email about.
	TopicsOut []string
	// PausedUntil, while after now, holds all marketing email to the
	// contact; zero when it paused nothing.
	PausedUntil time.Time
	UpdatedAt   time.Time
}

// The default frequencies' names (campaigns.DefaultFrequencies).
const (
	FrequencyWeekly   = "weekly"
	FrequencyBiweekly = "biweekly"
	FrequencyMonthly  = "monthly"
)

// FrequencyLimit is the cap a contact's chosen frequency puts on its
// marketing email under prog, or nil when it chose none. A choice prog
// no longer offers is held to the strictest it offers.
func FrequencyLimit(prog *campaigns.Program, f string) []campaigns.Limit {
	if fr, _, ok := prog.Frequency(f); ok {
		return []campaigns.Limit{fr.Limit}
	}
	return nil
}

// OptedOut reports whether the contact wants no more email on topic.
func (p Preferences) OptedOut(topic string) bool {
	return topic != "" && slices.Contains(p.TopicsOut, topic)
}

// Paused reports whether the contact's marketing email is paused at now.
func (p Preferences) Paused(now time.Time) bool { return p.PausedUntil.After(now) }

// Event is one behavioural signal of one contact.
type Event struct {
	// Line is where the event is in its import file, from 1; zero otherwise.
	Line int
	// ID makes recording an event idempotent: the same ID is stored once.
	ID    string
	Email string
	Name  string
	At    time.Time
	// Props are the event's properties, typed by its declaration.
	Props map[string]any
}

// Suppression keeps an address from marketing email. Imports never delete
// one.
type Suppression struct {
	Email string
	// Reason is one of the Reason constants.
	Reason string
	// Source says where it came from: a file, "smtp", "tracking", a person.
	Source string
	At     time.Time
}

// Suppression reasons.
const (
	ReasonUnsubscribed = "unsubscribed"
	ReasonBounced      = "bounced"
	ReasonComplained   = "complained"
	ReasonManual       = "manual"
)

// Consent records an opt-in: who gave it, when, where, to which wording.
type Consent struct {
	Email  string
	At     time.Time
	Source string
	// Wording is the version of the consent text the contact agreed to.
	Wording string
	// Who recorded it: the operator running an import, or a form.
	Who string
}

// EmailKey is what makes two addresses one contact: the whole address in
// lower case. Stores keep the address as written, with its domain
// normalised, and match on the key.
func EmailKey(email string) string { return strings.ToLower(email) }
