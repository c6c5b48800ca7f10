package compiler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/nurture-dev/nurture/campaigns"
)

// styleEmail uses every Markdown construct an email can hold.
const styleEmail = "---\nsubject: Hi\n---\n" +
	"# A title for {{ company }}\n\n" +
	"Text with `code`, **bold**, *em*, ~~gone~~ and [a link](https://a.example/x \"Title\").\n\n" +
	"## A section\n\n" +
	"- one\n- two\n\n" +
	"1. first\n\n   more of the first\n2. second\n\n" +
	"> quoted\n>\n> twice\n\n" +
	"```go\nif a < b && c {}\n```\n\n" +
	"    indented <code>\n\n" +
	"![A chart](https://a.example/chart.png)\n\n" +
	"| plan | price |\n|------|------:|\n| Pro  | $10   |\n\n" +
	"---\n\n" +
	"The end.\n"

// TestEmailInlineStyles checks that every element of the content carries
// its style inline, with no <style> block to depend on, and that code is
// escaped inside its styled block.
func TestEmailInlineStyles(t *testing.T) {
	c := emailChecker()
	e := c.emailSource("email.md", []byte(styleEmail), campaigns.KindMarketing, nil)
	if c.diags.HasErrors() || e == nil {
		t.Fatalf("does not compile: %v", c.diags)
	}
	out := e.HTML.String()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	styled := map[string]bool{"p": true, "h1": true, "h2": true, "a": true, "ul": true, "ol": true, "li": true,
		"blockquote": true, "code": true, "pre": true, "img": true, "table": true, "th": true, "td": true, "hr": true}
	seen := map[string]int{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			seen[n.Data]++
			style := attr(n, "style")
			switch {
			case n.Data == "style":
				t.Errorf("the content has a <style> element")
			case styled[n.Data] && style == "":
				t.Errorf("<%s> has no inline style", n.Data)
			case n.Data == "img" && !strings.Contains(style, "max-width:100%") || n.Data == "img" && !strings.Contains(style, "height:auto"):
				t.Errorf("<img> style %q does not scale the image down", style)
			case n.Data == "a" && !strings.Contains(style, "color:"):
				t.Errorf("<a> style %q sets no colour", style)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for tag := range styled {
		if seen[tag] == 0 {
			t.Errorf("the test email renders no <%s>: it no longer covers it", tag)
		}
	}
	for _, want := range []string{
		`if a &lt; b &amp;&amp; c {}`,
		`indented &lt;code&gt;`,
		`font-family:-apple-system,`,
		`font-size:16px;line-height:1.6`,
		`text-align:right">$10</td>`,
		`<a href="{{ unsubscribe_url }}" style="`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q:\n%s", want, out)
		}
	}
}

// TestEmailAutolinkSiblings checks that the links after a bare URL or an
// autolink in one paragraph are found: each link is numbered, and its
// destination is a link part, not left in the HTML as written.
func TestEmailAutolinkSiblings(t *testing.T) {
	c := emailChecker()
	src := "---\nsubject: Hi\n---\nSee https://a.example/one, <https://a.example/two>, then [three](https://a.example/three) or <help@a.example>.\n\n![x](javascript:alert)\n"
	e := c.emailSource("email.md", []byte(src), campaigns.KindMarketing, nil)
	if e == nil {
		t.Fatal("nothing compiled")
	}
	var got []string
	for _, l := range e.Links {
		got = append(got, l.URL.String())
	}
	want := []string{"https://a.example/one", "https://a.example/two", "https://a.example/three", "mailto:help@a.example"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if strings.Contains(e.HTML.String(), `href="https://a.example/three"`) {
		t.Errorf("a link after an autolink is left as written:\n%s", e.HTML)
	}
	// The image after the paragraph is still checked.
	var codes []string
	for _, d := range c.diags {
		codes = append(codes, d.Code+" "+d.Pos.String())
	}
	if diff := cmp.Diff([]string{"NRT406 email.md:6:3"}, codes); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
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

// TestEmailLineBreaks checks that a line break inside a paragraph stays a
// line break in both parts: <br> in the HTML, a newline in the text.
func TestEmailLineBreaks(t *testing.T) {
	tests := []struct {
		name, body, html, text string
	}{
		{
			name: "a two-line signature stays two lines",
			body: "Thanks,\n\nMaya Okafor\nNorthwind Analytics\n",
			html: "<p style=\"" + styleP + "\">Maya Okafor<br>\nNorthwind Analytics</p>",
			text: "Thanks,\n\nMaya Okafor\nNorthwind Analytics\n",
		},
		{
			name: "a break before a merge tag keeps the tag",
			body: "With regards,\n{{ company }}\n",
			html: "<p style=\"" + styleP + "\">With regards,<br>\n{{ company }}</p>",
			text: "With regards,\n{{ company }}\n",
		},
		{
			name: "a break inside a list item",
			body: "- one\n  and more\n- two\n",
			html: "one<br>\nand more</li>",
			text: "- one\nand more\n- two\n",
		},
		{
			name: "a paragraph on one line has no break",
			body: "One line of prose.\n",
			html: "<p style=\"" + styleP + "\">One line of prose.</p>",
			text: "One line of prose.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := emailChecker()
			e := c.emailSource("email.md", []byte("---\nsubject: Hi\n---\n"+tt.body), campaigns.KindTransactional, nil)
			if c.diags.HasErrors() || e == nil {
				t.Fatalf("does not compile: %v", c.diags)
			}
			if html := e.HTML.String(); !strings.Contains(html, tt.html) {
				t.Errorf("HTML lacks %q:\n%s", tt.html, html)
			}
			text := e.Text.String()
			if !strings.HasPrefix(text, tt.text) {
				t.Errorf("text part (-want +got):\n%s", cmp.Diff(tt.text, text[:min(len(text), len(tt.text))]))
			}
		})
	}
}
