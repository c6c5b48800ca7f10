package campaigns

import (
	"net/mail"
	"strings"
)

// From overrides who email is from, field by field over what it stands
// on: a step's over its sequence's, a sequence's over the programme's
// sender. Empty fields leave the one below.
type From struct {
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	ReplyTo string `json:"reply_to,omitempty"`
	// NameAttribute and EmailAttribute are contact attributes holding
	// the from name and address, say the account owner's: a contact's
	// value, when it has one (and, for the address, when it is one),
	// comes before Name and Email.
	NameAttribute  string `json:"name_attribute,omitempty"`
	EmailAttribute string `json:"email_attribute,omitempty"`
}

// Over returns f over base, field by field: a level that declares an
// address (or a name), literal or attribute, replaces the attribute
// below, and keeps the literal below as the fallback when it declares
// only an attribute.
func (f *From) Over(base From) From {
	if f == nil {
		return base
	}
	out := base
	if f.Name != "" || f.NameAttribute != "" {
		out.NameAttribute = f.NameAttribute
		if f.Name != "" {
			out.Name = f.Name
		}
	}
	if f.Email != "" || f.EmailAttribute != "" {
		out.EmailAttribute = f.EmailAttribute
		if f.Email != "" {
			out.Email = f.Email
		}
	}
	if f.ReplyTo != "" {
		out.ReplyTo = f.ReplyTo
	}
	return out
}

// FromFor is who the email a send step of a sequence sends is declared
// to be from: the step's sender over the sequence's over the
// programme's. Unknown sequences and steps have the programme's.
func (p *Program) FromFor(sequence, step string) From {
	f := From{Name: p.Sender.FromName, Email: p.Sender.FromEmail, ReplyTo: p.Sender.ReplyTo}
	seq := p.Sequences[sequence]
	if seq == nil {
		return f
	}
	f = seq.Sender.Over(f)
	if i := seq.StepIndex(step); i >= 0 {
		f = seq.Steps[i].Sender.Over(f)
	}
	return f
}

// For is who the email is from for a contact with these attribute
// values: the attributes' values where the contact has them, the
// declared name and address otherwise. Replies go to an address an
// attribute gave — the owner who sent it answers — and to ReplyTo for
// contacts without one.
func (f From) For(values map[string]any) (name, email, replyTo string) {
	name, email, replyTo = f.Name, f.Email, f.ReplyTo
	if v, _ := values[f.NameAttribute].(string); f.NameAttribute != "" && oneLine(v) != "" {
		name = oneLine(v)
	}
	if v, _ := values[f.EmailAttribute].(string); f.EmailAttribute != "" && IsAddress(v) {
		email, replyTo = v, v
	}
	return name, email, replyTo
}

// IsAddress reports whether s is a bare email address, as a from or
// reply-to header carries it: one @, a dot in the domain, no name, no
// spaces or line breaks.
func IsAddress(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n<>\"") || strings.Count(s, "@") != 1 {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(domain, ".")
}

func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return ""
	}
	return strings.TrimSpace(s)
}
