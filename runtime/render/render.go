// Package render fills an email's compiled templates for one contact:
// merge fields with their fallbacks, escaped for where they stand; links
// with their UTM parameters, and tracked when the caller tracks them; the
// HTML inside a responsive email layout. Markdown was rendered and styled
// once, at compile time; nothing here parses it, nor anything else per
// contact but the URLs of links that hold merge fields.
package render

import (
	"fmt"
	"hash/fnv"
	"html"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	// TrackLink, when set, gives the URL that stands in the email for
	// http(s) link n (from 1, as in Email.Links) whose destination, UTM
	// parameters added, is url: a click redirect. mailto links, and the
	// unsubscribe and preferences URLs, are never passed to it.
	TrackLink func(n int, url string) string
	// OpenPixel, when set, is the URL of a 1×1 image at the end of the
	// HTML that records an open.
	OpenPixel string
	// WebViewURL, when set, is where the email can be read in a browser:
	// a "View in your browser" line above it in the HTML.
	WebViewURL string
	// FromName, From and ReplyTo, when From is set, say who this send is
	// from instead of the programme's sender: the sequence's or step's
	// sender, resolved for the contact (see SenderFor).
	FromName, From, ReplyTo string
}

// SenderFor sets who the email a step of a sequence sends is from, for a
// contact with values: its step's or sequence's sender, resolved for the
// contact, or the programme's.
func (o *Options) SenderFor(p *campaigns.Program, sequence, step string, values map[string]any) {
	o.FromName, o.From, o.ReplyTo = p.FromFor(sequence, step).For(values)
}

// Message is an email filled for one contact.
type Message struct {
	Subject string
	// SubjectVariant names the subject line the contact got, when the
	// email tests more than one.
	SubjectVariant string
	Preheader      string
	// HTML is a whole document: the content in a centred 600px column.
	HTML, Text string
	// Links are the final URLs, UTM parameters added, in the order they
	// appear: where a click leads, tracked or not.
	Links []string
}

// Render fills e for a contact whose attribute values are values. seed
// picks the subject line of an A/B test, the same one every time.
func Render(e *campaigns.Email, values map[string]any, seed string, o Options) Message {
	pe := prepare(e, o.UTM)
	f := filler{values: values, o: o}
	m := Message{Links: make([]string, len(e.Links))}
	f.shown = m.Links
	if o.TrackLink != nil {
		f.shown = make([]string, len(e.Links))
	}
	for i, l := range e.Links {
		u := pe.links[i]
		if !pe.fixed[i] {
			u = withUTM(f.string(l.URL), o.UTM)
		}
		m.Links[i] = u
		if o.TrackLink != nil {
			f.shown[i] = u
			if isWeb(u) {
				f.shown[i] = o.TrackLink(i+1, u)
			}
		}
	}
	if sv, ok := pickSubject(e.Subjects, seed); ok {
		m.Subject = oneLine(f.string(sv.Subject))
		if len(e.Subjects) > 1 {
			m.SubjectVariant = sv.Name
		}
	}
	m.Preheader = oneLine(f.string(e.Preheader))

	var b strings.Builder
	b.Grow(layoutSize + 2*len(m.Subject) + 2*len(m.Preheader) + len(o.OpenPixel) + pe.htmlSize + pe.htmlSubs*substSize)
	b.WriteString(docStart)
	writeHTML(&b, m.Subject)
	b.WriteString(pe.head)
	if m.Preheader != "" {
		b.WriteString(preheaderStart)
		writeHTML(&b, m.Preheader)
		b.WriteString(preheaderEnd)
	}
	if o.WebViewURL != "" {
		b.WriteString(webViewStart)
		writeHTML(&b, o.WebViewURL)
		b.WriteString(webViewEnd)
	}
	b.WriteString(pe.start)
	f.fill(&b, e.HTML, true)
	b.WriteString(bodyEnd)
	if o.OpenPixel != "" {
		b.WriteString(pixelStart)
		writeHTML(&b, o.OpenPixel)
		b.WriteString(pixelEnd)
	}
	b.WriteString(docEnd)
	m.HTML = b.String()

	var t strings.Builder
	t.Grow(pe.textSize + pe.textSubs*substSize)
	f.fill(&t, e.Text, false)
	m.Text = t.String()
	return m
}

