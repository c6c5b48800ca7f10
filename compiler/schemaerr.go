package compiler

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"

	"github.com/nurture-dev/nurture/campaigns"
)

// CUE states what failed to unify in its own terms ("conflicting values
// "yes" and bool (mismatched types string and bool)", a field "not
// allowed"), once for each alternative of a disjunction. The functions
// here say it in the language's terms: the field, what was given, what
// goes there, with an example.

// mismatch is CUE's message for a value of the wrong kind. The user's
// value comes first; the schema's side holds no " and ".
var mismatch = regexp.MustCompile(`^conflicting values (.+) and (.+) \(mismatched types (\w+) and (\w+)\)$`)

// kindWords names a CUE kind and shows a value of it.
var kindWords = map[string]struct{ name, example string }{
	"bool":   {"true or false", "true"},
	"int":    {"a whole number", "3"},
	"number": {"a number", "3"},
	"float":  {"a decimal number", "2.5"},
	"string": {"a string", `"text"`},
	"struct": {"a struct", "{…}"},
	"list":   {"a list", "[…]"},
	"null":   {"null", "null"},
}

// schemaSide reports whether the second value of a mismatch is the
// schema's type rather than a second value the user wrote: then the
// first one is the user's.
func schemaSide(v, kind string) bool {
	switch {
	case v == kind:
		return true // bool, int, string
	case kind == "struct":
		// The schema's struct has optional, required or pattern fields
		// or definitions; one the user wrote is printed concrete.
		return strings.HasPrefix(v, "{") && strings.ContainsAny(v, "?!#[")
	case kind == "list":
		return strings.Contains(v, "...")
	}
	return strings.HasPrefix(v, "=~") || strings.HasPrefix(v, "!~") || strings.HasPrefix(v, ">") || strings.HasPrefix(v, "<")
}

func kindName(k string) string {
	if w, ok := kindWords[k]; ok {
		return w.name
	}
	return k
}

// describeMismatch writes the messages of one path that all say a value
// is of the wrong kind as one diagnostic: what was given and what the
// field takes. ok is false when some message says something else.
func describeMismatch(path []string, msgs []string) (summary, detail string, ok bool) {
	var given, givenKind string
	var wants []string
	compare := false // one alternative is a condition's struct of operators
	for _, m := range msgs {
		g := mismatch.FindStringSubmatch(m)
		if g == nil || given != "" && g[1] != given || !schemaSide(g[2], g[4]) {
			return "", "", false
		}
		given, givenKind = g[1], g[3]
		if g[4] == "struct" && strings.Contains(g[2], "not_in?:") {
			compare = true
		}
		if !slices.Contains(wants, g[4]) {
			wants = append(wants, g[4])
		}
	}
	if given == "" {
		return "", "", false
	}
	where := displayPath(path)
	field := where
	if len(path) > 0 {
		field = path[len(path)-1]
	}
	if compare {
		if givenKind == "list" {
			return fmt.Sprintf("%s: a list is given where a condition goes: a value or a struct of operators", where),
				fmt.Sprintf("to match any of several values write %s: {in: %s}; a condition is a value (%s: \"saas\") or operators (%s: {gte: 50}, %s: {not_in: […]})",
					field, given, field, field, field), true
		}
		return fmt.Sprintf("%s: %s (%s) is given where a condition goes: a value or a struct of operators", where, given, kindName(givenKind)),
			fmt.Sprintf("write a value (%s: \"saas\", %s: 50, %s: true) or operators (%s: {in: […]}, %s: {gte: 50})", field, field, field, field, field), true
	}
	names := make([]string, len(wants))
	for i, w := range wants {
		names[i] = kindName(w)
	}
	summary = fmt.Sprintf("%s: %s is %s, but %s takes %s", where, given, kindName(givenKind), field, orList(names))
	examples := make([]string, 0, len(wants))
	for _, w := range wants {
		if k, ok := kindWords[w]; ok && w != "struct" && w != "list" {
			examples = append(examples, fmt.Sprintf("%s: %s", field, k.example))
		}
	}
	switch {
	case len(examples) > 0 && givenKind == "string":
		detail = fmt.Sprintf("write it without quotes, like %s", strings.Join(examples, " or "))
	case len(examples) > 0:
		detail = fmt.Sprintf("write it like %s", strings.Join(examples, " or "))
	default:
		detail = "see the language reference (schema/nurture.cue) for what goes there"
	}
	return summary, detail, true
}

