package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
)

// ledgerStore is what nurture sends asks of a store.
type ledgerStore interface {
	runtime.Store
	Ledger(ctx context.Context, f runtime.SendFilter) ([]runtime.LedgerRow, error)
	Send(ctx context.Context, id int64) (*runtime.SendRecord, error)
	ResolveSend(ctx context.Context, id int64, status, why string) (bool, error)
	RequeueSend(ctx context.Context, id int64, at time.Time, why string) (bool, error)
}

func openLedger(ctx context.Context, spec string) (ledgerStore, error) {
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	ls, ok := st.(ledgerStore)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store keeps no send ledger", st.Dialect())
	}
	return ls, nil
}

// sendStates are the states --state takes, in the order a send goes.
var sendStates = []string{runtime.SendPlanned, "held", runtime.SendClaimed, runtime.SendAccepted, runtime.SendUnknown, runtime.SendFailed, runtime.SendCancelled}

type sendsFlags struct {
	store, state, sequence, email, now, format string
	limit                                      int
}

// check says what is wrong with the flags, for a person.
func (f *sendsFlags) check() error {
	if f.state != "" && !slices.Contains(sendStates, f.state) {
		return fmt.Errorf("--state %q: want one of %s", f.state, strings.Join(sendStates, ", "))
	}
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit %d: want 0 (no limit) or more", f.limit)
	}
	return nil
}

func newSends() *cobra.Command {
	var f sendsFlags
	cmd := &cobra.Command{
		Use: "sends",
		Example: `  nurture sends --state unknown
  nurture sends --state planned --sequence welcome --format json`,
		Short: "List the send ledger by state; resolve or requeue unknown sends",
		Long: `Sends lists the send ledger: every email a decision planned, by state.

  planned    due: the next delivery sends it
  held       planned for later by the caps or the sending window (until when)
  claimed    a worker may be handing it over now (by whom, since when)
  accepted   the mail server took it
  unknown    the connection was lost, or the worker died, after it may
             have been handed over: it counts as sent and is never sent
             again automatically
  failed     refused for good, or deferred too often
  cancelled  the address was suppressed, or the contact opted out, first

An unknown send is settled by evidence — a click or open makes it
accepted, a bounce naming its Message-ID makes it failed — or by an
operator who checked the mail server's log for its Message-ID:
"nurture sends resolve ID --as accepted|failed" or, when the server never
got it, "nurture sends requeue ID" to send it again. Each is recorded in
the send's error text with who did it and why.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			return listSends(cmd.Context(), cmd.OutOrStdout(), f, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.state, "state", "", "only sends in this state: "+strings.Join(sendStates, ", "))
	fl.StringVar(&f.sequence, "sequence", "", "only sends of this sequence")
	fl.StringVar(&f.email, "email", "", "only sends to this contact's address")
	fl.IntVar(&f.limit, "limit", 0, "list at most this many (0: all)")
	fl.StringVar(&f.now, "now", "", "tell planned from held as of this RFC 3339 time instead of now")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.AddCommand(newSendsResolve(), newSendsRequeue())
	return cmd
}

func listSends(ctx context.Context, stdout io.Writer, f sendsFlags, now time.Time) error {
	st, err := openLedger(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.Ledger(ctx, runtime.SendFilter{State: f.state, Sequence: f.sequence, Email: f.email, Now: now, Limit: f.limit})
	if err != nil {
		return err
	}
	state := func(r runtime.LedgerRow) string {
		if r.Status == runtime.SendPlanned && r.PlannedAt.After(now) {
			return "held"
		}
		return r.Status
	}
	if f.format == "json" {
		type row struct {
			ID        int64      `json:"id"`
			Key       string     `json:"key"`
			State     string     `json:"state"`
			Address   string     `json:"address"`
			Sequence  string     `json:"sequence"`
			Step      string     `json:"step"`
			Email     string     `json:"email"`
			PlannedAt time.Time  `json:"planned_at"`
			ClaimedAt *time.Time `json:"claimed_at,omitempty"`
			ClaimedBy string     `json:"claimed_by,omitempty"`
			SentAt    *time.Time `json:"sent_at,omitempty"`
			MessageID string     `json:"message_id,omitempty"`
			Attempts  int        `json:"attempts"`
			Error     string     `json:"error,omitempty"`
		}
		opt := func(t time.Time) *time.Time {
			if t.IsZero() {
				return nil
			}
			u := t.UTC()
			return &u
		}
		out := make([]row, 0, len(rows))
		for _, r := range rows {
			out = append(out, row{r.ID, r.Key, state(r), r.Address, r.Sequence, r.Step, r.Email, r.PlannedAt.UTC(), opt(r.ClaimedAt), r.ClaimedBy, opt(r.SentAt), r.MessageID, r.Attempts, r.Error})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	count := map[string]int{}
	for _, r := range rows {
		count[state(r)]++
	}
	var parts []string
	for _, s := range sendStates {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	fmt.Fprintf(stdout, "%s", plural(len(rows), "send"))
	if len(parts) > 0 {
		fmt.Fprintf(stdout, ": %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(stdout, ".")
	if len(rows) == 0 {
		return nil
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTO\tSEQUENCE/STEP\tWHEN\tMESSAGE-ID\tNOTE")
	for _, r := range rows {
		when := ""
		switch s := state(r); {
		case s == "held":
			when = "until " + ts(r.PlannedAt)
		case s == runtime.SendPlanned:
			when = "due " + ts(r.PlannedAt)
		case s == runtime.SendClaimed || (s == runtime.SendUnknown && r.SentAt.IsZero() && !r.ClaimedAt.IsZero()):
			when = "claimed " + ts(r.ClaimedAt) + " by " + r.ClaimedBy
		case !r.SentAt.IsZero():
			when = "sent " + ts(r.SentAt)
		}
		mid := r.MessageID
		if mid != "" {
			mid = "<" + mid + ">"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", r.ID, state(r), r.Address, r.Sequence, r.Step, when, mid, r.Error)
	}
	return tw.Flush()
}

func newSendsResolve() *cobra.Command {
	var store, as, why string
	cmd := &cobra.Command{
		Use:     "resolve ID --as accepted|failed --why TEXT",
		Example: `  nurture sends resolve 1842 --as accepted --why "in the relay's log as 250 OK"`,
		Short:   "Settle an unknown send on evidence: accepted or failed",
		Long: `Resolve settles an unknown send: --as accepted when the mail server's log
shows it took the message (look for its Message-ID), --as failed when it
did not and the email should not go again. --why is recorded with the
operator's name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := sendArg(args[0])
			if err != nil {
				return err
			}
			if as != runtime.SendAccepted && as != runtime.SendFailed {
				return fmt.Errorf("--as %q: want accepted or failed", as)
			}
			if strings.TrimSpace(why) == "" {
				return fmt.Errorf("--why is required: say what the evidence is, for whoever reads the ledger next")
			}
			return settleSend(cmd.Context(), cmd.OutOrStdout(), store, id, "resolved "+as, func(st ledgerStore, note string) (bool, error) {
				return st.ResolveSend(cmd.Context(), id, as, note)
			}, why)
		},
	}
	storeFlag(cmd, &store)
	cmd.Flags().StringVar(&as, "as", "", "accepted or failed")
	cmd.Flags().StringVar(&why, "why", "", "the evidence, recorded with the send")
	return cmd
}

