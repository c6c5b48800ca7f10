package compiler

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// Plan renderers. The text, JSON and Markdown forms are all built from the
// one campaigns.Plan, so they never disagree.

var marks = map[string]string{
	campaigns.ActionAdd: "+", campaigns.ActionChange: "~", campaigns.ActionRemove: "-", campaigns.ActionMove: "→",
}

// ANSI colours of the markers, on a terminal only.
var colours = map[string]string{
	campaigns.ActionAdd: "\x1b[32m", campaigns.ActionChange: "\x1b[33m", campaigns.ActionRemove: "\x1b[31m", campaigns.ActionMove: "\x1b[36m",
}

const bold, reset = "\x1b[1m", "\x1b[0m"

// SummaryLine is "Plan: 1 to add, 2 to change, 0 to remove."
func SummaryLine(p *campaigns.Plan) string {
	return fmt.Sprintf("Plan: %d to add, %d to change, %d to remove.", p.Summary.Add, p.Summary.Change, p.Summary.Remove)
}

// NoChanges is what an empty plan says.
func NoChanges(p *campaigns.Plan) string {
	if p.Base.Serial == 0 {
		return "No changes. The programme is empty and nothing is applied."
	}
	return fmt.Sprintf("No changes. The programme matches applied version %d (%s).", p.Base.Serial, ShortHash(p.Base.Hash))
}

// ContactsHiddenNote is the line a plan without example contacts shows
// where they would be.
const ContactsHiddenNote = "contact addresses hidden; --show-contacts shows them"

// ShortHash is a hash cut to 12 hex digits for people: "sha256:0123456789ab".
func ShortHash(hash string) string {
	if i := strings.IndexByte(hash, ':'); i >= 0 && len(hash) > i+13 {
		return hash[:i+13]
	}
	return hash
}

func baseLine(p *campaigns.Plan) string {
	if p.Base.Serial == 0 {
		return "nothing applied yet → programme " + ShortHash(p.Hash)
	}
	return fmt.Sprintf("applied version %d (%s) → programme %s", p.Base.Serial, ShortHash(p.Base.Hash), ShortHash(p.Hash))
}

