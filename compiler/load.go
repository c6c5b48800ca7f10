package compiler

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/nurture-dev/nurture/schema"
)

// PackageName is the CUE package every programme file declares.
const PackageName = "nurture"

// source is a programme as CUE evaluated it: the JSON of its regular
// fields and what is needed to point diagnostics at the user's files.
type source struct {
	dir        string
	schemaFile string
	json       []byte
	files      []*ast.File
	index      map[string]token.Pos // built on first use
	// exprs are the values the user wrote at each field path, built
	// with index.
	exprs map[string][]ast.Expr
	// failed are the parts of a programme read in part (see readPart)
	// that the schema refused, as CUE paths joined by NUL; nil when the
	// whole programme was read.
	failed map[string]bool
	// closedBy names, by error path, the user's own definitions that
	// alone refuse a field the language allows there.
	closedBy map[string]closure
}

// loadCUE loads, evaluates and validates the CUE files of dir with the
// schema overlaid. Errors come back as diagnostics; the source is nil when
// the programme cannot be evaluated.
func loadCUE(dir string) (*source, Diagnostics) {
	src := &source{dir: dir, schemaFile: filepath.Join(dir, schema.FileName)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, Diagnostics{{Pos: Pos{File: dir}, Code: "NRT005", Summary: "cannot read the programme directory",
			Detail: unwrapPathError(err)}}
	}
	n := 0
	var pkgErrs Diagnostics
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if e.Name() == schema.FileName {
			return nil, Diagnostics{{Pos: Pos{File: name}, Code: "NRT005",
				Summary: fmt.Sprintf("the file name %s is reserved for the nurture schema", schema.FileName),
				Detail:  "rename the file"}}
		}
		n++
		// CUE would quietly leave out a file of another package.
		if f, err := parser.ParseFile(name, nil, parser.PackageClauseOnly); err == nil {
			if got := f.PackageName(); got != PackageName {
				d := Diagnostic{Pos: Pos{File: name, Line: 1, Col: 1}, Code: "NRT005",
					Summary: fmt.Sprintf("file is in package %s, not %s", got, PackageName),
					Detail:  "every .cue file of a programme starts with `package nurture`"}
				if got == "" {
					d.Summary = "file has no package clause"
				} else if pos := f.Decls[0].Pos(); pos.IsValid() {
					d.Pos = toPos(pos)
				}
				pkgErrs = append(pkgErrs, d)
			}
		}
	}
	if len(pkgErrs) > 0 {
		return nil, pkgErrs
	}
	if n == 0 {
		return nil, Diagnostics{{Pos: Pos{File: dir}, Code: "NRT005", Summary: "no .cue files in the programme directory",
			Detail: "a programme is the .cue files (package nurture) directly in one directory; name the directory that holds them"}}
	}

	cfg := &load.Config{
		Dir:     dir,
		Package: PackageName,
		Overlay: map[string]load.Source{src.schemaFile: load.FromBytes(schema.Source)},
	}
	insts := load.Instances([]string{"."}, cfg)
	inst := insts[0]
	if inst.Err != nil {
		return nil, src.cueDiagnostics(inst.Err, "NRT001")
	}
	for _, f := range inst.Files {
		if f.Filename != src.schemaFile {
			src.files = append(src.files, f)
		}
	}
	var ds Diagnostics
	for _, f := range inst.OrphanedFiles {
		if !strings.HasSuffix(f.Filename, ".cue") {
			continue // data beside the programme, such as events.jsonl
		}
		ds = append(ds, Diagnostic{Pos: Pos{File: f.Filename}, Code: "NRT005",
			Summary: fmt.Sprintf("file is not in package %s", PackageName),
			Detail:  "every .cue file of a programme starts with `package nurture`"})
	}
	if len(src.files) == 0 {
		ds = append(ds, Diagnostic{Pos: Pos{File: dir}, Code: "NRT005", Summary: "no .cue files in package nurture",
			Detail: "start every programme file with `package nurture`"})
		return nil, ds
	}
	// CUE's evaluation grows faster than the depth of what it evaluates
	// (1,000 levels: 15 s): a programme nested past any sensible depth,
	// generated or malicious, is refused before it is evaluated.
	for _, f := range src.files {
		if d, ok := tooDeep(f); ok {
			ds = append(ds, d)
		}
	}
	if len(ds) > 0 {
		return nil, ds
	}

	ctx := cuecontext.New()
	v := ctx.BuildInstance(inst)
	// The package's top level is open, so the schema cannot catch a
	// misspelt top-level field: check the names here, whatever else fails.
	if it, err := v.Fields(); err == nil {
		for it.Next() {
			if name := it.Selector().String(); !slices.Contains(topLevel, name) {
				ds = append(ds, Diagnostic{Pos: src.pathPos([]string{name}), Code: "NRT003",
					Summary: "unknown top-level field " + name,
					Detail:  suggestName(name, topLevel, "a programme declares only: "+strings.Join(topLevel, ", "))})
			}
		}
	}
	if err := v.Validate(cue.Concrete(true)); err != nil {
		src.closedBy = src.userClosed(inst, err)
		// A misspelt top-level field may hold anything the rest refers
		// to: only a programme whose top level is right is read in part.
		partial := len(ds) == 0
		ds = append(ds, src.cueDiagnostics(err, "NRT002")...)
		if partial && src.readPart(v, err) {
			return src, ds
		}
		return nil, ds
	}
	if ds.HasErrors() {
		return nil, ds
	}
	src.json, err = v.MarshalJSON()
	if err != nil {
		return nil, append(ds, src.cueDiagnostics(err, "NRT002")...)
	}
	return src, ds
}

