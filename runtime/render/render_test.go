package render

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/nurture-dev/nurture/campaigns"
)

func TestRender(t *testing.T) {
	there := "there"
	e := &campaigns.Email{
		Subjects: []campaigns.SubjectVariant{{Name: "a", Weight: 100, Subject: campaigns.Template{{Text: "Hi "}, {Field: "first_name", Default: &there}}}},
		HTML: campaigns.Template{{Text: "<p>Hi "}, {Field: "first_name", Default: &there, Escape: campaigns.EscapeHTML},
			{Text: `</p><a href="`}, {Link: 1, Escape: campaigns.EscapeHTML}, {Text: `">go</a><a href="`},
			{Field: campaigns.FieldUnsubscribeURL, Escape: campaigns.EscapeHTML}, {Text: `">unsubscribe</a>`}},
		Text: campaigns.Template{{Text: "Hi "}, {Field: "first_name", Default: &there}, {Text: " ("}, {Link: 2}, {Text: ")"}},
		Links: []campaigns.Link{
			{URL: campaigns.Template{{Text: "https://acme.example/start?ref=mail&utm_source=keep"}}},
			{URL: campaigns.Template{{Text: "mailto:help@acme.example"}}},
		},
	}
	o := Options{UTM: campaigns.UTM{Source: "nurture", Medium: "email", Campaign: "welcome"}, UnsubscribeURL: "https://go.acme.example/u/abc?x=1&y=2"}
	m := Render(e, map[string]any{"first_name": `<script>alert(1)</script>`}, "k", o)
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML does not escape the name: %s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="https://acme.example/start?ref=mail&amp;utm_campaign=welcome&amp;utm_medium=email&amp;utm_source=keep"`) {
		t.Errorf("link: %s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="https://go.acme.example/u/abc?x=1&amp;y=2"`) {
		t.Errorf("unsubscribe link: %s", m.HTML)
	}
	if m.Text != "Hi <script>alert(1)</script> (mailto:help@acme.example)" {
		t.Errorf("text: %q", m.Text)
	}
	// Fallbacks, and no line break ever reaches the subject.
	if m := Render(e, nil, "k", o); m.Subject != "Hi there" {
		t.Errorf("subject with fallback: %q", m.Subject)
	}
	if m := Render(e, map[string]any{"first_name": "Ann\r\nBcc: x@evil.example"}, "k", o); m.Subject != "Hi Ann Bcc: x@evil.example" {
		t.Errorf("subject with CR/LF: %q", m.Subject)
	}
}

func TestSubjectVariants(t *testing.T) {
	e := &campaigns.Email{Subjects: []campaigns.SubjectVariant{
		{Name: "a", Weight: 50, Subject: campaigns.Template{{Text: "A"}}},
		{Name: "b", Weight: 50, Subject: campaigns.Template{{Text: "B"}}},
	}}
	seen := map[string]int{}
	for _, seed := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"} {
		m := Render(e, nil, seed, Options{})
		if again := Render(e, nil, seed, Options{}); again.Subject != m.Subject {
			t.Fatalf("seed %s: %s then %s", seed, m.Subject, again.Subject)
		}
		if m.SubjectVariant != strings.ToLower(m.Subject) {
			t.Errorf("variant %q for subject %q", m.SubjectVariant, m.Subject)
		}
		seen[m.Subject]++
	}
	if seen["A"] == 0 || seen["B"] == 0 {
		t.Errorf("12 contacts all got one subject: %v", seen)
	}
}

