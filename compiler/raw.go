package compiler

import (
	"encoding/json"

	"github.com/nurture-dev/nurture/campaigns"
)

// The raw shapes of a programme as CUE exports it. The schema has already
// checked types and closedness; these only carry the values to the checks.

type rawProgram struct {
	Sender      *rawSender                 `json:"sender"`
	Contact     rawContact                 `json:"contact"`
	Accounts    rawAccounts                `json:"accounts"`
	Events      map[string]rawEvent        `json:"events"`
	Scoring     map[string]rawModel        `json:"scoring"`
	Segments    map[string]json.RawMessage `json:"segments"`
	Sequences   map[string]rawSequence     `json:"sequences"`
	Cadence     rawCadence                 `json:"cadence"`
	Exits       []rawExit                  `json:"exits"`
	Handoffs    map[string]rawHandoff      `json:"handoffs"`
	Tests       map[string]rawScenario     `json:"tests"`
	Layout      *rawLayout                 `json:"layout"`
	Goals       *campaigns.Goals           `json:"goals"`
	Holdout     string                     `json:"holdout"`
	Preferences *struct {
		Frequencies []struct {
			Name  string `json:"name"`
			Label string `json:"label"`
			Max   int    `json:"max"`
			Per   string `json:"per"`
		} `json:"frequencies"`
		Pause []string `json:"pause"`
	} `json:"preferences"`
}

type rawLayout struct {
	Logo *struct {
		URL   string `json:"url"`
		Alt   string `json:"alt"`
		Width int    `json:"width"`
		Href  string `json:"href"`
	} `json:"logo"`
	Brand      string `json:"brand_colour"`
	Background string `json:"background_colour"`
	Text       string `json:"text_colour"`
	Link       string `json:"link_colour"`
	Button     struct {
		Colour     string `json:"colour"`
		TextColour string `json:"text_colour"`
		Shape      string `json:"shape"`
	} `json:"button"`
	Footer string `json:"footer"`
	Font   string `json:"font"`
}

type rawSender struct {
	From struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"from"`
	ReplyTo     string `json:"reply_to"`
	Company     string `json:"company"`
	Address     string `json:"address"`
	LawfulBasis string `json:"lawful_basis"`
	Tracking    *struct {
		BaseURL string `json:"base_url"`
	} `json:"tracking"`
	Unsubscribe *struct {
		Mailto string `json:"mailto"`
	} `json:"unsubscribe"`
	UTM                rawUTM                     `json:"utm"`
	Topics             map[string]json.RawMessage `json:"topics"`
	LegitimateInterest json.RawMessage            `json:"legitimate_interest"`
}

type rawUTM struct {
	Source   string `json:"source"`
	Medium   string `json:"medium"`
	Campaign string `json:"campaign"`
	Content  string `json:"content"`
}

type rawAttr struct {
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Description string   `json:"description"`
	Values      []string `json:"values"`
}

type rawAccounts struct {
	Tiers      []string           `json:"tiers"`
	Attributes map[string]rawAttr `json:"attributes"`
	Score      *struct {
		Model      string             `json:"model"`
		Rollup     json.RawMessage    `json:"rollup"`
		Thresholds map[string]float64 `json:"thresholds"`
	} `json:"score"`
}

type rawContact struct {
	Stages     []string           `json:"stages"`
	Attributes map[string]rawAttr `json:"attributes"`
}

type rawEvent struct {
	Description string             `json:"description"`
	Properties  map[string]rawAttr `json:"properties"`
}

type rawModel struct {
	Description string `json:"description"`
	Fit         map[string]struct {
		When   json.RawMessage `json:"when"`
		Points int             `json:"points"`
	} `json:"fit"`
	Behavior map[string]struct {
		Event  string                     `json:"event"`
		Where  map[string]json.RawMessage `json:"where"`
		Points int                        `json:"points"`
		Max    int                        `json:"max"`
		Within string                     `json:"within"`
	} `json:"behavior"`
	Decay *struct {
		HalfLife string `json:"half_life"`
	} `json:"decay"`
	Max        int                `json:"max"`
	Thresholds map[string]float64 `json:"thresholds"`
}

type rawLimit struct {
	Max int    `json:"max"`
	Per string `json:"per"`
}

type rawCadence struct {
	Limits     []rawLimit `json:"limits"`
	PerAccount []rawLimit `json:"per_account"`
	QuietHours *struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"quiet_hours"`
	BusinessDays    []string `json:"business_days"`
	DefaultTimezone string   `json:"default_timezone"`
	Blackout        *struct {
		Dates     []string            `json:"dates"`
		Countries map[string][]string `json:"countries"`
	} `json:"blackout"`
}

