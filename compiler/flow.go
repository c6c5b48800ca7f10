package compiler

import (
	"fmt"

	"github.com/nurture-dev/nurture/campaigns"
)

// end is the node after a sequence's last step.
const end = -1

// edge is a way from one step to another, and the longest it can take.
type edge struct {
	to      int
	longest campaigns.Duration
}

// graph returns, for every step, where it can lead. Unknown goto targets
// are reported and lead nowhere.
func (c *checker) graph(name string, s *campaigns.Sequence) [][]edge {
	n := len(s.Steps)
	next := func(i int) int {
		if i+1 < n {
			return i + 1
		}
		return end
	}
	target := func(i int, field []string, a campaigns.Action, dflt campaigns.Duration) edge {
		switch {
		case a.Exit != "":
			return edge{end, dflt}
		case a.Goto != "":
			j := s.StepIndex(a.Goto)
			if j < 0 {
				c.errorf(sub([]string{"sequences", name, "steps", itoa(i)}, field...), "NRT108",
					c.suggest(a.Goto, stepNames(s), "name a step of sequence "+name), "unknown step %q", a.Goto)
				return edge{end, dflt}
			}
			return edge{j, dflt}
		}
		return edge{next(i), dflt}
	}
	g := make([][]edge, n)
	for i, st := range s.Steps {
		switch st.Kind {
		case campaigns.StepWait:
			g[i] = []edge{{next(i), st.Wait}}
		case campaigns.StepWaitUntil:
			longest := campaigns.Day
			if len(st.WaitUntil.Days) > 0 && len(st.WaitUntil.Days) < 7 {
				longest = campaigns.Week
			}
			g[i] = []edge{{next(i), campaigns.Duration(longest)}}
		case campaigns.StepWaitFor:
			w := st.WaitFor
			g[i] = []edge{target(i, []string{"then", "goto"}, w.Then, w.Within),
				target(i, []string{"else", "goto"}, w.Else, w.Within)}
		case campaigns.StepBranch:
			g[i] = []edge{target(i, []string{"then", "goto"}, st.Branch.Then, 0),
				target(i, []string{"else", "goto"}, st.Branch.Else, 0)}
		case campaigns.StepGoto:
			g[i] = []edge{target(i, []string{"goto"}, campaigns.Action{Goto: st.Goto}, 0)}
		case campaigns.StepExit:
			g[i] = []edge{{end, 0}}
		default:
			g[i] = []edge{{next(i), 0}}
		}
	}
	return g
}

// nth spells n as "2nd", "3rd", "4th".
func nth(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return itoa(n) + "th"
	case n%10 == 1:
		return itoa(n) + "st"
	case n%10 == 2:
		return itoa(n) + "nd"
	case n%10 == 3:
		return itoa(n) + "rd"
	}
	return itoa(n) + "th"
}

func emails(n int) string {
	if n == 1 {
		return "1 email"
	}
	return fmt.Sprintf("%d emails", n)
}

func stepNames(s *campaigns.Sequence) []string {
	out := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Name
	}
	return out
}

func waits(st campaigns.Step) bool {
	return st.Kind == campaigns.StepWait || st.Kind == campaigns.StepWaitUntil || st.Kind == campaigns.StepWaitFor
}

// flow checks every sequence's steps as a graph: unreachable steps, loops
// that never wait, and sends closer together than the caps allow.
func (c *checker) flow() {
	for _, name := range sortedKeys(c.prog.Sequences) {
		s := c.prog.Sequences[name]
		if len(s.Steps) == 0 {
			c.errorf([]string{"sequences", name, "steps"}, "NRT302", "give the sequence at least one step", "sequence %s has no steps", name)
			continue
		}
		g := c.graph(name, s)
		c.reachable(name, s, g)
		c.loops(name, s, g)
		limits := s.Cap
		if !s.Transactional() {
			limits = append(append([]campaigns.Limit(nil), c.prog.Cadence.Limits...), s.Cap...)
		}
		for _, l := range limits {
			c.spacing(name, s, g, l)
		}
	}
}

func (c *checker) reachable(name string, s *campaigns.Sequence, g [][]edge) {
	seen := make([]bool, len(s.Steps))
	stack := []int{0}
	seen[0] = true
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range g[i] {
			if e.to != end && !seen[e.to] {
				seen[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
	for i, ok := range seen {
		if !ok {
			c.errorf([]string{"sequences", name, "steps", itoa(i)}, "NRT302",
				"no path leads here: the step before it exits or jumps away; remove the step or goto it",
				"step %s of sequence %s is unreachable", s.Steps[i].Name, name)
		}
	}
}

// loops reports cycles of steps none of which waits: a contact would go
// round them forever within one tick.
func (c *checker) loops(name string, s *campaigns.Sequence, g [][]edge) {
	const (
		unseen = iota
		active
		done
	)
	state := make([]int, len(s.Steps))
	var visit func(i int)
	visit = func(i int) {
		state[i] = active
		for _, e := range g[i] {
			if e.to == end || waits(s.Steps[e.to]) {
				continue
			}
			switch state[e.to] {
			case active:
				c.errorf([]string{"sequences", name, "steps", itoa(i)}, "NRT303",
					"add a wait to the loop, or it would repeat without end",
					"steps %s → %s loop without waiting", s.Steps[e.to].Name, s.Steps[i].Name)
			case unseen:
				visit(e.to)
			}
		}
		state[i] = done
	}
	for i := range s.Steps {
		if state[i] == unseen && !waits(s.Steps[i]) {
			visit(i)
		}
	}
}

// spacing reports a send that always comes too soon after the earlier ones
// for limit l: max+1 sends on a path whose longest duration is still under
// l.Per can never go out as written.
func (c *checker) spacing(name string, s *campaigns.Sequence, g [][]edge, l campaigns.Limit) {
	reported := map[int]bool{}
	for i, st := range s.Steps {
		if st.Kind != campaigns.StepSend {
			continue
		}
		onPath := make([]bool, len(s.Steps))
		var walk func(at int, elapsed campaigns.Duration, sends int)
		walk = func(at int, elapsed campaigns.Duration, sends int) {
			if elapsed >= l.Per {
				return
			}
			onPath[at] = true
			defer func() { onPath[at] = false }()
			for _, e := range g[at] {
				if e.to == end || onPath[e.to] {
					continue // the end, or a loop: a loop may take as long as it likes
				}
				total, n := elapsed+e.longest, sends
				if s.Steps[e.to].Kind == campaigns.StepSend {
					n++
					if n > l.Max && total < l.Per {
						if !reported[e.to] {
							reported[e.to] = true
							at := []string{"sequences", name, "steps", itoa(e.to)}
							hint := fmt.Sprintf("the cap allows %s per %s, so it would always hold this send back; ", emails(l.Max), l.Per)
							switch {
							case l.Max > 1:
								c.errorf(at, "NRT305", hint+fmt.Sprintf("spread these %d sends over at least %s", n, l.Per),
									"send %s would be the %s email in %s, counting from send %s", s.Steps[e.to].Name, nth(n), total, st.Name)
							case total == 0:
								c.errorf(at, "NRT305", hint+fmt.Sprintf("wait at least %s between these sends", l.Per),
									"send %s comes straight after send %s", s.Steps[e.to].Name, st.Name)
							default:
								c.errorf(at, "NRT305", hint+fmt.Sprintf("wait at least %s between these sends", l.Per),
									"send %s comes at most %s after send %s", s.Steps[e.to].Name, total, st.Name)
							}
						}
						continue
					}
				}
				walk(e.to, total, n)
			}
		}
		walk(i, 0, 1)
	}
}