// mergeEmail is an email as the compiler builds it, with merge fields in
// the subject, the preheader, the HTML text, a link's URL and the text
// part.
func mergeEmail() *campaigns.Email {
	there := "there"
	return &campaigns.Email{
		Kind:      campaigns.KindMarketing,
		Subjects:  []campaigns.SubjectVariant{{Name: "a", Weight: 100, Subject: campaigns.Template{{Text: "Hi "}, {Field: "first_name", Default: &there}, {Text: " at "}, {Field: "company"}}}},
		Preheader: campaigns.Template{{Text: "For "}, {Field: "first_name"}},
		HTML: campaigns.Template{
			{Text: `<p style="margin:0">Hi `}, {Field: "first_name", Default: &there, Escape: campaigns.EscapeHTML},
			{Text: ` of `}, {Field: "company", Escape: campaigns.EscapeHTML},
			{Text: `. <a href="`}, {Link: 1, Escape: campaigns.EscapeHTML}, {Text: `" style="color:#1d4ed8">Your page</a>`},
			{Text: ` or <a href="`}, {Link: 2, Escape: campaigns.EscapeHTML}, {Text: `" style="color:#1d4ed8">write</a>.</p>` + "\n"},
			{Text: `<hr><p class="footer"><a href="`}, {Field: campaigns.FieldUnsubscribeURL, Escape: campaigns.EscapeHTML},
			{Text: `">Unsubscribe</a> · <a href="`}, {Field: campaigns.FieldPreferencesURL, Escape: campaigns.EscapeHTML}, {Text: `">Email preferences</a></p>` + "\n"},
		},
		Text: campaigns.Template{{Text: "Hi "}, {Field: "first_name", Default: &there}, {Text: " of "}, {Field: "company"},
			{Text: ". Your page ("}, {Link: 1}, {Text: ") or write ("}, {Link: 2}, {Text: ").\n\n--\nUnsubscribe: "},
			{Field: campaigns.FieldUnsubscribeURL}, {Text: "\n"}},
		Links: []campaigns.Link{
			{URL: campaigns.Template{{Text: "https://acme.example/p/"}, {Field: "company", Escape: campaigns.EscapeURL}}, Text: "Your page"},
			{URL: campaigns.Template{{Text: "mailto:help@acme.example"}}, Text: "write"},
		},
	}
}

// TestRenderInert gives a contact values that look like markup and like
// merge tags: they come out as the text they are, in every part.
func TestRenderInert(t *testing.T) {
	const script, tag = `<script>alert(1)</script>`, `{{ first_name }}`
	values := map[string]any{"first_name": script, "company": tag}
	o := Options{UnsubscribeURL: "https://go.acme.example/u/tok", PreferencesURL: "https://go.acme.example/p/tok"}
	m := Render(mergeEmail(), values, "k", o)

	if want := "Hi " + script + " at " + tag; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
	if want := "Hi " + script + " of " + tag + ". Your page (https://acme.example/p/%7B%7B+first_name+%7D%7D) or write (mailto:help@acme.example)."; !strings.HasPrefix(m.Text, want) {
		t.Errorf("text = %q, want it to start %q", m.Text, want)
	}
	if strings.Contains(m.HTML, "<script") {
		t.Errorf("HTML holds a script tag:\n%s", m.HTML)
	}
	doc, err := html.Parse(strings.NewReader(m.HTML))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "script" {
			t.Errorf("the HTML parses to a <script> element")
		}
		if n.Type == html.TextNode && strings.Contains(n.Data, "alert(1)") {
			texts = append(texts, strings.TrimSpace(n.Data))
		}
	})
	// The title, the preheader and the paragraph show the value as text;
	// the merge tag stays a merge tag.
	want := []string{"Hi " + script + " at " + tag, "For " + script, "Hi " + script + " of " + tag + "."}
	for i := range texts {
		texts[i] = strings.TrimRight(texts[i], "\u034f\u200c\u00a0")
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("text nodes holding the value (-want +got):\n%s", diff)
	}
	if got := Render(mergeEmail(), values, "k", o).HTML; got != m.HTML {
		t.Errorf("a second render differs")
	}
	if strings.Count(m.HTML, tag) != 2 {
		t.Errorf("the merge tag in a value should show as written, in the title and the paragraph:\n%s", m.HTML)
	}
}