// describeChoice writes the messages of one path that each say the value
// conflicts with one alternative of a disjunction ("x" and "consent",
// "x" and "legitimate_interest") as one diagnostic: the value given and
// the alternatives. CUE writes the user's value on either side, so it is
// the side common to every message.
func describeChoice(path []string, msgs []string) (summary, detail string, ok bool) {
	pairs := make([]string, len(msgs))
	for i, m := range msgs {
		rest, found := strings.CutPrefix(m, "conflicting values ")
		if !found {
			return "", "", false
		}
		if k := strings.LastIndex(rest, " (mismatched types "); k >= 0 {
			rest = rest[:k]
		}
		pairs[i] = rest
	}
	if len(pairs) < 2 {
		return "", "", false
	}
	given := ""
	for k := 0; given == ""; {
		at := strings.Index(pairs[0][k:], " and ")
		if at < 0 {
			return "", "", false
		}
		for _, cand := range []string{pairs[0][:k+at], pairs[0][k+at+len(" and "):]} {
			if given == "" && !slices.ContainsFunc(pairs, func(p string) bool {
				return !strings.HasPrefix(p, cand+" and ") && !strings.HasSuffix(p, " and "+cand)
			}) {
				given = cand
			}
		}
		k += at + 1
	}
	var alts, literals []string
	for _, p := range pairs {
		alt, found := strings.CutPrefix(p, given+" and ")
		if !found {
			alt = strings.TrimSuffix(p, " and "+given)
		}
		if strings.HasPrefix(alt, `"`) {
			literals = append(literals, strings.Trim(alt, `"`))
		}
		alts = append(alts, describeAlternative(alt))
	}
	field := displayPath(path)
	if len(path) > 0 {
		field = path[len(path)-1]
	}
	summary = fmt.Sprintf("%s: %s is none of the allowed forms: %s", displayPath(path), given, orList(alts))
	if best := closestName(strings.Trim(given, `"`), literals); best != "" && strings.HasPrefix(given, `"`) {
		return summary, fmt.Sprintf("did you mean %q?", best), true
	}
	ex := exampleOf(alts[0])
	if _, err := strconv.ParseFloat(ex, 64); ex == alts[0] && !strings.HasPrefix(ex, `"`) && ex != "true" && ex != "false" && err != nil {
		return summary, "write one of them", true
	}
	return summary, fmt.Sprintf("write it like %s: %s", field, ex), true
}

// describeAlternative says in words one alternative CUE printed: a value
// as it is, a kind by its name, a struct by its fields, a pattern by what
// it asks for.
func describeAlternative(alt string) string {
	if w, ok := kindWords[alt]; ok {
		return w.name
	}
	if strings.HasPrefix(alt, "{") {
		var fields []string
		for _, m := range structField.FindAllStringSubmatch(alt, -1) {
			fields = append(fields, m[1]+": …")
		}
		return "a struct {" + strings.Join(fields, ", ") + "}"
	}
	for _, b := range boundNames {
		if alt == b.pattern {
			return b.want
		}
	}
	return alt
}

var structField = regexp.MustCompile(`[{,]([a-z_]+)[!?]?:`)

// exampleOf turns a described alternative into a value to write. Each
// kind has a name of its own, so the answer does not hang on the map's
// order.
func exampleOf(alt string) string {
	for _, w := range kindWords {
		if alt == w.name {
			return w.example
		}
	}
	return alt
}

func orList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// eventFields are the fields of an event condition's struct.
var eventFields = []string{"name", "where", "within", "count"}

