package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
)

type pauseFlags struct {
	store, reason, now string
}

func newPause() *cobra.Command {
	var f pauseFlags
	cmd := &cobra.Command{
		Use:   "pause [SEQUENCE] --reason TEXT",
		Short: "Pause one sequence, or all sending, without an apply",
		Example: `  nurture pause welcome --reason "the guide links to a dead page"
  # stop every email at once
  nurture pause --reason "investigating a complaint spike"`,
		Long: `Pause stops a sequence, or with no SEQUENCE all sending, until nurture
resume: its enrollments are not advanced (no step is decided, no wait
ends) and the email already planned for it is not delivered. Contacts
still enter it, and exit rules, unsubscribes and bounces still end
enrollments: a pause never keeps a contact in a sequence it should leave.
Resumed, every enrollment carries on where it was, and what came due
meanwhile goes at the next tick, within the caps.

The pause is recorded in the store with who paused it, when and why
(--reason), and nurture queue, explain, plan and tick show it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(f.reason) == "" {
				return fmt.Errorf("--reason is required: say why, for whoever resumes it")
			}
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			seq := runtime.AllSending
			if len(args) == 1 {
				seq = args[0]
			}
			return runPause(cmd.Context(), cmd.OutOrStdout(), f, seq, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded with the pause")
	cmd.Flags().StringVar(&f.now, "now", "", "record the pause at this RFC 3339 time instead of now")
	return cmd
}

func newResume() *cobra.Command {
	var store string
	cmd := &cobra.Command{
		Use:   "resume [SEQUENCE]",
		Short: "Resume a paused sequence, or all sending",
		Example: `  nurture resume welcome
  nurture resume`,
		Long: `Resume lifts the pause of SEQUENCE, or with none the pause of all
sending (sequences paused one by one stay paused). Enrollments carry on
where they were at the next tick.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq := runtime.AllSending
			if len(args) == 1 {
				seq = args[0]
			}
			return runResume(cmd.Context(), cmd.OutOrStdout(), store, seq)
		},
	}
	storeFlag(cmd, &store)
	return cmd
}

// pausable opens the store and checks that seq names a sequence of the
// applied programme.
func pausable(ctx context.Context, spec, seq string) (opsStore, error) {
	if err := storeExists(spec); err != nil {
		return nil, err
	}
	st, err := openOps(ctx, spec)
	if err != nil {
		return nil, err
	}
	if seq == runtime.AllSending {
		return st, nil
	}
	prog, _, err := appliedProgram(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	if prog.Sequences[seq] == nil {
		st.Close()
		return nil, fmt.Errorf("the applied programme has no sequence %s (it has %s)", seq, strings.Join(sortedNames(prog.Sequences), ", "))
	}
	return st, nil
}

func runPause(ctx context.Context, stdout io.Writer, f pauseFlags, seq string, now time.Time) error {
	st, err := pausable(ctx, f.store, seq)
	if err != nil {
		return err
	}
	defer st.Close()
	p := runtime.Pause{Sequence: seq, By: defaultWorker(""), Reason: strings.TrimSpace(f.reason), At: now}
	added, err := st.Pause(ctx, p)
	if err != nil {
		return err
	}
	if !added {
		ps, err := st.Pauses(ctx)
		if err != nil {
			return err
		}
		for _, q := range ps {
			if q.Sequence == seq {
				fmt.Fprintf(stdout, "Already paused: %s.\n", describePause(q))
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "Paused: %s.\n", describePause(p))
	what, again := "its enrollments wait where they are and its planned email stays planned", "nurture resume "+seq
	if seq == runtime.AllSending {
		what, again = "no enrollment is advanced and no email is delivered", "nurture resume"
	}
	fmt.Fprintf(stdout, "Until %s, %s; exit rules and unsubscribes still apply.\n", again, what)
	return nil
}

func runResume(ctx context.Context, stdout io.Writer, spec, seq string) error {
	st, err := pausable(ctx, spec, seq)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := st.Resume(ctx, seq)
	if err != nil {
		return err
	}
	what := "sequence " + seq
	if seq == runtime.AllSending {
		what = "all sending"
	}
	if p == nil {
		fmt.Fprintf(stdout, "Nothing to resume: %s is not paused.\n", what)
	} else {
		fmt.Fprintf(stdout, "Resumed %s (%s); the next tick carries on where it was.\n", what, describePause(*p))
	}
	// Say what still holds email back, so that a resume is not taken for
	// more than it is.
	ps, err := st.Pauses(ctx)
	if err != nil {
		return err
	}
	for _, q := range ps {
		fmt.Fprintf(stdout, "Still paused: %s.\n", describePause(q))
	}
	return nil
}