// TestLayout checks the document around the content: head, hidden
// preheader, the centred 600px presentation table, the open pixel.
func TestLayout(t *testing.T) {
	e := mergeEmail()
	values := map[string]any{"first_name": "Ann", "company": "Acme & Co"}
	m := Render(e, values, "k", Options{OpenPixel: "https://go.acme.example/o/tok?a=1&b=2"})
	if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>\n<html lang=\"en\">") {
		t.Errorf("the document does not start with the doctype and <html lang=\"en\">:\n%.200s", m.HTML)
	}
	doc, err := html.Parse(strings.NewReader(m.HTML))
	if err != nil {
		t.Fatal(err)
	}
	metas := map[string]string{}
	var title, styleText string
	var body, preheader, container, content, pixel *html.Node
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "meta":
			if v := attr(n, "charset"); v != "" {
				metas["charset"] = v
			} else {
				metas[attr(n, "name")] = attr(n, "content")
			}
		case "title":
			title = textOf(n)
		case "style":
			styleText = textOf(n)
			if n.Parent.Data != "head" {
				t.Errorf("a <style> element outside <head>")
			}
		case "body":
			body = n
		case "div":
			if preheader == nil {
				preheader = n
			}
		case "table":
			if attr(n, "width") == "600" {
				container = n
			}
			if attr(n, "role") != "presentation" {
				t.Errorf("a layout table without role=presentation")
			}
		case "td":
			if attr(n, "class") == "content" {
				content = n
			}
		case "img":
			pixel = n
		}
	})
	wantMetas := map[string]string{"charset": "utf-8", "viewport": "width=device-width, initial-scale=1",
		"x-apple-disable-message-reformatting": "", "color-scheme": "light", "supported-color-schemes": "light"}
	if diff := cmp.Diff(wantMetas, metas); diff != "" {
		t.Errorf("meta tags (-want +got):\n%s", diff)
	}
	if title != m.Subject || title != "Hi Ann at Acme & Co" {
		t.Errorf("title %q, subject %q", title, m.Subject)
	}
	if !strings.Contains(styleText, "@media") || !strings.Contains(styleText, "max-width") {
		t.Errorf("the <style> block holds no narrow-screen rule: %q", styleText)
	}
	if preheader == nil || !strings.Contains(attr(preheader, "style"), "display:none") {
		t.Fatalf("no hidden preheader")
	}
	if got := textOf(preheader); !strings.HasPrefix(got, "For Ann\u034f\u200c\u00a0\u034f") {
		t.Errorf("preheader text %q: want the preheader then spacers", got)
	}
	if body == nil || body.FirstChild == nil || firstElement(body) != preheader {
		t.Errorf("the preheader is not the first thing in the body")
	}
	if container == nil || !strings.Contains(attr(container, "style"), "max-width:600px") {
		t.Fatalf("no 600px container table")
	}
	if content == nil || !strings.Contains(attr(content, "style"), "font-family:") {
		t.Fatalf("no content cell with the base typography")
	}
	var p *html.Node
	walk(content, func(n *html.Node) {
		if p == nil && n.Type == html.ElementNode && n.Data == "p" {
			p = n
		}
	})
	if p == nil || textOf(p) != "Hi Ann of Acme & Co. Your page or write." {
		t.Errorf("the content is not in the content cell")
	}
	if pixel == nil || attr(pixel, "src") != "https://go.acme.example/o/tok?a=1&b=2" || attr(pixel, "width") != "1" ||
		attr(pixel, "height") != "1" || !hasAttr(pixel, "alt") || attr(pixel, "alt") != "" || !strings.Contains(attr(pixel, "style"), "display:block") {
		t.Errorf("open pixel: %+v", pixel)
	}
	if lastElement(body) != pixel {
		t.Errorf("the open pixel is not the last thing in the body")
	}

	// Without a preheader or a pixel, neither is there.
	e.Preheader = nil
	m = Render(e, values, "k", Options{})
	if strings.Contains(m.HTML, "display:none") || strings.Contains(m.HTML, "<img") {
		t.Errorf("a preheader or a pixel that was not asked for:\n%s", m.HTML)
	}
}

