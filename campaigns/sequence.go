package campaigns

// Sequence is one email journey.
type Sequence struct {
	Description string  `json:"description,omitempty"`
	Entry       Entry   `json:"entry"`
	Reentry     Reentry `json:"reentry"`
	// Priority decides between sequences that want the same contact: the
	// highest wins.
	Priority int `json:"priority"`
	// TransactionalReason is set for transactional sequences, which cadence
	// caps do not hold back; it says why they may be exempt.
	TransactionalReason string  `json:"transactional_reason,omitempty"`
	Cap                 []Limit `json:"cap,omitempty"`
	// Sender overrides who the sequence's email is from; nil: the
	// programme's sender.
	Sender *From `json:"sender,omitempty"`
	// Topic is what the sequence's email is about; contacts who opted out
	// of it neither enter nor stay.
	Topic string     `json:"topic,omitempty"`
	Steps []Step     `json:"steps"`
	Exits []ExitRule `json:"exits"`
	UTM   UTM        `json:"utm"`
	// Layout overrides fields of the programme's layout for this
	// sequence's email.
	Layout *Layout `json:"layout,omitempty"`
	// Moved maps old step names to the steps that replaced them, so that a
	// renamed step keeps its contacts.
	Moved map[string]string `json:"moved,omitempty"`
	// Removed maps old step names to where their contacts go when the
	// step is gone and nothing replaces it: RemovedNext or RemovedExit.
	Removed map[string]string `json:"removed,omitempty"`
	// Holdout is the share of the contacts entering that are held out as
	// a control: they walk the sequence and get none of its email, so
	// that the report can show what the email adds. Zero: none.
	Holdout Share `json:"holdout,omitempty"`
}

// Where the contacts of a removed step go, as a sequence's removed
// declares it.
const (
	// RemovedNext: on to the next step of the old order that remains.
	RemovedNext = "next"
	// RemovedExit: out of the sequence, with the exit step_removed.
	RemovedExit = "exit"
)

// Transactional reports whether the sequence sends transactional mail.
func (s *Sequence) Transactional() bool { return s.TransactionalReason != "" }

// StepIndex returns the index of the named step, or -1.
func (s *Sequence) StepIndex(name string) int {
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return i
		}
	}
	return -1
}

// Entry says how contacts enter a sequence. With neither Segment nor Event
// set, contacts enter only when enrolled by a step, exit rule or hand-off.
type Entry struct {
	Segment string          `json:"segment,omitempty"`
	Event   *EventCondition `json:"event,omitempty"`
	// When, with Event, is what the contact must meet when the event is
	// acted on for it to enter.
	When *Predicate `json:"when,omitempty"`
}

// Re-entry policies.
const (
	ReentryNever  = "never"
	ReentryAlways = "always"
	ReentryAfter  = "after"
)

// Reentry says whether a contact who left a sequence may enter it again.
type Reentry struct {
	Policy string   `json:"policy"`
	After  Duration `json:"after,omitempty"`
}

// Limit allows at most Max emails in any rolling window of Per.
type Limit struct {
	Max int      `json:"max"`
	Per Duration `json:"per"`
}

// Step kinds.
const (
	StepSend      = "send"
	StepWait      = "wait"
	StepWaitUntil = "wait_until"
	StepWaitFor   = "wait_for"
	StepBranch    = "branch"
	StepSet       = "set"
	StepHandoff   = "handoff"
	StepEnroll    = "enroll"
	StepGoto      = "goto"
	StepExit      = "exit"
	StepSuppress  = "suppress"
)

// Step is one step of a sequence; the fields its Kind names are set.
type Step struct {
	Name string `json:"name"`
	Kind string `json:"kind"`

	Send      []Variant      `json:"send,omitempty"`
	Wait      Duration       `json:"wait,omitempty"`
	WaitUntil *WaitUntil     `json:"wait_until,omitempty"`
	WaitFor   *WaitFor       `json:"wait_for,omitempty"`
	Branch    *Branch        `json:"branch,omitempty"`
	Set       map[string]any `json:"set,omitempty"`
	Handoff   string         `json:"handoff,omitempty"`
	Enroll    string         `json:"enroll,omitempty"`
	Goto      string         `json:"goto,omitempty"`
	Exit      string         `json:"exit,omitempty"`
	Suppress  string         `json:"suppress,omitempty"`
	// Demote lets a set step move the stage back down contact.stages;
	// without it the stage only moves forward.
	Demote bool `json:"demote,omitempty"`
	// Sender overrides who a send step's email is from, over its
	// sequence's.
	Sender *From `json:"sender,omitempty"`
	// Metric is what an A/B send's arms are judged by: MetricClick (the
	// default, left empty), MetricReply, or the name of one of the
	// programme's goals (an exit reason or the goal stage).
	Metric string `json:"metric,omitempty"`
	// MinLift is the smallest relative lift of the metric the A/B send
	// wants to find; zero leaves the report's default (20%).
	MinLift Share `json:"min_lift,omitempty"`
}

