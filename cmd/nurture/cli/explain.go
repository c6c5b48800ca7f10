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
	dir     string
	store   string
	now     string
	format  string
	account string
}

// Explanation is what nurture explain shows of one contact; the text and
// the JSON are rendered from it.
type Explanation struct {
	Email      string         `json:"email"`
	ID         int64          `json:"contact_id"`
	Under      string         `json:"under"`
	At         time.Time      `json:"at"`
	Attributes map[string]any `json:"attributes"`
	// Preferences are what the contact chose on the preference page.
	Preferences *ExplainPreferences `json:"preferences,omitempty"`
	// Account is the contact's account, when it has one and the
	// programme declares account attributes or an account score.
	Account     *ExplainAccount         `json:"account,omitempty"`
	Scores      []ExplainScore          `json:"scores"`
	Basis       *ExplainBasis           `json:"lawful_basis,omitempty"`
	Segments    []ExplainSegment        `json:"segments"`
	Enrollments []ExplainEnrollment     `json:"enrollments"`
	Handoffs    []runtime.HandoffRecord `json:"handoffs"`
	// Timeline is the contact's history, oldest first: enrollments and
	// exits, sends with their state, events (opens and clicks among
	// them) and hand-offs.
	Timeline []TimelineEntry `json:"timeline"`
}

// ExplainAccount is a contact's account as its conditions read it.
type ExplainAccount struct {
	Key        string         `json:"key"`
	Imported   bool           `json:"imported"`
	Attributes map[string]any `json:"attributes"`
	Score      *AccountScore  `json:"score,omitempty"`
}

type ExplainPreferences struct {
	Frequency string   `json:"frequency,omitempty"`
	TopicsOut []string `json:"topics_out,omitempty"`
	// PausedUntil is when the contact's pause of marketing email ends,
	// while it lasts.
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

type ExplainScore struct {
	Model   string              `json:"model"`
	Score   float64             `json:"score"`
	Max     int                 `json:"max,omitempty"`
	Reached []string            `json:"reached"`
	Rules   []ExplainRulePoints `json:"rules"`
}

type ExplainRulePoints struct {
	Rule   string  `json:"rule"`
	Points float64 `json:"points"`
}

type ExplainBasis struct {
	Basis              string            `json:"basis"`
	Consents           []ExplainConsent  `json:"consents"`
	LegitimateInterest *ExplainCondition `json:"legitimate_interest,omitempty"`
	Mailable           bool              `json:"marketing_may_enroll"`
}

type ExplainConsent struct {
	At      time.Time `json:"at"`
	Source  string    `json:"source"`
	Wording string    `json:"wording"`
}

type ExplainCondition struct {
	Condition string `json:"condition"`
	Met       bool   `json:"met"`
}

type ExplainSegment struct {
	Name   string   `json:"name"`
	Member bool     `json:"member"`
	Fails  []string `json:"fails,omitempty"`
}

type ExplainEnrollment struct {
	Sequence      string    `json:"sequence"`
	State         string    `json:"state"`
	Step          string    `json:"step,omitempty"`
	StepSince     time.Time `json:"step_since,omitzero"`
	NextCheckAt   time.Time `json:"next_check_at,omitzero"`
	Waiting       string    `json:"waiting,omitempty"`
	EnteredAt     time.Time `json:"entered_at"`
	ExitedAt      time.Time `json:"exited_at,omitzero"`
	ExitReason    string    `json:"exit_reason,omitempty"`
	InterruptedBy string    `json:"interrupted_by,omitempty"`
	// Paused says who paused the sequence (or all sending), when and why.
	Paused string `json:"paused,omitempty"`
	// Arm is the holdout arm the enrollment was assigned; HeldOut, for a
	// control arm, says why the contact gets none of the sequence's email.
	Arm     string `json:"arm,omitempty"`
	HeldOut string `json:"held_out,omitempty"`
}

// heldOutWhy says why an enrollment in a control arm gets no email: the
// holdout that drew it, as large as the programme now declares it.
func heldOutWhy(prog *campaigns.Program, e runtime.Enrollment) string {
	now := func(h campaigns.Share) string {
		if h == 0 {
			return "a holdout since removed, which still holds it"
		}
		return "a holdout of " + h.String()
	}
	if e.Arm == campaigns.ArmGlobalControl {
		return "in the programme's control group (" + now(prog.Holdout) + " of contacts, drawn by address): no marketing email from any sequence; its goals still count"
	}
	var h campaigns.Share
	if seq := prog.Sequences[e.Sequence]; seq != nil {
		h = seq.Holdout
	}
	return "in " + e.Sequence + "'s control group (" + now(h) + ", drawn by address as it entered): it walks the steps and gets none of the email; its goals still count"
}

// TimelineEntry is one thing that happened to a contact.
type TimelineEntry struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // entered, exited, send, event, handoff
	// Sequence and Step name where it happened, for enrollments and sends.
	Sequence string `json:"sequence,omitempty"`
	Step     string `json:"step,omitempty"`
	// What is the email, the event's name or the hand-off.
	What string `json:"what,omitempty"`
	// State is a send's ledger state or a hand-off's status.
	State string         `json:"state,omitempty"`
	Note  string         `json:"note,omitempty"`
	Props map[string]any `json:"props,omitempty"`
}

