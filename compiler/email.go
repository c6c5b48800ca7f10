package compiler

import (
	"bytes"
	"fmt"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/renderer"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"go.yaml.in/yaml/v3"

	"github.com/nurture-dev/nurture/campaigns"
)

// Limits of an email.
const (
	maxSubject   = 120     // characters, fallbacks filled in
	maxEmailSize = 1 << 20 // bytes of Markdown
)

// markdown renders email bodies: GFM, raw HTML left out (goldmark's
// default), code blocks by codeBlocks so that they carry their style,
// buttons by buttonRenderer. A
// line break inside a paragraph is kept as <br>, as the text part keeps
// it: an email is written the way it is read, so a signature's two lines
// stay two lines; a paragraph is one line of source.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(gmhtml.WithHardWraps(), renderer.WithNodeRenderers(util.Prioritized(codeBlocks{}, 100), util.Prioritized(buttonRenderer{}, 100))),
)

// compileEmails reads, checks and renders every email a step sends, once.
func (c *checker) compileEmails() {
	firstMarketing := []string(nil)
	for _, rel := range sortedKeys(c.emails) {
		u := c.emails[rel]
		kind := campaigns.KindMarketing
		if _, ok := u.kinds[campaigns.KindMarketing]; !ok {
			kind = campaigns.KindTransactional
		}
		if len(u.kinds) > 1 {
			c.errorf(u.kinds[campaigns.KindTransactional], "NRT410",
				"transactional mail is exempt from caps and opt-outs, so one email cannot be both: copy it to a second file",
				"email %s is sent by marketing and transactional sequences", rel)
		}
		if kind == campaigns.KindMarketing && firstMarketing == nil {
			firstMarketing = u.kinds[campaigns.KindMarketing]
		}
		if e := c.email(rel, kind, u.path, c.emailLayout(rel, u)); e != nil {
			c.prog.Emails[rel] = e
		}
	}
	if firstMarketing != nil {
		var missing, set []string
		if c.prog.Sender.Address == "" {
			missing = append(missing, "a postal address")
			set = append(set, "sender.address")
		}
		if c.prog.Sender.TrackingURL == "" {
			missing = append(missing, "an unsubscribe link")
			set = append(set, "sender.tracking.base_url (where the unsubscribe page is served)")
		}
		if len(missing) > 0 {
			c.errorf(firstMarketing, "NRT405", "every marketing email must carry the sender's postal address and an unsubscribe link; set "+strings.Join(set, " and "),
				"marketing email cannot be built without %s", strings.Join(missing, " and "))
		}
	}
}

// mdFile is an email's Markdown source and where its lines start.
type mdFile struct {
	name  string // absolute path, for positions
	src   []byte
	lines []int // byte offset of each line start
}

func newMDFile(name string, src []byte) *mdFile {
	f := &mdFile{name: name, src: src, lines: []int{0}}
	for i, b := range src {
		if b == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	return f
}

func (f *mdFile) pos(off int) Pos {
	line := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	col := utf8.RuneCount(f.src[f.lines[line]:min(off, len(f.src))]) + 1
	return Pos{File: f.name, Line: line + 1, Col: col}
}

func (c *checker) mdError(f *mdFile, off int, sev Severity, code, detail, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Pos: f.pos(off), Severity: sev, Code: code, Summary: fmt.Sprintf(format, args...), Detail: detail})
}

// email compiles one Markdown email.
func (c *checker) email(rel, kind string, usePath []string, layout *campaigns.Layout) *campaigns.Email {
	abs := filepath.Join(c.dir, filepath.FromSlash(rel))
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if root, err := filepath.EvalSymlinks(c.dir); err == nil {
			if r, err := filepath.Rel(root, real); err != nil || strings.HasPrefix(r, "..") {
				c.errorf(usePath, "NRT103", "email files live inside the programme directory", "email %s links outside the programme directory", rel)
				return nil
			}
		}
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		c.errorf(usePath, "NRT103", "create the file, or fix the path (relative to the programme directory)", "email file %s does not exist", rel)
		return nil
	}
	return c.emailSource(abs, src, kind, layout)
}

// emailSource compiles the Markdown of one email read from file name, in
// a layout (nil for the default look).
func (c *checker) emailSource(name string, src []byte, kind string, layout *campaigns.Layout) *campaigns.Email {
	f := newMDFile(name, src)
	if len(src) > maxEmailSize {
		c.mdError(f, 0, Error, "NRT409", "split the content: an email this large will be clipped by mail clients", "email is %d bytes, over the limit of %d", len(src), maxEmailSize)
		return nil
	}
	if !utf8.Valid(src) {
		c.mdError(f, 0, Error, "NRT409", "save the file as UTF-8", "email is not UTF-8 text")
		return nil
	}
	fm, bodyOff, ok := c.frontMatter(f)
	if !ok {
		return nil
	}
	e := &campaigns.Email{Kind: kind, Source: string(src[bodyOff:]), Layout: layout}
	fields := map[string]bool{}
	e.Subjects = c.subjects(f, fm, fields)
	e.Metric = c.subjectMetric(f, fm, len(e.Subjects))
	if fm.preheader != nil {
		e.Preheader = c.lineTemplate(f, fm.preheader, "preheader", fields)
	}
	if strings.TrimSpace(e.Source) == "" {
		c.mdError(f, bodyOff, Error, "NRT409", "write the email's body below the front matter", "email body is empty")
	}
	c.body(f, bodyOff, e, fields)
	c.footer(e)
	for k := range fields {
		if k != campaigns.FieldUnsubscribeURL && k != campaigns.FieldPreferencesURL {
			e.Fields = append(e.Fields, k)
		}
	}
	slices.Sort(e.Fields)
	if e.Fields == nil {
		e.Fields = []string{}
	}
	if e.Links == nil {
		e.Links = []campaigns.Link{}
	}
	return e
}

