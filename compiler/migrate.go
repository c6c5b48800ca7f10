package compiler

import (
	"fmt"

	"github.com/nurture-dev/nurture/campaigns"
)

// Pos is where the programme wrote the field at path ("sequences",
// "welcome", "steps"), or the nearest field above it that it wrote.
func (r *Result) Pos(path ...string) Pos {
	if r == nil || r.src == nil {
		return Pos{}
	}
	return r.src.pathPos(path)
}

// UndeclaredMoves reports each step a plan removes without the programme
// saying where its contacts go (moved or removed) while contacts are in
// it: count gives the contacts now in a sequence's step. Nothing moves
// contacts on to another email unless the programme says so; the plan
// refuses instead, naming the step, how many wait in it, where they
// would go and how to declare it. pos places the diagnostic in the
// programme's files; nil leaves it unplaced.
func UndeclaredMoves(ms []campaigns.Migration, count func(sequence, step string) int, pos func(path ...string) Pos) Diagnostics {
	var ds Diagnostics
	for _, m := range ms {
		if !m.Undeclared {
			continue
		}
		n := count(m.Sequence, m.Step)
		if n == 0 {
			continue
		}
		where := "leave the sequence"
		if m.To != "" {
			where = "go on to step " + m.To
		}
		detail := fmt.Sprintf("say where they go in sequence %s: moved: %s: \"NEW\" if a step replaces it, or removed: %s: \"next\" (they %s) or \"exit\"",
			m.Sequence, m.Step, m.Step, where)
		if m.Like != "" {
			detail = fmt.Sprintf("step %s does the same; if it is a rename, declare moved: %s: %q in sequence %s; else removed: %s: \"next\" (they %s) or \"exit\"",
				m.Like, m.Step, m.Like, m.Sequence, m.Step, where)
		}
		var p Pos
		if pos != nil {
			p = pos("sequences", m.Sequence, "steps")
		}
		ds = append(ds, Diagnostic{Pos: p, Severity: Error, Code: "NRT314",
			Summary: fmt.Sprintf("%s in step %s of sequence %s, which this programme removes without saying where they go", count1(n, "contact waits", "contacts wait"), m.Step, m.Sequence),
			Detail:  detail})
	}
	return ds.Sort()
}

func count1(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
