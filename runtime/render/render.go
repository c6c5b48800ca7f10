// Package render fills an email's compiled templates for one contact:
// merge fields with their fallbacks, escaped for where they stand; links
// with their UTM parameters. Markdown was rendered once, at compile time;
// nothing here parses it.
package render

import (
	"hash/fnv"
	"html"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/mail"
)

// Options are the per-send values the templates refer to.
type Options struct {
	// UTM parameters added to every http(s) link that lacks them.
	UTM campaigns.UTM
	// URLs of the built-in merge fields.
	UnsubscribeURL string
	PreferencesURL string
}

// Message is an email filled for one contact.
type Message struct {
	Subject string
	// SubjectVariant names the subject line the contact got, when the
	// email tests more than one.
	SubjectVariant string
	Preheader      string
	HTML, Text     string
	// Links are the final URLs, in the order they appear.
	Links []string
}

// Render fills e for a contact whose attribute values are values. seed
// picks the subject line of an A/B test, the same one every time.
func Render(e *campaigns.Email, values map[string]any, seed string, o Options) Message {
	f := filler{values: values, o: o}
	f.links = make([]string, len(e.Links))
	for i, l := range e.Links {
		f.links[i] = withUTM(f.fill(l.URL), o.UTM)
	}
	m := Message{Links: f.links}
	if sv, ok := pickSubject(e.Subjects, seed); ok {
		m.Subject = mail.OneLine(f.fill(sv.Subject))
		if len(e.Subjects) > 1 {
			m.SubjectVariant = sv.Name
		}
	}
	m.Preheader = mail.OneLine(f.fill(e.Preheader))
	f.html = true // links stand in attributes: escape them
	m.HTML = f.fill(e.HTML)
	f.html = false
	m.Text = f.fill(e.Text)
	return m
}

type filler struct {
	values map[string]any
	o      Options
	links  []string
	html   bool
}

func (f filler) fill(t campaigns.Template) string {
	var b strings.Builder
	for _, p := range t {
		switch {
		case p.Field != "":
			v := f.value(p.Field)
			if v == "" && p.Default != nil {
				v = *p.Default
			}
			b.WriteString(escape(v, p.Escape))
		case p.Link > 0:
			if p.Link <= len(f.links) {
				how := p.Escape
				if f.html && how == "" {
					how = campaigns.EscapeHTML
				}
				b.WriteString(escape(f.links[p.Link-1], how))
			}
		default:
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func (f filler) value(field string) string {
	switch field {
	case campaigns.FieldUnsubscribeURL:
		return f.o.UnsubscribeURL
	case campaigns.FieldPreferencesURL:
		return f.o.PreferencesURL
	}
	switch v := f.values[field].(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.UTC().Format("2 January 2006")
	}
	return ""
}

func escape(s, how string) string {
	switch how {
	case campaigns.EscapeHTML:
		return html.EscapeString(s)
	case campaigns.EscapeURL:
		return url.QueryEscape(s)
	}
	return s
}

// withUTM adds the UTM parameters a web link lacks; other links (mailto:)
// are left as they are.
func withUTM(link string, utm campaigns.UTM) string {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return link
	}
	q := u.Query()
	for k, v := range map[string]string{"utm_source": utm.Source, "utm_medium": utm.Medium, "utm_campaign": utm.Campaign, "utm_content": utm.Content} {
		if v != "" && q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func pickSubject(vs []campaigns.SubjectVariant, seed string) (campaigns.SubjectVariant, bool) {
	if len(vs) == 0 {
		return campaigns.SubjectVariant{}, false
	}
	total := 0
	for _, v := range vs {
		total += v.Weight
	}
	if len(vs) == 1 || total <= 0 {
		return vs[0], true
	}
	h := fnv.New32a()
	h.Write([]byte(seed))
	n := int(h.Sum32() % uint32(total))
	for _, v := range vs {
		if n < v.Weight {
			return v, true
		}
		n -= v.Weight
	}
	return vs[len(vs)-1], true
}