// frontMatterData is an email's front matter, with the YAML nodes kept for
// positions.
type frontMatterData struct {
	subject   *yaml.Node
	preheader *yaml.Node
	weight    *yaml.Node
	variants  *yaml.Node
	metric    *yaml.Node
	start     int // byte offset of the YAML
	at        *yaml.Node
}

func (c *checker) frontMatter(f *mdFile) (*frontMatterData, int, bool) {
	const help = "begin the file with front matter:\n---\nsubject: Your subject line\npreheader: The line shown after it\n---"
	src := f.src
	first := bytes.IndexByte(src, '\n')
	if first < 0 || strings.TrimRight(string(src[:first]), "\r \t") != "---" {
		c.mdError(f, 0, Error, "NRT408", help, "email has no front matter")
		return nil, 0, false
	}
	start := first + 1
	end, bodyOff := -1, len(src)
	for i := 1; i < len(f.lines); i++ {
		ls := f.lines[i]
		le := len(src)
		if i+1 < len(f.lines) {
			le = f.lines[i+1]
		}
		if strings.TrimRight(string(src[ls:le]), "\r\n \t") == "---" {
			end, bodyOff = ls, le
			break
		}
	}
	if end < 0 {
		c.mdError(f, 0, Error, "NRT408", "close the front matter with a line of three dashes: ---", "front matter is not closed")
		return nil, 0, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src[start:end], &doc); err != nil {
		c.diags = append(c.diags, yamlDiagnostic(f, start, end, err))
		return nil, 0, false
	}
	fm := &frontMatterData{start: start}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		c.mdError(f, start, Error, "NRT408", help, "front matter is not a set of key: value lines")
		return nil, 0, false
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch k.Value {
		case "subject":
			fm.subject = v
		case "preheader":
			fm.preheader = v
		case "weight":
			fm.weight = v
		case "variants":
			fm.variants = v
		case "metric":
			fm.metric = v
		default:
			c.yamlError(f, fm, k, "NRT408", "front matter keys: subject, preheader, weight, variants, metric", "unknown front matter key %q", k.Value)
		}
	}
	if fm.subject == nil {
		c.mdError(f, 0, Error, "NRT401", "add subject: to the front matter", "email has no subject")
		return nil, 0, false
	}
	return fm, bodyOff, true
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// yamlDiagnostic reports front matter YAML cannot read. The YAML parser
// names only a line and its own terms ("did not find expected key"), so
// the lines are read again for the mistakes authors make — a quote inside
// a value quoted with the same quote, a value starting with { or holding
// ": " unquoted — and the diagnostic points at the mistake and shows the
// line mended.
func yamlDiagnostic(f *mdFile, start, end int, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(msg, m[0])
	}
	for off := start; off < end; {
		eol := bytes.IndexByte(f.src[off:end], '\n')
		if eol < 0 {
			eol = end - off
		}
		if col, summary, detail, ok := frontMatterLineHint(string(bytes.TrimRight(f.src[off:off+eol], "\r"))); ok {
			return Diagnostic{Pos: f.pos(off + col), Code: "NRT408", Summary: "invalid front matter: " + summary, Detail: detail}
		}
		off += eol + 1
	}
	return Diagnostic{Pos: Pos{File: f.name, Line: f.pos(start).Line + line - 1}, Code: "NRT408",
		Summary: "invalid front matter: " + msg,
		Detail:  "front matter is YAML, one key: value a line; quote a value that starts with { or holds \": \", and inside quotes write \\\" for a double quote or '' for a single one"}
}

var frontMatterKey = regexp.MustCompile(`^(\s*(?:- )?[A-Za-z_][A-Za-z0-9_-]*\s*:[ \t]+)(\S.*)$`)