// cueDiagnostics turns CUE's errors into diagnostics: one per path, at a
// position in the user's files, never in the schema.
func (s *source) cueDiagnostics(err error, code string) Diagnostics {
	type group struct {
		path    []string
		pos     Pos
		msgs    []string
		code    string
		ordinal int
		// written are the places in the user's files the one error
		// of the group points at, when it points at no schema line.
		written []Pos
		schema  bool
	}
	groups := map[string]*group{}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := humanize(fmt.Sprintf(format, args...))
		if strings.Contains(msg, "errors in empty disjunction") {
			continue // its parts follow, one error each
		}
		path := e.Path()
		key := strings.Join(path, "\x00")
		g := groups[key]
		if g == nil {
			g = &group{path: path, code: code, ordinal: len(groups)}
			groups[key] = g
		}
		if g.pos.File == "" {
			g.pos = s.userPos(cueerrors.Positions(e), path)
		}
		for _, p := range cueerrors.Positions(e) {
			if p.Filename() == s.schemaFile {
				g.schema = true
			} else if p.IsValid() {
				g.written = append(g.written, toPos(p))
			}
		}
		switch {
		case strings.Contains(msg, "field not allowed"):
			g.code = "NRT003"
		case strings.Contains(msg, "field is required"), strings.Contains(msg, "incomplete value"):
			if g.code != "NRT003" {
				g.code = "NRT004"
			}
		}
		g.msgs = append(g.msgs, msg)
	}
	ordered := make([]*group, 0, len(groups))
	for key, g := range groups {
		// A value that matches no alternative of a disjunction also fails
		// inside: the inner error says more, so the outer one goes.
		if g.code == "NRT002" && hasDescendant(groups, key) {
			continue
		}
		ordered = append(ordered, g)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].ordinal < ordered[j].ordinal })

	var ds Diagnostics
	for _, g := range ordered {
		if d, ok := s.twoValues(g.code, g.path, g.msgs, g.written, g.schema); ok {
			ds = append(ds, d)
			continue
		}
		ds = append(ds, s.describe(g.code, g.path, g.pos, g.msgs))
	}
	return ds
}

// conflict is CUE's message for two values that do not unify; the last
// " and " parts them, as the second is rarely a string holding one.
var (
	conflict     = regexp.MustCompile(`^conflicting values (.+) and (.+)$`)
	mismatchNote = regexp.MustCompile(` \(mismatched types \w+ and \w+\)$`)
)

