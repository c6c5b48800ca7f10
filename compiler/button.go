package compiler

import (
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"

	"github.com/nurture-dev/nurture/campaigns"
)

// A button is a link whose text is in a second pair of brackets,
// [[Book a demo]](https://…), alone in its paragraph. It renders as a
// "bulletproof" button: a one-cell table whose cell carries the colour
// (bgcolor too, for Outlook, which ignores the link's padding and
// background), the link inside it padded and coloured for every other
// client. It is still a link like the others: numbered, UTM'd and
// tracked. The text part writes it as "Book a demo: URL".

// buttonBlock stands in the document for the paragraph of a button; its
// one child is the link.
type buttonBlock struct {
	ast.BaseBlock
	open string // the table up to the link
}

var kindButton = ast.NewNodeKind("Button")

func (b *buttonBlock) Kind() ast.NodeKind { return kindButton }

func (b *buttonBlock) Dump(src []byte, level int) { ast.DumpHelper(b, src, level, nil, nil) }

func renderButton(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		_, _ = w.WriteString(n.(*buttonBlock).open)
	} else {
		_, _ = w.WriteString("</td></tr></table>\n")
	}
	return ast.WalkContinue, nil
}

// buttonStyles are a button's table and link, in a layout.
func buttonStyles(l *campaigns.Layout) (open, link string) {
	r := l.Resolved()
	b := r.Button
	radius := b.Radius()
	open = `<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px 0 24px;border-collapse:separate">` +
		`<tr><td align="center" bgcolor="` + b.Colour + `" style="border-radius:` + radius + `;background-color:` + b.Colour + `">`
	link = "display:inline-block;padding:12px 24px;border:1px solid " + b.Colour + ";border-radius:" + radius +
		";background-color:" + b.Colour + ";font-family:" + r.Font + ";font-size:16px;font-weight:600;line-height:1.25;color:" +
		b.TextColour + ";text-decoration:none"
	return open, link
}

// isButtonText reports whether a link's text is in a second pair of
// brackets, with something inside them.
func isButtonText(l *ast.Link, src []byte) bool {
	first, ok1 := l.FirstChild().(*ast.Text)
	last, ok2 := l.LastChild().(*ast.Text)
	if !ok1 || !ok2 {
		return false
	}
	a, b := first.Segment.Value(src), last.Segment.Value(src)
	if len(a) == 0 || len(b) == 0 || a[0] != '[' || b[len(b)-1] != ']' {
		return false
	}
	return first != last || len(a) > 2
}

// buttons finds the links written as buttons. A button alone in its
// paragraph takes the paragraph's place; one beside other content is
// returned in stray, for the caller to report.
func buttons(doc ast.Node, src []byte, l *campaigns.Layout) (found map[*ast.Link]bool, stray []*ast.Link, linkStyle string) {
	found = map[*ast.Link]bool{}
	var cands []*ast.Link
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if x, ok := n.(*ast.Link); ok && entering {
			if isButtonText(x, src) {
				cands = append(cands, x)
			}
		}
		return ast.WalkContinue, nil
	})
	open, linkStyle := buttonStyles(l)
	for _, x := range cands {
		p := x.Parent()
		if _, ok := p.(*ast.Paragraph); !ok || p.ChildCount() != 1 {
			stray = append(stray, x)
			continue
		}
		first, last := x.FirstChild().(*ast.Text), x.LastChild().(*ast.Text)
		first.Segment.Start++
		last.Segment.Stop--
		if first.Segment.Len() <= 0 && first != last {
			x.RemoveChild(x, first)
		}
		b := &buttonBlock{open: open}
		p.Parent().ReplaceChild(p.Parent(), p, b)
		p.RemoveChild(p, x)
		b.AppendChild(b, x)
		found[x] = true
	}
	return found, stray, linkStyle
}

// buttonRenderer renders buttonBlock, which goldmark does not know.
type buttonRenderer struct{}

func (buttonRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(kindButton, renderButton)
}