// frontMatterLineHint finds what YAML cannot read in one key: value line:
// the byte offset of the mistake in the line, a summary and how to mend it.
func frontMatterLineHint(line string) (int, string, string, bool) {
	m := frontMatterKey.FindStringSubmatch(line)
	if m == nil {
		return 0, "", "", false
	}
	key := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(m[1]), "- ")), ":"))
	prefix, value := m[1], strings.TrimRight(m[2], " \t")
	switch value[0] {
	case '"', '\'':
		q := value[0]
		closing := closingQuote(value, q)
		if closing < 0 {
			return len(prefix), fmt.Sprintf("the %s quote opening %s's value is not closed on its line", quoteName(q), key),
				fmt.Sprintf("end the value with %c on the same line", q), true
		}
		rest := strings.TrimSpace(value[closing+1:])
		if rest == "" || rest[0] == '#' {
			return 0, "", "", false
		}
		// The author meant the quote at closing to be part of the text:
		// the whole value after the opening quote, less a closing one, is.
		inner := strings.TrimSuffix(value[1:], string(q))
		if q == '\'' {
			inner = strings.ReplaceAll(inner, "''", "'")
		} else {
			inner = strings.ReplaceAll(inner, `\"`, `"`)
		}
		doubled := `"` + strings.ReplaceAll(strings.ReplaceAll(inner, `\`, `\\`), `"`, `\"`) + `"`
		single := `'` + strings.ReplaceAll(inner, `'`, `''`) + `'`
		fix := fmt.Sprintf("write %s inside a double-quoted value as \\\": %s: %s", `"`, key, doubled)
		if q == '\'' {
			fix = fmt.Sprintf("write ' inside a single-quoted value twice (''): %s: %s", key, single)
		}
		if !strings.ContainsRune(inner, '"') {
			fix += fmt.Sprintf("\nor quote it with double quotes: %s: %s", key, doubled)
		} else if !strings.ContainsRune(inner, '\'') {
			fix += fmt.Sprintf("\nor quote it with single quotes: %s: %s", key, single)
		}
		return len(prefix) + closing, fmt.Sprintf("the %s quote here ends %s's quoted value, and text follows it", quoteName(q), key),
			"a quote inside a value quoted with the same quote ends the value; " + fix, true
	case '{', '[':
		if strings.HasPrefix(value, "{{") || value[0] == '{' && !strings.HasSuffix(value, "}") || value[0] == '[' && !strings.HasSuffix(value, "]") {
			return len(prefix), fmt.Sprintf("%s's value starts with %c, which YAML reads as the start of a %s", key, value[0], map[byte]string{'{': "map", '[': "list"}[value[0]]),
				fmt.Sprintf("quote the value: %s: %s", key, `"`+strings.ReplaceAll(value, `"`, `\"`)+`"`), true
		}
	default:
		if i := strings.Index(value, ": "); i >= 0 || strings.HasSuffix(value, ":") {
			if i < 0 {
				i = len(value) - 1
			}
			return len(prefix) + i, fmt.Sprintf("%s's value holds \": \", which YAML reads as a second key", key),
				fmt.Sprintf("quote the value: %s: %s", key, `"`+strings.ReplaceAll(value, `"`, `\"`)+`"`), true
		}
	}
	return 0, "", "", false
}

// closingQuote is the index in value of the quote that ends the value
// opened by q at index 0, or -1: a double-quoted value escapes with \, a
// single-quoted one doubles the quote.
func closingQuote(value string, q byte) int {
	for i := 1; i < len(value); i++ {
		switch {
		case q == '"' && value[i] == '\\':
			i++
		case value[i] == q && q == '\'' && i+1 < len(value) && value[i+1] == '\'':
			i++
		case value[i] == q:
			return i
		}
	}
	return -1
}

func quoteName(q byte) string {
	if q == '"' {
		return "double"
	}
	return "single"
}

// yamlPos is the position of a front-matter node in the file.
func (fm *frontMatterData) pos(f *mdFile, n *yaml.Node) Pos {
	p := f.pos(fm.start)
	p.Line += n.Line - 1
	p.Col = n.Column
	return p
}

func (c *checker) yamlError(f *mdFile, fm *frontMatterData, n *yaml.Node, code, detail, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Pos: fm.pos(f, n), Code: code, Summary: fmt.Sprintf(format, args...), Detail: detail})
}

// lineTemplate compiles a one-line front-matter value: subject or preheader.
func (c *checker) lineTemplate(f *mdFile, n *yaml.Node, what string, fields map[string]bool) campaigns.Template {
	fm := &frontMatterData{start: f.lines[1]}
	if n.Kind != yaml.ScalarNode {
		c.yamlError(f, fm, n, "NRT408", "write it as text on one line", "%s is not text", what)
		return nil
	}
	if strings.ContainsAny(n.Value, "\r\n") {
		c.yamlError(f, fm, n, "NRT401", "headers are one line: remove the line break", "%s has a line break", what)
	}
	pieces, errs := parseMergeTags(n.Value)
	base := fm.pos(f, n)
	for _, e := range errs {
		p := base
		p.Col += e.off
		c.diags = append(c.diags, Diagnostic{Pos: p, Code: "NRT407", Summary: e.msg, Detail: "merge tags: {{ field }} or {{ field | default \"fallback\" }}"})
	}
	var t campaigns.Template
	for _, pc := range pieces {
		if pc.field == "" {
			t = appendText(t, pc.text)
			continue
		}
		p := base
		p.Col += pc.off
		c.mergeField(p, pc, fields)
		t = append(t, campaigns.Part{Field: pc.field, Default: pc.fallback})
	}
	return t
}

