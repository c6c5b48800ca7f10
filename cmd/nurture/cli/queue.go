package cli

import (
	"cmp"
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

// opsStore is what the operator's daily commands ask of a store: the
// queue, a contact's timeline, pauses.
type opsStore interface {
	ledgerStore
	Queued(ctx context.Context, steps []runtime.StepRef, limit int) ([]runtime.Queued, error)
	ContactEvents(ctx context.Context, id int64) ([]runtime.ContactEvent, error)
	Pause(ctx context.Context, p runtime.Pause) (bool, error)
	Resume(ctx context.Context, sequence string) (*runtime.Pause, error)
	Pauses(ctx context.Context) ([]runtime.Pause, error)
}

func openOps(ctx context.Context, spec string) (opsStore, error) {
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	os, ok := st.(opsStore)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store keeps no queue or pauses", st.Dialect())
	}
	return os, nil
}

// appliedProgram reads the programme applied to st.
func appliedProgram(ctx context.Context, st runtime.Store) (*campaigns.Program, int64, error) {
	v, err := st.Applied(ctx)
	if err != nil {
		return nil, 0, err
	}
	if v == nil {
		return nil, 0, fmt.Errorf("nothing is applied to this store: apply a programme first (nurture apply DIR)")
	}
	prog := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, prog); err != nil {
		return nil, 0, fmt.Errorf("reading applied version %d: %w", v.Serial, err)
	}
	return prog, v.Serial, nil
}

// Queue states, in the order an email goes.
const (
	queueWaiting = "waiting" // a wait step before the send
	queueHeld    = "held"    // at the send, held back by a limit
	queueDue     = "due"     // at the send or planned, goes at the next tick
	queueSending = "sending" // claimed by a worker
	queuePaused  = "paused"  // its sequence, or all sending, is paused
)

// QueueItem is one email on its way: when it goes, and what holds it.
type QueueItem struct {
	When     time.Time `json:"when"`
	State    string    `json:"state"`
	Sequence string    `json:"sequence"`
	Step     string    `json:"step"`
	Email    string    `json:"email"`
	Contact  int64     `json:"contact_id"`
	Address  string    `json:"address,omitempty"`
	// HeldBy names the limit that holds the send: cadence_caps,
	// sequence_cap, account_cap, preferences, sending_window,
	// blackout_dates, paused (by the contact) — or wait,
	// pause (of sending, by an operator), retry.
	HeldBy string `json:"held_by,omitempty"`
	Reason string `json:"reason"`
	// Ledger is the send's ID once a decision planned it.
	Ledger int64 `json:"send_id,omitempty"`
}

// Queue is what nurture queue shows.
type Queue struct {
	At             time.Time       `json:"at"`
	Version        int64           `json:"version"`
	Pauses         []runtime.Pause `json:"pauses"`
	ContactsHidden bool            `json:"contacts_hidden,omitempty"`
	Items          []QueueItem     `json:"items"`
}

type queueFlags struct {
	store, sequence, now, format string
	limit                        int
	showContacts                 bool
}

func (f *queueFlags) check() error {
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit %d: want 0 (no limit) or more", f.limit)
	}
	return nil
}

