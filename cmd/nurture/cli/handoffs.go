package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
)

type handoffsFlags struct {
	store   string
	status  string
	contact string
	account string
	limit   int
	format  string
}

func (f *handoffsFlags) check() error {
	switch f.status {
	case "", runtime.HandoffPending, runtime.HandoffDone, runtime.HandoffFailed:
	default:
		return fmt.Errorf("--state %q: want pending, done or failed", f.status)
	}
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format %q: want text or json", f.format)
	}
	return nil
}

func newHandoffs() *cobra.Command {
	var f handoffsFlags
	cmd := &cobra.Command{
		Use:   "handoffs",
		Short: "List the leads handed to sales and how each hand-off went; retry the failed",
		Long: `Handoffs lists the hand-offs to sales, newest first: the contact, the
hand-off and why it happened, and how its delivery went — done, pending
(with its next attempt) or failed after every retry, with the last error.
An account hand-off (per: "account") hands over an account once: it
names the account and lists the contacts that reached it, the one that
made it first, then those that joined it while it was open.

A failed hand-off stays failed until someone looks: fix the cause (the
CRM's URL, its secret, its outage) and queue it again with
nurture handoffs retry; the next tick posts it with the same
Idempotency-Key, so the CRM never takes one lead twice.`,
		Example: `  nurture handoffs --state failed
  nurture handoffs --contact ann@acme.example --format json
  nurture handoffs --account acme
  nurture handoffs retry --failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), f.store)
			if err != nil {
				return err
			}
			defer st.Close()
			filter := runtime.HandoffFilter{Status: f.status, Limit: f.limit, Account: f.account}
			if f.contact != "" {
				c, err := st.Contact(cmd.Context(), f.contact)
				if err != nil {
					return err
				}
				if c == nil {
					return fmt.Errorf("no contact %s in the store", f.contact)
				}
				filter.Contact = c.ID
			}
			hs, err := st.Handoffs(cmd.Context(), filter)
			if err != nil {
				return err
			}
			if f.format == "json" {
				if hs == nil {
					hs = []runtime.HandoffRecord{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(hs)
			}
			writeHandoffs(cmd.OutOrStdout(), hs, "")
			return nil
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.status, "state", "", "only hand-offs in this state: pending, done or failed")
	fl.StringVar(&f.contact, "contact", "", "only the hand-offs of the contact with this address (an account hand-off it made or joined too)")
	fl.StringVar(&f.account, "account", "", "only the hand-offs of the account with this key")
	fl.IntVar(&f.limit, "limit", 100, "at most this many, newest first (0: all)")
	fl.StringVar(&f.format, "format", "text", "text or json")
	cmd.AddCommand(newHandoffsRetry())
	return cmd
}

// writeHandoffs writes hand-offs as an aligned table, each line indented
// by indent.
func writeHandoffs(w io.Writer, hs []runtime.HandoffRecord, indent string) {
	if len(hs) == 0 {
		fmt.Fprintln(w, indent+"No hand-offs.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, indent+"ID\tHANDED OFF\tCONTACT\tHANDOFF\tREASON\tSTATUS")
	for _, h := range hs {
		status := h.Status
		switch h.Status {
		case runtime.HandoffPending:
			status += ", next try " + h.NextAt.UTC().Format(time.RFC3339)
		case runtime.HandoffDone:
			status += " " + h.DoneAt.UTC().Format(time.RFC3339)
		case runtime.HandoffFailed:
			status += " after " + strconv.Itoa(h.Attempts) + " attempts"
		}
		if h.LastError != "" {
			status += ": " + strings.ReplaceAll(h.LastError, "\n", " ")
		}
		who := h.Email
		if h.Account != "" {
			who = "account " + h.Account
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\n", indent, h.ID, h.CreatedAt.UTC().Format(time.RFC3339), who, h.Handoff,
			strings.TrimPrefix(h.Reason+" in "+h.Sequence, " in "), status)
	}
	tw.Flush()
	for _, h := range hs {
		if h.Account == "" {
			continue
		}
		fmt.Fprintf(w, "\n%sHand-off %d hands over the account %s, reached by:\n", indent, h.ID, h.Account)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, c := range h.Contacts {
			how := "made it"
			if i > 0 {
				how = "joined " + c.At.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s  %s\t%s\t%s\n", indent, c.Email, how, strings.TrimPrefix(c.Reason+" in "+c.Sequence, " in "))
		}
		tw.Flush()
	}
}

func newHandoffsRetry() *cobra.Command {
	var store, now string
	var failed bool
	cmd := &cobra.Command{
		Use:   "retry [ID...]",
		Short: "Queue failed hand-offs again for the next tick",
		Long: `Retry makes failed hand-offs pending again, due now, with a fresh run of
retries: those named by ID, or with --failed every failed one. The next
tick (nurture tick or run) posts them.`,
		Example: `  nurture handoffs retry 12 15
  nurture handoffs retry --failed`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !failed {
				return fmt.Errorf("name the hand-offs to retry by ID, or give --failed for every failed one")
			}
			if len(args) > 0 && failed {
				return fmt.Errorf("give hand-off IDs or --failed, not both")
			}
			ids := make([]int64, len(args))
			for i, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return fmt.Errorf("%q is not a hand-off ID: nurture handoffs --state failed lists them", a)
				}
				ids[i] = id
			}
			at, err := parseNow(now, time.Now())
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), store)
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.RetryHandoffs(cmd.Context(), ids, at.UTC())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s queued again; the next tick posts them.\n", plural(n, "failed hand-off"))
			if len(ids) > n {
				fmt.Fprintf(out, "%d of the IDs named no failed hand-off: nurture handoffs --state failed lists them.\n", len(ids)-n)
				return exitError(1)
			}
			return nil
		},
	}
	storeFlag(cmd, &store)
	cmd.Flags().BoolVar(&failed, "failed", false, "retry every failed hand-off")
	cmd.Flags().StringVar(&now, "now", "", "make them due at this RFC 3339 time instead of now")
	return cmd
}