// twoValues reports a field written twice with values that differ (10 in
// one file, "high" in another): CUE joins every place a field is
// written, and its message reads as if the schema refused one of them.
func (s *source) twoValues(code string, path []string, msgs []string, written []Pos, schema bool) (Diagnostic, bool) {
	if code != "NRT002" || len(msgs) != 1 || schema || len(written) < 2 {
		return Diagnostic{}, false
	}
	m := conflict.FindStringSubmatch(mismatchNote.ReplaceAllString(msgs[0], ""))
	if m == nil {
		return Diagnostic{}, false
	}
	slices.SortFunc(written, func(a, b Pos) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	var places []string
	for _, p := range written[1:] {
		places = append(places, p.Rel(s.dir).String())
	}
	return Diagnostic{Pos: written[0], Code: code,
		Summary: fmt.Sprintf("%s is written twice with values that differ: %s and %s", displayPath(path), m[1], m[2]),
		Detail:  fmt.Sprintf("it is written here and at %s in the programme; CUE joins every place a field is written, so keep one value", strings.Join(places, ", "))}, true
}

// boundNames says in words what the schema's patterns ask for.
var boundNames = []struct{ pattern, want string }{
	{`=~"^[0-9]+([mhdw]| ?(minutes?|mins?|hours?|hrs?|days?|weeks?|wks?))((,? (and )?)?[0-9]+([mhdw]| ?(minutes?|mins?|hours?|hrs?|days?|weeks?|wks?)))*$"`, `a duration: a number and a unit (m, h, d, w, or minutes, hours, days, weeks), like "2d", "14 days" or "1 day 12 hours"`},
	{`=~"^[0-9]{1,3}(\\.[0-9]{1,2})?%$"`, `a percentage with up to two decimals, like "10%" or "2.5%"`},
	{`=~"^[a-z][a-z0-9_]*$"`, "a name: lower-case letters, digits and _, starting with a letter"},
	{`=~"^([01][0-9]|2[0-3]):[0-5][0-9]$"`, `a time of day on a 24-hour clock, like "08:30"`},
	{`=~"^[^@\\s<>]+@[^@\\s<>]+\\.[^@\\s<>]+$"`, "an email address"},
	{`=~"^https?://"`, "an http:// or https:// URL"},
	{`=~"^[A-Z_][A-Z0-9_]*$"`, "an environment variable name, like CRM_WEBHOOK_SECRET"},
	{`=~"^(day [0-9]+( ([01][0-9]|2[0-3]):[0-5][0-9])?|[0-9]+([mhdw]| ?(minutes?|mins?|hours?|hrs?|days?|weeks?|wks?))((,? (and )?)?[0-9]+([mhdw]| ?(minutes?|mins?|hours?|hrs?|days?|weeks?|wks?)))*)$"`, `a moment of the scenario: "day 3", "day 3 10:00" or a span after the start, like "2d4h"`},
	{`=~"^[0-9]{4}-[0-9]{2}-[0-9]{2}( ([01][0-9]|2[0-3]):[0-5][0-9])?$"`, `a start date and time, like "2026-01-05 09:00" or "2026-01-05"`},
}

func humanize(msg string) string {
	for _, b := range boundNames {
		if i := strings.Index(msg, "(out of bound "+b.pattern+")"); i >= 0 {
			return strings.TrimSpace(msg[:i]) + ": want " + b.want
		}
	}
	return msg
}

func hasDescendant[G any](groups map[string]G, key string) bool {
	for k := range groups {
		if len(k) > len(key) && strings.HasPrefix(k, key+"\x00") {
			return true
		}
	}
	return false
}

// describe writes one CUE error group the way a person reads it.
func (s *source) describe(code string, path []string, pos Pos, msgs []string) Diagnostic {
	where := displayPath(path)
	d := Diagnostic{Pos: pos, Code: code}
	switch code {
	case "NRT001":
		d.Summary = msgs[0]
		d.Detail = "fix the CUE syntax"
	case "NRT003":
		if cl, ok := s.closedBy[strings.Join(path, "\x00")]; ok {
			return s.closedDiagnostic(pos, path, cl)
		}
		if ed, ok := s.describeEventField(path); ok {
			ed.Pos = pos
			return ed
		}
		field := where
		if len(path) > 0 {
			field = path[len(path)-1]
		}
		d.Summary = fmt.Sprintf("unknown field %s", field)
		if len(path) > 1 {
			d.Summary += " in " + displayPath(path[:len(path)-1])
		}
		d.Detail = "check the spelling against the language reference (schema/nurture.cue)"
	case "NRT004":
		d.Summary = fmt.Sprintf("%s: %s", where, strings.TrimSuffix(msgs[0], ":"))
		d.Detail = "give the field a value"
	default:
		if summary, detail, ok := describeMismatch(path, msgs); ok {
			d.Summary, d.Detail = summary, detail
			break
		}
		if summary, detail, ok := describeChoice(path, msgs); ok {
			d.Summary, d.Detail = summary, detail
			break
		}
		d.Summary = fmt.Sprintf("%s: %s", where, msgs[0])
		if len(msgs) > 1 {
			d.Summary = fmt.Sprintf("%s: the value matches none of the allowed forms", where)
			d.Detail = strings.Join(msgs, "; ")
		}
	}
	if where == "" && code != "NRT001" {
		d.Summary = strings.TrimPrefix(d.Summary, ": ")
	}
	return d
}

// userPos picks the first of ps in a user's file; failing that, the
// position of the path (or its nearest ancestor) in the user's files.
func (s *source) userPos(ps []token.Pos, path []string) Pos {
	for _, p := range ps {
		if f := p.Filename(); f != "" && f != s.schemaFile {
			return toPos(p)
		}
	}
	return s.pathPos(path)
}

// pathPos is the position where the user wrote path, or its nearest
// ancestor; the programme directory when nothing of it is in a user file.
func (s *source) pathPos(path []string) Pos {
	if s.index == nil {
		s.buildIndex()
	}
	for n := len(path); n > 0; n-- {
		if p, ok := s.index[strings.Join(path[:n], ".")]; ok {
			return toPos(p)
		}
	}
	if len(s.files) > 0 {
		return Pos{File: s.files[0].Filename}
	}
	return Pos{File: s.dir}
}

// buildIndex maps every field path the user wrote to its position. It is
// syntactic, so it is cheap, and built only when a diagnostic needs it.
func (s *source) buildIndex() {
	s.index = map[string]token.Pos{}
	s.exprs = map[string][]ast.Expr{}
	var walk func(prefix string, n ast.Node)
	walk = func(prefix string, n ast.Node) {
		switch x := n.(type) {
		case *ast.StructLit:
			for _, d := range x.Elts {
				walk(prefix, d)
			}
		case *ast.Field:
			name, _, err := ast.LabelName(x.Label)
			if err != nil {
				return
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			if _, ok := s.index[key]; !ok {
				s.index[key] = x.Label.Pos()
			}
			s.exprs[key] = append(s.exprs[key], x.Value)
			walk(key, x.Value)
		case *ast.ListLit:
			for i, e := range x.Elts {
				key := prefix + "." + strconv.Itoa(i)
				if _, ok := s.index[key]; !ok {
					s.index[key] = e.Pos()
				}
				walk(key, e)
			}
		case *ast.BinaryExpr: // a & b, a | b
			walk(prefix, x.X)
			walk(prefix, x.Y)
		case *ast.EmbedDecl:
			walk(prefix, x.Expr)
		case *ast.ParenExpr:
			walk(prefix, x.X)
		}
	}
	for _, f := range s.files {
		for _, d := range f.Decls {
			walk("", d)
		}
	}
}

func toPos(p token.Pos) Pos {
	return Pos{File: p.Filename(), Line: p.Line(), Col: p.Column()}
}

// displayPath writes a CUE path the way the language reads:
// sequences.welcome.steps[2].send.
func displayPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if isIdent(p) {
			b.WriteString(p)
		} else {
			b.WriteString(strconv.Quote(p))
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

func unwrapPathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// MaxDepth is how deeply structs and lists may nest in a programme file.
// Real programmes nest a dozen levels (a segment's all, any and not); a
// hundred leaves room for any of them.
const MaxDepth = 100

// tooDeep reports the first place in f nested past MaxDepth.
func tooDeep(f *ast.File) (Diagnostic, bool) {
	depth := 0
	found := false
	// at is the last position seen: a struct written as a: b: c: has
	// none of its own.
	var at token.Pos
	ast.Walk(f, func(n ast.Node) bool {
		if found {
			return false
		}
		if p := n.Pos(); p.IsValid() {
			at = p
		}
		switch n.(type) {
		case *ast.StructLit, *ast.ListLit:
			if depth++; depth > MaxDepth {
				found = true
				return false
			}
		}
		return true
	}, func(n ast.Node) {
		switch n.(type) {
		case *ast.StructLit, *ast.ListLit:
			depth--
		}
	})
	if !found {
		return Diagnostic{}, false
	}
	return Diagnostic{Pos: toPos(at), Code: "NRT006",
		Summary: fmt.Sprintf("structs and lists nest more than %d levels deep here", MaxDepth),
		Detail:  "flatten it: name the inner parts (a segment, a predicate) and refer to them"}, true
}