// RenderText writes the plan as people read it on a terminal; colour adds
// ANSI colours to the markers.
func RenderText(w io.Writer, p *campaigns.Plan, colour bool) error {
	b := &strings.Builder{}
	paint := func(action, s string) string {
		if !colour {
			return s
		}
		return colours[action] + s + reset
	}
	if p.Empty() {
		fmt.Fprintln(b, NoChanges(p))
		writePaused(b, p.Paused)
		writeImpact(b, p)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(b, "nurture plan: %s\n\n", baseLine(p))
	for _, c := range p.Changes {
		addr := c.Address
		if colour {
			addr = bold + addr + reset
		}
		fmt.Fprintf(b, "  %s %s\n", paint(c.Action, marks[c.Action]), addr)
		for _, d := range c.Details {
			m := paint(d.Action, marks[d.Action])
			switch {
			case d.Diff != "":
				fmt.Fprintf(b, "      %s %s:\n", m, d.Path)
				for _, l := range strings.Split(strings.TrimSuffix(d.Diff, "\n"), "\n") {
					switch {
					case strings.HasPrefix(l, "+"):
						l = paint(campaigns.ActionAdd, l)
					case strings.HasPrefix(l, "-"):
						l = paint(campaigns.ActionRemove, l)
					}
					fmt.Fprintf(b, "          %s\n", l)
				}
			case d.Action == campaigns.ActionMove && d.Path == "steps":
				fmt.Fprintf(b, "      %s steps reordered: %s → %s\n", m, d.Before, d.After)
			case d.Action == campaigns.ActionMove:
				fmt.Fprintf(b, "      %s %s: renamed from %s (moved)\n", m, d.Path, d.Before)
			case d.Action == campaigns.ActionAdd:
				fmt.Fprintf(b, "      %s %s: %s\n", m, d.Path, d.After)
			case d.Action == campaigns.ActionRemove:
				fmt.Fprintf(b, "      %s %s: %s\n", m, d.Path, d.Before)
			case len(d.Before)+len(d.After) <= 70:
				fmt.Fprintf(b, "      %s %s: %s → %s\n", m, d.Path, d.Before, d.After)
			default:
				fmt.Fprintf(b, "      %s %s\n", m, d.Path)
				fmt.Fprintf(b, "          %s %s\n", paint(campaigns.ActionRemove, "-"), d.Before)
				fmt.Fprintf(b, "          %s %s\n", paint(campaigns.ActionAdd, "+"), d.After)
			}
		}
	}
	if len(p.Migrations) > 0 {
		fmt.Fprintf(b, "\nContacts in renamed or removed steps:\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, m := range p.Migrations {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Sequence, or(m.Step, "(whole sequence)"), migrationThen(m))
		}
		tw.Flush()
	}
	writeImpact(b, p)
	writeExperiments(b, p.Experiments)
	writeNext(b, p.Next)
	writePaused(b, p.Paused)
	fmt.Fprintf(b, "\n%s\n", SummaryLine(p))
	_, err := io.WriteString(w, b.String())
	return err
}

func migrationThen(m campaigns.Migration) string {
	if m.To != "" {
		return "→ " + m.To + ": " + m.Why
	}
	return "exit " + m.Exit + ": " + m.Why
}

func writeImpact(b *strings.Builder, p *campaigns.Plan) {
	imp := p.Impact
	if imp == nil || (len(imp.Segments) == 0 && len(imp.Steps) == 0 && len(imp.Scores) == 0) {
		return
	}
	fmt.Fprintf(b, "\nAudience impact, %d contacts at %s:\n", imp.Contacts, imp.At.UTC().Format("2006-01-02 15:04 MST"))
	if imp.ContactsHidden {
		fmt.Fprintf(b, "  %s\n", ContactsHiddenNote)
	}
	if len(imp.Segments) > 0 {
		width := len("segment")
		for _, s := range imp.Segments {
			width = max(width, len(s.Segment))
		}
		fmt.Fprintf(b, "  %-*s  %6s  %6s  %8s  %7s\n", width, "segment", "before", "after", "entering", "leaving")
		for _, s := range imp.Segments {
			fmt.Fprintf(b, "  %-*s  %6d  %6d  %8s  %7s\n", width, s.Segment, s.Before, s.After,
				fmt.Sprintf("+%d", s.Entering), fmt.Sprintf("−%d", s.Leaving))
		}
		for _, s := range imp.Segments {
			if len(s.Enter) > 0 {
				fmt.Fprintf(b, "  %s gains e.g. %s\n", s.Segment, strings.Join(s.Enter, ", "))
			}
			if len(s.Leave) > 0 {
				fmt.Fprintf(b, "  %s loses e.g. %s\n", s.Segment, strings.Join(s.Leave, ", "))
			}
		}
	}
	for _, sc := range imp.Scores {
		fmt.Fprintf(b, "\nScores under %s: %d higher, %d lower, %d change band.\n", sc.Model, sc.Higher, sc.Lower, sc.BandChanged)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  threshold\treach\tfall below\n")
		for _, t := range sc.Thresholds {
			name := t.Name
			if t.Handoff {
				name += " (hand-off)"
			}
			fmt.Fprintf(tw, "  %s\t+%d\t−%d\n", name, t.Reach, t.Fall)
		}
		tw.Flush()
		if len(sc.Sample) > 0 {
			fmt.Fprintf(b, "  e.g. %s\n", strings.Join(sc.Sample, ", "))
		}
	}
	if len(imp.Steps) > 0 {
		fmt.Fprintf(b, "\nContacts now in changed steps:\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, s := range imp.Steps {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", s.Sequence, s.Step, s.Contacts, s.Then)
		}
		tw.Flush()
	}
}