// TestTrackLinks checks that every http(s) link, and only those, is
// replaced in both parts by the URL TrackLink gives for its number and
// final destination, escaped where it stands, and that Links keeps the
// destinations.
func TestTrackLinks(t *testing.T) {
	e := mergeEmail()
	e.Links = append(e.Links, campaigns.Link{URL: campaigns.Template{{Text: "HTTP://acme.example/third?utm_source=mine"}}})
	e.HTML = append(e.HTML, campaigns.Part{Text: `<a href="`}, campaigns.Part{Link: 3, Escape: campaigns.EscapeHTML}, campaigns.Part{Text: `">third</a>`})
	e.Text = append(e.Text, campaigns.Part{Text: "Third: "}, campaigns.Part{Link: 3})
	type call struct {
		N   int
		URL string
	}
	var calls []call
	o := Options{
		UTM:            campaigns.UTM{Source: "nurture", Campaign: "welcome"},
		UnsubscribeURL: "https://go.acme.example/u/tok",
		TrackLink: func(n int, u string) string {
			calls = append(calls, call{n, u})
			return "https://go.acme.example/c/tok" + string(rune('0'+n)) + "?x=1&y=2"
		},
	}
	m := Render(e, map[string]any{"company": "A&B"}, "k", o)
	wantLinks := []string{
		"https://acme.example/p/A%26B?utm_campaign=welcome&utm_source=nurture",
		"mailto:help@acme.example",
		"http://acme.example/third?utm_campaign=welcome&utm_source=mine",
	}
	if diff := cmp.Diff(wantLinks, m.Links); diff != "" {
		t.Errorf("Links (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]call{{1, wantLinks[0]}, {3, wantLinks[2]}}, calls); diff != "" {
		t.Errorf("TrackLink calls (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		`href="https://go.acme.example/c/tok1?x=1&amp;y=2"`,
		`href="mailto:help@acme.example"`,
		`href="https://go.acme.example/c/tok3?x=1&amp;y=2"`,
		`href="https://go.acme.example/u/tok"`,
	} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %s:\n%s", want, m.HTML)
		}
	}
	for _, want := range []string{"(https://go.acme.example/c/tok1?x=1&y=2)", "(mailto:help@acme.example)", "Third: https://go.acme.example/c/tok3?x=1&y=2", "Unsubscribe: https://go.acme.example/u/tok\n"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %s:\n%s", want, m.Text)
		}
	}
	for _, part := range []string{m.HTML, m.Text} {
		if strings.Contains(part, "acme.example/p/") || strings.Contains(part, "acme.example/third") {
			t.Errorf("a destination shows untracked:\n%s", part)
		}
	}

	// Without TrackLink the destinations themselves are shown.
	o.TrackLink = nil
	m = Render(e, map[string]any{"company": "A&B"}, "k", o)
	if !strings.Contains(m.HTML, `href="https://acme.example/p/A%26B?utm_campaign=welcome&amp;utm_source=nurture"`) {
		t.Errorf("untracked link:\n%s", m.HTML)
	}
}

// TestUTMOncePerEmail checks that the fixed links' UTM'd URLs, worked out
// once per email and UTM, are those of the UTM asked for.
func TestUTMOncePerEmail(t *testing.T) {
	e := &campaigns.Email{
		Text:  campaigns.Template{{Link: 1}},
		Links: []campaigns.Link{{URL: campaigns.Template{{Text: "https://acme.example/a"}}}},
	}
	for _, step := range []string{"one", "two", "one"} {
		m := Render(e, nil, "k", Options{UTM: campaigns.UTM{Content: step}})
		if want := "https://acme.example/a?utm_content=" + step; m.Text != want {
			t.Errorf("UTM content %s: %q, want %q", step, m.Text, want)
		}
	}
}

// TestRenderConcurrent renders from many goroutines at once, as delivery
// workers do, each with its own UTM: each gets its own links.
func TestRenderConcurrent(t *testing.T) {
	e := mergeEmail()
	e.Links = append(e.Links, campaigns.Link{URL: campaigns.Template{{Text: "https://acme.example/fixed"}}})
	values := map[string]any{"company": "Acme"}
	var wg sync.WaitGroup
	got := make([][]string, 16)
	for i := range got {
		wg.Go(func() {
			got[i] = Render(e, values, "k", Options{UTM: campaigns.UTM{Content: strconv.Itoa(i % 4)}}).Links
		})
	}
	wg.Wait()
	for i, links := range got {
		utm := "?utm_content=" + strconv.Itoa(i%4)
		if want := []string{"https://acme.example/p/Acme" + utm, "mailto:help@acme.example", "https://acme.example/fixed" + utm}; !slices.Equal(links, want) {
			t.Errorf("goroutine %d: %q, want %q", i, links, want)
		}
	}
}

