package compiler

import (
	"regexp"
	"strings"

	"github.com/nurture-dev/nurture/campaigns"
)

// hexColour is the one colour form the layout takes: it reads the same in
// every mail client and cannot carry anything else into a style.
var hexColour = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// fontList is a CSS font-family list without anything that could end the
// style it stands in: names, spaces, commas, hyphens and single quotes.
var fontList = regexp.MustCompile(`^[A-Za-z0-9 ,'-]+$`)

// Font keywords and the stacks they stand for.
var fontStacks = map[string]string{
	"sans-serif": campaigns.DefaultFont,
	"serif":      "Georgia,Cambria,'Times New Roman',Times,serif",
}

// layout checks a layout declared at path p and returns it in the model,
// nil when r is.
func (c *checker) layout(p []string, r *rawLayout) *campaigns.Layout {
	if r == nil {
		return nil
	}
	l := &campaigns.Layout{Footer: strings.TrimSpace(r.Footer)}
	colour := func(v string, path ...string) string {
		if v == "" {
			return ""
		}
		if !hexColour.MatchString(v) {
			c.errorf(sub(p, path...), "NRT431", `write a colour as a hex value, "#1d4ed8" or "#fff": it reads the same in every mail client`,
				"%s %q is not a hex colour", strings.Join(sub(p, path...), "."), v)
			return ""
		}
		return strings.ToLower(v)
	}
	l.Brand = colour(r.Brand, "brand_colour")
	l.Background = colour(r.Background, "background_colour")
	l.Text = colour(r.Text, "text_colour")
	l.Link = colour(r.Link, "link_colour")
	l.Button = campaigns.Button{
		Colour:     colour(r.Button.Colour, "button", "colour"),
		TextColour: colour(r.Button.TextColour, "button", "text_colour"),
		Shape:      r.Button.Shape,
	}
	if r.Logo != nil {
		l.Logo = &campaigns.Logo{URL: r.Logo.URL, Alt: r.Logo.Alt, Width: r.Logo.Width, Href: r.Logo.Href}
		if strings.ContainsAny(r.Logo.URL+r.Logo.Href, " \t\r\n\"'<>") {
			c.errorf(sub(p, "logo"), "NRT431", "write the URL as it is, with any spaces or quotes percent-encoded", "layout logo URL is not a valid URL")
		}
	}
	if f := strings.TrimSpace(r.Font); f != "" {
		switch stack, ok := fontStacks[f]; {
		case ok:
			l.Font = stack
		case fontList.MatchString(f):
			l.Font = f
		default:
			c.errorf(sub(p, "font"), "NRT431", `name "sans-serif", "serif", or a CSS font-family list of names, commas and single quotes: "Inter, 'Segoe UI', Arial, sans-serif"`,
				"font %q is not a font-family list", f)
		}
	}
	if strings.ContainsAny(l.Footer, "\r\n") {
		c.errorf(sub(p, "footer"), "NRT431", "the footer text is one line", "layout footer has a line break")
	}
	return l
}

// emailLayout gives each email the layout it is compiled with: its
// sequences' over the programme's. An email sent by sequences that look
// different cannot be compiled once for both.
func (c *checker) emailLayout(rel string, u *emailUse) *campaigns.Layout {
	var (
		first    *campaigns.Layout
		firstSeq string
	)
	for _, seq := range sortedKeys(u.seqs) {
		s := c.prog.Sequences[seq]
		if s == nil {
			continue
		}
		l := c.prog.Layout.Over(s.Layout)
		if firstSeq == "" {
			first, firstSeq = l, seq
			continue
		}
		if campaigns.Hash(l) != campaigns.Hash(first) {
			c.errorf(u.seqs[seq], "NRT432", "an email is compiled once, in one layout: copy it to a second file for the sequence that looks different",
				"email %s is sent by sequences %s and %s, whose layouts differ", rel, firstSeq, seq)
			break
		}
	}
	return first
}