func newQueue() *cobra.Command {
	var f queueFlags
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List the email on its way: when each goes, and which limit holds it back",
		Example: `  nurture queue
  nurture queue --sequence welcome --format json
  nurture queue --show-contacts --limit 20`,
		Long: `Queue lists the email on its way under the applied programme, by the
time it goes:

  due      planned, or at its send step: the next tick sends it
  sending  claimed by a worker now
  held     at its send step, held back until then by a limit: the cadence
           caps, the sequence's or the account's cap, the contact's
           preferences, the sending window or a blackout date (HELD BY
           names which); or
           planned again after the mail server deferred it
  waiting  in the wait before a send: the send comes when the wait ends,
           if no limit holds it then
  paused   its sequence, or all sending, is paused (nurture pause)

Contacts are shown by ID: addresses only with --show-contacts, as plans
do, since the output goes to logs and chat.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			return runQueue(cmd.Context(), cmd.OutOrStdout(), f, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.sequence, "sequence", "", "only the email of this sequence")
	fl.IntVar(&f.limit, "limit", 0, "list at most this many, the soonest first (0: all)")
	fl.StringVar(&f.now, "now", "", "tell due from held as of this RFC 3339 time instead of now")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	fl.BoolVar(&f.showContacts, "show-contacts", false, "name each contact by address (hidden by default: the output goes to logs and chat)")
	return cmd
}

// heldBy names the limit an enrollment's waiting text says holds it.
func heldBy(waiting string) string {
	for _, p := range []struct{ prefix, held string }{
		{"held back by the cadence caps", engine.HeldCadence},
		{"held back by the sequence's cap", engine.HeldSequenceCap},
		{"held back by the account's cap", engine.HeldAccountCap},
		{"held back by the contact's preferences", engine.HeldPreferences},
		{"outside the sending window", engine.HeldWindow},
		{"held back by the blackout date", engine.HeldBlackout},
		{"paused by the contact", engine.HeldPaused},
	} {
		if strings.HasPrefix(waiting, p.prefix) {
			return p.held
		}
	}
	return ""
}

// pausedFor returns the pause that holds sequence, or nil.
func pausedFor(ps []runtime.Pause, sequence string) *runtime.Pause {
	for i := range ps {
		if ps[i].Sequence == runtime.AllSending || ps[i].Sequence == sequence {
			return &ps[i]
		}
	}
	return nil
}

// describePause says what a pause holds, since when, by whom and why.
func describePause(p runtime.Pause) string {
	what := "sequence " + p.Sequence
	if p.Sequence == runtime.AllSending {
		what = "all sending"
	}
	s := fmt.Sprintf("%s paused since %s by %s", what, p.At.UTC().Format(time.RFC3339), p.By)
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
}

// BuildQueue gathers the queue of prog from st at now.
func buildQueue(ctx context.Context, st opsStore, prog *campaigns.Program, f queueFlags, now time.Time) ([]QueueItem, []runtime.Pause, error) {
	pauses, err := st.Pauses(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The steps that send, and the waits right before one: what stands
	// at them is on its way.
	type at struct {
		send  bool
		email string
	}
	steps := map[runtime.StepRef]at{}
	var refs []runtime.StepRef
	for _, name := range sortedNames(prog.Sequences) {
		if f.sequence != "" && name != f.sequence {
			continue
		}
		seq := prog.Sequences[name]
		for i, s := range seq.Steps {
			if s.Kind != campaigns.StepSend {
				continue
			}
			email := emailOf(s)
			ref := runtime.StepRef{Sequence: name, Step: s.Name}
			steps[ref] = at{send: true, email: email}
			refs = append(refs, ref)
			if i > 0 {
				if w := seq.Steps[i-1]; w.Kind == campaigns.StepWait || w.Kind == campaigns.StepWaitUntil {
					ref := runtime.StepRef{Sequence: name, Step: w.Name}
					steps[ref] = at{email: email}
					refs = append(refs, ref)
				}
			}
		}
	}
	if f.sequence != "" && prog.Sequences[f.sequence] == nil {
		return nil, nil, fmt.Errorf("--sequence %s: the applied programme has no such sequence (it has %s)", f.sequence, strings.Join(sortedNames(prog.Sequences), ", "))
	}
	var items []QueueItem
	// The ledger's "planned" is planned by Now: every one, held or not,
	// is planned by the end of time.
	endOfTime := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	for _, state := range []string{runtime.SendPlanned, runtime.SendClaimed} {
		rows, err := st.Ledger(ctx, runtime.SendFilter{State: state, Sequence: f.sequence, Now: endOfTime})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			it := QueueItem{When: r.PlannedAt.UTC(), State: queueDue, Sequence: r.Sequence, Step: r.Step, Email: r.Email, Address: r.Address, Ledger: r.ID,
				Reason: "planned: the next delivery sends it"}
			switch {
			case r.Status == runtime.SendClaimed:
				it.State, it.When, it.Reason = queueSending, r.ClaimedAt.UTC(), "claimed by "+r.ClaimedBy
			case r.PlannedAt.After(now):
				it.State, it.HeldBy, it.Reason = queueHeld, "retry", "planned again after the mail server deferred it"
				if r.Error != "" {
					it.Reason += " (" + r.Error + ")"
				}
			}
			items = append(items, it)
		}
	}
	// The ledger names contacts by address; the queue by ID too.
	ids := map[string]int64{}
	qs, err := st.Queued(ctx, refs, 0)
	if err != nil {
		return nil, nil, err
	}
	for _, q := range qs {
		ids[runtime.EmailKey(q.Address)] = q.Contact
		s := steps[runtime.StepRef{Sequence: q.Sequence, Step: q.Step}]
		it := QueueItem{When: q.NextCheckAt.UTC(), Sequence: q.Sequence, Step: q.Step, Email: s.email, Contact: q.Contact, Address: q.Address, Reason: q.Waiting}
		switch {
		case !s.send:
			it.State, it.HeldBy = queueWaiting, "wait"
		case q.NextCheckAt.IsZero() || !q.NextCheckAt.After(now):
			it.State, it.Reason = queueDue, "at its send step: the next tick plans and sends it"
			if it.When.IsZero() || it.When.After(now) {
				it.When = now
			}
		default:
			it.State, it.HeldBy = queueHeld, heldBy(q.Waiting)
		}
		items = append(items, it)
	}
	for i := range items {
		it := &items[i]
		if it.Contact == 0 {
			if id, ok := ids[runtime.EmailKey(it.Address)]; ok {
				it.Contact = id
			} else if c, err := st.Contact(ctx, it.Address); err == nil && c != nil {
				it.Contact, ids[runtime.EmailKey(it.Address)] = c.ID, c.ID
			}
		}
		if p := pausedFor(pauses, it.Sequence); p != nil && it.State != queueSending {
			it.State, it.HeldBy, it.Reason = queuePaused, "pause", describePause(*p)+"; then "+it.Reason
		}
		if !f.showContacts {
			it.Address = ""
		}
	}
	slices.SortStableFunc(items, func(a, b QueueItem) int {
		return cmp.Or(a.When.Compare(b.When), cmp.Compare(a.Sequence, b.Sequence), cmp.Compare(a.Contact, b.Contact))
	})
	if f.limit > 0 && len(items) > f.limit {
		items = items[:f.limit]
	}
	return items, pauses, nil
}

// emailOf is a send step's email, or its arms' when it tests variants.
func emailOf(s campaigns.Step) string {
	var es []string
	for _, v := range s.Send {
		es = append(es, v.Email)
	}
	return strings.Join(es, " | ")
}

func runQueue(ctx context.Context, stdout io.Writer, f queueFlags, now time.Time) error {
	st, err := openOps(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	prog, serial, err := appliedProgram(ctx, st)
	if err != nil {
		return err
	}
	items, pauses, err := buildQueue(ctx, st, prog, f, now)
	if err != nil {
		return err
	}
	q := Queue{At: now, Version: serial, Pauses: pauses, ContactsHidden: !f.showContacts, Items: items}
	if q.Pauses == nil {
		q.Pauses = []runtime.Pause{}
	}
	if q.Items == nil {
		q.Items = []QueueItem{}
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(q)
	}
	return writeQueue(stdout, q)
}

func writeQueue(w io.Writer, q Queue) error {
	for _, p := range q.Pauses {
		fmt.Fprintf(w, "Paused: %s.\n", describePause(p))
	}
	count := map[string]int{}
	for _, it := range q.Items {
		count[it.State]++
	}
	var parts []string
	for _, s := range []string{queueDue, queueSending, queueHeld, queueWaiting, queuePaused} {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	fmt.Fprintf(w, "%s on the way at %s under applied version %d", plural(len(q.Items), "email"), q.At.Format(time.RFC3339), q.Version)
	if len(parts) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w, ".")
	if len(q.Items) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tSTATE\tSEQUENCE/STEP\tEMAIL\tCONTACT\tHELD BY\tWHY")
	for _, it := range q.Items {
		who := fmt.Sprint(it.Contact)
		if it.Address != "" {
			who = it.Address
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", it.When.UTC().Format(time.RFC3339), it.State, it.Sequence, it.Step, it.Email, who, cmp.Or(it.HeldBy, "-"), it.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if q.ContactsHidden {
		fmt.Fprintf(w, "(%s)\n", compiler.ContactsHiddenNote)
	}
	return nil
}
