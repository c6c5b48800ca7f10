package compiler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/nurture-dev/nurture/campaigns"
)

// TestButton checks a button: a table cell in the button colour holding
// the link, its text without the brackets, the link numbered like any
// other (so tracked), and "label: URL" in the text part.
func TestButton(t *testing.T) {
	src := "---\nsubject: Hi\n---\nSee [pricing](https://a.example/pricing).\n\n[[Book a **demo**]](https://a.example/demo?x=1)\n\nThanks\n"
	c := emailChecker()
	layout := &campaigns.Layout{Brand: "#0f766e", Button: campaigns.Button{TextColour: "#fefefe", Shape: campaigns.ShapePill}}
	e := c.emailSource("email.md", []byte(src), campaigns.KindTransactional, layout)
	if c.diags.HasErrors() || e == nil {
		t.Fatalf("does not compile: %v", c.diags)
	}
	var links []string
	for _, l := range e.Links {
		links = append(links, l.URL.String()+" "+l.Text)
	}
	if diff := cmp.Diff([]string{"https://a.example/pricing pricing", "https://a.example/demo?x=1 Book a demo"}, links); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	// The link's destination is link 2, filled (and tracked) per contact.
	var linkParts []int
	for _, p := range e.HTML {
		if p.Link > 0 {
			linkParts = append(linkParts, p.Link)
		}
	}
	if diff := cmp.Diff([]int{1, 2}, linkParts); diff != "" {
		t.Errorf("links in the HTML (-want +got):\n%s", diff)
	}

	doc, err := html.Parse(strings.NewReader(strings.ReplaceAll(e.HTML.String(), "{{", "")))
	if err != nil {
		t.Fatal(err)
	}
	var cell, a *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "td" && attr(n, "bgcolor") != "" {
			cell = n
		}
		if n.Type == html.ElementNode && n.Data == "a" && cell != nil && a == nil {
			a = n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if cell == nil || a == nil {
		t.Fatalf("no button cell with a link:\n%s", e.HTML)
	}
	if cell.Parent.Parent.Parent.Data != "table" && cell.Parent.Parent.Data != "table" {
		t.Errorf("the button cell is not in a table")
	}
	if got := attr(cell, "bgcolor"); got != "#0f766e" {
		t.Errorf("the button follows the brand colour: bgcolor %q, want #0f766e", got)
	}
	style := attr(a, "style")
	for _, want := range []string{"display:inline-block", "padding:12px 24px", "background-color:#0f766e", "color:#fefefe", "border-radius:999px", "text-decoration:none"} {
		if !strings.Contains(style, want) {
			t.Errorf("the button link's style %q lacks %q", style, want)
		}
	}
	if got := textOf(a); got != "Book a demo" {
		t.Errorf("button text %q, want %q", got, "Book a demo")
	}
	if strings.Contains(e.HTML.String(), "<p style=\""+styleP+"\"><a") {
		t.Errorf("the button is left in a paragraph:\n%s", e.HTML)
	}

	var textLink bool
	for i, p := range e.Text {
		if p.Link == 2 && i > 0 && strings.HasSuffix(e.Text[i-1].Text, "\n\nBook a demo: ") {
			textLink = true
		}
	}
	if !textLink {
		t.Errorf("the text part does not write the button as \"Book a demo: URL\": %#v", e.Text)
	}
}

// TestButtonDefaults checks a button in an email with no layout: the
// default brand colour, rounded.
func TestButtonDefaults(t *testing.T) {
	c := emailChecker()
	e := c.emailSource("email.md", []byte("---\nsubject: Hi\n---\n[[Go]](https://a.example/)\n"), campaigns.KindTransactional, nil)
	if c.diags.HasErrors() || e == nil {
		t.Fatalf("does not compile: %v", c.diags)
	}
	for _, want := range []string{`bgcolor="` + campaigns.DefaultBrand + `"`, "border-radius:6px", "color:#ffffff"} {
		if !strings.Contains(e.HTML.String(), want) {
			t.Errorf("HTML lacks %q:\n%s", want, e.HTML)
		}
	}
}

// TestButtonNotAlone checks that a button beside other text is an error
// at the button, and that plain links with brackets in their text that
// are not buttons stay links.
func TestButtonNotAlone(t *testing.T) {
	c := emailChecker()
	src := "---\nsubject: Hi\n---\nHello\n\nOr [[Book]](https://a.example/) now.\n\nSee [[1]](https://a.example/one) [two](https://a.example/two)\n\n[x] done and [y](https://a.example/y)\n"
	e := c.emailSource("email.md", []byte(src), campaigns.KindTransactional, nil)
	var got []string
	for _, d := range c.diags {
		got = append(got, d.Pos.String()+" "+d.Code+" "+d.Summary)
	}
	want := []string{
		`email.md:6:4 NRT433 button [[Book]] is not on a paragraph of its own`,
		`email.md:8:5 NRT433 button [[1]] is not on a paragraph of its own`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if e != nil && strings.Contains(e.HTML.String(), "bgcolor") {
		t.Errorf("a stray button was rendered as one:\n%s", e.HTML)
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