func TestEnvelope(t *testing.T) {
	p := &campaigns.Program{Sender: campaigns.Sender{FromName: "Acme", FromEmail: "hello@acme.example", ReplyTo: "team@acme.example", UnsubscribeMail: "leave@acme.example"}}
	m := Message{Subject: "S", Preheader: "P", HTML: "<p>h</p>", Text: "t"}
	date := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	marketing := &campaigns.Email{Kind: campaigns.KindMarketing}
	transactional := &campaigns.Email{Kind: campaigns.KindTransactional}
	for _, tc := range []struct {
		name    string
		e       *campaigns.Email
		unsub   string
		mailbox string
		want    []string
		bulk    bool
		oneClk  bool
	}{
		{"marketing, https and mailbox", marketing, "https://go.acme.example/u/tok", "leave@acme.example",
			[]string{"https://go.acme.example/u/tok", "mailto:leave@acme.example?subject=unsubscribe"}, true, true},
		{"marketing, mailbox only", marketing, "mailto:leave@acme.example?subject=unsubscribe+ann", "leave@acme.example",
			[]string{"mailto:leave@acme.example?subject=unsubscribe"}, true, false},
		{"marketing, https only", marketing, "https://go.acme.example/u/tok", "",
			[]string{"https://go.acme.example/u/tok"}, true, true},
		{"transactional", transactional, "https://go.acme.example/u/tok", "leave@acme.example", nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.Sender.UnsubscribeMail = tc.mailbox
			o := Envelope(p, tc.e, m, Options{UnsubscribeURL: tc.unsub}, "key-1", "ann@acme.example", date)
			if diff := cmp.Diff(tc.want, o.ListUnsubscribe); diff != "" {
				t.Errorf("List-Unsubscribe (-want +got):\n%s", diff)
			}
			if o.Bulk != tc.bulk || o.OneClick != tc.oneClk {
				t.Errorf("bulk %v one-click %v, want %v %v", o.Bulk, o.OneClick, tc.bulk, tc.oneClk)
			}
			if o.Key != "key-1" || o.To != "ann@acme.example" || o.From != "hello@acme.example" || o.FromName != "Acme" || o.ReplyTo != "team@acme.example" ||
				o.Subject != "S" || o.Preheader != "P" || o.HTML != "<p>h</p>" || o.Text != "t" || !o.Date.Equal(date) {
				t.Errorf("envelope: %+v", o)
			}
		})
	}
}

// A sequence's or step's sender, resolved for the contact, addresses the
// message; the Message-ID keeps the programme's domain.
func TestEnvelopeSender(t *testing.T) {
	p := &campaigns.Program{
		Sender:    campaigns.Sender{FromName: "Acme", FromEmail: "hello@acme.example", ReplyTo: "team@acme.example"},
		Sequences: map[string]*campaigns.Sequence{"abm": {Sender: &campaigns.From{Name: "Acme AE", EmailAttribute: "owner_email"}, Steps: []campaigns.Step{{Name: "one"}}}},
	}
	e := &campaigns.Email{Kind: campaigns.KindMarketing}
	var o Options
	o.SenderFor(p, "abm", "one", map[string]any{"owner_email": "dana@acme.example"})
	out := Envelope(p, e, Message{}, o, "k", "ann@x.example", time.Time{})
	if out.FromName != "Acme AE" || out.From != "dana@acme.example" || out.ReplyTo != "dana@acme.example" || out.IDFrom != "hello@acme.example" {
		t.Errorf("owner's envelope: %+v", out)
	}
	o = Options{}
	o.SenderFor(p, "other", "one", nil)
	out = Envelope(p, e, Message{}, o, "k", "ann@x.example", time.Time{})
	if out.FromName != "Acme" || out.From != "hello@acme.example" || out.ReplyTo != "team@acme.example" {
		t.Errorf("the programme's envelope: %+v", out)
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

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

func firstElement(n *html.Node) *html.Node {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			return c
		}
	}
	return nil
}

func lastElement(n *html.Node) *html.Node {
	for c := n.LastChild; c != nil; c = c.PrevSibling {
		if c.Type == html.ElementNode {
			return c
		}
	}
	return nil
}

