package render_test

// These tests and the benchmark render the emails of examples/b2b-saas as
// the compiler builds them. The render package itself never imports the
// compiler; its tests here do, from outside the package, because what
// they check is the two together: the compiler's styled HTML inside the
// runtime's layout, tracked as production tracks it.

import (
	"bytes"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime/render"
	"github.com/nurture-dev/nurture/runtime/track"
)

var example = sync.OnceValues(func() (*campaigns.Program, error) {
	res := compiler.Compile("../../examples/b2b-saas")
	if res.Program == nil || res.Diagnostics.HasErrors() {
		return nil, res.Diagnostics.Err()
	}
	return res.Program, nil
})

func exampleProgram(tb testing.TB) *campaigns.Program {
	tb.Helper()
	p, err := example()
	if err != nil {
		tb.Fatalf("examples/b2b-saas does not compile: %v", err)
	}
	return p
}

var testKeys, _ = track.NewKeys([]byte("a tracking key of 32 bytes, test"))

// production are the options the engine renders a send with: signed
// unsubscribe, preferences, open and click URLs under the tracking base.
func production(p *campaigns.Program, send, contact int64, utm campaigns.UTM) render.Options {
	base := p.Sender.TrackingURL
	sign := func(t track.Token) string { return track.URL(base, t.Kind, testKeys.Sign(t)) }
	return render.Options{
		UTM:            utm,
		UnsubscribeURL: sign(track.Token{Kind: track.Unsubscribe, Send: send, Contact: contact}),
		PreferencesURL: sign(track.Token{Kind: track.Preferences, Send: send, Contact: contact}),
		OpenPixel:      sign(track.Token{Kind: track.Open, Send: send, Contact: contact}),
		TrackLink: func(n int, url string) string {
			return sign(track.Token{Kind: track.Click, Send: send, Contact: contact, Link: n, URL: url})
		},
	}
}

// contactFor is a contact with a value, one to escape, for every field e
// merges.
func contactFor(e *campaigns.Email) map[string]any {
	v := map[string]any{}
	for _, f := range e.Fields {
		v[f] = "Ann & <Co> " + f
	}
	return v
}

// styledTags are the elements of email content that carry their style.
var styledTags = map[string]bool{"p": true, "h1": true, "h2": true, "h3": true, "a": true, "ul": true, "ol": true, "li": true,
	"blockquote": true, "code": true, "pre": true, "img": true, "table": true, "th": true, "td": true, "hr": true}