// describeEventField says what a field the schema does not allow in an
// event condition's struct ({name: …, where: …}) was meant to be: a
// contact attribute, which goes beside event, a property of the event,
// which goes under where, or a misspelt field of the condition.
func (s *source) describeEventField(path []string) (Diagnostic, bool) {
	n := len(path)
	if n < 2 || path[n-2] != "event" {
		return Diagnostic{}, false
	}
	field, cond := path[n-1], displayPath(path[:n-1])
	attrs := s.writtenKeys("contact", "attributes")
	attrs = append(attrs, campaigns.AttrEmail, campaigns.AttrStage, campaigns.AttrTimezone, campaigns.AttrAccount, campaigns.AttrAccountTier)
	event := s.writtenString(append(slices.Clone(path[:n-1]), "name"))
	props := s.writtenKeys("events", event, "properties")
	d := Diagnostic{Code: "NRT003"}
	attr := field
	if best := closestName(field, attrs); best != "" {
		attr = best
	}
	beside := fmt.Sprintf("a condition on the contact goes beside event, not inside it: {event: {name: %q}, %s: …}; inside event go only %s",
		event, attr, strings.Join(eventFields, ", "))
	switch {
	case slices.Contains(props, field):
		d.Summary = fmt.Sprintf("%s is a property of %s: it goes under where in %s", field, event, cond)
		d.Detail = fmt.Sprintf("write event: {name: %q, where: {%s: …}}", event, field)
	case slices.Contains(attrs, field):
		d.Summary = fmt.Sprintf("attribute %s inside the event condition %s", field, cond)
		d.Detail = beside
	default:
		known := append(slices.Clone(eventFields), props...)
		if best := closestName(field, known); best != "" {
			d.Summary = fmt.Sprintf("unknown field %s in the event condition %s", field, cond)
			d.Detail = fmt.Sprintf("did you mean %q? An event condition has %s, and the event's properties go under where", best, strings.Join(eventFields, ", "))
			if slices.Contains(props, best) {
				d.Detail = fmt.Sprintf("did you mean the property %q? It goes under where: event: {name: %q, where: {%s: …}}", best, event, best)
			}
			break
		}
		d.Code = "NRT105"
		d.Summary = fmt.Sprintf("unknown attribute %q in the event condition %s", field, cond)
		d.Detail = suggestName(field, attrs, "declare it under contact.attributes") + "; " + beside
	}
	return d, true
}

// writtenKeys are the names of the fields the user wrote below path, in
// the order of their names.
func (s *source) writtenKeys(path ...string) []string {
	if s.index == nil {
		s.buildIndex()
	}
	prefix := strings.Join(path, ".") + "."
	var out []string
	for k := range s.index {
		if rest, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(rest, ".") {
			out = append(out, rest)
		}
	}
	slices.Sort(out)
	return out
}

// writtenString is the string literal the user wrote at path, or "".
func (s *source) writtenString(path []string) string {
	if s.index == nil {
		s.buildIndex()
	}
	for _, e := range s.exprs[strings.Join(path, ".")] {
		if lit, ok := e.(*ast.BasicLit); ok {
			if v, err := literal.Unquote(lit.Value); err == nil {
				return v
			}
		}
	}
	return ""
}

// userClosed finds the fields CUE refused ("field not allowed") only
// because a definition of the user's own is closed: a value built from
// #Attr: {type: "string"} may hold nothing but type, though the language
// allows values there too. It evaluates the programme once more with the
// user's definitions left open, and returns, by error path, the
// definitions the refused field's struct is built from. This costs a
// second evaluation only when a field was refused and the user declares
// definitions.
func (s *source) userClosed(inst *build.Instance, err error) map[string]closure {
	refused := notAllowed(err)
	if len(refused) == 0 {
		return nil
	}
	defs := map[string]*ast.StructLit{}
	for _, f := range s.files {
		ast.Walk(f, func(n ast.Node) bool {
			if fd, ok := n.(*ast.Field); ok {
				if id, ok := fd.Label.(*ast.Ident); ok && strings.HasPrefix(id.Name, "#") {
					if st, ok := fd.Value.(*ast.StructLit); ok && !slices.ContainsFunc(st.Elts, isEllipsis) {
						defs[id.Name] = st
					}
				}
			}
			return true
		}, nil)
	}
	if len(defs) == 0 {
		return nil
	}
	// Every struct a definition holds is closed with it: open them all.
	var opened []*ast.StructLit
	for _, st := range defs {
		ast.Walk(st, func(n ast.Node) bool {
			if x, ok := n.(*ast.StructLit); ok && !slices.ContainsFunc(x.Elts, isEllipsis) {
				opened = append(opened, x)
			}
			return true
		}, nil)
	}
	for _, st := range opened {
		st.Elts = append(st.Elts, &ast.Ellipsis{})
	}
	var still map[string]bool
	if err := cuecontext.New().BuildInstance(inst).Validate(cue.Concrete(true)); err != nil {
		still = notAllowed(err)
	}
	for _, st := range opened {
		st.Elts = st.Elts[:len(st.Elts)-1]
	}
	out := map[string]closure{}
	for key := range refused {
		if still[key] {
			continue
		}
		path := strings.Split(key, "\x00")
		names, n := s.definitionsAt(path[:len(path)-1], defs)
		// CUE may report the refusal below the field the definition
		// lacks ({gte: 50} of an employees #Persona does not declare):
		// name the first field of the path the definition does not have.
		out[key] = closure{defs: names, at: n + undeclared(defs[names[0]], path[n:])}
	}
	return out
}