// TestLayoutFrame checks the frame a layout puts around the content: its
// background, the brand bar, the logo with its link and width, the font
// and text colour of the content cell, escaped where they stand; and that
// an email without a layout keeps the default frame.
func TestLayoutFrame(t *testing.T) {
	e := mergeEmail()
	e.Layout = &campaigns.Layout{
		Logo:       &campaigns.Logo{URL: "https://acme.example/logo.png?v=1&w=2", Alt: `Acme "Reports"`, Width: 140, Href: "https://acme.example/"},
		Brand:      "#0f766e",
		Background: "#fafaf9",
		Font:       "Georgia,'Times New Roman',serif",
	}
	m := Render(e, map[string]any{"first_name": "Ann", "company": "Acme"}, "k", Options{})
	doc, err := html.Parse(strings.NewReader(m.HTML))
	if err != nil {
		t.Fatal(err)
	}
	var body, container, content, logoLink, logo *html.Node
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch {
		case n.Data == "body":
			body = n
		case attr(n, "class") == "container":
			container = n
		case attr(n, "class") == "content":
			content = n
		case n.Data == "img" && logo == nil:
			logo = n
			logoLink = n.Parent
		}
	})
	if body == nil || container == nil || content == nil || logo == nil {
		t.Fatalf("the frame lacks body, container, content or logo:\n%s", m.HTML)
	}
	for _, c := range []struct{ what, got, want string }{
		{"body background", attr(body, "style"), "background-color:#fafaf9"},
		{"brand bar", attr(container, "style"), "border-top:4px solid #0f766e"},
		{"content font", attr(content, "style"), "font-family:Georgia,'Times New Roman',serif;"},
		{"content colour", attr(content, "style"), "color:" + campaigns.DefaultText},
		{"logo width", attr(logo, "style"), "width:140px;max-width:100%"},
	} {
		if !strings.Contains(c.got, c.want) {
			t.Errorf("%s: %q lacks %q", c.what, c.got, c.want)
		}
	}
	if diff := cmp.Diff([]string{"https://acme.example/logo.png?v=1&w=2", `Acme "Reports"`, "140", "https://acme.example/"},
		[]string{attr(logo, "src"), attr(logo, "alt"), attr(logo, "width"), attr(logoLink, "href")}); diff != "" {
		t.Errorf("logo src, alt, width, link (-want +got):\n%s", diff)
	}
	// The logo comes before the content, in a row of its own.
	if i, j := strings.Index(m.HTML, "logo.png"), strings.Index(m.HTML, `class="content"`); i < 0 || i > j {
		t.Errorf("the logo is not above the content:\n%s", m.HTML)
	}

	// A compiled email never changes, so the look of another is rendered
	// from another email.
	plain := Render(mergeEmail(), map[string]any{"first_name": "Ann", "company": "Acme"}, "k", Options{})
	if !strings.Contains(plain.HTML, bodyStart) || strings.Contains(plain.HTML, "border-top:4px") || strings.Contains(plain.HTML, "<img") {
		t.Errorf("an email without a layout does not keep the default frame:\n%s", plain.HTML)
	}
}

// TestWebViewLine checks the "View in your browser" line: above the
// column, its URL escaped, and absent when there is no web view.
func TestWebViewLine(t *testing.T) {
	values := map[string]any{"first_name": "Ann", "company": "Acme"}
	m := Render(mergeEmail(), values, "k", Options{WebViewURL: "https://go.acme.example/v/tok?a=1&b=2"})
	link := `<a href="https://go.acme.example/v/tok?a=1&amp;b=2" style="color:#6b7280;text-decoration:underline">View in your browser</a>`
	i, j := strings.Index(m.HTML, link), strings.Index(m.HTML, `class="container"`)
	if i < 0 || j < 0 || i > j {
		t.Errorf("the web-view link is not above the column:\n%s", m.HTML)
	}
	if m := Render(mergeEmail(), values, "k", Options{}); strings.Contains(m.HTML, "View in your browser") {
		t.Errorf("a web-view line without a web view:\n%s", m.HTML)
	}
}