// TestExampleEmails renders every email of the example as production
// does and reads it back: a document that parses, content styled inline,
// every web link tracked to its UTM'd destination in both parts, mailto
// links as written, the footer marketing needs, and List-Unsubscribe on
// marketing email alone.
func TestExampleEmails(t *testing.T) {
	p := exampleProgram(t)
	utm := campaigns.UTM{Source: "nurture", Medium: "email", Campaign: "test", Content: "step"}
	clickPrefix := track.URL(p.Sender.TrackingURL, track.Click, "")
	for _, name := range slices.Sorted(maps.Keys(p.Emails)) {
		e := p.Emails[name]
		t.Run(name, func(t *testing.T) {
			o := production(p, 7, 42, utm)
			m := render.Render(e, contactFor(e), "seed", o)
			doc, err := html.Parse(strings.NewReader(m.HTML))
			if err != nil {
				t.Fatal(err)
			}
			var content *html.Node
			walk(doc, func(n *html.Node) {
				if n.Type == html.ElementNode && attr(n, "class") == "content" {
					content = n
				}
			})
			if content == nil {
				t.Fatal("no content cell")
			}
			var hrefs []string
			walk(content, func(n *html.Node) {
				if n.Type != html.ElementNode || n == content {
					return
				}
				if styledTags[n.Data] && attr(n, "style") == "" {
					t.Errorf("<%s> has no inline style", n.Data)
				}
				if n.Data == "a" {
					hrefs = append(hrefs, attr(n, "href"))
				}
			})

			// Every link of the email, in order, then the footer's.
			var want []string
			for i, dest := range m.Links {
				if !strings.HasPrefix(dest, "https://") && !strings.HasPrefix(dest, "http://") {
					if !strings.HasPrefix(dest, "mailto:") {
						t.Errorf("link %d is neither web nor mailto: %s", i+1, dest)
					}
					want = append(want, dest)
					continue
				}
				if !strings.Contains(dest, "utm_campaign=test") {
					t.Errorf("link %d lacks its UTM parameters: %s", i+1, dest)
				}
				var shown string
				for _, h := range hrefs {
					tok, ok := strings.CutPrefix(h, clickPrefix)
					if !ok {
						continue
					}
					if tk, err := testKeys.Parse(tok); err == nil && tk.Link == i+1 {
						shown = h
						if tk.URL != dest || tk.Send != 7 || tk.Contact != 42 || tk.Kind != track.Click {
							t.Errorf("link %d's token: %+v, want the URL %s", i+1, tk, dest)
						}
					}
				}
				if shown == "" {
					t.Errorf("link %d (%s) is not tracked in the HTML: %q", i+1, dest, hrefs)
				}
				if !strings.Contains(m.Text, shown) {
					t.Errorf("link %d is not tracked in the text part", i+1)
				}
				if strings.Contains(m.HTML, dest) || strings.Contains(m.Text, dest) {
					t.Errorf("link %d's destination shows untracked: %s", i+1, dest)
				}
				want = append(want, shown)
			}
			if e.Kind == campaigns.KindMarketing {
				want = append(want, o.UnsubscribeURL, o.PreferencesURL)
			}
			if !sameSet(want, hrefs) {
				t.Errorf("links in the HTML:\n%q\nwant\n%q", hrefs, want)
			}

			if !strings.Contains(m.HTML, "548 Market St") || !strings.Contains(m.Text, "548 Market St") {
				t.Errorf("no postal address in the footer")
			}
			if got := strings.Contains(m.Text, "Unsubscribe: "+o.UnsubscribeURL); got != (e.Kind == campaigns.KindMarketing) {
				t.Errorf("%s email: unsubscribe link in the text part = %v", e.Kind, got)
			}
			if !strings.Contains(m.HTML, `<img src="`+o.OpenPixel+`"`) {
				t.Errorf("no open pixel")
			}
			env := render.Envelope(p, e, m, o, "key", "ann@acme.example", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
			if e.Kind == campaigns.KindMarketing {
				if len(env.ListUnsubscribe) != 2 || env.ListUnsubscribe[0] != o.UnsubscribeURL || !env.OneClick || !env.Bulk {
					t.Errorf("marketing envelope: %+v", env)
				}
			} else if len(env.ListUnsubscribe) != 0 || env.OneClick || env.Bulk {
				t.Errorf("transactional envelope: %+v", env)
			}
		})
	}
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// BenchmarkRender renders the example's largest email for a contact as
// production does: tracked links, unsubscribe, preferences and open URLs
// signed per send. Beside it, in the same loop so that both see the same
// machine, html/template executes a template parsed beforehand that
// writes as many bytes with as many substitutions: the usual way of doing
// this in Go. It reports each one's emails a second and the ratio of the
// first to the second; the target is 0.5 or more.
//
//	go test ./runtime/render -run XXX -bench Render -benchtime 3s -count 3
func BenchmarkRender(b *testing.B) {
	p := exampleProgram(b)
	e := largestEmail(p)
	values := map[string]any{}
	for _, f := range e.Fields {
		values[f] = "Avery Example"
	}
	utm := campaigns.UTM{Source: "nurture", Medium: "email", Campaign: "intent", Content: "pricing"}
	m := render.Render(e, values, "seed", production(p, 1, 1, utm))
	size := len(m.Subject) + len(m.Preheader) + len(m.HTML) + len(m.Text)
	subs := substitutions(e)
	tmpl, data := mirrorTemplate(b, e, values, production(p, 1, 1, utm), m, size, subs)
	var out bytes.Buffer
	out.Grow(size + 1024)

	var ours, theirs time.Duration
	var send int64
	for b.Loop() {
		send++
		t0 := time.Now()
		m := render.Render(e, values, "seed", production(p, send, 42, utm))
		t1 := time.Now()
		out.Reset()
		if err := tmpl.Execute(&out, data); err != nil {
			b.Fatal(err)
		}
		theirs += time.Since(t1)
		ours += t1.Sub(t0)
		if len(m.HTML) == 0 || out.Len() != size {
			b.Fatal("nothing rendered")
		}
	}
	b.ReportMetric(float64(b.N)/ours.Seconds(), "nurture-emails/s")
	b.ReportMetric(float64(b.N)/theirs.Seconds(), "html_template-emails/s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "nurture/html_template")
	b.ReportMetric(float64(size), "bytes/email")
	b.ReportMetric(float64(subs), "subs/email")
}

// largestEmail is the email whose HTML template holds the most text.
func largestEmail(p *campaigns.Program) *campaigns.Email {
	var best *campaigns.Email
	bestSize := -1
	for _, name := range slices.Sorted(maps.Keys(p.Emails)) {
		size := 0
		for _, pt := range p.Emails[name].HTML {
			size += len(pt.Text)
		}
		if size > bestSize {
			best, bestSize = p.Emails[name], size
		}
	}
	return best
}

// substitutions counts the values Render writes into a message: merge
// fields and links in the subject, preheader, HTML and text, and the
// layout's title, preheader and open pixel.
func substitutions(e *campaigns.Email) int {
	n := 3
	for _, t := range []campaigns.Template{e.Subjects[0].Subject, e.Preheader, e.HTML, e.Text} {
		for _, pt := range t {
			if pt.Field != "" || pt.Link > 0 {
				n++
			}
		}
	}
	return n
}

// mirrorTemplate builds the html/template a Go program would write for
// e: the same layout (read from a render of markers), the same literal
// HTML, an action wherever Render substitutes a value (the text part, the
// subject and preheader lines after the document), and each action given
// the value Render writes there. The contact's values must need no
// escaping, so that the two write as many bytes; padding makes up for
// any difference left. It fails unless it has subs actions.
func mirrorTemplate(b *testing.B, e *campaigns.Email, values map[string]any, o render.Options, m render.Message, size, subs int) (*template.Template, map[string]string) {
	b.Helper()
	layout := render.Render(&campaigns.Email{
		Subjects:  []campaigns.SubjectVariant{{Name: "a", Weight: 100, Subject: campaigns.Template{{Text: "\x01"}}}},
		Preheader: campaigns.Template{{Text: "\x02"}},
		HTML:      campaigns.Template{{Text: "\x03"}},
	}, nil, "", render.Options{OpenPixel: "\x04"}).HTML
	pieces := strings.FieldsFunc(layout, func(r rune) bool { return r >= 1 && r <= 4 })
	if len(pieces) != 5 {
		b.Fatalf("the layout splits into %d pieces, not 5", len(pieces))
	}
	data := map[string]string{}
	actions := 0
	var src strings.Builder
	action := func(v string) {
		k := "v" + strconv.Itoa(actions)
		actions++
		data[k] = v
		src.WriteString("[[%." + k + "%]]")
	}
	value := func(pt campaigns.Part) string {
		switch {
		case pt.Link > 0:
			if strings.HasPrefix(m.Links[pt.Link-1], "mailto:") {
				return m.Links[pt.Link-1]
			}
			return o.TrackLink(pt.Link, m.Links[pt.Link-1])
		case pt.Field == campaigns.FieldUnsubscribeURL:
			return o.UnsubscribeURL
		case pt.Field == campaigns.FieldPreferencesURL:
			return o.PreferencesURL
		}
		if v, _ := values[pt.Field].(string); v != "" || pt.Default == nil {
			return v
		}
		return *pt.Default
	}
	mirror := func(t campaigns.Template, literal func(string) string) {
		for _, pt := range t {
			if pt.Field != "" || pt.Link > 0 {
				action(value(pt))
			} else {
				src.WriteString(literal(pt.Text))
			}
		}
	}
	same := func(s string) string { return s }
	// The text part's literals, and the subject's and preheader's, as
	// HTML text after the document: apostrophes and quotes may stay.
	text := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
	src.WriteString(pieces[0])
	action(m.Subject)
	src.WriteString(pieces[1])
	action(m.Preheader)
	src.WriteString(pieces[2])
	mirror(e.HTML, same)
	src.WriteString(pieces[3])
	action(o.OpenPixel)
	src.WriteString(pieces[4])
	mirror(e.Text, text)
	mirror(e.Subjects[0].Subject, text)
	mirror(e.Preheader, text)
	if actions != subs {
		b.Fatalf("the template has %d actions, Render %d substitutions", actions, subs)
	}
	parse := func(src string) *template.Template {
		return template.Must(template.New("email").Delims("[[%", "%]]").Parse(src))
	}
	var out bytes.Buffer
	if err := parse(src.String()).Execute(&out, data); err != nil {
		b.Fatal(err)
	}
	if pad := size - out.Len(); pad != 0 {
		if pad < len("<p></p>") {
			b.Fatalf("the template writes %d bytes, the message %d", out.Len(), size)
		}
		src.WriteString("<p>" + strings.Repeat("x", pad-len("<p></p>")) + "</p>")
	}
	tmpl := parse(src.String())
	out.Reset()
	if err := tmpl.Execute(&out, data); err != nil {
		b.Fatal(err)
	}
	if out.Len() != size {
		b.Fatalf("the template writes %d bytes, the message %d", out.Len(), size)
	}
	return tmpl, data
}

// TestExampleLayout renders two emails of the example: one of a sequence
// that overrides the programme's layout, one that does not. Both carry
// the programme's logo and brand bar; each has its own footer line.
func TestExampleLayout(t *testing.T) {
	p := exampleProgram(t)
	for _, c := range []struct{ email, footer, other string }{
		{"emails/leaders/01-the-monday-report.md", "Northwind Analytics: reporting your whole team trusts.", "while you set up"},
		{"emails/onboarding/01-welcome.md", "You get these emails while you set up your Northwind trial.", "reporting your whole team trusts"},
	} {
		e := p.Emails[c.email]
		if e == nil {
			t.Fatalf("the example has no %s", c.email)
		}
		m := render.Render(e, contactFor(e), "seed", production(p, 7, 42, campaigns.UTM{}))
		for _, want := range []string{`alt="Northwind"`, "border-top:4px solid #0f766e", c.footer} {
			if !strings.Contains(m.HTML, want) {
				t.Errorf("%s: HTML lacks %q", c.email, want)
			}
		}
		if !strings.Contains(m.Text, c.footer) || strings.Contains(m.HTML+m.Text, c.other) {
			t.Errorf("%s: the footer line is not its sequence's own:\n%s", c.email, m.Text)
		}
	}
}

// TestExampleButtons renders the example's buttons as production does:
// in the layout's button colour and shape, the link tracked like any
// other, and "label: URL" in the text part with the same tracked URL.
func TestExampleButtons(t *testing.T) {
	p := exampleProgram(t)
	clickPrefix := track.URL(p.Sender.TrackingURL, track.Click, "")
	for _, c := range []struct{ email, label, radius string }{
		{"emails/leaders/03-see-it-on-your-data.md", "Pick a time for a demo", "border-radius:6px"},
		{"emails/onboarding/03-first-dashboard.md", "Browse the templates", "border-radius:0;"},
	} {
		e := p.Emails[c.email]
		m := render.Render(e, contactFor(e), "seed", production(p, 7, 42, campaigns.UTM{}))
		doc, err := html.Parse(strings.NewReader(m.HTML))
		if err != nil {
			t.Fatal(err)
		}
		var button *html.Node
		walk(doc, func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "a" && n.Parent != nil && attr(n.Parent, "bgcolor") == "#0f766e" {
				button = n
			}
		})
		if button == nil {
			t.Errorf("%s: no button in the brand colour:\n%s", c.email, m.HTML)
			continue
		}
		href := attr(button, "href")
		if !strings.HasPrefix(href, clickPrefix) {
			t.Errorf("%s: the button's link is not tracked: %s", c.email, href)
		}
		if !strings.Contains(attr(button, "style"), c.radius) {
			t.Errorf("%s: button style %q lacks %q", c.email, attr(button, "style"), c.radius)
		}
		if !strings.Contains(m.Text, c.label+": "+href+"\n") {
			t.Errorf("%s: the text part lacks %q:\n%s", c.email, c.label+": "+href, m.Text)
		}
	}
}
