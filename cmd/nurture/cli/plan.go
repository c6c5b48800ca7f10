package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/cmd/nurture/backend"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
)

// planFlags are shared by plan and apply.
type planFlags struct {
	store    string
	format   string
	noColor  bool
	now      string
	sample   int
	out      string
	detailed bool
	// showContacts puts example contacts' addresses in the plan; without
	// it the plan has counts only.
	showContacts bool
	// nextTick rehearses the next tick on the store.
	nextTick bool
	// apply only
	auto        bool
	who         string
	lockTimeout time.Duration
}

func (f *planFlags) check() (time.Time, error) {
	switch f.format {
	case "text", "json", "markdown":
	default:
		return time.Time{}, fmt.Errorf("--format must be text, json or markdown, not %q", f.format)
	}
	if f.sample < 0 {
		return time.Time{}, fmt.Errorf("--sample must be 0 or more, not %d", f.sample)
	}
	if f.lockTimeout < 0 {
		return time.Time{}, fmt.Errorf("--lock-timeout must not be negative")
	}
	t, err := parseNow(f.now, time.Now())
	return t.UTC(), err
}

func planCommonFlags(cmd *cobra.Command, f *planFlags) {
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.BoolVar(&f.noColor, "no-color", false, "never colour the output (it is coloured only on a terminal)")
	fl.StringVar(&f.now, "now", "", "measure audience impact as of this RFC 3339 time instead of now")
	fl.BoolVar(&f.showContacts, "show-contacts", false, "name example contacts in the audience impact (hidden by default: plans go to pull requests, CI logs and saved files)")
	fl.BoolVar(&f.nextTick, "next-tick", true, "rehearse the next tick on the store and show what it would do (it costs what a tick costs; --next-tick=false skips it)")
	fl.IntVar(&f.sample, "sample", 3, "with --show-contacts, how many example contacts to name for each impact")
}

// samples is how many example contacts the plan names for each impact:
// none unless asked for.
func (f *planFlags) samples() int {
	if !f.showContacts {
		return 0
	}
	return f.sample
}

// hideContacts marks a plan made without example contacts, so that every
// rendering of it, a saved plan's included, says they were left out.
func hideContacts(p *campaigns.Plan, f planFlags) {
	if p.Impact != nil && !f.showContacts {
		p.Impact.ContactsHidden = true
	}
}