// mergeField checks a merge tag against the contact schema.
func (c *checker) mergeField(p Pos, pc piece, fields map[string]bool) {
	if pc.field == campaigns.FieldUnsubscribeURL || pc.field == campaigns.FieldPreferencesURL {
		fields[pc.field] = true
		return
	}
	if prop, ok := strings.CutPrefix(pc.field, campaigns.TriggerPrefix); ok {
		// Which event triggers depends on the sequence and the step that
		// send the email: checked against each of them (see triggers).
		fields[pc.field] = true
		if c.triggerUses == nil {
			c.triggerUses = map[string][]triggerUse{}
		}
		c.triggerUses[p.File] = append(c.triggerUses[p.File], triggerUse{pos: p, prop: prop, fallback: pc.fallback != nil})
		return
	}
	attr := c.prog.Contact.Attributes[pc.field]
	if attr == nil {
		known := append(keysOf(c.prog.Contact.Attributes), campaigns.FieldUnsubscribeURL, campaigns.FieldPreferencesURL)
		c.diags = append(c.diags, Diagnostic{Pos: p, Code: "NRT403", Summary: fmt.Sprintf("merge tag on unknown field %q", pc.field),
			Detail: c.suggest(pc.field, known, "merge tags name contact attributes declared under contact.attributes")})
		return
	}
	fields[pc.field] = true
	if !attr.Required && pc.fallback == nil {
		c.diags = append(c.diags, Diagnostic{Pos: p, Severity: Warning, Code: "NRT404",
			Summary: fmt.Sprintf("optional field %s has no fallback", pc.field),
			Detail:  fmt.Sprintf("contacts without %s would see a gap: write {{ %s | default \"...\" }}", pc.field, pc.field)})
	}
}

func appendText(t campaigns.Template, s string) campaigns.Template {
	if s == "" {
		return t
	}
	if n := len(t); n > 0 && t[n-1].Field == "" && t[n-1].Link == 0 {
		t[n-1].Text += s
		return t
	}
	return append(t, campaigns.Part{Text: s})
}

// subjects compiles the subject line and its A/B variants.
func (c *checker) subjects(f *mdFile, fm *frontMatterData, fields map[string]bool) []campaigns.SubjectVariant {
	check := func(n *yaml.Node, t campaigns.Template) {
		length := 0
		for _, p := range t {
			switch {
			case p.Field != "" && p.Default != nil:
				length += utf8.RuneCountInString(*p.Default)
			case p.Field != "":
				length += 10
			default:
				length += utf8.RuneCountInString(p.Text)
			}
		}
		switch {
		case strings.TrimSpace(t.String()) == "":
			c.yamlError(f, fm, n, "NRT401", "write a subject line", "subject is empty")
		case length > maxSubject:
			c.yamlError(f, fm, n, "NRT402", "mail clients cut long subjects: keep it under 60 characters where you can",
				"subject is %d characters, over the limit of %d", length, maxSubject)
		}
	}
	main := c.lineTemplate(f, fm.subject, "subject", fields)
	check(fm.subject, main)
	if fm.variants == nil {
		if fm.weight != nil {
			c.yamlError(f, fm, fm.weight, "NRT204", "weight goes with variants: remove it, or add variants", "weight without subject variants")
		}
		return []campaigns.SubjectVariant{{Name: "a", Subject: main, Weight: 100}}
	}
	weight := func(n *yaml.Node, what string) int {
		if n == nil {
			return -1
		}
		w, err := strconv.Atoi(n.Value)
		if err != nil || w < 0 || w > 100 {
			c.yamlError(f, fm, n, "NRT204", "a weight is a whole percentage from 0 to 100", "invalid weight %q for %s", n.Value, what)
			return 0
		}
		return w
	}
	out := []campaigns.SubjectVariant{{Name: "a", Subject: main, Weight: weight(fm.weight, "the subject")}}
	if out[0].Weight < 0 {
		c.yamlError(f, fm, fm.subject, "NRT204", "with variants, give the subject a weight: weight: 50", "subject has no weight")
		out[0].Weight = 0
	}
	if fm.variants.Kind != yaml.MappingNode {
		c.yamlError(f, fm, fm.variants, "NRT408", "variants:\n  b:\n    subject: Another subject\n    weight: 50", "variants is not a map of named variants")
		return out
	}
	sum := out[0].Weight
	for i := 0; i+1 < len(fm.variants.Content); i += 2 {
		k, v := fm.variants.Content[i], fm.variants.Content[i+1]
		if k.Value == "a" || !isFieldName(k.Value) {
			c.yamlError(f, fm, k, "NRT110", "the subject itself is variant a; name the others b, c, …", "invalid variant name %q", k.Value)
			continue
		}
		var subj, w *yaml.Node
		for j := 0; v.Kind == yaml.MappingNode && j+1 < len(v.Content); j += 2 {
			switch v.Content[j].Value {
			case "subject":
				subj = v.Content[j+1]
			case "weight":
				w = v.Content[j+1]
			default:
				c.yamlError(f, fm, v.Content[j], "NRT408", "a variant has subject and weight", "unknown variant key %q", v.Content[j].Value)
			}
		}
		if subj == nil {
			c.yamlError(f, fm, k, "NRT401", "give the variant a subject", "variant %s has no subject", k.Value)
			continue
		}
		t := c.lineTemplate(f, subj, "subject", fields)
		check(subj, t)
		wv := weight(w, "variant "+k.Value)
		if wv < 0 {
			c.yamlError(f, fm, k, "NRT204", "give the variant a weight", "variant %s has no weight", k.Value)
			wv = 0
		}
		sum += wv
		out = append(out, campaigns.SubjectVariant{Name: k.Value, Subject: t, Weight: wv})
	}
	if sum != 100 {
		c.yamlError(f, fm, fm.variants, "NRT204", "weights are percentages of contacts: make the subject's and the variants' add up to 100",
			"subject A/B weights sum to %d, not 100", sum)
	}
	return out
}

