package campaigns

// FormatVersion is the version of the Program's JSON encoding. It changes
// only when a reader of an older encoding would misread a newer one.
const FormatVersion = 1

// Program is one compiled nurture programme.
type Program struct {
	FormatVersion int                      `json:"format_version"`
	Sender        Sender                   `json:"sender"`
	Contact       ContactSchema            `json:"contact"`
	Accounts      Accounts                 `json:"accounts"`
	Events        map[string]*EventType    `json:"events"`
	Scoring       map[string]*ScoringModel `json:"scoring"`
	Segments      map[string]*Segment      `json:"segments"`
	Sequences     map[string]*Sequence     `json:"sequences"`
	Cadence       Cadence                  `json:"cadence"`
	Exits         []ExitRule               `json:"exits"`
	Handoffs      map[string]*Handoff      `json:"handoffs"`
	// Layout is how every email looks, unless its sequence overrides it.
	Layout *Layout `json:"layout,omitempty"`
	// Goals are what the programme counts as success; nil when it
	// declares none.
	Goals *Goals `json:"goals,omitempty"`
	// Holdout is the share of contacts held out of every marketing
	// sequence, a programme-wide control group; zero: none.
	Holdout Share `json:"holdout,omitempty"`
	// Preferences are what the preference page offers, when the
	// programme declares it; nil: the default frequencies and no pause.
	Preferences *Preferences `json:"preferences,omitempty"`
	// Emails by their path relative to the programme directory, slash-separated.
	Emails map[string]*Email `json:"emails"`
}

// Goals are what a programme counts as success, reported per sequence:
// an enrollment that ended for one of Exits, or a contact at Stage or a
// later stage of the contact schema.
type Goals struct {
	Exits []string `json:"exits,omitempty"`
	Stage string   `json:"stage,omitempty"`
}

// Sender says who mail is from and what compliance asks of it.
type Sender struct {
	FromName  string `json:"from_name"`
	FromEmail string `json:"from_email"`
	ReplyTo   string `json:"reply_to,omitempty"`
	// Company is who the mail is from, as pages name it.
	Company     string `json:"company,omitempty"`
	Address     string `json:"address,omitempty"`
	LawfulBasis string `json:"lawful_basis"`
	// LegitimateInterest holds of the contacts marketing may mail without
	// a consent record. Nil: all of them when LawfulBasis is
	// legitimate_interest, none when it is consent.
	LegitimateInterest *Predicate `json:"legitimate_interest,omitempty"`
	// TrackingURL is the base URL of the tracking server, if any.
	TrackingURL     string `json:"tracking_url,omitempty"`
	UnsubscribeMail string `json:"unsubscribe_mailto,omitempty"`
	UTM             UTM    `json:"utm"`
	// Topics a contact may opt out of, name → label.
	Topics map[string]string `json:"topics,omitempty"`
	// TopicOrder is the order the topics were written in, which the
	// preference page keeps; nil when that is the order of their names.
	// TopicNotes are the descriptions it shows under their labels.
	TopicOrder []string          `json:"topic_order,omitempty"`
	TopicNotes map[string]string `json:"topic_descriptions,omitempty"`
}

// UTM holds campaign-tracking parameters added to links at render time.
type UTM struct {
	Source   string `json:"source,omitempty"`
	Medium   string `json:"medium,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Content  string `json:"content,omitempty"`
}

// Attribute and property types.
const (
	TypeString = "string"
	TypeEnum   = "enum"
	TypeInt    = "int"
	TypeNumber = "number"
	TypeBool   = "bool"
	TypeTime   = "time"
)

// Attribute is one typed field of a contact or property of an event.
type Attribute struct {
	Type        string   `json:"type"`
	Values      []string `json:"values,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Builtin     bool     `json:"builtin,omitempty"`
	Description string   `json:"description,omitempty"`
}

// ContactSchema is the shape of a contact.
type ContactSchema struct {
	// Stages in lifecycle order; ranges over stage follow it.
	Stages     []string              `json:"stages"`
	Attributes map[string]*Attribute `json:"attributes"`
}

// Built-in contact attributes every programme has.
const (
	AttrEmail       = "email"
	AttrStage       = "stage"
	AttrTimezone    = "timezone"
	AttrAccount     = "account"
	AttrAccountTier = "account_tier"
)

// Accounts holds account-based-marketing settings.
type Accounts struct {
	Tiers []string `json:"tiers"`
	// Attributes are what an account carries, imported keyed by the
	// account key (the contacts' account attribute) and read by account_is
	// conditions. Empty when the programme declares none.
	Attributes map[string]*Attribute `json:"attributes,omitempty"`
	// Score, when declared, rolls the scores its contacts have under one
	// scoring model up to the account.
	Score *AccountScore `json:"score,omitempty"`
}

// Account score roll-ups.
const (
	RollupSum = "sum"
	RollupMax = "max"
	RollupTop = "top"
)

// AccountScore is an account's score: the sum (RollupSum) or the highest
// (RollupMax) of its contacts' scores under Model, or the sum of its Top
// highest (RollupTop). A contact without a stored score counts zero.
type AccountScore struct {
	Model      string             `json:"model"`
	Rollup     string             `json:"rollup"`
	Top        int                `json:"top,omitempty"`
	Thresholds map[string]float64 `json:"thresholds,omitempty"`
}