func newPlan() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan [DIR]",
		Short: "Show what applying the programme would change, and which contacts it affects",
		Example: `  nurture plan examples/b2b-saas
  # save the plan to apply it exactly as reviewed
  nurture plan examples/b2b-saas -o review.plan
  # in CI: exit 2 when there are changes, and a comment for the pull request
  nurture plan --detailed-exitcode --format markdown`,
		Long: `Plan compiles the programme in DIR (default: the current directory) and
compares it with the version applied to the store: every segment, scoring
model, sequence, email, cadence cap, exit rule and hand-off that would be
added (+), changed (~) or removed (-), with steps and rules one by one and
email bodies as a diff. Against the store's contacts it counts the
audience impact: segment sizes before and after with who enters and
leaves, the enrollments the next tick would create, and what becomes of
contacts in changed, renamed or removed steps.

For each A/B send of a sequence the change touches, the plan shows the
verdict nurture report gives it on the last 30 days, says which arms the
change removes and where they stood, and warns (NRT317) when the audience
cannot give an undecided experiment the sample it needs.

Counts come without names: a plan goes to pull requests, CI logs and
saved files, so it names example contacts (--sample of them per impact)
only with --show-contacts, in every format.

--out FILE saves the plan for nurture apply FILE, which applies exactly
it and refuses it once the store or the programme has moved on.
--format markdown writes a pull-request comment.

Exit status: 0 on success; with --detailed-exitcode, 0 when nothing
changes, 2 when something does, and 1 on errors.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			now, err := f.check()
			if err != nil {
				return err
			}
			return runPlan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, f, now)
		},
	}
	planCommonFlags(cmd, &f)
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "text", "output format: text, json or markdown")
	fl.StringVarP(&f.out, "out", "o", "", "save the plan to `FILE` for nurture apply FILE")
	fl.BoolVar(&f.detailed, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none")
	return cmd
}

func runPlan(ctx context.Context, stdout, stderr io.Writer, dir string, f planFlags, now time.Time) error {
	res, err := compileResult(stderr, dir)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := backend.Plan(ctx, st, res.Program, dir, now, f.samples(), f.nextTick)
	if err != nil {
		return err
	}
	hideContacts(p, f)
	if err := refuseUndeclared(ctx, stderr, st, p, dir, res); err != nil {
		return err
	}
	if ds := compiler.ExperimentSamples(p, res.Pos); len(ds) > 0 {
		cwd, _ := os.Getwd()
		writeDiagnostics(stderr, cwd, ds)
	}
	if cs, ok := st.(interface {
		ChosenFrequencies(context.Context) (map[string]int, error)
	}); ok {
		chosen, err := cs.ChosenFrequencies(ctx)
		if err != nil {
			return err
		}
		if ds := compiler.StaleFrequencies(res.Program, chosen, res.Pos); len(ds) > 0 {
			cwd, _ := os.Getwd()
			writeDiagnostics(stderr, cwd, ds)
		}
	}
	if err := renderPlan(stdout, p, f.format, colourOK(stdout, f.noColor)); err != nil {
		return err
	}
	if f.out != "" {
		if err := backend.Save(f.out, p); err != nil {
			return err
		}
		if f.format == "text" {
			fmt.Fprintf(stdout, "\nSaved the plan to %s. Apply exactly it with:\n  nurture apply %s\n", f.out, f.out)
		}
	}
	if f.detailed && !p.Empty() {
		return exitError(2)
	}
	return nil
}

func renderPlan(w io.Writer, p *campaigns.Plan, format string, colour bool) error {
	switch format {
	case "json":
		return compiler.RenderJSON(w, p)
	case "markdown":
		return compiler.RenderMarkdown(w, p)
	}
	return compiler.RenderText(w, p, colour)
}

// refuseUndeclared fails a plan that would move the contacts of a removed
// step the programme neither moved nor removed, with a diagnostic placed
// at the sequence's steps in res (nil for a saved plan: unplaced). It
// counts the store afresh, so that applying a saved plan refuses too once
// contacts have reached such a step since it was made.
func refuseUndeclared(ctx context.Context, stderr io.Writer, st runtime.Store, p *campaigns.Plan, dir string, res *compiler.Result) error {
	var pos func(...string) compiler.Pos
	if res != nil {
		pos = res.Pos
	}
	ds, err := backend.Undeclared(ctx, st, p, pos)
	if err != nil || len(ds) == 0 {
		return err
	}
	refuse(stderr, dir, ds)
	return exitError(1)
}

// colourOK: colour on a terminal, unless --no-color or $NO_COLOR says no.
func colourOK(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newApply() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE | DIR]",
		Short: "Install the programme in the store",
		Example: `  nurture apply review.plan
  nurture apply examples/b2b-saas --auto-approve`,
		Long: `Apply installs a programme version in the store.

Given a directory (default: the current one) it plans, shows the plan and
asks for "yes" before applying (--auto-approve skips the question). Given
a plan saved by nurture plan --out, it applies exactly that plan, and
refuses it when the store's applied version or the programme changed
since it was made.

Applying takes the store's apply lock, waiting up to --lock-timeout for
another apply to finish; nurture force-unlock ID frees a lock whose
holder died. The new version, and what becomes of contacts in renamed or
removed steps, are written in one transaction: a failure leaves the
previous version in force.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := "."
			if len(args) == 1 {
				target = args[0]
			}
			now, err := f.check()
			if err != nil {
				return err
			}
			return runApply(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), target, f, now)
		},
	}
	planCommonFlags(cmd, &f)
	f.format = "text"
	fl := cmd.Flags()
	fl.BoolVar(&f.auto, "auto-approve", false, "apply without asking")
	fl.StringVar(&f.who, "who", "", "who the version records as applying it (default: the current user)")
	fl.DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long to wait for another apply's lock, as in 30s or 2m")
	return cmd
}

const applyLockTTL = 15 * time.Minute