// sentinels stand in for merge tags and links while goldmark renders, so
// that it neither escapes nor rewrites them.
type sentinels struct {
	prefix string
	tags   []piece
	shifts []shift // where the replaced body's offsets differ from the file's
}

type shift struct{ at, delta int }

// orig maps an offset in the replaced body back to the file.
func (s *sentinels) orig(off int) int {
	d := 0
	for _, sh := range s.shifts {
		if sh.at > off {
			break
		}
		d = sh.delta
	}
	return off + d
}

// body renders the Markdown body to HTML and text templates.
func (c *checker) body(f *mdFile, bodyOff int, e *campaigns.Email, fields map[string]bool) {
	raw := string(f.src[bodyOff:])
	pieces, errs := parseMergeTags(raw)
	for _, te := range errs {
		c.mdError(f, bodyOff+te.off, Error, "NRT407", "merge tags: {{ field }} or {{ field | default \"fallback\" }}", "%s", te.msg)
	}
	s := &sentinels{prefix: "Nrtxq"}
	for strings.Contains(raw, s.prefix) {
		s.prefix += "q"
	}
	var b strings.Builder
	for _, pc := range pieces {
		if pc.field == "" {
			b.WriteString(pc.text)
			continue
		}
		c.mergeField(f.pos(bodyOff+pc.off), pc, fields)
		tok := fmt.Sprintf("%sM%dZ", s.prefix, len(s.tags))
		s.shifts = append(s.shifts, shift{b.Len() + len(tok), (pc.off + tagLen(raw[pc.off:])) - (b.Len() + len(tok))})
		s.tags = append(s.tags, pc)
		b.WriteString(tok)
	}
	src := []byte(b.String())
	doc := markdown.Parser().Parse(text.NewReader(src))
	at := func(n ast.Node) int { return bodyOff + s.orig(nodeOffset(n, src)) }

	// Autolinks become plain links, so that every link is handled alike.
	// They are replaced after the walk that finds them: replacing a node
	// mid-walk would end the walk of its siblings.
	var autos []*ast.AutoLink
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if x, ok := n.(*ast.AutoLink); ok && entering {
			autos = append(autos, x)
		}
		return ast.WalkContinue, nil
	})
	autoAt := map[*ast.Link]int{}
	for _, x := range autos {
		l := ast.NewLink()
		l.Destination = x.URL(src)
		if x.AutoLinkType == ast.AutoLinkEmail && !bytes.HasPrefix(bytes.ToLower(l.Destination), []byte("mailto:")) {
			l.Destination = append([]byte("mailto:"), l.Destination...)
		}
		l.AppendChild(l, ast.NewString(x.Label(src)))
		autoAt[l] = at(x)
		x.Parent().ReplaceChild(x.Parent(), x, l)
	}

	isButton, stray, buttonLink := buttons(doc, src, e.Layout)
	for _, x := range stray {
		// At the outer bracket: the link's text starts at the inner one.
		c.mdError(f, at(x)-1, Error, "NRT433", "a button stands alone in its paragraph: put a blank line before and after [[Book a demo]](https://…)",
			"button [%s] is not on a paragraph of its own", string(nodeText(x, src)))
	}

	var links []campaigns.Link
	th := newTheme(e.Layout)
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		if st := styleOf(n); st != "" {
			n.SetAttributeString("style", th.style(st))
		}
		if x, ok := n.(*ast.Link); ok && isButton[x] {
			n.SetAttributeString("style", buttonLink)
		}
		switch x := n.(type) {
		case *ast.Link:
			off, ok := autoAt[x]
			if !ok {
				off = at(x)
			}
			c.link(f, off, s, x, src, &links)
		case *ast.Image:
			if scheme := schemeOf(string(x.Destination)); scheme != "http" && scheme != "https" {
				c.mdError(f, at(x), Error, "NRT406", "images load from absolute http(s) URLs", "image %q is not an http(s) URL", string(x.Destination))
			}
		case *ast.RawHTML, *ast.HTMLBlock:
			c.mdError(f, at(x), Warning, "NRT411", "write the content in Markdown: raw HTML is left out of the email for safety", "raw HTML is not rendered")
		}
		return ast.WalkContinue, nil
	})
	e.Links = links

	var out bytes.Buffer
	if err := markdown.Renderer().Render(&out, src, doc); err != nil {
		c.mdError(f, bodyOff, Error, "NRT409", "", "cannot render the email: %v", err)
		return
	}
	e.HTML = s.template(out.String(), true)
	e.Text = s.template(plainText(doc, src), false)
}

func tagLen(s string) int { return strings.Index(s, "}}") + 2 }

// link records a link and puts its sentinel where its destination was.
func (c *checker) link(f *mdFile, off int, s *sentinels, l *ast.Link, src []byte, links *[]campaigns.Link) {
	dest := string(l.Destination)
	shown := s.restore(dest)
	scheme := schemeOf(dest)
	switch {
	case scheme != "http" && scheme != "https" && scheme != "mailto":
		detail := "links in email are absolute: start them with https://, http:// or mailto:"
		if scheme == "" {
			detail += "; a merge tag cannot supply the scheme"
		}
		c.mdError(f, off, Error, "NRT406", detail, "link %q is not http(s) or mailto", shown)
	default:
		if _, err := url.Parse(dest); err != nil {
			c.mdError(f, off, Error, "NRT406", "fix the URL", "link %q is not a valid URL", shown)
		}
	}
	*links = append(*links, campaigns.Link{URL: s.template(dest, false), Text: s.restore(string(nodeText(l, src)))})
	for i := range *links {
		(*links)[i].URL = escapeURLFields((*links)[i].URL)
	}
	l.Destination = []byte(fmt.Sprintf("%sL%dZ", s.prefix, len(*links)))
}

