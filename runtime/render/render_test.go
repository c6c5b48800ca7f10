package render

import (
	"strings"
	"testing"

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