// What an A/B send's arms may be judged by, beside a goal's name.
const (
	MetricClick = "click"
	MetricReply = "reply"
)

// ExperimentMetric is the metric the step's arms are judged by.
func (s Step) ExperimentMetric() string {
	if s.Metric == "" {
		return MetricClick
	}
	return s.Metric
}

// Variant is one arm of a send: an email and the share of contacts who get
// it, in percent. A plain send has one variant of weight 100.
type Variant struct {
	Name   string `json:"name"`
	Email  string `json:"email"`
	Weight int    `json:"weight"`
	// WaitUntil makes a send-time arm: the email waits, from the moment
	// the contact reached the step, for this time in the contact's time
	// zone, then goes as any send does.
	WaitUntil *WaitUntil `json:"wait_until,omitempty"`
}

// WaitUntil waits for the next allowed day at a wall-clock time in the
// contact's time zone. No days means any day.
type WaitUntil struct {
	Days []string  `json:"days,omitempty"`
	At   TimeOfDay `json:"at"`
}

// WaitFor waits for an event, up to Within.
type WaitFor struct {
	Event  EventCondition `json:"event"`
	Within Duration       `json:"within"`
	Then   Action         `json:"then"`
	Else   Action         `json:"else"`
}

// Branch goes one way or the other on a condition.
type Branch struct {
	When Predicate `json:"when"`
	Then Action    `json:"then"`
	Else Action    `json:"else"`
}

// Action is where a branch leads: a named step, an exit with a reason, or
// (both empty) the next step.
type Action struct {
	Goto string `json:"goto,omitempty"`
	Exit string `json:"exit,omitempty"`
}

// ExitRule takes a contact out of a sequence when it fires. Exactly one of
// When, After and Inactive is set.
type ExitRule struct {
	Reason   string     `json:"reason"`
	When     *Predicate `json:"when,omitempty"`
	After    Duration   `json:"after,omitempty"`
	Inactive Duration   `json:"inactive,omitempty"`
	Handoff  string     `json:"handoff,omitempty"`
	// Then: enroll in another sequence, or suppress the contact from marketing.
	Enroll   string `json:"enroll,omitempty"`
	Suppress bool   `json:"suppress,omitempty"`
	// Except names the sequences a programme-wide rule spares: an open
	// opportunity ends every nurture but the opportunity sequence.
	Except []string `json:"except,omitempty"`
}

// Spares reports whether the rule leaves the sequence alone.
func (r ExitRule) Spares(sequence string) bool {
	for _, s := range r.Except {
		if s == sequence {
			return true
		}
	}
	return false
}

// Cadence caps how often contacts hear from marketing.
type Cadence struct {
	Limits          []Limit     `json:"limits,omitempty"`
	PerAccount      []Limit     `json:"per_account,omitempty"`
	QuietHours      *QuietHours `json:"quiet_hours,omitempty"`
	BusinessDays    []string    `json:"business_days,omitempty"`
	DefaultTimezone string      `json:"default_timezone"`
	// Blackout holds the dates on which no marketing email goes out.
	Blackout *Blackout `json:"blackout,omitempty"`
}

// QuietHours is a daily span, possibly across midnight, without marketing.
type QuietHours struct {
	From TimeOfDay `json:"from"`
	To   TimeOfDay `json:"to"`
}

// Handoff says what happens when a lead goes to sales.
type Handoff struct {
	Description string `json:"description,omitempty"`
	WebhookURL  string `json:"webhook_url,omitempty"`
	// SecretEnv names the environment variable with the webhook signing secret.
	SecretEnv string `json:"secret_env,omitempty"`
	// NotifyEmail, or the address in NotifyAttribute, is told of the lead.
	NotifyEmail     string `json:"notify_email,omitempty"`
	NotifyAttribute string `json:"notify_attribute,omitempty"`
	Stage           string `json:"stage,omitempty"`
	// What becomes of leads sales returns.
	ReturnStage  string `json:"return_stage,omitempty"`
	ReturnEnroll string `json:"return_enroll,omitempty"`
	// Per is PerAccount when the hand-off hands over the contact's
	// account rather than the person: once per account, the later
	// contacts of the account joining the open hand-off. Empty: per
	// contact.
	Per string `json:"per,omitempty"`
	// Cooldown is how long an account hand-off stays open to joiners
	// after it was made; zero: until sales returns the account.
	Cooldown Duration `json:"cooldown,omitempty"`
}

// PerAccount is the Per of a hand-off made once per account.
const PerAccount = "account"

// ForAccount reports whether the hand-off hands over accounts.
func (h *Handoff) ForAccount() bool { return h != nil && h.Per == PerAccount }