func escapeURLFields(t campaigns.Template) campaigns.Template {
	for i := range t {
		if t[i].Field != "" {
			t[i].Escape = campaigns.EscapeURL
		}
	}
	return t
}

func schemeOf(u string) string {
	i := strings.IndexByte(u, ':')
	if i <= 0 {
		return ""
	}
	for _, r := range u[:i] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return ""
		}
	}
	return strings.ToLower(u[:i])
}

// restore writes sentinels back as the merge tags they stand for.
func (s *sentinels) restore(v string) string {
	return s.template(v, false).String()
}

// template splits rendered output at the sentinels into a Template. In
// HTML, a merge field inside an href or src is URL-escaped and any other
// HTML-escaped.
func (s *sentinels) template(out string, inHTML bool) campaigns.Template {
	var t campaigns.Template
	for {
		i := strings.Index(out, s.prefix)
		if i < 0 {
			return appendText(t, out)
		}
		j := i + len(s.prefix)
		k := j + 1
		for k < len(out) && out[k] >= '0' && out[k] <= '9' {
			k++
		}
		if j >= len(out) || k >= len(out) || out[k] != 'Z' || k == j+1 {
			t = appendText(t, out[:j])
			out = out[j:]
			continue
		}
		n, _ := strconv.Atoi(out[j+1 : k])
		t = appendText(t, out[:i])
		switch out[j] {
		case 'M':
			pc := s.tags[n]
			p := campaigns.Part{Field: pc.field, Default: pc.fallback}
			if inHTML {
				p.Escape = campaigns.EscapeHTML
				if inURLAttr(out[:i]) {
					p.Escape = campaigns.EscapeURL
				}
			}
			t = append(t, p)
		case 'L':
			t = append(t, campaigns.Part{Link: n})
		}
		out = out[k+1:]
	}
}

// inURLAttr reports whether the end of s is inside an href or src value.
func inURLAttr(s string) bool {
	lt, gt := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if lt < 0 || lt < gt {
		return false
	}
	q := strings.LastIndex(s, `="`)
	if q < lt {
		return false
	}
	attr := s[strings.LastIndexAny(s[:q], " \t\n")+1 : q]
	return attr == "href" || attr == "src"
}

// footer adds what the law asks of marketing email: the sender's postal
// address, an unsubscribe link and a preferences link.
func (c *checker) footer(e *campaigns.Email) {
	// The layout's line of footer text leads the footer, in both parts.
	var lines []string
	if e.Layout != nil && e.Layout.Footer != "" {
		lines = append(lines, e.Layout.Footer)
	}
	if a := strings.TrimSpace(c.prog.Sender.Address); a != "" {
		lines = append(lines, a)
	}
	addr := strings.Join(lines, "\n")
	start := "<hr style=\"" + styleHR + "\">\n<p class=\"footer\" style=\"" + newTheme(e.Layout).style(styleFooter) + "\">"
	if e.Kind != campaigns.KindMarketing {
		if addr != "" {
			e.HTML = appendText(e.HTML, start+htmlLines(addr)+"</p>\n")
			e.Text = appendText(e.Text, "\n\n--\n"+addr+"\n")
		}
		return
	}
	unsub := campaigns.Part{Field: campaigns.FieldUnsubscribeURL, Escape: campaigns.EscapeHTML}
	prefs := campaigns.Part{Field: campaigns.FieldPreferencesURL, Escape: campaigns.EscapeHTML}
	e.HTML = appendText(e.HTML, start+htmlLines(addr)+"<br>\n<a href=\"")
	e.HTML = append(e.HTML, unsub)
	e.HTML = appendText(e.HTML, "\" style=\""+styleFooterLink+"\">Unsubscribe</a> · <a href=\"")
	e.HTML = append(e.HTML, prefs)
	e.HTML = appendText(e.HTML, "\" style=\""+styleFooterLink+"\">Email preferences</a></p>\n")
	e.Text = appendText(e.Text, "\n\n--\n"+addr+"\nUnsubscribe: ")
	unsub.Escape, prefs.Escape = campaigns.EscapeNone, campaigns.EscapeNone
	e.Text = append(e.Text, unsub)
	e.Text = appendText(e.Text, "\nEmail preferences: ")
	e.Text = append(e.Text, prefs)
	e.Text = appendText(e.Text, "\n")
}

