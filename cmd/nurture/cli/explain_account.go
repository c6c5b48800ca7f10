package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// AccountExplanation is what nurture explain --account shows of one
// account; the text and the JSON are rendered from it.
type AccountExplanation struct {
	Key        string         `json:"account"`
	Under      string         `json:"under"`
	At         time.Time      `json:"at"`
	Imported   bool           `json:"imported"`
	Attributes map[string]any `json:"attributes"`
	Contacts   int            `json:"contacts"`
	Score      *AccountScore  `json:"score,omitempty"`
	// Segments count the account's contacts in each segment.
	Segments []AccountSegment `json:"segments"`
	// Handoffs are the account's hand-offs to sales (per: "account"),
	// newest first, each with the contacts that reached it.
	Handoffs []runtime.HandoffRecord `json:"handoffs"`
}

// AccountScore is an account's score and the thresholds it reaches.
type AccountScore struct {
	Score   float64  `json:"score"`
	Model   string   `json:"model"`
	Rollup  string   `json:"rollup"`
	Reached []string `json:"reached"`
}

// AccountSegment is how many of an account's contacts a segment holds.
type AccountSegment struct {
	Name     string `json:"name"`
	Contacts int    `json:"contacts"`
}

// explainAccount explains the account with key: its attributes, its
// score under the programme's roll-up, and how many of its contacts each
// segment holds, counted in one pass by the store.
func explainAccount(ctx context.Context, stdout io.Writer, st runtime.Store, prog *campaigns.Program, under, key string, format string, now time.Time) error {
	a, err := st.Account(ctx, key)
	if err != nil {
		return err
	}
	x := &AccountExplanation{Key: key, Under: under, At: now, Attributes: map[string]any{}, Segments: []AccountSegment{}}
	if a != nil {
		x.Imported = true
		for k, v := range a.Values {
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339)
			}
			x.Attributes[k] = v
		}
	}
	ofAccount := campaigns.Predicate{Op: campaigns.OpAttr, Cond: &campaigns.Condition{Field: campaigns.AttrAccount, Cmp: campaigns.CmpEq, Value: key}}
	names := sortedNames(prog.Segments)
	preds := []campaigns.Predicate{ofAccount}
	for _, n := range names {
		preds = append(preds, campaigns.All(ofAccount, campaigns.Predicate{Op: campaigns.OpSegment, Segment: n}))
	}
	counts, err := st.Counts(ctx, prog, preds, now)
	if err != nil {
		return err
	}
	x.Contacts = counts[0]
	if a == nil && x.Contacts == 0 {
		return fmt.Errorf("no account %s in the store: neither imported nor named by a contact", key)
	}
	for i, n := range names {
		x.Segments = append(x.Segments, AccountSegment{Name: n, Contacts: counts[i+1]})
	}
	if s := prog.Accounts.Score; s != nil {
		v, _, err := st.AccountScore(ctx, prog, key)
		if err != nil {
			return err
		}
		x.Score = &AccountScore{Score: v, Model: s.Model, Rollup: describeRollup(s), Reached: []string{}}
		for _, t := range sortedByValue(s.Thresholds) {
			if v >= s.Thresholds[t] {
				x.Score.Reached = append(x.Score.Reached, t)
			}
		}
	}
	if x.Handoffs, err = st.Handoffs(ctx, runtime.HandoffFilter{Account: key}); err != nil {
		return err
	}
	if x.Handoffs == nil {
		x.Handoffs = []runtime.HandoffRecord{}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(x)
	}

	b := &strings.Builder{}
	fmt.Fprintf(b, "account %s under %s, at %s\n", key, under, now.Format("2006-01-02 15:04 MST"))
	switch {
	case a == nil:
		fmt.Fprintf(b, "  not imported: no attributes (nurture accounts import gives them)\n")
	case len(x.Attributes) > 0:
		var attrs []string
		for _, n := range sortedNames(x.Attributes) {
			attrs = append(attrs, fmt.Sprintf("%s %v", n, x.Attributes[n]))
		}
		fmt.Fprintf(b, "  %s\n", strings.Join(attrs, ", "))
	}
	fmt.Fprintf(b, "  %s\n", plural(x.Contacts, "contact"))
	if s := prog.Accounts.Score; s != nil {
		fmt.Fprintf(b, "\nAccount score: %s (%s of the %s scores)", num(x.Score.Score), x.Score.Rollup, s.Model)
		var reached, not []string
		for _, t := range sortedByValue(s.Thresholds) {
			d := fmt.Sprintf("%s (%s)", t, num(s.Thresholds[t]))
			if x.Score.Score >= s.Thresholds[t] {
				reached = append(reached, d)
			} else {
				not = append(not, d)
			}
		}
		if len(reached) > 0 {
			fmt.Fprintf(b, "; reaches %s", strings.Join(reached, ", "))
		}
		if len(not) > 0 {
			fmt.Fprintf(b, "; not %s", strings.Join(not, ", "))
		}
		fmt.Fprintf(b, "\n  (from the scores nurture run last stored)\n")
	}
	if len(names) > 0 {
		fmt.Fprintf(b, "\nSegments (contacts of the account in each)\n")
		for _, s := range x.Segments {
			fmt.Fprintf(b, "  %s: %d of %d\n", s.Name, s.Contacts, x.Contacts)
		}
	}
	if hasAccountHandoff(prog) || len(x.Handoffs) > 0 {
		fmt.Fprintf(b, "\nHand-offs of the account\n")
		writeHandoffs(b, x.Handoffs, "  ")
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// describeRollup names an account score's roll-up: "sum", "highest",
// "sum of the top 3".
func describeRollup(s *campaigns.AccountScore) string {
	switch s.Rollup {
	case campaigns.RollupMax:
		return "highest"
	case campaigns.RollupTop:
		return fmt.Sprintf("sum of the top %d", s.Top)
	}
	return "sum"
}

// contactAccount writes the line of a contact's explanation that shows
// its account: the attributes account_is conditions read, and the
// account score.
func contactAccount(ctx context.Context, b *strings.Builder, st runtime.Store, prog *campaigns.Program, key string) (*ExplainAccount, error) {
	a, err := st.Account(ctx, key)
	if err != nil {
		return nil, err
	}
	x := &ExplainAccount{Key: key, Attributes: map[string]any{}}
	var parts []string
	if a != nil {
		x.Imported = true
		for _, n := range sortedNames(a.Values) {
			v := a.Values[n]
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339)
			}
			x.Attributes[n] = v
			parts = append(parts, fmt.Sprintf("%s %v", n, v))
		}
	} else {
		parts = append(parts, "not imported")
	}
	if s := prog.Accounts.Score; s != nil {
		v, _, err := st.AccountScore(ctx, prog, key)
		if err != nil {
			return nil, err
		}
		x.Score = &AccountScore{Score: v, Model: s.Model, Rollup: describeRollup(s), Reached: []string{}}
		d := "account score " + num(v)
		for _, t := range sortedByValue(s.Thresholds) {
			if v >= s.Thresholds[t] {
				x.Score.Reached = append(x.Score.Reached, t)
			}
		}
		if len(x.Score.Reached) > 0 {
			d += ", reaches " + strings.Join(x.Score.Reached, ", ")
		}
		parts = append(parts, d)
	}
	fmt.Fprintf(b, "  account %s: %s\n", key, strings.Join(parts, "; "))
	return x, nil
}

// hasAccountHandoff reports whether the programme hands over accounts.
func hasAccountHandoff(prog *campaigns.Program) bool {
	for _, h := range prog.Handoffs {
		if h.ForAccount() {
			return true
		}
	}
	return false
}