func runApply(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, target string, f planFlags, now time.Time) error {
	fi, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("%s: %w", target, errors.Unwrap(err))
	}
	var saved *campaigns.Plan
	dir := target
	if !fi.IsDir() {
		if saved, err = backend.Load(target); err != nil {
			return err
		}
		dir = saved.Source
	}
	var prog *campaigns.Program
	var compiled *compiler.Result
	if saved == nil {
		if compiled, err = compileResult(stderr, dir); err != nil {
			return err
		}
		prog = compiled.Program
	} else {
		prog = saved.Program
		if err := backend.Stale(saved); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	who := cmp.Or(f.who, whoAmI())
	lock, err := acquireApplyLock(ctx, st, who, f.lockTimeout, stderr)
	if err != nil {
		return err
	}
	defer st.ReleaseLock(context.WithoutCancel(ctx), lock.Name, lock.ID)

	p := saved
	if p == nil {
		if p, err = backend.Plan(ctx, st, prog, dir, now, f.samples(), f.nextTick); err != nil {
			return err
		}
		hideContacts(p, f)
		if err := refuseUndeclared(ctx, stderr, st, p, dir, compiled); err != nil {
			return err
		}
		if err := compiler.RenderText(stdout, p, colourOK(stdout, f.noColor)); err != nil {
			return err
		}
		if p.Empty() {
			return nil
		}
		if !f.auto {
			fmt.Fprint(stdout, "\nApply this plan? Only 'yes' applies it: ")
			line, _ := bufio.NewReader(stdin).ReadString('\n')
			if strings.TrimSpace(line) != "yes" {
				fmt.Fprintln(stdout, "\nApply cancelled; nothing changed.")
				return exitError(1)
			}
			fmt.Fprintln(stdout)
		}
	} else if p.Empty() {
		fmt.Fprintln(stdout, compiler.NoChanges(p))
		return nil
	} else if err := refuseUndeclared(ctx, stderr, st, p, dir, nil); err != nil {
		return err
	}
	res, err := backend.Apply(ctx, st, p, prog, who)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Apply complete: version %d (%s). %d added, %d changed, %d removed.\n",
		res.Serial, compiler.ShortHash(p.Hash), p.Summary.Add, p.Summary.Change, p.Summary.Remove)
	if res.Moved+res.Exited > 0 {
		fmt.Fprintf(stdout, "Contacts in renamed or removed steps: %d moved on, %d left their sequence.\n", res.Moved, res.Exited)
	}
	return nil
}

// acquireApplyLock takes the apply lock, retrying until timeout.
func acquireApplyLock(ctx context.Context, st runtime.Store, who string, timeout time.Duration, stderr io.Writer) (runtime.Lock, error) {
	host, _ := os.Hostname()
	want := runtime.Lock{Name: "apply", Holder: who + "@" + cmp.Or(host, "unknown"), Operation: "apply"}
	deadline := time.Now().Add(timeout)
	said := false
	for {
		l, err := st.AcquireLock(ctx, want, applyLockTTL)
		var locked *runtime.LockedError
		if !errors.As(err, &locked) {
			return l, err
		}
		if time.Now().After(deadline) {
			return l, fmt.Errorf("%w; wait for it to finish, raise --lock-timeout, or if its holder died: nurture force-unlock %s", err, locked.Lock.ID)
		}
		if !said {
			fmt.Fprintf(stderr, "Waiting for the apply lock held by %s (lock %s)…\n", locked.Lock.Holder, locked.Lock.ID)
			said = true
		}
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case <-time.After(min(250*time.Millisecond, time.Until(deadline)+time.Millisecond)):
		}
	}
}

func newShow() *cobra.Command {
	var asJSON, noColor bool
	cmd := &cobra.Command{
		Use:   "show PLANFILE",
		Short: "Print a saved plan",
		Example: `  nurture show review.plan
  nurture show review.plan --json`,
		Args: exactArgs(1, "name the plan file nurture plan --out saved"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := backend.Load(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return compiler.RenderJSON(cmd.OutOrStdout(), p)
			}
			return compiler.RenderText(cmd.OutOrStdout(), p, colourOK(cmd.OutOrStdout(), noColor))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "never colour the output")
	return cmd
}

func newForceUnlock() *cobra.Command {
	var store string
	cmd := &cobra.Command{
		Use:   "force-unlock ID",
		Short: "Free a lock whose holder died",
		Example: `  # the ID is the one the failed apply or tick names
  nurture force-unlock 3f2a9c`,
		Long: `Force-unlock removes the lock with this ID, whoever holds it. Use it only
when the holder is gone: an apply still running would no longer be
protected from another.`,
		Args: exactArgs(1, "name the lock ID, as the lock error printed it"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), store)
			if err != nil {
				return err
			}
			defer st.Close()
			ok, err := st.ForceUnlock(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no lock %s in the store; it may have been released already", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Lock %s removed.\n", args[0])
			return nil
		},
	}
	storeFlag(cmd, &store)
	return cmd
}