// closure is a field refused by the user's closed definitions: which,
// and the index in the error path of the field they lack.
type closure struct {
	defs []string
	at   int
}

// undeclared is the index in rest of the first field the definition's
// struct does not declare, following the fields it does declare.
func undeclared(st *ast.StructLit, rest []string) int {
	i := 0
	for ; i < len(rest)-1; i++ {
		var next *ast.StructLit
		for _, d := range st.Elts {
			if f, ok := d.(*ast.Field); ok {
				if name, _, err := ast.LabelName(f.Label); err == nil && name == rest[i] {
					next, _ = f.Value.(*ast.StructLit)
					if next == nil {
						return min(i+1, len(rest)-1)
					}
				}
			}
		}
		if next == nil {
			return i
		}
		st = next
	}
	return i
}

func isEllipsis(d ast.Decl) bool {
	_, ok := d.(*ast.Ellipsis)
	return ok
}

// notAllowed are the paths of the fields err says are not allowed.
func notAllowed(err error) map[string]bool {
	out := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		if strings.Contains(fmt.Sprintf(format, args...), "field not allowed") {
			out[strings.Join(e.Path(), "\x00")] = true
		}
	}
	return out
}

// definitionsAt names the user's definitions the value at path, or the
// nearest ancestor naming any, is built from; all of them when none is
// named there (a definition reached through another one).
func (s *source) definitionsAt(path []string, defs map[string]*ast.StructLit) ([]string, int) {
	if s.index == nil {
		s.buildIndex()
	}
	for n := len(path); n >= 0; n-- {
		var names []string
		for _, e := range s.exprs[strings.Join(path[:n], ".")] {
			ast.Walk(e, func(x ast.Node) bool {
				if id, ok := x.(*ast.Ident); ok && defs[id.Name] != nil && !slices.Contains(names, id.Name) {
					names = append(names, id.Name)
				}
				return true
			}, nil)
		}
		if len(names) > 0 {
			slices.Sort(names)
			return names, n
		}
	}
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, len(path)
}

// closedDiagnostic reports a field the language allows but the user's own
// closed definition does not.
func (s *source) closedDiagnostic(pos Pos, path []string, cl closure) Diagnostic {
	defs := cl.defs
	field, parent := path[cl.at], displayPath(path[:cl.at])
	if cl.at < len(path)-1 {
		pos = s.pathPos(path[:cl.at+1])
	}
	def := defs[0]
	what := "your definition " + def + ", which is closed"
	if len(defs) > 1 {
		what = "your definitions " + orList(defs) + ", which are closed"
	}
	return Diagnostic{Pos: pos, Code: "NRT007",
		Summary: fmt.Sprintf("field %s in %s is not allowed by %s", field, parent, what),
		Detail: fmt.Sprintf("the language allows %s there, but a CUE definition allows only the fields it declares, and so does a value built from it: declare %s in %s, end %s with ... to leave it open, or make it a hidden field (_%s) instead of a definition",
			field, field, def, def, strings.TrimPrefix(def, "#"))}
}