// The layout around the content: a table-based column that mail clients
// without CSS layout agree on, with every style inline. The one <style>
// block holds only what cannot be inline, the narrow-screen rule; clients
// that drop it still show a readable email, just with wider margins.
const (
	docStart = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="x-apple-disable-message-reformatting">
<meta name="color-scheme" content="light">
<meta name="supported-color-schemes" content="light">
<title>`
	docHead = `</title>
<style>
@media only screen and (max-width: 620px) {
  .container { width: 100% !important; border-radius: 0 !important; }
  .content { padding: 24px 16px !important; }
}
</style>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%">
`
	// The preheader is the line inboxes show after the subject. It is
	// hidden in the email itself, and followed by invisible spacers so
	// that the inbox does not go on to show the first lines of the body.
	preheaderStart = `<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all">`
	preheaderEnd   = spacer + "</div>\n"
	spacer10       = "&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;"
	spacer         = spacer10 + spacer10 + spacer10 + spacer10 + spacer10 + spacer10 + spacer10 + spacer10

	bodyStart = `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="width:100%;background-color:#f3f4f6">
<tr>
<td align="center" style="padding:24px 12px">
<table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" style="width:600px;max-width:600px;background-color:#ffffff;border-radius:8px">
<tr>
<td class="content" style="padding:32px 40px;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.6;color:#1f2937;text-align:left">
`
	bodyEnd = `</td>
</tr>
</table>
</td>
</tr>
</table>
`
	// The web-view line sits above the column, small and grey: for the
	// reader whose client shows the email badly.
	webViewStart = `<p class="webview" style="margin:0;padding:12px 12px 0;text-align:center;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:12px;line-height:1.5;color:#6b7280"><a href="`
	webViewEnd   = `" style="color:#6b7280;text-decoration:underline">View in your browser</a></p>` + "\n"

	pixelStart = `<img src="`
	pixelEnd   = `" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">` + "\n"
	docEnd     = "</body>\n</html>\n"

	layoutSize = len(docStart) + len(docHead) + len(preheaderStart) + len(preheaderEnd) + len(bodyStart) + len(bodyEnd) + len(pixelStart) + len(pixelEnd) + len(docEnd)
)