// RenderJSON writes the plan as versioned JSON, without the programme it
// carries when saved.
func RenderJSON(w io.Writer, p *campaigns.Plan) error {
	q := *p
	q.Program = nil
	if q.Changes == nil {
		q.Changes = []campaigns.Change{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(q)
}

// RenderMarkdown writes the plan as a pull-request comment: the summary, a
// table of changes, the audience impact, the details and email diffs in
// collapsible blocks, and a Mermaid diagram of each changed sequence.
func RenderMarkdown(w io.Writer, p *campaigns.Plan) error {
	b := &strings.Builder{}
	if p.Empty() {
		fmt.Fprintf(b, "### nurture plan: no changes\n\n%s\n", NoChanges(p))
		writePausedMarkdown(b, p.Paused)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(b, "### nurture plan: %d to add, %d to change, %d to remove\n\n", p.Summary.Add, p.Summary.Change, p.Summary.Remove)
	fmt.Fprintf(b, "%s.\n\n", mdEscape(upperFirst(baseLine(p))))
	fmt.Fprintf(b, "| | object | what changes |\n|---|---|---|\n")
	for _, c := range p.Changes {
		fmt.Fprintf(b, "| %s | `%s` | %s |\n", marks[c.Action], c.Address, mdEscape(changeSummary(c)))
	}
	if imp := p.Impact; imp != nil {
		// Without contacts, no column of examples stands empty.
		eg := func(head string, sample []string) string {
			if imp.ContactsHidden {
				return ""
			}
			if head != "" {
				return " " + head + " |"
			}
			return " " + mdEscape(strings.Join(sample, ", ")) + " |"
		}
		egRule := "---|"
		if imp.ContactsHidden {
			egRule = ""
		}
		if len(imp.Segments) > 0 {
			fmt.Fprintf(b, "\n#### Audience impact\n\n%d contacts, measured at %s.\n\n", imp.Contacts, imp.At.UTC().Format(time.RFC3339))
			if imp.ContactsHidden {
				fmt.Fprintf(b, "%s.\n\n", upperFirst(ContactsHiddenNote))
			}
			fmt.Fprintf(b, "| segment | before | after | entering | leaving |%s\n|---|--:|--:|--:|--:|%s\n", eg("e.g. entering", nil), egRule)
			for _, s := range imp.Segments {
				fmt.Fprintf(b, "| `%s` | %d | %d | +%d | −%d |%s\n", s.Segment, s.Before, s.After, s.Entering, s.Leaving, eg("", s.Enter))
			}
		} else if imp.ContactsHidden && len(imp.Scores) > 0 {
			fmt.Fprintf(b, "\n%s.\n", upperFirst(ContactsHiddenNote))
		}
		for _, sc := range imp.Scores {
			fmt.Fprintf(b, "\n#### Scores under `%s`\n\n%d higher, %d lower, %d change band.\n\n| threshold | reach | fall below |\n|---|--:|--:|\n", sc.Model, sc.Higher, sc.Lower, sc.BandChanged)
			for _, t := range sc.Thresholds {
				name := "`" + t.Name + "`"
				if t.Handoff {
					name += " (hand-off)"
				}
				fmt.Fprintf(b, "| %s | +%d | −%d |\n", name, t.Reach, t.Fall)
			}
			if len(sc.Sample) > 0 {
				fmt.Fprintf(b, "\nFor example %s.\n", mdEscape(strings.Join(sc.Sample, ", ")))
			}
		}
		if len(imp.Steps) > 0 {
			fmt.Fprintf(b, "\n#### Contacts now in changed steps\n\n| sequence | step | contacts | then |\n|---|---|--:|---|\n")
			for _, s := range imp.Steps {
				fmt.Fprintf(b, "| `%s` | `%s` | %d | %s |\n", s.Sequence, s.Step, s.Contacts, mdEscape(s.Then))
			}
		}
	}
	writeExperimentsMarkdown(b, p.Experiments)
	writeNextMarkdown(b, p.Next)
	writePausedMarkdown(b, p.Paused)
	if len(p.Migrations) > 0 {
		fmt.Fprintf(b, "\n#### Contacts in renamed or removed steps\n\n| sequence | step | then |\n|---|---|---|\n")
		for _, m := range p.Migrations {
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", m.Sequence, mdEscape(or(m.Step, "(whole sequence)")), mdEscape(migrationThen(m)))
		}
	}
	previewed := map[string]bool{}
	for _, e := range p.Emails {
		previewed[e.Email] = true
	}
	heading := "\n#### Details\n"
	for _, c := range p.Changes {
		// An email shown as rendered, below, needs no Markdown summary.
		if len(c.Details) == 0 || c.Kind == "email" && previewed[c.Name] {
			continue
		}
		b.WriteString(heading)
		heading = ""
		fmt.Fprintf(b, "\n<details><summary>%s <code>%s</code></summary>\n\n```diff\n", marks[c.Action], htmlEscape(c.Address))
		for _, d := range c.Details {
			writeDiffDetail(b, d)
		}
		fmt.Fprintf(b, "```\n\n</details>\n")
	}
	writeEmailsMarkdown(b, p.Emails)
	if p.Program != nil {
		for _, c := range p.Changes {
			if c.Kind != "sequence" || c.Action == campaigns.ActionRemove {
				continue
			}
			seq := p.Program.Sequences[c.Name]
			if seq == nil {
				continue
			}
			fmt.Fprintf(b, "\n#### Sequence `%s`\n\n```mermaid\n%s```\n", c.Name, Mermaid(seq, c))
		}
	}
	fmt.Fprintf(b, "\n%s\n", SummaryLine(p))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeEmailsMarkdown shows each added or changed email as the sample
// contact would read it, each in a collapsible block, a changed one with
// a diff of what the contact reads before and after.
func writeEmailsMarkdown(b *strings.Builder, es []campaigns.EmailPreview) {
	if len(es) == 0 {
		return
	}
	fmt.Fprintf(b, "\n#### Emails\n\nAs a made-up sample contact (%s) would get them: no real contact's data.\n", mdEscape(es[0].To))
	for _, e := range es {
		fmt.Fprintf(b, "\n<details><summary>%s <code>%s</code>: %s</summary>\n\n", marks[e.Action], htmlEscape(e.Email), htmlEscape(e.After.Subjects[0]))
		label := "Subject"
		if len(e.After.Subjects) > 1 {
			label = "Subjects (A/B)"
		}
		fmt.Fprintf(b, "**%s:** %s<br>\n**Preheader:** %s\n\n", label, mdEscape(strings.Join(e.After.Subjects, " / ")), mdEscape(or(e.After.Preheader, "(none)")))
		if e.Before != nil {
			fmt.Fprintf(b, "```diff\n%s```\n\n", fence(textDiff(readAs(*e.Before), readAs(e.After))))
		}
		text := strings.TrimRight(e.After.Text, "\n")
		fmt.Fprintf(b, "```text\n%s\n```\n\n</details>\n", fence(text))
	}
}

// readAs is an email as its reader meets it, as lines to diff: subject,
// preheader, then the text.
func readAs(r campaigns.RenderedEmail) string {
	var b strings.Builder
	for _, s := range r.Subjects {
		fmt.Fprintf(&b, "Subject: %s\n", s)
	}
	fmt.Fprintf(&b, "Preheader: %s\n\n%s", r.Preheader, r.Text)
	return b.String()
}

// writeDiffDetail writes one detail as lines of a diff block.
func writeDiffDetail(b *strings.Builder, d campaigns.Detail) {
	switch {
	case d.Diff != "":
		fmt.Fprintf(b, "  %s:\n%s", d.Path, fence(d.Diff))
		if !strings.HasSuffix(d.Diff, "\n") {
			b.WriteString("\n")
		}
	case d.Action == campaigns.ActionMove && d.Path == "steps":
		fmt.Fprintf(b, "- steps: %s\n+ steps: %s\n", fence(d.Before), fence(d.After))
	case d.Action == campaigns.ActionMove:
		fmt.Fprintf(b, "! %s: renamed from %s (moved)\n", d.Path, d.Before)
	default:
		if d.Before != "" {
			fmt.Fprintf(b, "- %s: %s\n", d.Path, fence(d.Before))
		}
		if d.After != "" {
			fmt.Fprintf(b, "+ %s: %s\n", d.Path, fence(d.After))
		}
	}
}

// fence keeps text from closing the code block it sits in.
func fence(s string) string { return strings.ReplaceAll(s, "```", "ˋˋˋ") }

func changeSummary(c campaigns.Change) string {
	switch c.Action {
	case campaigns.ActionAdd:
		return "added"
	case campaigns.ActionRemove:
		return "removed"
	}
	var parts []string
	for _, d := range c.Details {
		word := map[string]string{campaigns.ActionAdd: "added", campaigns.ActionChange: "changed", campaigns.ActionRemove: "removed", campaigns.ActionMove: "moved"}[d.Action]
		if d.Path == "steps" {
			parts = append(parts, "steps reordered")
			continue
		}
		parts = append(parts, d.Path+" "+word)
	}
	s := strings.Join(parts, ", ")
	if len(s) > 200 {
		s = s[:strings.LastIndex(s[:200], ",")] + ", …"
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// mdEscape keeps text inside a table cell.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "`", "\\`")
	return r.Replace(s)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Mermaid draws a sequence as a flowchart: a node per step, the way
// contacts go from each, exits as end nodes. Steps the change adds or
// alters are highlighted.
func Mermaid(seq *campaigns.Sequence, c campaigns.Change) string {
	b := &strings.Builder{}
	b.WriteString("flowchart TD\n")
	id := func(i int) string { return fmt.Sprintf("s%d", i+1) }
	idx := map[string]int{}
	for i, st := range seq.Steps {
		idx[st.Name] = i
	}
	exits := map[string]string{}
	exitNode := func(reason string) string {
		if n, ok := exits[reason]; ok {
			return n
		}
		n := fmt.Sprintf("x%d", len(exits)+1)
		exits[reason] = n
		fmt.Fprintf(b, "  %s([\"exit: %s\"])\n", n, mermaidText(reason))
		return n
	}
	b.WriteString("  start((entry))\n")
	for i, st := range seq.Steps {
		fmt.Fprintf(b, "  %s[\"%s<br/>%s\"]\n", id(i), mermaidText(st.Name), mermaidText(describeStep(st)))
	}
	end := exitNode("completed")
	next := func(i int) string {
		if i+1 < len(seq.Steps) {
			return id(i + 1)
		}
		return end
	}
	target := func(i int, a campaigns.Action) string {
		switch {
		case a.Goto != "":
			if j, ok := idx[a.Goto]; ok {
				return id(j)
			}
		case a.Exit != "":
			return exitNode(a.Exit)
		}
		return next(i)
	}
	if len(seq.Steps) > 0 {
		fmt.Fprintf(b, "  start --> %s\n", id(0))
	} else {
		fmt.Fprintf(b, "  start --> %s\n", end)
	}
	for i, st := range seq.Steps {
		switch st.Kind {
		case campaigns.StepGoto:
			if j, ok := idx[st.Goto]; ok {
				fmt.Fprintf(b, "  %s --> %s\n", id(i), id(j))
			}
		case campaigns.StepExit:
			fmt.Fprintf(b, "  %s --> %s\n", id(i), exitNode(st.Exit))
		case campaigns.StepBranch:
			fmt.Fprintf(b, "  %s -->|yes| %s\n", id(i), target(i, st.Branch.Then))
			fmt.Fprintf(b, "  %s -->|no| %s\n", id(i), target(i, st.Branch.Else))
		case campaigns.StepWaitFor:
			fmt.Fprintf(b, "  %s -->|%s| %s\n", id(i), mermaidText(st.WaitFor.Event.Name), target(i, st.WaitFor.Then))
			fmt.Fprintf(b, "  %s -->|after %s| %s\n", id(i), st.WaitFor.Within, target(i, st.WaitFor.Else))
		default:
			fmt.Fprintf(b, "  %s --> %s\n", id(i), next(i))
		}
	}
	touched := map[string]bool{}
	for _, d := range c.Details {
		if strings.HasPrefix(d.Path, "steps.") && d.Action != campaigns.ActionRemove {
			touched[strings.TrimPrefix(d.Path, "steps.")] = true
		}
	}
	if c.Action == campaigns.ActionAdd {
		for _, st := range seq.Steps {
			touched[st.Name] = true
		}
	}
	var ids []string
	for i, st := range seq.Steps {
		if touched[st.Name] {
			ids = append(ids, id(i))
		}
	}
	if len(ids) > 0 {
		b.WriteString("  classDef changed fill:#fff3cd,stroke:#b58900\n")
		fmt.Fprintf(b, "  class %s changed\n", strings.Join(ids, ","))
	}
	return b.String()
}

// mermaidText makes text safe inside a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;").Replace(s)
}

// writeNext writes what the first tick after the apply would do.
func writeNext(b *strings.Builder, n *campaigns.NextTick) {
	if n == nil {
		return
	}
	if n.Error != "" {
		fmt.Fprintf(b, "\nThe next tick could not be rehearsed at %s: %s\n", n.At.UTC().Format(time.RFC3339), n.Error)
		return
	}
	fmt.Fprintf(b, "\nThe next tick, rehearsed on the store at %s and rolled back:\n", n.At.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  enter\t%s\n", or(countList(n.Entered), "no one"))
	if len(n.Control) > 0 {
		fmt.Fprintf(tw, "  held out\t%s (control groups: they walk the steps, get no email)\n", countList(n.Control))
	}
	fmt.Fprintf(tw, "  leave\t%s\n", or(countList(n.Exited), "no one"))
	fmt.Fprintf(tw, "  emails\t%s\n", nextEmails(n))
	if len(n.Handoffs) > 0 {
		fmt.Fprintf(tw, "  to sales\t%s\n", countList(n.Handoffs))
	}
	tw.Flush()
	if len(n.Emails) > 0 {
		width := 0
		for _, e := range n.Emails {
			width = max(width, len(strconv.Itoa(e.Contacts)))
		}
		tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, e := range n.Emails {
			fmt.Fprintf(tw, "    %s\t%s\t%*d\n", e.Sequence, e.Email, width, e.Contacts)
		}
		tw.Flush()
	}
}

func writeNextMarkdown(b *strings.Builder, n *campaigns.NextTick) {
	if n == nil {
		return
	}
	if n.Error != "" {
		fmt.Fprintf(b, "\n#### The next tick\n\n> [!WARNING]\n> It could not be rehearsed at %s: %s\n", n.At.UTC().Format(time.RFC3339), mdEscape(n.Error))
		return
	}
	fmt.Fprintf(b, "\n#### The next tick\n\nRehearsed on the store at %s and rolled back: the worker's own decisions, after exit rules, caps, priorities and suppressions.\n\n", n.At.UTC().Format(time.RFC3339))
	fmt.Fprintf(b, "- enter: %s\n- leave: %s\n- emails: %s\n", mdEscape(or(countList(n.Entered), "no one")), mdEscape(or(countList(n.Exited), "no one")), mdEscape(nextEmails(n)))
	if len(n.Control) > 0 {
		fmt.Fprintf(b, "- held out: %s (control groups: they walk the steps, get no email)\n", mdEscape(countList(n.Control)))
	}
	if len(n.Handoffs) > 0 {
		fmt.Fprintf(b, "- to sales: %s\n", mdEscape(countList(n.Handoffs)))
	}
	if len(n.Emails) > 0 {
		fmt.Fprintf(b, "\n| sequence | email | contacts |\n|---|---|--:|\n")
		for _, e := range n.Emails {
			fmt.Fprintf(b, "| `%s` | `%s` | %d |\n", e.Sequence, e.Email, e.Contacts)
		}
	}
}

// writePaused says which sequences an operator paused: a reviewer
// should know that what the plan predicts waits for a resume.
func writePaused(b *strings.Builder, ps []string) {
	if len(ps) > 0 {
		fmt.Fprintf(b, "\nPaused: %s. Ticks neither advance nor send it until nurture resume.\n", pausedNames(ps))
	}
}

func writePausedMarkdown(b *strings.Builder, ps []string) {
	if len(ps) > 0 {
		fmt.Fprintf(b, "\n> [!NOTE]\n> Paused: %s. Ticks neither advance nor send it until `nurture resume`.\n", mdEscape(pausedNames(ps)))
	}
}

// pausedNames lists paused sequences, "*" being all sending.
func pausedNames(ps []string) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p
		if p == "*" {
			out[i] = "all sending"
		}
	}
	return strings.Join(out, ", ")
}

// nextEmails is "172 planned, 41 held back (30 by the sending window, 11
// by the cadence caps)".
func nextEmails(n *campaigns.NextTick) string {
	planned := 0
	for _, e := range n.Emails {
		planned += e.Contacts
	}
	line := fmt.Sprintf("%d planned", planned)
	if held := n.HeldBack; len(held) > 0 {
		total := 0
		for _, k := range held {
			total += k
		}
		by := map[string]int{}
		for k, c := range held {
			by["by the "+strings.ReplaceAll(k, "_", " ")] = c
		}
		line += fmt.Sprintf(", %d held back (%s)", total, countList(by))
	}
	if out := n.HeldOut; len(out) > 0 {
		total := 0
		for _, k := range out {
			total += k
		}
		line += fmt.Sprintf(", %d held out (%s)", total, countList(out))
	}
	return line
}

// countList writes counts by name as "62 nurture_leaders, 18
// pricing_intent", largest first.
func countList(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}
