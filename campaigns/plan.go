package campaigns

import "time"

// PlanFormatVersion is the version of a Plan's JSON encoding.
const PlanFormatVersion = 2

// What a change does to an object or a part of one.
const (
	ActionAdd    = "add"
	ActionChange = "change"
	ActionRemove = "remove"
	// ActionMove renames or reorders without changing what it does.
	ActionMove = "move"
)

// Plan is what applying a programme would change in a store: the
// definitions that differ from the applied version, what becomes of the
// contacts already in a sequence, and — when a store was at hand — which
// contacts the change affects.
type Plan struct {
	FormatVersion int       `json:"format_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Base is the applied version the plan was computed against; its
	// Serial is 0 on a store nothing was applied to.
	Base PlanBase `json:"base"`
	// Hash is the content hash of the programme the plan applies.
	Hash string `json:"hash"`
	// Source is the directory the programme was compiled from; applying a
	// saved plan refuses it when the directory now compiles differently.
	Source     string      `json:"source,omitempty"`
	Summary    PlanSummary `json:"summary"`
	Changes    []Change    `json:"changes"`
	Migrations []Migration `json:"migrations,omitempty"`
	Impact     *Impact     `json:"impact,omitempty"`
	// Next is what the first tick after the apply would do.
	Next *NextTick `json:"next_tick,omitempty"`
	// Emails are the added and changed emails as the sample contact
	// would get them, for reviewers to read rather than their Markdown.
	Emails []EmailPreview `json:"emails,omitempty"`
	// Experiments are the A/B sends of the sequences the plan touches,
	// each with the verdict the report gives it now and what the change
	// does to its arms. Counts and rates only: no contact.
	Experiments []PlanExperiment `json:"experiments,omitempty"`
	// Paused lists the sequences an operator paused (nurture pause),
	// "*" for all sending: ticks neither advance nor send them, applied
	// or not, until they are resumed.
	Paused []string `json:"paused,omitempty"`
	// Program is the programme to apply. A saved plan carries it so that
	// applying the plan applies exactly what was reviewed.
	Program *Program `json:"programme,omitempty"`
}

// EmailPreview is one added or changed email rendered for a made-up
// sample contact: never a real one, so it may stand in a pull request.
type EmailPreview struct {
	// Email is the email's name: "emails/welcome.md".
	Email  string `json:"email"`
	Action string `json:"action"`
	// To is the sample contact's (made-up) address.
	To string `json:"to"`
	// Before is the applied version's email, for a changed one.
	Before *RenderedEmail `json:"before,omitempty"`
	After  RenderedEmail  `json:"after"`
}

// RenderedEmail is what a contact reads of an email: each subject line
// of an A/B test, the preheader, the plain-text body.
type RenderedEmail struct {
	Subjects  []string `json:"subjects"`
	Preheader string   `json:"preheader,omitempty"`
	Text      string   `json:"text"`
}

// PlanBase names an applied programme version.
type PlanBase struct {
	Serial  int64  `json:"serial"`
	Lineage string `json:"lineage,omitempty"`
	Hash    string `json:"hash,omitempty"`
}

// PlanSummary counts the changed objects by action.
type PlanSummary struct {
	Add    int `json:"add"`
	Change int `json:"change"`
	Remove int `json:"remove"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Change is one top-level object that is added, changed or removed.
type Change struct {
	// Address is the object's kind and name: "sequences.welcome",
	// "emails.emails/welcome.md", "cadence".
	Address string   `json:"address"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name,omitempty"`
	Action  string   `json:"action"`
	Details []Detail `json:"details,omitempty"`
}

// Detail is one part of a changed object: a step, a rule, a field.
type Detail struct {
	Action string `json:"action"`
	// Path is where in the object: "steps.engaged", "fit.mid_market".
	Path   string `json:"path"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Diff is a unified diff of multi-line text (an email's body).
	Diff string `json:"diff,omitempty"`
}

// Migration says what becomes of the contacts in a step of the applied
// version that the new programme renames or removes, or in a sequence it
// removes. Contacts are never silently reset or orphaned: they carry on
// in To, or leave the sequence with the Exit reason.
type Migration struct {
	Sequence string `json:"sequence"`
	// Step is empty when the whole sequence goes.
	Step string `json:"step,omitempty"`
	To   string `json:"to,omitempty"`
	Exit string `json:"exit,omitempty"`
	// Why, in words: "step renamed (moved)", "step removed".
	Why string `json:"why"`
	// Undeclared marks a removed step the programme neither moved nor
	// removed: a plan refuses it while contacts are in the step.
	Undeclared bool `json:"undeclared,omitempty"`
	// Like names an added step with the same definition as the removed
	// one: most likely a rename, to be declared with moved.
	Like string `json:"like,omitempty"`
}

// Exit reasons of migrations.
const (
	ExitStepRemoved     = "step_removed"
	ExitSequenceRemoved = "sequence_removed"
)

// Impact is what a plan does to real contacts, counted in the store.
type Impact struct {
	// At is the time segment windows were measured from.
	At       time.Time       `json:"at"`
	Contacts int             `json:"contacts"`
	Segments []SegmentImpact `json:"segments,omitempty"`
	Steps    []StepImpact    `json:"steps,omitempty"`
	Scores   []ScoreImpact   `json:"scores,omitempty"`

	// ContactsHidden says the plan holds no example contacts because
	// none were asked for: a plan ends up in pull requests, CI logs and
	// saved files, where real people's addresses do not belong.
	ContactsHidden bool `json:"contacts_hidden,omitempty"`
}

// ScoreImpact is how a changed scoring model moves contacts' scores.
type ScoreImpact struct {
	Model string `json:"model"`
	// Higher and Lower count the contacts whose score rises or falls;
	// BandChanged those who cross a named threshold either way.
	Higher      int               `json:"higher"`
	Lower       int               `json:"lower"`
	BandChanged int               `json:"band_changed"`
	Thresholds  []ThresholdImpact `json:"thresholds"`
	Sample      []string          `json:"sample,omitempty"`
}

// ThresholdImpact counts the contacts who reach a threshold and who fall
// below it. Handoff marks a threshold an exit rule hands leads to sales
// at: those who reach it are handed off on the next tick.
type ThresholdImpact struct {
	Name    string `json:"name"`
	Reach   int    `json:"reach"`
	Fall    int    `json:"fall"`
	Handoff bool   `json:"handoff,omitempty"`
}

// SegmentImpact is a new, changed or removed segment's size before and
// after, and who enters and leaves it.
type SegmentImpact struct {
	Segment  string   `json:"segment"`
	Before   int      `json:"before"`
	After    int      `json:"after"`
	Entering int      `json:"entering"`
	Leaving  int      `json:"leaving"`
	Enter    []string `json:"enter_sample,omitempty"`
	Leave    []string `json:"leave_sample,omitempty"`
}

// StepImpact counts the contacts now in a step that the plan changes,
// renames or removes, and says what happens to them.
type StepImpact struct {
	Sequence string `json:"sequence"`
	Step     string `json:"step"`
	Contacts int    `json:"contacts"`
	// Then is what becomes of them: "stay", "move to X", "exit: reason".
	Then string `json:"then"`
}

// NextTick is what the first tick after the apply would do: the worker's
// own decisions, made on the store's data in a rehearsal that is rolled
// back, after every exit rule, cap, priority and suppression.
type NextTick struct {
	// At is the moment the tick was rehearsed for.
	At time.Time `json:"at"`
	// Error says why the rehearsal failed, when it did; the rest is
	// then empty. A plan is still made: the apply will meet the same
	// cause, and the reviewer should know it first.
	Error string `json:"error,omitempty"`
	// Entered counts the contacts entering each sequence.
	Entered map[string]int `json:"entered,omitempty"`
	// Exited counts the enrollments ending, by reason.
	Exited map[string]int `json:"exited,omitempty"`
	// Emails are the emails the tick would plan, by sequence and email.
	Emails []EmailCount `json:"emails,omitempty"`
	// HeldBack counts the sends a limit holds back, by the limit that
	// frees them last (cadence_caps, sequence_cap, account_cap,
	// preferences, sending_window, blackout_dates, paused).
	HeldBack map[string]int `json:"held_back,omitempty"`
	// HeldOut counts, by sequence, the emails a holdout keeps from the
	// contacts of its control group: steps walked, nothing planned.
	HeldOut map[string]int `json:"held_out,omitempty"`
	// Control counts, by sequence, the enrollments the tick assigns to a
	// control group (the sequence's or the programme's); they are in
	// Entered too, or began earlier and meet their first step now.
	Control map[string]int `json:"control,omitempty"`
	// Handoffs counts the leads handed to sales, by hand-off.
	Handoffs map[string]int `json:"handoffs,omitempty"`
}

// EmailCount is how many contacts one email of a sequence goes to.
type EmailCount struct {
	Sequence string `json:"sequence"`
	Email    string `json:"email"`
	Contacts int    `json:"contacts"`
}

// PlanExperiment is one A/B send of a sequence the plan touches, or the
// subject-line test of an email it changes (per step sending it): the
// verdict nurture report gives it on the store's sends of the period,
// the arms the change removes, and whether the audience can give it the
// sample it needs.
type PlanExperiment struct {
	Sequence string `json:"sequence"`
	Step     string `json:"step"`
	// Email, when set, makes this the subject-line test of the email the
	// step sends: the arms are its subject lines.
	Email string `json:"email,omitempty"`
	// Metric is what the arms are judged by: "click", "reply" or a goal.
	Metric string `json:"metric"`
	// Since and Until bound the sends judged.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Arms are the arms that had sends in the period.
	Arms   []PlanArm `json:"arms"`
	Leader string    `json:"leader,omitempty"`
	Winner string    `json:"winner,omitempty"`
	// PValue is the report's: the leader against the arm closest to it,
	// corrected for the number of comparisons; absent before any data.
	PValue  *float64 `json:"p_value,omitempty"`
	Verdict string   `json:"verdict"`
	// Removed are the arms the change takes away; Stopped says it leaves
	// the step one arm or none, which ends the experiment.
	Removed []RemovedArm `json:"removed_arms,omitempty"`
	Stopped bool         `json:"stopped,omitempty"`
	// Sample is what the experiment needs against what its audience
	// gives; absent when the step is gone or the audience is unknown.
	Sample *ExperimentSample `json:"sample,omitempty"`
	// Warnings are for a reviewer: an arm removed that was winning or
	// leading, an experiment stopped before a verdict. A sample out of
	// reach is Sample.Short.
	Warnings []string `json:"warnings,omitempty"`
}

// PlanArm is one arm's sends and rate of the metric: Count of Sends
// (delivered), with the report's 95% interval; the rate and interval
// are absent when the arm has no delivered sends.
type PlanArm struct {
	Variant string `json:"variant"`
	Email   string `json:"email"`
	// Subject is the subject line of a subject-line test's arm.
	Subject string   `json:"subject,omitempty"`
	Sends   int      `json:"sends"`
	Count   int      `json:"count"`
	Rate    *float64 `json:"rate,omitempty"`
	Low     *float64 `json:"low,omitempty"`
	High    *float64 `json:"high,omitempty"`
}

// Standings of an arm a change removes.
const (
	StandingLosing      = "losing"
	StandingWinning     = "winning"
	StandingNoDifferent = "no_difference"
	StandingUndecided   = "undecided"
)

// RemovedArm is an arm a change removes and where it stood.
type RemovedArm struct {
	Variant  string `json:"variant"`
	Standing string `json:"standing"`
	// Message says it in words: "removes arm a: it was losing, 2% vs 4%
	// for b, p = 0.009".
	Message string `json:"message"`
}

// ExperimentSample is a power calculation: the sends each arm needs to
// detect Lift over Baseline at the report's level with 80% power, and
// the sends the audience gives the arm with the smallest share over
// Horizon.
type ExperimentSample struct {
	// Baseline is the rate the lift is on; BaselineFrom says where it
	// came from: "arms" (the arms' pooled rate now) or "benchmark" (the
	// playbooks' figure for the metric, before any data).
	Baseline     float64 `json:"baseline"`
	BaselineFrom string  `json:"baseline_from"`
	Lift         float64 `json:"lift"`
	// Needed is the sends per arm; Arm is the arm with the smallest
	// share, which has Has sends now and gets Gives more.
	Needed int    `json:"needed_per_arm"`
	Arm    string `json:"arm"`
	Has    int    `json:"has"`
	Gives  int    `json:"gives"`
	// Audience is what the sequence can reach over Horizon: the entry
	// segment's size now, or for an event entry the contacts who did it
	// in the last 30 days scaled to Horizon; AudienceFrom says which.
	Audience     int      `json:"audience"`
	AudienceFrom string   `json:"audience_from"`
	Horizon      Duration `json:"horizon"`
	// Short says the arm cannot reach Needed in Horizon.
	Short bool `json:"short,omitempty"`
	// Summary says it in words: "arm b needs about 3,900 sends to detect
	// a 20% lift on 3%; the audience (segment new_signups now) gives it
	// about 1,200 in 30d".
	Summary string `json:"summary"`
}
