package campaigns

import "strings"

// Email kinds.
const (
	KindMarketing     = "marketing"
	KindTransactional = "transactional"
)

// Built-in merge fields the runtime fills beside contact attributes.
const (
	FieldUnsubscribeURL = "unsubscribe_url"
	FieldPreferencesURL = "preferences_url"
)

// TriggerPrefix begins a merge field that reads a property of the
// triggering event: the event that entered the contact in the sequence,
// or the one a wait_for before the step waited for. {{ trigger.title }}
// reads its title. The runtime fills these fields from the event the
// enrollment records, so that what is sent is what the event said.
const TriggerPrefix = "trigger."

// Email is one Markdown email, rendered once at compile time into templates
// that the runtime fills per contact.
type Email struct {
	Kind string `json:"kind"`
	// Subjects holds the subject lines; more than one is an A/B test whose
	// weights sum to 100.
	Subjects []SubjectVariant `json:"subjects"`
	// Metric is what a subject-line test is judged by: MetricClick when
	// empty, or MetricReply.
	Metric    string   `json:"metric,omitempty"`
	Preheader Template `json:"preheader,omitempty"`
	HTML      Template `json:"html"`
	Text      Template `json:"text"`
	// Links in the order they appear; HTML and Text refer to them by index.
	Links []Link `json:"links"`
	// Fields are the contact attributes the email merges, and the
	// trigger.PROP fields it reads of the triggering event, sorted.
	Fields []string `json:"fields"`
	// Source is the Markdown body as written, for review diffs.
	Source string `json:"source"`
	// Layout is the look the email was compiled with, its sequence's
	// layout over the programme's; nil when neither declares one.
	Layout *Layout `json:"layout,omitempty"`
}

// SubjectVariant is one subject line and the share of contacts who get it.
type SubjectVariant struct {
	Name    string   `json:"name"`
	Subject Template `json:"subject"`
	Weight  int      `json:"weight"`
}

// Link is a link in an email. UTM parameters are added and the link
// tracked when the email is rendered for a contact; mailto links are left
// as they are.
type Link struct {
	URL  Template `json:"url"`
	Text string   `json:"text,omitempty"`
}

// Escaping contexts of a merge field.
const (
	EscapeNone = ""     // plain text: subject, preheader, text part
	EscapeHTML = "html" // HTML text or attribute value
	EscapeURL  = "url"  // inside a URL (query-escaped)
)

// Template is text with merge fields and links, filled per contact.
type Template []Part

// Part is one piece of a Template: literal text, a merge field (with an
// optional fallback), or the final URL of link number Link-1.
type Part struct {
	Text    string  `json:"text,omitempty"`
	Field   string  `json:"field,omitempty"`
	Default *string `json:"default,omitempty"`
	Escape  string  `json:"escape,omitempty"`
	Link    int     `json:"link,omitempty"`
}

// String writes the template back with merge tags in their canonical form,
// for reading and review diffs: {{ field | default "x" }} and {{ link 2 }}.
func (t Template) String() string {
	var b strings.Builder
	for _, p := range t {
		switch {
		case p.Field != "":
			b.WriteString("{{ " + p.Field)
			if p.Default != nil {
				b.WriteString(" | default " + quote(*p.Default))
			}
			b.WriteString(" }}")
		case p.Link > 0:
			b.WriteString("{{ link ")
			b.WriteString(itoa(p.Link))
			b.WriteString(" }}")
		default:
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