func newSendsRequeue() *cobra.Command {
	var store, why, now string
	cmd := &cobra.Command{
		Use:     "requeue ID --why TEXT",
		Example: `  nurture sends requeue 1842 --why "not in the relay's log: never handed over"`,
		Short:   "Plan an unknown send again, when the mail server never got it",
		Long: `Requeue plans an unknown send again: the next delivery sends it, with the
same Message-ID. Do it only when the mail server's log shows it never
took the message, or the contact gets it twice. --why is recorded with
the operator's name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := sendArg(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(why) == "" {
				return fmt.Errorf("--why is required: say what the evidence is, for whoever reads the ledger next")
			}
			at, err := parseNow(now, time.Now())
			if err != nil {
				return err
			}
			return settleSend(cmd.Context(), cmd.OutOrStdout(), store, id, "requeued", func(st ledgerStore, note string) (bool, error) {
				return st.RequeueSend(cmd.Context(), id, at.UTC(), note)
			}, why)
		},
	}
	storeFlag(cmd, &store)
	cmd.Flags().StringVar(&why, "why", "", "the evidence, recorded with the send")
	cmd.Flags().StringVar(&now, "now", "", "plan it at this RFC 3339 time instead of now")
	return cmd
}

func sendArg(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%q is not a send ID: nurture sends --state unknown lists them", s)
	}
	return id, nil
}

// settleSend applies do to an unknown send and says what it did.
func settleSend(ctx context.Context, stdout io.Writer, spec string, id int64, did string, do func(ledgerStore, string) (bool, error), why string) error {
	st, err := openLedger(ctx, spec)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := st.Send(ctx, id)
	if err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("no send %d in the ledger", id)
	}
	if r.Status != runtime.SendUnknown {
		return fmt.Errorf("send %d (%s) is %s, not unknown: only unknown sends are resolved or requeued by hand", id, r.Key, r.Status)
	}
	note := strings.TrimSpace(why) + " (by " + defaultWorker("") + ")"
	ok, err := do(st, note)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("send %d changed meanwhile: look again with nurture sends --email", id)
	}
	fmt.Fprintf(stdout, "Send %d (%s, Message-ID <%s>) %s: %s.\n", id, r.Key, r.MessageID, did, note)
	return nil
}