// The email's typography, set on each element as a style attribute: many
// mail clients drop <style> blocks or class names, so what the content
// looks like must not depend on one. A system font stack at 16px/1.6 in
// dark grey, blue underlined links.
const (
	fontStack = campaigns.DefaultFont
	monoStack = "SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace"
	textStyle = "font-family:" + fontStack + ";font-size:16px;line-height:1.6;color:#1f2937"

	styleP          = "margin:0 0 16px;" + textStyle
	styleInnerP     = "margin:0 0 8px;" + textStyle // inside a list item or quote, not last
	styleLastP      = "margin:0;" + textStyle       // the last block of a list item or quote
	styleQuoteP     = "margin:0 0 8px;font-family:" + fontStack + ";font-size:16px;line-height:1.6;color:#4b5563"
	styleLastQuoteP = "margin:0;font-family:" + fontStack + ";font-size:16px;line-height:1.6;color:#4b5563"
	styleA          = "color:#1d4ed8;text-decoration:underline"
	styleList       = "margin:0 0 16px;padding:0 0 0 24px;" + textStyle
	styleLI         = "margin:0 0 6px;" + textStyle
	styleQuote      = "margin:0 0 16px;padding:4px 0 4px 16px;border-left:4px solid #d1d5db"
	styleCode       = "font-family:" + monoStack + ";font-size:14px;background-color:#f3f4f6;border-radius:4px;padding:1px 4px"
	stylePre        = "margin:0 0 16px;padding:12px 16px;background-color:#f3f4f6;border-radius:6px;white-space:pre-wrap;word-wrap:break-word;font-family:" + monoStack + ";font-size:14px;line-height:1.5;color:#1f2937"
	styleCodeInPre  = "font-family:" + monoStack + ";font-size:14px"
	styleImg        = "max-width:100%;height:auto;border:0"
	styleTable      = "width:100%;margin:0 0 16px;border-collapse:collapse;font-family:" + fontStack + ";font-size:15px;line-height:1.5;color:#1f2937"
	styleTH         = "padding:8px 12px;border:1px solid #e5e7eb;background-color:#f9fafb;text-align:left;font-weight:600"
	styleTD         = "padding:8px 12px;border:1px solid #e5e7eb;text-align:left"
	styleHR         = "margin:24px 0;border:0;border-top:1px solid #e5e7eb"
	styleFooter     = "margin:0;font-family:" + fontStack + ";font-size:13px;line-height:1.5;color:#6b7280"
	styleFooterLink = "color:#6b7280;text-decoration:underline"
)

// theme writes the default styles in a layout's font and colours. The
// styles above are written in the default look; a layout swaps its own
// font, text and link colours in, values the compiler has checked.
type theme struct{ r *strings.Replacer }

func newTheme(l *campaigns.Layout) theme {
	if l == nil {
		return theme{}
	}
	rl := l.Resolved()
	return theme{strings.NewReplacer(
		"font-family:"+fontStack, "font-family:"+rl.Font,
		"color:"+campaigns.DefaultBrand, "color:"+rl.Link,
		"color:"+campaigns.DefaultText, "color:"+rl.Text,
	)}
}

func (t theme) style(s string) string {
	if t.r == nil {
		return s
	}
	return t.r.Replace(s)
}

// headingStyle is the style of a heading of level 1 to 6; the first
// block of the email has no space above it.
func headingStyle(level int, first bool) string {
	size := [...]string{"16px", "26px", "22px", "19px", "17px", "16px", "16px"}[min(max(level, 0), 6)]
	margin := "24px 0 12px"
	if first {
		margin = "0 0 12px"
	}
	return "margin:" + margin + ";font-family:" + fontStack + ";font-size:" + size + ";line-height:1.3;font-weight:700;color:#111827"
}

// styleOf is the inline style of a node's element, "" for none.
func styleOf(n ast.Node) string {
	switch x := n.(type) {
	case *ast.Paragraph:
		last := n.NextSibling() == nil
		switch n.Parent().(type) {
		case *ast.Blockquote:
			if last {
				return styleLastQuoteP
			}
			return styleQuoteP
		case *ast.ListItem:
			if last {
				return styleLastP
			}
			return styleInnerP
		}
		return styleP
	case *ast.Heading:
		return headingStyle(x.Level, n.PreviousSibling() == nil && n.Parent().Kind() == ast.KindDocument)
	case *ast.Link:
		return styleA
	case *ast.List:
		return styleList
	case *ast.ListItem:
		return styleLI
	case *ast.Blockquote:
		return styleQuote
	case *ast.CodeSpan:
		return styleCode
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		return stylePre
	case *ast.Image:
		return styleImg
	case *ast.ThematicBreak:
		return styleHR
	case *extast.Table:
		return styleTable
	case *extast.TableCell:
		if n.Parent().Kind() == extast.KindTableHeader {
			return styleTH
		}
		return styleTD
	}
	return ""
}

// codeBlocks renders indented and fenced code blocks: goldmark's own
// renderer writes them without attributes, so without their style.
type codeBlocks struct{}

func (codeBlocks) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindCodeBlock, renderCodeBlock)
	reg.Register(ast.KindFencedCodeBlock, renderCodeBlock)
}

func renderCodeBlock(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		_, _ = w.WriteString("</code></pre>\n")
		return ast.WalkContinue, nil
	}
	_, _ = w.WriteString("<pre")
	gmhtml.RenderAttributes(w, n, gmhtml.GlobalAttributeFilter)
	_, _ = w.WriteString("><code style=\"" + styleCodeInPre + "\">")
	for i := 0; i < n.Lines().Len(); i++ {
		seg := n.Lines().At(i)
		gmhtml.DefaultWriter.RawWrite(w, seg.Value(src))
	}
	return ast.WalkContinue, nil
}

