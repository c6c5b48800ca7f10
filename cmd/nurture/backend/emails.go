package backend

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/ingest"
	"github.com/nurture-dev/nurture/runtime/render"
	"github.com/nurture-dev/nurture/runtime/sample"
	"github.com/nurture-dev/nurture/runtime/track"
)

// SampleNow is when the sample contact's history ends: fixed, so that an
// email rendered for the sample contact is the same on every run.
var SampleNow = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// SampleContact makes one contact of the programme's schema with the
// sample data generator and reads it back as an import would, so that its
// values are typed as a stored contact's are. It is made up: no real
// person's data.
func SampleContact(p *campaigns.Program) (string, map[string]any, error) {
	var csv bytes.Buffer
	if _, err := sample.Generate(p, sample.Options{Contacts: 1, Seed: 1, Now: SampleNow}, &csv, io.Discard); err != nil {
		return "", nil, err
	}
	r, err := ingest.NewContactReader(&csv, "sample", ingest.CSV, &p.Contact, ingest.Options{AllowRole: true})
	if err != nil {
		return "", nil, fmt.Errorf("reading the sample contact: %w", err)
	}
	rec, rej, err := r.Next()
	switch {
	case err != nil:
		return "", nil, fmt.Errorf("reading the sample contact: %w", err)
	case rej != nil:
		return "", nil, fmt.Errorf("the sample contact does not fit the schema: %s", rej.Reason)
	}
	rec.Values[campaigns.AttrEmail] = rec.Email
	return rec.Email, rec.Values, nil
}

// PreviewOptions are the render options of a preview of email name: the
// UTM parameters of the first sequence that sends it, and unsubscribe and
// preference links that touch no contact.
func PreviewOptions(p *campaigns.Program, name string) render.Options {
	o := render.Options{UTM: previewUTM(p, name)}
	if base := p.Sender.TrackingURL; base != "" {
		o.UnsubscribeURL = track.URL(base, track.Unsubscribe, "preview")
		o.PreferencesURL = track.URL(base, track.Preferences, "preview")
		o.WebViewURL = track.URL(base, track.WebView, "preview")
	}
	return o
}

func previewUTM(p *campaigns.Program, email string) campaigns.UTM {
	name, step := PreviewStep(p, email)
	if name == "" {
		return p.Sender.UTM
	}
	utm := p.Sequences[name].UTM
	if utm.Content == "" {
		utm.Content = step
	}
	return utm
}

// PreviewStep is the send step a preview shows an email as sent by: the
// first that sends it, of the first sequence by name; "" when none does.
func PreviewStep(p *campaigns.Program, email string) (sequence, step string) {
	for _, name := range slices.Sorted(maps.Keys(p.Sequences)) {
		for _, st := range p.Sequences[name].Steps {
			for _, v := range st.Send {
				if v.Email == email {
					return name, st.Name
				}
			}
		}
	}
	return "", ""
}

// PreviewSender sets in o who email is from for a contact with values, as
// the step PreviewStep names sends it; it reports whether that is a
// sender of the sequence's or step's own rather than the programme's.
func PreviewSender(o *render.Options, p *campaigns.Program, email string, values map[string]any) bool {
	seq, step := PreviewStep(p, email)
	if seq == "" {
		return false
	}
	s := p.Sequences[seq]
	own := s.Sender != nil
	if i := s.StepIndex(step); i >= 0 && s.Steps[i].Sender != nil {
		own = true
	}
	if own {
		o.SenderFor(p, seq, step, values)
	}
	return own
}

// emailPreviews renders each email changes adds or changes for the
// sample contact of prog, and for a changed one the applied version's
// email too, for the same contact.
func emailPreviews(old, prog *campaigns.Program, changes []campaigns.Change) ([]campaigns.EmailPreview, error) {
	var out []campaigns.EmailPreview
	var to string
	var values map[string]any
	for _, c := range changes {
		if c.Kind != "email" || c.Action == campaigns.ActionRemove || prog.Emails[c.Name] == nil {
			continue
		}
		if values == nil {
			var err error
			if to, values, err = SampleContact(prog); err != nil {
				return nil, err
			}
		}
		pv := campaigns.EmailPreview{Email: c.Name, Action: c.Action, To: to,
			After: renderFor(prog, c.Name, to, values)}
		if old != nil && old.Emails[c.Name] != nil {
			before := renderFor(old, c.Name, to, values)
			pv.Before = &before
		}
		out = append(out, pv)
	}
	return out, nil
}

// renderFor renders email name of p for the contact to with values.
func renderFor(p *campaigns.Program, name, to string, values map[string]any) campaigns.RenderedEmail {
	e := p.Emails[name]
	o := PreviewOptions(p, name)
	var r campaigns.RenderedEmail
	for i, v := range e.Subjects {
		one := *e
		one.Subjects = []campaigns.SubjectVariant{v}
		m := render.Render(&one, values, to, o)
		r.Subjects = append(r.Subjects, m.Subject)
		if i == 0 {
			r.Preheader, r.Text = m.Preheader, m.Text
		}
	}
	return r
}
