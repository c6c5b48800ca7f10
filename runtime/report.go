package runtime

import "time"

// ReportFilter picks what a report covers: the sends and events in
// [Since, Until), of one sequence when Sequence is set.
type ReportFilter struct {
	Since, Until time.Time
	Sequence     string
	// GoalExits and GoalStages are the programme's goals: an enrollment
	// that ended for one of GoalExits in the period, or a contact at one
	// of GoalStages now, reached a goal. Both empty: no goals to count.
	GoalExits, GoalStages []string
	// ExperimentGoals are the A/B steps judged by a goal rather than by
	// clicks or replies: the store counts, per arm, the contacts sent it
	// who reached the goal.
	ExperimentGoals []ExperimentGoal
	// Stages are the contact schema's lifecycle stages in order: the
	// store times how long contacts took to reach each, a contact at a
	// later stage having passed the earlier ones. Empty: no stage times.
	Stages []string
}

// ExperimentGoal is an A/B step judged by a goal: an exit from the
// sequence for one of Exits, or reaching one of Stages (the goal's stage
// or a later one).
type ExperimentGoal struct {
	Sequence, Step string
	Exits, Stages  []string
}

// ReportData is what the store aggregates for a report: one row per
// email of a step and A/B arm, and the outcomes of each sequence. The
// store counts; rates, benchmarks and verdicts are the report's.
type ReportData struct {
	Emails   []EmailStats
	Outcomes []SequenceOutcome
	// Programme is the outcome of every sequence at once, each contact
	// counted once (Sequence empty); nil when the report is of one
	// sequence.
	Programme *SequenceOutcome
	// Links counts the contacts who clicked each link of each email.
	Links []LinkClicks
	// Weeks counts each sequence's sends and clickers week by week of
	// the period, weeks that had any; ordered by sequence and week.
	Weeks []WeekStats
	// Holdouts counts the contacts of each holdout arm and those of them
	// who reached a goal: per sequence, and for the programme's holdout
	// (Sequence empty); ordered by sequence and arm. Nil when no
	// enrollment of the period was assigned an arm.
	Holdouts []HoldoutStats
	// StageTimes is how long the contacts of each sequence, and of the
	// programme (Sequence empty), took to reach each of the filter's
	// Stages; ordered by sequence and stage.
	StageTimes []StageTimes
	// StageTimesSince is when the store began recording stage changes
	// (its migration, or the first change when a virtual clock dated one
	// earlier): a contact's stage before it is not known. Zero: never.
	StageTimesSince time.Time
	// Subjects counts the sends of each email with subject variants, by
	// the subject line each got; ordered by sequence, step, email and
	// subject variant.
	Subjects []SubjectStats
}

// StageTimes is how long the contacts enrolled in a sequence in the
// period took to reach a stage (or a later one): from entering the
// sequence (the first enrollment of the period; for the programme, the
// first in any sequence) and from their creation. Only changes recorded
// before the period ends count, and from entry only those at or after
// it: a contact already at the stage when it entered has no time to it.
type StageTimes struct {
	Sequence    string       `json:"sequence"`
	Stage       string       `json:"stage"`
	FromEntry   Distribution `json:"from_entry"`
	FromCreated Distribution `json:"from_created"`
}

// Distribution summarises durations in seconds: how many, their median
// and 75th percentile (linear between the nearest ranks, as
// percentile_cont interpolates).
type Distribution struct {
	N      int     `json:"n"`
	Median float64 `json:"median_seconds"`
	P75    float64 `json:"p75_seconds"`
}

// SubjectStats counts the sends of one email of a step that went out
// with one subject line of the email's subject test, and the distinct
// contacts who clicked or replied to them, in the period. Sent, Failed
// and Bounced are as EmailStats counts them.
type SubjectStats struct {
	Sequence       string `json:"sequence"`
	Step           string `json:"step"`
	Email          string `json:"email"`
	SubjectVariant string `json:"subject_variant"`
	Sent           int    `json:"sent"`
	Failed         int    `json:"failed"`
	Bounced        int    `json:"bounced"`
	Clicks         int    `json:"clicks"`
	Replies        int    `json:"replies"`
}

