package campaigns

import "testing"

func TestFromFor(t *testing.T) {
	p := &Program{
		Sender: Sender{FromName: "Acme", FromEmail: "hello@acme.example", ReplyTo: "team@acme.example"},
		Sequences: map[string]*Sequence{
			"plain": {Steps: []Step{{Name: "one", Kind: StepSend}}},
			"abm": {
				Sender: &From{NameAttribute: "owner_name", EmailAttribute: "owner_email"},
				Steps: []Step{
					{Name: "one", Kind: StepSend},
					{Name: "cs", Kind: StepSend, Sender: &From{Name: "Acme CS", Email: "cs@acme.example"}},
					{Name: "renamed", Kind: StepSend, Sender: &From{Name: "Acme AE team"}},
				},
			},
		},
	}
	owned := map[string]any{"owner_name": "Dana Ortiz", "owner_email": "dana@acme.example"}
	for _, c := range []struct {
		name, sequence, step string
		values               map[string]any
		want                 [3]string
	}{
		{"a sequence without a sender sends as the programme", "plain", "one", owned,
			[3]string{"Acme", "hello@acme.example", "team@acme.example"}},
		{"the owner's name and address come from the attributes, and replies go to the owner", "abm", "one", owned,
			[3]string{"Dana Ortiz", "dana@acme.example", "dana@acme.example"}},
		{"a contact without an owner gets the programme's sender", "abm", "one", map[string]any{},
			[3]string{"Acme", "hello@acme.example", "team@acme.example"}},
		{"an owner address that is not an address is not used", "abm", "one", map[string]any{"owner_email": "Dana <dana@acme.example>"},
			[3]string{"Acme", "hello@acme.example", "team@acme.example"}},
		{"a name with a line break is not used", "abm", "one", map[string]any{"owner_name": "Dana\r\nBcc: x@y.example"},
			[3]string{"Acme", "hello@acme.example", "team@acme.example"}},
		{"a step's literal address replaces the sequence's attribute", "abm", "cs", owned,
			[3]string{"Acme CS", "cs@acme.example", "team@acme.example"}},
		{"a step that names only a name keeps the sequence's address attribute", "abm", "renamed", owned,
			[3]string{"Acme AE team", "dana@acme.example", "dana@acme.example"}},
		{"an unknown step has its sequence's sender", "abm", "gone", owned,
			[3]string{"Dana Ortiz", "dana@acme.example", "dana@acme.example"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, e, r := p.FromFor(c.sequence, c.step).For(c.values)
			if got := [3]string{n, e, r}; got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
