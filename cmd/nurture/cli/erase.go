package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
)

type eraseFlags struct {
	store, reason, now string
	yes                bool
}

func newContactsErase() *cobra.Command {
	var f eraseFlags
	cmd := &cobra.Command{
		Use:   "erase EMAIL",
		Short: "Erase a contact and its personal data on request, keeping only its suppression",
		Example: `  nurture contacts erase ann@acme.example --reason "erasure request 2026-118"
  # in a script, without the question
  nurture contacts erase ann@acme.example --reason "request 118" --yes`,
		Long: `Erase removes a contact and everything the store holds about it: its
attributes, events (opens and clicks among them), scores, enrollments,
the sends in the ledger, hand-offs, preferences, consent records and
events waiting for it. One thing stays: a suppression of the address
(reason "erased"), so that no import or sign-up mails it again. An
address the store never held is suppressed all the same.

It asks for "yes" first (--yes skips the question) and is logged in the
store with who erased, when, why (--reason) and how many rows of each
kind went, without the address. Reports count the erased contact's
email no longer.`,
		Args: exactArgs(1, "name the contact's email address"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(f.reason) == "" {
				return fmt.Errorf("--reason is required: name the request, for the record of the erasure")
			}
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			return runErase(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), args[0], f, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded with the erasure (a request's reference)")
	cmd.Flags().BoolVar(&f.yes, "yes", false, "erase without asking")
	cmd.Flags().StringVar(&f.now, "now", "", "record the erasure at this RFC 3339 time instead of now")
	return cmd
}

type eraser interface {
	runtime.Store
	Erase(ctx context.Context, e runtime.Erasure) (runtime.Erased, error)
}

func runErase(ctx context.Context, stdin io.Reader, stdout io.Writer, email string, f eraseFlags, now time.Time) error {
	if !strings.Contains(email, "@") {
		return fmt.Errorf("%q is not an email address", email)
	}
	if err := storeExists(f.store); err != nil {
		return err
	}
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	es, ok := st.(eraser)
	if !ok {
		return fmt.Errorf("the %s store cannot erase contacts", st.Dialect())
	}
	c, err := st.Contact(ctx, email)
	if err != nil {
		return err
	}
	what := "no contact by that address: it will only be suppressed"
	if c != nil {
		what = fmt.Sprintf("contact %d and all its events, sends, enrollments, hand-offs, preferences and consent records", c.ID)
	}
	if !f.yes {
		fmt.Fprintf(stdout, "Erase %s (%s)?\nThis cannot be undone. Only 'yes' erases: ", email, what)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(stdout, "\nNothing erased.")
			return exitError(1)
		}
		fmt.Fprintln(stdout)
	}
	res, err := es.Erase(ctx, runtime.Erasure{Email: email, By: defaultWorker(""), Reason: strings.TrimSpace(f.reason), At: now})
	if err != nil {
		return err
	}
	var parts []string
	for _, t := range []string{"contacts", "events", "scores", "enrollments", "sends", "handoffs", "preferences", "consents", "pending_events"} {
		if n := res.Removed[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(t, "_", " ")))
		}
	}
	removed := "nothing held"
	if len(parts) > 0 {
		removed = strings.Join(parts, ", ")
	}
	fmt.Fprintf(stdout, "Erased %s: removed %s. The address stays suppressed (erased) so it is never mailed again; the erasure is logged by %s: %s.\n",
		email, removed, defaultWorker(""), strings.TrimSpace(f.reason))
	return nil
}