// EventType is a declared or built-in behavioural signal.
type EventType struct {
	Description string                `json:"description,omitempty"`
	Properties  map[string]*Attribute `json:"properties"`
	Builtin     bool                  `json:"builtin,omitempty"`
}

// Built-in email events, recorded by the runtime.
const (
	EventSent         = "email.sent"
	EventDelivered    = "email.delivered"
	EventOpened       = "email.opened"
	EventClicked      = "email.clicked"
	EventReplied      = "email.replied"
	EventBounced      = "email.bounced"
	EventComplained   = "email.complained"
	EventUnsubscribed = "email.unsubscribed"
	// EventReturned is sales handing a lead back to marketing: the CRM
	// posts it, or an import brings it. Its handoff property names the
	// hand-off whose return applies; it may be left out when the
	// programme has one hand-off.
	EventReturned = "handoff.returned"
)

// Events the preference page records: a contact paused its marketing
// email (property until, RFC 3339) or resumed it early. They are not
// built-in events a programme can react to; explain lists them.
const (
	EventPaused  = "preferences.paused"
	EventResumed = "preferences.resumed"
)

// BuiltinEvents returns the email events every programme knows, with their
// properties.
func BuiltinEvents() map[string]*EventType {
	str := func() *Attribute { return &Attribute{Type: TypeString, Builtin: true} }
	common := func(extra map[string]*Attribute) *EventType {
		props := map[string]*Attribute{"email": str(), "sequence": str(), "step": str(), "variant": str()}
		for k, v := range extra {
			props[k] = v
		}
		return &EventType{Properties: props, Builtin: true}
	}
	return map[string]*EventType{
		EventSent:      common(nil),
		EventDelivered: common(nil),
		// Opens are unreliable: image blocking hides them, and privacy
		// proxies fetch every image on delivery. The tracking server marks
		// each so.
		EventOpened:  common(map[string]*Attribute{"unreliable": {Type: TypeBool, Builtin: true}}),
		EventClicked: common(map[string]*Attribute{"url": str()}),
		EventReplied: common(nil),
		EventBounced: common(map[string]*Attribute{
			"kind": {Type: TypeEnum, Values: []string{"hard", "soft"}, Builtin: true}}),
		EventComplained:   common(nil),
		EventUnsubscribed: common(nil),
		EventReturned:     {Properties: map[string]*Attribute{"handoff": str(), "reason": str()}, Builtin: true},
	}
}

// Lawful bases.
const (
	BasisConsent            = "consent"
	BasisLegitimateInterest = "legitimate_interest"
)

// Lawful is the condition that marketing may mail the contact at all: a
// consent record for the address, or the legitimate interest the sender
// declares. Withdrawal is an unsubscribe, which suppression covers. Nil
// when every contact may be mailed.
func (s Sender) Lawful() *Predicate {
	consented := Predicate{Op: OpConsented}
	switch {
	case s.LegitimateInterest != nil:
		p := Predicate{Op: OpAny, Args: []Predicate{consented, *s.LegitimateInterest}}
		return &p
	case s.LawfulBasis == BasisConsent:
		return &consented
	}
	return nil
}

// IsEngagement reports whether an event counts as engagement for inactivity
// rules: opens, clicks, replies and every declared behavioural event.
func IsEngagement(event string) bool {
	switch event {
	case EventSent, EventDelivered, EventBounced, EventComplained, EventUnsubscribed, EventReturned:
		return false
	}
	return true
}

// Engages reports whether an event with these properties is engagement:
// an open marked unreliable — a privacy proxy or a scanner fetching the
// images on delivery — is a machine's, not the contact's.
func Engages(event string, props map[string]any) bool {
	if event == EventOpened && props["unreliable"] == true {
		return false
	}
	return IsEngagement(event)
}

// ScoringModel turns attributes and events into a lead score.
type ScoringModel struct {
	Description string                   `json:"description,omitempty"`
	Fit         map[string]*FitRule      `json:"fit"`
	Behavior    map[string]*BehaviorRule `json:"behavior"`
	// HalfLife halves behaviour points of an event every span; zero: no decay.
	HalfLife Duration `json:"half_life,omitempty"`
	// Max caps the score; zero means the sum of what the rules can give.
	Max        int                `json:"max"`
	Thresholds map[string]float64 `json:"thresholds"`
}

// FitRule gives points when a contact's attributes match.
type FitRule struct {
	When   Predicate `json:"when"`
	Points int       `json:"points"`
}

// BehaviorRule gives points for each matching event.
type BehaviorRule struct {
	Event  string      `json:"event"`
	Where  []Condition `json:"where,omitempty"`
	Points int         `json:"points"`
	// Max caps the points this rule gives; zero means no cap.
	Max int `json:"max,omitempty"`
	// Within counts only events this recent; zero means all.
	Within Duration `json:"within,omitempty"`
}

// Segment is a named, dynamic audience.
type Segment struct {
	Description string    `json:"description,omitempty"`
	When        Predicate `json:"when"`
}