func newExplain() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain EMAIL | --account KEY",
		Short: "Explain one contact: its score rule by rule, its segments and why not the others, its enrollments; or one account",
		Example: `  nurture explain ann@acme.example
  nurture explain --account acme
  # under the programme's source instead of the applied version
  nurture explain ann@acme.example --dir examples/b2b-saas --now 2026-11-23T00:00:00Z
  nurture explain ann@acme.example --format json`,
		Long: `Explain shows what the programme makes of one contact: its score under
each model, rule by rule; each segment it is in, and for the others the
conditions it fails; its enrollments with their steps, and whether a
pause holds them; and its timeline: when it entered and left sequences,
each email with its state, its events (opens and clicks among them) and
its hand-offs to sales.

With --account KEY it explains an account instead: its attributes, its
account score and the thresholds it reaches, and how many of its
contacts each segment holds.

It explains the programme applied to the store, or with --dir the
programme in a directory (before applying it).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.account != "" {
				return exactArgs(0, "--account explains an account: give its key alone")(cmd, args)
			}
			return exactArgs(1, "name the contact's email address, or an account with --account KEY")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			if f.format != "text" && f.format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", f.format)
			}
			email := ""
			if len(args) == 1 {
				email = args[0]
			}
			return runExplain(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), email, f, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	cmd.Flags().StringVar(&f.dir, "dir", "", "explain under the programme in this directory instead of the applied one")
	cmd.Flags().StringVar(&f.now, "now", "", "explain as of this RFC 3339 time instead of now")
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&f.account, "account", "", "explain the account with this key (its contacts' account attribute) instead of a contact")
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
	if f.account != "" {
		return explainAccount(ctx, stdout, st, prog, under, f.account, f.format, now)
	}
	c, err := st.Contact(ctx, email)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("no contact %s in the store", email)
	}
	b := &strings.Builder{}
	x := &Explanation{Email: c.Email, ID: c.ID, Under: under, At: now, Attributes: map[string]any{}}
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
		x.Attributes[n] = v
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
		if fr, offered, ok := prog.Frequency(p.Frequency); ok {
			if offered {
				chose = append(chose, strings.ToLower(fr.Label[:1])+fr.Label[1:]+" ("+fr.Name+", "+fr.Describe()+")")
			} else {
				chose = append(chose, p.Frequency+", which the programme no longer offers: held to the strictest, "+fr.Name+" ("+fr.Describe()+")")
			}
		}
		if len(p.TopicsOut) > 0 {
			chose = append(chose, "no more "+strings.Join(p.TopicsOut, ", "))
		}
		var paused *time.Time
		if p.Paused(now) {
			until := p.PausedUntil.UTC()
			paused = &until
			chose = append(chose, "marketing email paused until "+until.Format(time.RFC3339))
		}
		if len(chose) > 0 {
			x.Preferences = &ExplainPreferences{Frequency: p.Frequency, TopicsOut: p.TopicsOut, PausedUntil: paused, UpdatedAt: p.UpdatedAt.UTC()}
			fmt.Fprintf(b, "  preferences (%s): %s\n", p.UpdatedAt.UTC().Format("2006-01-02"), strings.Join(chose, "; "))
		}
	}

	if key, _ := c.Values[campaigns.AttrAccount].(string); key != "" && (len(prog.Accounts.Attributes) > 0 || prog.Accounts.Score != nil) {
		if x.Account, err = contactAccount(ctx, b, st, prog, key); err != nil {
			return err
		}
	}

	for _, name := range sortedNames(prog.Scoring) {
		m := prog.Scoring[name]
		bd, err := st.ScoreBreakdown(ctx, prog, name, c.ID, now)
		if err != nil {
			return fmt.Errorf("scoring model %s: %w", name, err)
		}
		xs := ExplainScore{Model: name, Score: bd.Score, Max: m.Max, Reached: []string{}, Rules: []ExplainRulePoints{}}
		fmt.Fprintf(b, "\nScore %s: %s", name, num(bd.Score))
		if m.Max > 0 {
			fmt.Fprintf(b, " of %d", m.Max)
		}
		var reached, not []string
		for _, t := range sortedByValue(m.Thresholds) {
			s := fmt.Sprintf("%s (%s)", t, num(m.Thresholds[t]))
			if bd.Score >= m.Thresholds[t] {
				reached = append(reached, s)
				xs.Reached = append(xs.Reached, t)
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
			xs.Rules = append(xs.Rules, ExplainRulePoints{r.Rule, r.Points})
			fmt.Fprintf(tw, "  %s\t%s\n", r.Rule, signed(r.Points))
		}
		x.Scores = append(x.Scores, xs)
		tw.Flush()
	}

	if len(prog.Scoring) > 0 {
		fmt.Fprintf(b, "  (scored now; segments and exit rules read the score nurture run last stored)\n")
	}

	if err := explainBasis(ctx, b, x, st, prog, c, now); err != nil {
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
				x.Segments = append(x.Segments, ExplainSegment{Name: n, Member: true})
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
			x.Segments = append(x.Segments, ExplainSegment{Name: n, Fails: failed})
			fmt.Fprintf(b, "  ✗ %s: fails %s\n", n, strings.Join(failed, "; "))
		}
	}

	es, err := st.Enrollments(ctx, c.ID)
	if err != nil {
		return err
	}
	ops, _ := st.(opsStore)
	var pauses []runtime.Pause
	if ops != nil {
		if pauses, err = ops.Pauses(ctx); err != nil {
			return err
		}
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
		xe := ExplainEnrollment{Sequence: e.Sequence, State: e.State, Step: e.Step, StepSince: e.StepSince.UTC(), NextCheckAt: e.NextCheckAt.UTC(),
			Waiting: e.Waiting, EnteredAt: e.EnteredAt.UTC(), ExitedAt: e.ExitedAt.UTC(), ExitReason: e.ExitReason}
		line := fmt.Sprintf("  %s\t%s\tentered %s", e.Sequence, e.State, e.EnteredAt.UTC().Format(time.RFC3339))
		if e.State == "active" {
			if p := pausedFor(pauses, e.Sequence); p != nil {
				xe.Paused = describePause(*p)
				line += "\tPAUSED (" + xe.Paused + ")"
			}
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
				xe.InterruptedBy = by
				line += " by " + by + " (higher priority)"
			}
		}
		if xe.Arm = e.Arm; campaigns.HeldOut(e.Arm) {
			xe.HeldOut = heldOutWhy(prog, e)
			line += "\tHELD OUT: " + xe.HeldOut
		}
		x.Enrollments = append(x.Enrollments, xe)
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	hs, err := st.Handoffs(ctx, runtime.HandoffFilter{Contact: c.ID})
	if err != nil {
		return err
	}
	x.Handoffs = hs
	if len(hs) > 0 {
		fmt.Fprintf(b, "\nHand-offs to sales\n")
		writeHandoffs(b, hs, "  ")
	}
	if ops != nil {
		if x.Timeline, err = timeline(ctx, ops, c, es, hs); err != nil {
			return err
		}
		writeContactTimeline(b, x.Timeline)
	}
	if f.format == "json" {
		for _, p := range []*[]ExplainScore{&x.Scores} {
			if *p == nil {
				*p = []ExplainScore{}
			}
		}
		if x.Segments == nil {
			x.Segments = []ExplainSegment{}
		}
		if x.Enrollments == nil {
			x.Enrollments = []ExplainEnrollment{}
		}
		if x.Handoffs == nil {
			x.Handoffs = []runtime.HandoffRecord{}
		}
		if x.Timeline == nil {
			x.Timeline = []TimelineEntry{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(x)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// timeline gathers a contact's history, oldest first.
func timeline(ctx context.Context, st opsStore, c *runtime.Contact, es []runtime.Enrollment, hs []runtime.HandoffRecord) ([]TimelineEntry, error) {
	var out []TimelineEntry
	for _, e := range es {
		out = append(out, TimelineEntry{At: e.EnteredAt.UTC(), Kind: "entered", Sequence: e.Sequence})
		if !e.ExitedAt.IsZero() {
			out = append(out, TimelineEntry{At: e.ExitedAt.UTC(), Kind: "exited", Sequence: e.Sequence, Step: e.Step, Note: e.ExitReason})
		}
	}
	sends, err := st.Ledger(ctx, runtime.SendFilter{Email: c.Email})
	if err != nil {
		return nil, err
	}
	for _, r := range sends {
		t := TimelineEntry{At: r.PlannedAt.UTC(), Kind: "send", Sequence: r.Sequence, Step: r.Step, What: r.Email, State: r.Status, Note: r.Error}
		if !r.SentAt.IsZero() {
			t.At = r.SentAt.UTC()
		}
		out = append(out, t)
	}
	evs, err := st.ContactEvents(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		t := TimelineEntry{At: e.At.UTC(), Kind: "event", What: e.Name, Props: e.Props}
		if e.Name == campaigns.EventOpened {
			t.Note = "opens are unreliable: image proxies open mail unread"
		}
		out = append(out, t)
	}
	for _, h := range hs {
		out = append(out, TimelineEntry{At: h.CreatedAt.UTC(), Kind: "handoff", Sequence: h.Sequence, What: h.Handoff, State: h.Status, Note: h.Reason})
	}
	kinds := map[string]int{"entered": 0, "send": 1, "event": 2, "handoff": 3, "exited": 4}
	slices.SortStableFunc(out, func(a, b TimelineEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return kinds[a.Kind] - kinds[b.Kind]
	})
	return out, nil
}

func writeContactTimeline(b *strings.Builder, tl []TimelineEntry) {
	fmt.Fprintf(b, "\nTimeline\n")
	if len(tl) == 0 {
		fmt.Fprintf(b, "  nothing yet: no events, enrollments or email\n")
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, t := range tl {
		var what string
		switch t.Kind {
		case "entered":
			what = t.Sequence
		case "exited":
			what = t.Sequence + ": " + t.Note
		case "send":
			what = t.Sequence + "/" + t.Step + " " + t.What + " (" + t.State + ")"
		case "event":
			what = t.What
			for _, k := range sortedNames(t.Props) {
				what += fmt.Sprintf(" %s=%v", k, t.Props[k])
			}
			if t.Note != "" {
				what += " (" + t.Note + ")"
			}
		case "handoff":
			what = t.What + " (" + t.Note + ", " + t.State + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.At.Format(time.RFC3339), t.Kind, what)
	}
	tw.Flush()
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
func explainBasis(ctx context.Context, b *strings.Builder, x *Explanation, st runtime.Store, prog *campaigns.Program, c *runtime.Contact, now time.Time) error {
	lawful := prog.Sender.Lawful()
	if lawful == nil {
		return nil
	}
	x.Basis = &ExplainBasis{Basis: prog.Sender.LawfulBasis, Consents: []ExplainConsent{}}
	fmt.Fprintf(b, "\nLawful basis: %s\n", prog.Sender.LawfulBasis)
	cs, err := st.Consents(ctx, c.Email)
	if err != nil {
		return err
	}
	for _, k := range cs {
		x.Basis.Consents = append(x.Basis.Consents, ExplainConsent{At: k.At.UTC(), Source: k.Source, Wording: k.Wording})
		fmt.Fprintf(b, "  ✓ consent given %s (%s, wording %s)\n", k.At.UTC().Format(time.RFC3339), k.Source, k.Wording)
	}
	if len(cs) > 0 {
		x.Basis.Mailable = true
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
		x.Basis.LegitimateInterest = &ExplainCondition{Condition: compiler.DescribePredicate(*li), Met: met[0]}
		fmt.Fprintf(b, "  %s legitimate interest: %s\n", mark, compiler.DescribePredicate(*li))
		if met[0] {
			x.Basis.Mailable = true
			return nil
		}
	}
	{
		fmt.Fprintf(b, "  ✗ no consent record for this address: marketing sequences do not enroll it (transactional ones do); import its consent_at to record one\n")
	}
	return nil
}