type rawSequence struct {
	Description string `json:"description"`
	Entry       struct {
		Segment string          `json:"segment"`
		Event   json.RawMessage `json:"event"`
		When    json.RawMessage `json:"when"`
		Manual  bool            `json:"manual"`
	} `json:"entry"`
	Reentry       json.RawMessage `json:"reentry"`
	Priority      int             `json:"priority"`
	Transactional *struct {
		Reason string `json:"reason"`
	} `json:"transactional"`
	Topic   string            `json:"topic"`
	Sender  *rawFrom          `json:"sender"`
	Cap     []rawLimit        `json:"cap"`
	Steps   []rawStep         `json:"steps"`
	Exit    []rawExit         `json:"exit"`
	UTM     rawUTM            `json:"utm"`
	Layout  *rawLayout        `json:"layout"`
	Moved   map[string]string `json:"moved"`
	Removed map[string]string `json:"removed"`
	Holdout string            `json:"holdout"`
}

type rawAction struct {
	Goto string `json:"goto"`
	Exit string `json:"exit"`
}

type rawStep struct {
	Name      string          `json:"name"`
	Send      json.RawMessage `json:"send"`
	Wait      string          `json:"wait"`
	WaitUntil *struct {
		Days []string `json:"days"`
		At   string   `json:"at"`
	} `json:"wait_until"`
	WaitFor *struct {
		Event  json.RawMessage `json:"event"`
		Within string          `json:"within"`
	} `json:"wait_for"`
	Branch   json.RawMessage `json:"branch"`
	Then     *rawAction      `json:"then"`
	Else     *rawAction      `json:"else"`
	Set      map[string]any  `json:"set"`
	Handoff  string          `json:"handoff"`
	Enroll   string          `json:"enroll"`
	Goto     string          `json:"goto"`
	Exit     string          `json:"exit"`
	Suppress string          `json:"suppress"`
	Demote   bool            `json:"demote"`
	Sender   *rawFrom        `json:"sender"`
}

type rawFrom struct {
	Name           string `json:"name"`
	Email          string `json:"email"`
	ReplyTo        string `json:"reply_to"`
	NameAttribute  string `json:"name_attribute"`
	EmailAttribute string `json:"email_attribute"`
}

type rawExit struct {
	When     json.RawMessage `json:"when"`
	After    string          `json:"after"`
	Inactive string          `json:"inactive"`
	Reason   string          `json:"reason"`
	Handoff  string          `json:"handoff"`
	Then     *struct {
		Enroll   string `json:"enroll"`
		Suppress bool   `json:"suppress"`
	} `json:"then"`
	Except []string `json:"except"`
}

type rawHandoff struct {
	Description string `json:"description"`
	Webhook     *struct {
		URL       string `json:"url"`
		SecretEnv string `json:"secret_env"`
	} `json:"webhook"`
	Notify *struct {
		Email     string `json:"email"`
		Attribute string `json:"attribute"`
	} `json:"notify"`
	Stage    string `json:"stage"`
	Per      string `json:"per"`
	Cooldown string `json:"cooldown"`
	Return   *struct {
		Stage  string `json:"stage"`
		Enroll string `json:"enroll"`
	} `json:"return"`
}
