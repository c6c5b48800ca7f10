package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nurture-dev/nurture/campaigns"
)

// compileWith compiles the minimal programme with one more file.
func compileWith(t *testing.T, name, src string) *Result {
	t.Helper()
	dir := t.TempDir()
	if err := copyDir("testdata/minimal", dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return Compile(dir)
}

// diagLines are a result's diagnostics as "file:line:col code summary",
// the file by its base name.
func diagLines(res *Result) []string {
	var out []string
	for _, d := range res.Diagnostics {
		p := d.Pos
		p.File = filepath.Base(p.File)
		out = append(out, p.String()+" "+d.Code+" "+d.Summary)
	}
	return out
}

func TestLayoutErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{
			name: "a colour that is not hex is named where it is declared",
			src:  "package nurture\n\nlayout: {\n\tbrand_colour: \"blue\"\n\tbutton: text_colour: \"#12345\"\n}\n",
			want: []string{
				`layout.cue:4:2 NRT431 layout.brand_colour "blue" is not a hex colour`,
				`layout.cue:5:10 NRT431 layout.button.text_colour "#12345" is not a hex colour`,
			},
		},
		{
			name: "a font that could end its style is refused",
			src:  "package nurture\n\nlayout: font: \"Arial;}<style>\"\n",
			want: []string{`layout.cue:3:9 NRT431 font "Arial;}<style>" is not a font-family list`},
		},
		{
			name: "a sequence's colour is checked too",
			src:  "package nurture\n\nsequences: welcome: layout: link_colour: \"rgb(1,2,3)\"\n",
			want: []string{`layout.cue:3:29 NRT431 sequences.welcome.layout.link_colour "rgb(1,2,3)" is not a hex colour`},
		},
		{
			name: "one email in two looks cannot be compiled once",
			src: "package nurture\n\nlayout: brand_colour: \"#0f766e\"\n\n" +
				"sequences: other: {\n\tentry: segment: \"saas_leads\"\n\tlayout: brand_colour: \"#b91c1c\"\n\tsteps: [{send: \"emails/welcome.md\"}]\n\texit: [{after: \"30d\", reason: \"timeout\"}]\n}\n",
			want: []string{`programme.cue:57:4 NRT432 email emails/welcome.md is sent by sequences other and welcome, whose layouts differ`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := compileWith(t, "layout.cue", tt.src)
			if diff := cmp.Diff(tt.want, diagLines(res)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLayoutApplied checks that a layout reaches the compiled email: the
// sequence's fields over the programme's, the font and colours in the
// content's inline styles, and the footer text in both parts.
func TestLayoutApplied(t *testing.T) {
	res := compileWith(t, "layout.cue", `package nurture

layout: {
	logo: {url: "https://acme.example/logo.png", alt: "Acme", width: 120}
	brand_colour: "#0F766E"
	font:         "serif"
	footer:       "Acme: reports your whole team trusts."
}

sequences: welcome: layout: link_colour: "#b45309"
`)
	if res.Diagnostics.HasErrors() || res.Program == nil {
		t.Fatalf("does not compile: %v", res.Diagnostics)
	}
	p := res.Program
	want := &campaigns.Layout{
		Logo:   &campaigns.Logo{URL: "https://acme.example/logo.png", Alt: "Acme", Width: 120},
		Brand:  "#0f766e",
		Link:   "#b45309",
		Footer: "Acme: reports your whole team trusts.",
		Font:   "Georgia,Cambria,'Times New Roman',Times,serif",
	}
	e := p.Emails["emails/welcome.md"]
	if diff := cmp.Diff(want, e.Layout); diff != "" {
		t.Errorf("the email's layout (-want +got):\n%s", diff)
	}
	if p.Layout.Link != "" || p.Sequences["welcome"].Layout.Link != "#b45309" {
		t.Errorf("the programme's layout took the sequence's link colour: %+v", p.Layout)
	}
	html := e.HTML.String()
	for _, s := range []string{
		"font-family:Georgia,Cambria,'Times New Roman',Times,serif;font-size:16px",
		"color:#b45309;text-decoration:underline",
		"Acme: reports your whole team trusts.<br>\nAcme Inc., 1 Market St",
	} {
		if !strings.Contains(html, s) {
			t.Errorf("HTML lacks %q:\n%s", s, html)
		}
	}
	if strings.Contains(html, campaigns.DefaultFont) || strings.Contains(html, campaigns.DefaultBrand) {
		t.Errorf("HTML keeps the default font or link colour:\n%s", html)
	}
	if text := e.Text.String(); !strings.Contains(text, "--\nAcme: reports your whole team trusts.\nAcme Inc.") {
		t.Errorf("text part lacks the footer text:\n%s", text)
	}
	if _, ok := p.ObjectHashes()["layout"]; !ok {
		t.Errorf("the layout has no object hash, so a plan cannot show it changed")
	}
}

// TestNoLayout checks that a programme without a layout compiles its
// email as before: no layout carried, the default look.
func TestNoLayout(t *testing.T) {
	p := compileMinimal(t)
	if p.Layout != nil || p.Emails["emails/welcome.md"].Layout != nil {
		t.Errorf("a layout appeared from nowhere: %+v", p.Layout)
	}
	if _, ok := p.ObjectHashes()["layout"]; ok {
		t.Errorf("an object hash for a layout nobody declared")
	}
}

// TestLayoutDiff checks that a plan shows a layout change: the
// programme's as the layout object, a sequence's in its settings, and the
// emails whose look changed.
func TestLayoutDiff(t *testing.T) {
	compile := func(src string) *campaigns.Program {
		t.Helper()
		res := compileWith(t, "layout.cue", src)
		if res.Program == nil {
			t.Fatalf("does not compile: %v", res.Diagnostics)
		}
		return res.Program
	}
	before := compile("package nurture\n\nlayout: brand_colour: \"#0f766e\"\n")
	after := compile("package nurture\n\nlayout: {brand_colour: \"#b91c1c\", footer: \"Acme\"}\n\nsequences: welcome: layout: button: shape: \"pill\"\n")
	changes, _ := Diff(before, after)
	var got []string
	for _, c := range changes {
		for _, d := range c.Details {
			got = append(got, marks[c.Action]+" "+c.Address+" "+marks[d.Action]+" "+d.Path+": "+d.Before+" → "+d.After)
		}
	}
	want := []string{
		`~ layout ~ brand_colour: "#0f766e" → "#b91c1c"`,
		`~ layout + footer:  → "Acme"`,
		`~ sequences.welcome + layout.button.shape:  → "pill"`,
	}
	if diff := cmp.Diff(want, got[:min(len(got), len(want))]); diff != "" {
		t.Errorf("changes (-want +got):\n%s\nall: %q", diff, got)
	}
	var emails []string
	for _, c := range changes {
		if c.Kind == "email" && len(c.Details) == 1 && c.Details[0].Path == "layout" {
			emails = append(emails, c.Address+": "+c.Details[0].After)
		}
	}
	wantEmails := []string{
		`emails.emails/case-study.md: brand_colour "#b91c1c", button.shape "pill", footer "Acme"`,
		`emails.emails/welcome.md: brand_colour "#b91c1c", button.shape "pill", footer "Acme"`,
	}
	if diff := cmp.Diff(wantEmails, emails); diff != "" {
		t.Errorf("emails whose look changed (-want +got):\n%s", diff)
	}
}