// Delivered is the sends that reached a mailbox as far as anyone knows.
func (e SubjectStats) Delivered() int { return max(0, e.Sent-e.Bounced-e.Failed) }

// HoldoutStats counts one arm of a holdout: the contacts enrolled in
// the period with that arm, and those of them who reached one of the
// filter's goals (as SequenceOutcome.Goals counts them). For the
// programme (Sequence empty), Arm is campaigns.ArmGlobalControl for the
// contacts the programme's holdout held out of any sequence, and
// campaigns.ArmTreatment for the others with an arm, each contact once.
type HoldoutStats struct {
	Sequence string `json:"sequence"`
	Arm      string `json:"arm"`
	Contacts int    `json:"contacts"`
	Goals    int    `json:"goals"`
}

// WeekStats counts one sequence's sends in a week of the period (Week 0
// starts at Since, each lasts 7 days) and the distinct contacts who
// clicked one of its emails in that week, whenever the email went out.
type WeekStats struct {
	Sequence string `json:"sequence"`
	Week     int    `json:"week"`
	Sent     int    `json:"sent"`
	Clicks   int    `json:"clicks"`
}

// LinkClicks counts the distinct contacts who clicked one link of an
// email of a step and arm in the period.
type LinkClicks struct {
	Sequence string `json:"sequence"`
	Step     string `json:"step"`
	Variant  string `json:"variant,omitempty"`
	URL      string `json:"url"`
	Clicks   int    `json:"clicks"`
}

// EmailStats counts the sends of one email of a step and arm, and what
// their recipients did, in the period.
//
// Sent counts the messages handed to the mail server (accepted, unknown
// or refused); Bounced those that bounced, then or later; Failed the
// other refusals. Delivered is Sent less both. The event counts are of
// distinct contacts: a contact who clicked three times clicked once.
// Opens leave out the opens marked unreliable (a privacy proxy or a
// scanner fetching images on delivery), which MachineOpens counts;
// OpenedOrClicked counts the contacts who opened or clicked, since a
// click is proof of an open that image blocking hid.
type EmailStats struct {
	Sequence string `json:"sequence"`
	Step     string `json:"step"`
	Email    string `json:"email"`
	Variant  string `json:"variant,omitempty"`

	Sent            int `json:"sent"`
	Failed          int `json:"failed"`
	Bounced         int `json:"bounced"`
	Opens           int `json:"opens"`
	MachineOpens    int `json:"machine_opens"`
	Clicks          int `json:"clicks"`
	OpenedOrClicked int `json:"opened_or_clicked"`
	Replies         int `json:"replies"`
	Unsubscribes    int `json:"unsubscribes"`
	Complaints      int `json:"complaints"`
	// Goals counts the contacts sent this email of an A/B step judged by
	// a goal (ReportFilter.ExperimentGoals) who reached that goal after
	// it was sent and before the period ends.
	Goals int `json:"goals,omitempty"`
}

// Delivered is the messages that reached a mailbox as far as anyone
// knows: sent, less bounced and refused.
func (e EmailStats) Delivered() int { return max(0, e.Sent-e.Bounced-e.Failed) }

// SequenceOutcome is what became of the contacts of one sequence.
//
// Contacts counts those enrolled at some time in the period; Stages
// counts them by the lifecycle stage they are at now (the stage history
// is not kept, and a stage only moves forward unless a step demotes it).
// Exits counts the enrollments that ended in the period by reason, and
// Handoffs the hand-offs to sales the sequence made in it, HandoffReasons
// those by reason.
type SequenceOutcome struct {
	Sequence       string         `json:"sequence"`
	Contacts       int            `json:"contacts"`
	Stages         map[string]int `json:"stages"`
	Exits          map[string]int `json:"exits"`
	Handoffs       int            `json:"handoffs"`
	HandoffReasons map[string]int `json:"handoff_reasons"`
	// Goals counts the contacts enrolled in the period who reached one
	// of the filter's goals; GoalExits the enrollments that ended for a
	// goal's reason in the period, GoalExitSeconds their mean time from
	// entry to that exit.
	Goals           int     `json:"goals,omitempty"`
	GoalExits       int     `json:"goal_exits,omitempty"`
	GoalExitSeconds float64 `json:"goal_exit_seconds,omitempty"`
}
