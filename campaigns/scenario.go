package campaigns

import (
	"fmt"
	"time"
)

// Scenario is one scenario test of a programme: a contact, a start, a
// timeline of what the contact does, and what must happen. Scenarios are
// not part of the Program: they change neither its hash nor its plan.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Pos         Source `json:"pos"`
	// Contact holds the contact's attributes, by name; the email is set.
	Contact map[string]any `json:"contact"`
	// Account holds the attributes of the contact's account, by name,
	// stored before the contact arrives; empty when the scenario gives
	// none.
	Account map[string]any `json:"account,omitempty"`
	// Zone is the time zone day offsets are read in: the contact's own,
	// else the programme's default.
	Zone string `json:"zone"`
	// Start is when the scenario begins: the programme is applied and
	// the contact arrives.
	Start time.Time `json:"start"`
	// Run is how long the virtual clock runs after Start.
	Run Duration `json:"run"`
	// Timeline is what the contact does, in time order.
	Timeline []Happening   `json:"timeline"`
	Expect   []Expectation `json:"expect"`
	// Ordered expectations must be met in the order they are written.
	Ordered bool `json:"ordered,omitempty"`
	// Strict fails the scenario on any email sent that no expectation
	// names.
	Strict bool `json:"strict,omitempty"`
	// Variants picks the A/B arm of send steps: "sequence.step" → the
	// variant's name. Steps not named take the arm the contact would.
	Variants map[string]string `json:"variants,omitempty"`
	// Arms puts the contact in a holdout arm of sequences: sequence →
	// ArmTreatment, ArmControl or ArmGlobalControl. Sequences not named
	// take the arm the contact's address hashes to.
	Arms map[string]string `json:"arms,omitempty"`
	// NoConsent leaves the contact's address without a consent record;
	// otherwise it has one from Start.
	NoConsent bool `json:"no_consent,omitempty"`
}

// Source is a place in a programme's files: an absolute path, and the
// line and column counting from 1.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (s Source) String() string {
	if s.Line == 0 {
		return s.File
	}
	return fmt.Sprintf("%s:%d:%d", s.File, s.Line, s.Col)
}

// Kinds of happening on a scenario's timeline.
const (
	HappenEvent       = "event"       // a behavioural event, with properties
	HappenClick       = "click"       // a click on an email sent before
	HappenOpen        = "open"        // an open of an email sent before
	HappenReply       = "reply"       // a reply to an email sent before
	HappenUnsubscribe = "unsubscribe" // the contact unsubscribes
	HappenBounce      = "bounce"      // the address hard-bounces
	HappenComplain    = "complain"    // the contact reports spam
	HappenSet         = "set"         // the contact's attributes change
	HappenPrefer      = "preferences" // the contact's choices on the preference page
)

// Happening is one thing the contact does at At.
type Happening struct {
	At    time.Time      `json:"at"`
	Label string         `json:"label"` // the offset as written: "day 3 10:00"
	Kind  string         `json:"kind"`
	Event string         `json:"event,omitempty"`
	Props map[string]any `json:"props,omitempty"`
	// Email is the email clicked, opened or replied to.
	Email string `json:"email,omitempty"`
	// Machine marks an open a machine made (a privacy proxy fetching the
	// images): the event is marked unreliable.
	Machine bool           `json:"machine,omitempty"`
	Set     map[string]any `json:"set,omitempty"`
	// Frequency and TopicsOut are the preference page's choices.
	Frequency string   `json:"frequency,omitempty"`
	TopicsOut []string `json:"topics_out,omitempty"`
	// Pause pauses marketing email for a span; Resume ends a pause.
	// Either alone leaves the frequency and topics as they were.
	Pause  Duration `json:"pause,omitempty"`
	Resume bool     `json:"resume,omitempty"`
	Pos    Source   `json:"pos"`
}

// Kinds of expectation.
const (
	ExpectEmail    = "email"    // the email arrives
	ExpectNever    = "never"    // the email never arrives
	ExpectScore    = "score"    // the score holds a condition at a time
	ExpectStage    = "stage"    // the contact is at a stage at a time
	ExpectSegment  = "segment"  // the contact is (or is not) in a segment at a time
	ExpectEnter    = "enter"    // the contact enters a sequence
	ExpectExit     = "exit"     // the contact leaves a sequence, for a reason
	ExpectHandoff  = "handoff"  // the lead is handed to sales
	ExpectDeferred = "deferred" // a cap or the sending window holds an email back
)

// Expectation is one thing that must happen, or must not. The window
// From–To (To exclusive) says when; zero bounds are the run's.
type Expectation struct {
	Kind string `json:"kind"`
	// Email for email, never and deferred; Sequence for enter, and to
	// narrow exit and deferred; Reason for exit; Handoff for handoff;
	// Stage; Segment with In; Scores, which must all hold.
	Email    string           `json:"email,omitempty"`
	Sequence string           `json:"sequence,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Handoff  string           `json:"handoff,omitempty"`
	Stage    string           `json:"stage,omitempty"`
	Segment  string           `json:"segment,omitempty"`
	In       bool             `json:"in,omitempty"`
	Scores   []ScoreCondition `json:"scores,omitempty"`
	// Variant, when set, is the A/B arm the email must come from.
	Variant string `json:"variant,omitempty"`
	// Subject, when set, is text the subject line as sent must contain.
	Subject string `json:"subject,omitempty"`
	// Sender, when set, is the address the email must go out from.
	Sender string `json:"sender,omitempty"`
	// At is the instant a state (score, stage, segment) is checked.
	At   time.Time `json:"at,omitzero"`
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// When is the timing as written: "on day 3", "between day 2 and day 5".
	When string `json:"when,omitempty"`
	Pos  Source `json:"pos"`
}

// State reports whether the expectation checks the contact's state at an
// instant rather than something that happens.
func (x *Expectation) State() bool {
	switch x.Kind {
	case ExpectScore, ExpectStage, ExpectSegment:
		return true
	}
	return false
}