func htmlLines(s string) string {
	return strings.ReplaceAll(html.EscapeString(strings.TrimSpace(s)), "\n", "<br>\n")
}

// nodeOffset is the byte offset where a node's text begins.
func nodeOffset(n ast.Node, src []byte) int {
	for c := n; c != nil; c = c.FirstChild() {
		if t, ok := c.(*ast.Text); ok {
			return t.Segment.Start
		}
		if c.Type() == ast.TypeBlock && c.Lines().Len() > 0 {
			return c.Lines().At(0).Start
		}
	}
	for p := n.Parent(); p != nil; p = p.Parent() {
		if p.Type() == ast.TypeBlock && p.Lines().Len() > 0 {
			return p.Lines().At(0).Start
		}
	}
	return 0
}

// nodeText is the plain text inside an inline node.
func nodeText(n ast.Node, src []byte) []byte {
	var b bytes.Buffer
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch x := c.(type) {
		case *ast.Text:
			b.Write(x.Segment.Value(src))
			if x.SoftLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(x.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.Bytes()
}

// plainText renders the document as the text/plain part: paragraphs,
// headings and lists as written, links as "text (url)".
func plainText(doc ast.Node, src []byte) string {
	var b strings.Builder
	var block func(n ast.Node, prefix string)
	inline := func(n ast.Node) string {
		var ib strings.Builder
		var walk func(n ast.Node)
		walk = func(n ast.Node) {
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				switch x := c.(type) {
				case *ast.Text:
					ib.Write(x.Segment.Value(src))
					if x.HardLineBreak() {
						ib.WriteByte('\n')
					} else if x.SoftLineBreak() {
						ib.WriteByte('\n')
					}
				case *ast.String:
					ib.Write(x.Value)
				case *ast.Link:
					label := string(nodeText(x, src))
					dest := string(x.Destination)
					if label == "" || label == dest {
						ib.WriteString(dest)
					} else {
						ib.WriteString(label + " (" + dest + ")")
					}
				case *ast.Image:
					ib.Write(nodeText(x, src))
				case *ast.RawHTML:
				default:
					walk(c)
				}
			}
		}
		walk(n)
		return ib.String()
	}
	write := func(prefix, s string) {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		for i, l := range lines {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(prefix + l)
		}
	}
	block = func(n ast.Node, prefix string) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch x := c.(type) {
			case *ast.Paragraph, *ast.TextBlock, *ast.Heading:
				write(prefix, inline(x))
			case *ast.ThematicBreak:
				write(prefix, "---")
			case *ast.CodeBlock, *ast.FencedCodeBlock:
				var cb strings.Builder
				for i := 0; i < x.Lines().Len(); i++ {
					seg := x.Lines().At(i)
					cb.Write(seg.Value(src))
				}
				write(prefix+"    ", cb.String())
			case *ast.Blockquote:
				block(x, prefix+"> ")
			case *ast.List:
				n := x.Start
				var lb strings.Builder
				for item := x.FirstChild(); item != nil; item = item.NextSibling() {
					marker := "- "
					if x.IsOrdered() {
						marker = strconv.Itoa(n) + ". "
						n++
					}
					var parts []string
					for ic := item.FirstChild(); ic != nil; ic = ic.NextSibling() {
						parts = append(parts, inline(ic))
					}
					if lb.Len() > 0 {
						lb.WriteByte('\n')
					}
					lb.WriteString(marker + strings.Join(parts, " "))
				}
				write(prefix, lb.String())
			case *extast.Table:
				var tb strings.Builder
				for row := x.FirstChild(); row != nil; row = row.NextSibling() {
					var cells []string
					for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
						cells = append(cells, inline(cell))
					}
					if tb.Len() > 0 {
						tb.WriteByte('\n')
					}
					tb.WriteString(strings.Join(cells, " | "))
				}
				write(prefix, tb.String())
			case *buttonBlock:
				if l, ok := x.FirstChild().(*ast.Link); ok {
					write(prefix, string(nodeText(l, src))+": "+string(l.Destination))
				}
			case *ast.HTMLBlock:
			default:
				block(x, prefix)
			}
		}
	}
	block(doc, "")
	return b.String() + "\n"
}

// subjectMetric is what the email's subject-line test is judged by, as
// its front matter's metric: says: click (the default, stored as none) or
// reply. A metric on an email with one subject judges nothing.
func (c *checker) subjectMetric(f *mdFile, fm *frontMatterData, subjects int) string {
	n := fm.metric
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Value != campaigns.MetricClick && n.Value != campaigns.MetricReply {
		c.yamlError(f, fm, n, "NRT216", `a subject-line test is judged by clicks or replies: metric: reply (click is the default); to judge by a goal, send the lines as an A/B step's arms`,
			"invalid subject-line metric %q", n.Value)
		return ""
	}
	if subjects < 2 {
		c.diags = append(c.diags, Diagnostic{Pos: fm.pos(f, n), Severity: Warning, Code: "NRT217",
			Summary: "metric without subject variants: there is no subject-line test to judge",
			Detail:  "remove metric, or add variants:\n  b:\n    subject: Another subject\n    weight: 50"})
		return ""
	}
	if n.Value == campaigns.MetricClick {
		return ""
	}
	return n.Value
}
