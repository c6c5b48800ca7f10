package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
)

type explainFlags struct {
	dir   string
	store string
	now   string
}

func newExplain() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain EMAIL",
		Short: "Explain one contact: its score rule by rule, its segments and why not the others, its enrollments",
		Example: `  nurture explain ann@acme.example
  # under the programme's source instead of the applied version
  nurture explain ann@acme.example --dir examples/b2b-saas --now 2026-11-23T00:00:00Z`,
		Long: `Explain shows what the programme makes of one contact: its score under
each model, rule by rule; each segment it is in, and for the others the
conditions it fails; and its enrollments with their steps.

It explains the programme applied to the store, or with --dir the
programme in a directory (before applying it).`,
		Args: exactArgs(1, "name the contact's email address"),
		RunE: func(cmd *cobra.Command, args []string) error {
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			return runExplain(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], f, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	cmd.Flags().StringVar(&f.dir, "dir", "", "explain under the programme in this directory instead of the applied one")
	cmd.Flags().StringVar(&f.now, "now", "", "explain as of this RFC 3339 time instead of now")
	return cmd
}

func runExplain(ctx context.Context, stdout, stderr io.Writer, email string, f explainFlags, now time.Time) error {
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	var prog *campaigns.Program
	under := ""
	if f.dir != "" {
		if prog, err = compileFor(stderr, f.dir); err != nil {
			return err
		}
		if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
			return err
		}
		under = "the programme in " + f.dir
	} else {
		v, err := st.Applied(ctx)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("nothing is applied to this store: apply a programme first, or explain under one with --dir DIR")
		}
		prog = new(campaigns.Program)
		if err := json.Unmarshal(v.Program, prog); err != nil {
			return fmt.Errorf("reading applied version %d: %w", v.Serial, err)
		}
		under = fmt.Sprintf("applied version %d", v.Serial)
	}
	c, err := st.Contact(ctx, email)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("no contact %s in the store", email)
	}
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s (contact %d) under %s, at %s\n", c.Email, c.ID, under, now.Format("2006-01-02 15:04 MST"))
	var attrs []string
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range c.Values {
			if n != campaigns.AttrEmail && !yield(n) {
				return
			}
		}
	}) {
		v := c.Values[n]
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339)
		}
		attrs = append(attrs, fmt.Sprintf("%s %v", n, v))
	}
	if len(attrs) > 0 {
		fmt.Fprintf(b, "  %s\n", strings.Join(attrs, ", "))
	}
	if ps, ok := st.(interface {
		Preferences(ctx context.Context, id int64) (runtime.Preferences, error)
	}); ok {
		p, err := ps.Preferences(ctx, c.ID)
		if err != nil {
			return err
		}
		var chose []string
		if p.Frequency != "" {
			chose = append(chose, "at most "+map[string]string{runtime.FrequencyWeekly: "one email a week", runtime.FrequencyMonthly: "one email a month"}[p.Frequency])
		}
		if len(p.TopicsOut) > 0 {
			chose = append(chose, "no more "+strings.Join(p.TopicsOut, ", "))
		}
		if len(chose) > 0 {
			fmt.Fprintf(b, "  preferences (%s): %s\n", p.UpdatedAt.UTC().Format("2006-01-02"), strings.Join(chose, "; "))
		}
	}

	for _, name := range sortedNames(prog.Scoring) {
		m := prog.Scoring[name]
		bd, err := st.ScoreBreakdown(ctx, prog, name, c.ID, now)
		if err != nil {
			return fmt.Errorf("scoring model %s: %w", name, err)
		}
		fmt.Fprintf(b, "\nScore %s: %s", name, num(bd.Score))
		if m.Max > 0 {
			fmt.Fprintf(b, " of %d", m.Max)
		}
		var reached, not []string
		for _, t := range sortedByValue(m.Thresholds) {
			s := fmt.Sprintf("%s (%s)", t, num(m.Thresholds[t]))
			if bd.Score >= m.Thresholds[t] {
				reached = append(reached, s)
			} else {
				not = append(not, s)
			}
		}
		if len(reached) > 0 {
			fmt.Fprintf(b, "; reaches %s", strings.Join(reached, ", "))
		}
		if len(not) > 0 {
			fmt.Fprintf(b, "; not %s", strings.Join(not, ", "))
		}
		fmt.Fprintln(b)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, r := range bd.Rules {
			fmt.Fprintf(tw, "  %s\t%s\n", r.Rule, signed(r.Points))
		}
		tw.Flush()
	}

	if len(prog.Scoring) > 0 {
		fmt.Fprintf(b, "  (scored now; segments and exit rules read the score nurture run last stored)\n")
	}

	if err := explainBasis(ctx, b, st, prog, c, now); err != nil {
		return err
	}

	if len(prog.Segments) > 0 {
		// Each segment's condition, then — when it is a conjunction — each
		// of its parts, so that a miss can name the parts it fails.
		names := sortedNames(prog.Segments)
		var preds []campaigns.Predicate
		parts := map[string][]campaigns.Predicate{}
		for _, n := range names {
			w := prog.Segments[n].When
			ps := []campaigns.Predicate{w}
			if w.Op == campaigns.OpAll && len(w.Args) > 1 {
				ps = append(ps, w.Args...)
			}
			parts[n] = ps
			preds = append(preds, ps...)
		}
		got, err := st.Matches(ctx, prog, c.ID, preds, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "\nSegments\n")
		for _, n := range names {
			ps, met := parts[n], got[:len(parts[n])]
			got = got[len(ps):]
			if met[0] {
				fmt.Fprintf(b, "  ✓ %s\n", n)
				continue
			}
			failed := []string{compiler.DescribePredicate(ps[0])}
			if len(ps) > 1 {
				failed = failed[:0]
				for i, p := range ps[1:] {
					if !met[i+1] {
						failed = append(failed, compiler.DescribePredicate(p))
					}
				}
			}
			fmt.Fprintf(b, "  ✗ %s: fails %s\n", n, strings.Join(failed, "; "))
		}
	}

	es, err := st.Enrollments(ctx, c.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\nEnrollments\n")
	if len(es) == 0 {
		fmt.Fprintf(b, "  none: nurture run has not enrolled this contact in any sequence\n")
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	// The sequence that interrupted an enrollment is the one the contact
	// entered as it left.
	took := func(left runtime.Enrollment) string {
		for _, x := range es {
			if x.Sequence != left.Sequence && x.EnteredAt.Equal(left.ExitedAt) {
				return x.Sequence
			}
		}
		return ""
	}
	for _, e := range es {
		line := fmt.Sprintf("  %s\t%s\tentered %s", e.Sequence, e.State, e.EnteredAt.UTC().Format(time.RFC3339))
		if e.State == "active" {
			line += "\tat step " + e.Step + " since " + e.StepSince.UTC().Format(time.RFC3339)
			if !e.NextCheckAt.IsZero() {
				line += ", next check " + e.NextCheckAt.UTC().Format(time.RFC3339)
			}
			if e.Waiting != "" {
				line += ": " + e.Waiting
			}
		} else {
			line += "\tleft " + e.ExitedAt.UTC().Format(time.RFC3339) + ": " + e.ExitReason
			if by := took(e); e.ExitReason == engine.ReasonInterrupted && by != "" {
				line += " by " + by + " (higher priority)"
			}
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	hs, err := st.Handoffs(ctx, runtime.HandoffFilter{Contact: c.ID})
	if err != nil {
		return err
	}
	if len(hs) > 0 {
		fmt.Fprintf(b, "\nHand-offs to sales\n")
		writeHandoffs(b, hs, "  ")
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

func num(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func signed(v float64) string {
	if v >= 0 {
		return "+" + num(v)
	}
	return num(v)
}

func sortedByValue(m map[string]float64) []string {
	names := sortedNames(m)
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case m[a] < m[b]:
			return -1
		case m[a] > m[b]:
			return 1
		}
		return 0
	})
	return names
}

// explainBasis says whether marketing may mail the contact at all: the
// consent record the lawful basis asks for, or the legitimate interest
// the sender declares — and, when neither, that marketing sequences do
// not enroll it.
func explainBasis(ctx context.Context, b *strings.Builder, st runtime.Store, prog *campaigns.Program, c *runtime.Contact, now time.Time) error {
	lawful := prog.Sender.Lawful()
	if lawful == nil {
		return nil
	}
	fmt.Fprintf(b, "\nLawful basis: %s\n", prog.Sender.LawfulBasis)
	cs, err := st.Consents(ctx, c.Email)
	if err != nil {
		return err
	}
	for _, k := range cs {
		fmt.Fprintf(b, "  ✓ consent given %s (%s, wording %s)\n", k.At.UTC().Format(time.RFC3339), k.Source, k.Wording)
	}
	if len(cs) > 0 {
		return nil
	}
	if li := prog.Sender.LegitimateInterest; li != nil {
		met, err := st.Matches(ctx, prog, c.ID, []campaigns.Predicate{*li}, now)
		if err != nil {
			return err
		}
		mark := "✗"
		if met[0] {
			mark = "✓"
		}
		fmt.Fprintf(b, "  %s legitimate interest: %s\n", mark, compiler.DescribePredicate(*li))
		if met[0] {
			return nil
		}
	}
	{
		fmt.Fprintf(b, "  ✗ no consent record for this address: marketing sequences do not enroll it (transactional ones do); import its consent_at to record one\n")
	}
	return nil
}