// frame is the document around the content in a layout: the default
// frame when there is none; with one, its background, a bar of the brand
// colour above the column, the logo, and the content's font and colour.
// The layout's values were checked by the compiler (hex colours, a font
// list, URLs without quotes); they are escaped here all the same.
func frame(l *campaigns.Layout) (head, start string) {
	if l == nil {
		return docHead, bodyStart
	}
	r := l.Resolved()
	esc := html.EscapeString
	head = strings.Replace(docHead, "background-color:#f3f4f6", "background-color:"+esc(r.Background), 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<table role="presentation" width="100%%" cellpadding="0" cellspacing="0" border="0" style="width:100%%;background-color:%s">
<tr>
<td align="center" style="padding:24px 12px">
<table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" style="width:600px;max-width:600px;background-color:#ffffff;border-radius:8px;border-top:4px solid %s">
`, esc(r.Background), esc(r.Brand))
	if lg := r.Logo; lg != nil {
		width := lg.Width
		if width == 0 {
			width = 160
		}
		img := fmt.Sprintf(`<img src="%s" width="%d" alt="%s" style="display:block;width:%dpx;max-width:100%%;height:auto;border:0;outline:none;text-decoration:none">`,
			esc(lg.URL), width, esc(lg.Alt), width)
		if lg.Href != "" {
			img = fmt.Sprintf(`<a href="%s" style="text-decoration:none">%s</a>`, esc(lg.Href), img)
		}
		fmt.Fprintf(&b, "<tr>\n<td class=\"logo\" style=\"padding:32px 40px 0\">%s</td>\n</tr>\n", img)
	}
	fmt.Fprintf(&b, `<tr>
<td class="content" style="padding:32px 40px;font-family:%s;font-size:16px;line-height:1.6;color:%s;text-align:left">
`, r.Font, esc(r.Text)) // a font list holds single quotes, which stay as written
	return head, b.String()
}

// prepared is what Render works out once per email and UTM parameters:
// the same for every contact.
type prepared struct {
	// links holds each link's URL with its UTM parameters where fixed
	// (it has no merge field); the others are filled per contact.
	links []string
	fixed []bool
	// Bytes of literal text, and how many merge fields and links, in the
	// HTML and text templates: to size their buffers once.
	htmlSize, htmlSubs int
	textSize, textSubs int
	// head and start are the layout's frame: from the title to the
	// preheader, and from there to the content.
	head, start string
}

type prepKey struct {
	e   *campaigns.Email
	utm campaigns.UTM
}

// prepCache holds prepared emails. A programme applied anew brings new
// emails and leaves the old ones unused; rather than track which, the
// cache starts over when it is full.
var prepCache struct {
	sync.RWMutex
	m map[prepKey]*prepared
}

const prepCacheSize = 4096

// substSize is the bytes a buffer makes room for per merge field or link:
// a tracked link's, so that it seldom grows.
const substSize = 160

func prepare(e *campaigns.Email, utm campaigns.UTM) *prepared {
	k := prepKey{e, utm}
	prepCache.RLock()
	pe := prepCache.m[k]
	prepCache.RUnlock()
	if pe != nil {
		return pe
	}
	pe = &prepared{links: make([]string, len(e.Links)), fixed: make([]bool, len(e.Links))}
	pe.head, pe.start = frame(e.Layout)
	for i, l := range e.Links {
		if u, ok := literal(l.URL); ok {
			pe.links[i], pe.fixed[i] = withUTM(u, utm), true
		}
	}
	pe.htmlSize, pe.htmlSubs = measure(e.HTML)
	pe.textSize, pe.textSubs = measure(e.Text)
	prepCache.Lock()
	if prepCache.m == nil || len(prepCache.m) >= prepCacheSize {
		prepCache.m = map[prepKey]*prepared{}
	}
	prepCache.m[k] = pe
	prepCache.Unlock()
	return pe
}

// literal is a template's text when it has no merge field or link.
func literal(t campaigns.Template) (string, bool) {
	var b strings.Builder
	for _, p := range t {
		if p.Field != "" || p.Link > 0 {
			return "", false
		}
		b.WriteString(p.Text)
	}
	return b.String(), true
}

func measure(t campaigns.Template) (size, subs int) {
	for _, p := range t {
		if p.Field != "" || p.Link > 0 {
			subs++
		} else {
			size += len(p.Text)
		}
	}
	return size, subs
}

type filler struct {
	values map[string]any
	o      Options
	// shown are the URLs that stand for the links: tracked, or the
	// destinations themselves.
	shown []string
}

// string fills a one-line template or a link's URL.
func (f filler) string(t campaigns.Template) string {
	if len(t) == 1 && t[0].Field == "" && t[0].Link == 0 {
		return t[0].Text
	}
	var b strings.Builder
	f.fill(&b, t, false)
	return b.String()
}

// fill writes t to b. In HTML a link's URL stands in an attribute, so it
// is escaped whatever its part says.
func (f filler) fill(b *strings.Builder, t campaigns.Template, inHTML bool) {
	for _, p := range t {
		switch {
		case p.Field != "":
			v := f.value(p.Field)
			if v == "" && p.Default != nil {
				v = *p.Default
			}
			writeEscaped(b, v, p.Escape)
		case p.Link > 0:
			if p.Link <= len(f.shown) {
				how := p.Escape
				if inHTML && how == "" {
					how = campaigns.EscapeHTML
				}
				writeEscaped(b, f.shown[p.Link-1], how)
			}
		default:
			b.WriteString(p.Text)
		}
	}
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

func writeEscaped(b *strings.Builder, s, how string) {
	switch how {
	case campaigns.EscapeHTML:
		writeHTML(b, s)
	case campaigns.EscapeURL:
		b.WriteString(url.QueryEscape(s))
	default:
		b.WriteString(s)
	}
}

// writeHTML writes s escaped for HTML text and quoted attribute values,
// as html.EscapeString does, without building the escaped copy.
func writeHTML(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// oneLine is mail.OneLine, without its copy for the usual line that has
// no break.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return mail.OneLine(s)
}

// isWeb reports whether a URL is an http(s) link: one that UTM
// parameters and click tracking apply to.
func isWeb(u string) bool {
	return hasPrefixFold(u, "https://") || hasPrefixFold(u, "http://")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
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

// SubjectVariant names the subject line Render gives e for seed when e
// tests more than one; empty when it has one. The choice depends on the
// seed alone, so that the engine records, when it plans a send, the line
// delivery will render.
func SubjectVariant(e *campaigns.Email, seed string) string {
	if len(e.Subjects) < 2 {
		return ""
	}
	sv, _ := pickSubject(e.Subjects, seed)
	return sv.Name
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

// WithTrigger returns a contact's values with the properties of its
// triggering event beside them, as the trigger.PROP fields an email
// merges; values itself when there are none.
func WithTrigger(values, props map[string]any) map[string]any {
	if len(props) == 0 {
		return values
	}
	out := make(map[string]any, len(values)+len(props))
	for k, v := range values {
		out[k] = v
	}
	for k, v := range props {
		out[campaigns.TriggerPrefix+k] = v
	}
	return out
}
