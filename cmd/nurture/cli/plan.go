package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/worker"
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
	fl.IntVar(&f.sample, "sample", 3, "how many example contacts to show for each impact")
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
	prog, err := compileFor(stderr, dir)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := makePlan(ctx, st, prog, dir, now, f.sample)
	if err != nil {
		return err
	}
	if err := renderPlan(stdout, p, f.format, colourOK(stdout, f.noColor)); err != nil {
		return err
	}
	if f.out != "" {
		if err := savePlan(f.out, p); err != nil {
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

// makePlan compares prog with the store's applied version and counts the
// impact in the store.
func makePlan(ctx context.Context, st runtime.Store, prog *campaigns.Program, dir string, now time.Time, sample int) (*campaigns.Plan, error) {
	// New attributes need their columns before the store can count by
	// them; adding columns changes nothing stored.
	if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
		return nil, err
	}
	cur, err := st.Applied(ctx)
	if err != nil {
		return nil, err
	}
	var old *campaigns.Program
	var base campaigns.PlanBase
	if cur != nil {
		old = new(campaigns.Program)
		if err := json.Unmarshal(cur.Program, old); err != nil {
			return nil, fmt.Errorf("reading applied version %d: %w", cur.Serial, err)
		}
		base = campaigns.PlanBase{Serial: cur.Serial, Lineage: cur.Lineage, Hash: cur.Hash}
	}
	changes, ms := compiler.Diff(old, prog)
	p := &campaigns.Plan{
		FormatVersion: campaigns.PlanFormatVersion,
		CreatedAt:     now,
		Base:          base,
		Hash:          prog.Hash(),
		Summary:       compiler.Summarize(changes),
		Changes:       changes,
		Migrations:    ms,
		Program:       prog,
	}
	if abs, err := filepath.Abs(dir); err == nil {
		p.Source = abs
	}
	if len(changes) > 0 {
		if p.Impact, err = runtime.Impact(ctx, st, old, prog, changes, ms, func() time.Time { return now }, sample); err != nil {
			return nil, fmt.Errorf("counting the audience impact: %w", err)
		}
		if r, ok := st.(worker.Rehearser); ok {
			body, err := campaigns.Canonical(prog)
			if err != nil {
				return nil, err
			}
			v := &runtime.Version{Hash: p.Hash, AppliedAt: now, AppliedBy: "plan", Program: body}
			if p.Next, err = worker.Predict(ctx, r, v, base, ms, prog, now); err != nil {
				p.Next = &campaigns.NextTick{At: now.UTC(), Error: err.Error()}
			}
		}
	}
	return p, nil
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

// colourOK: colour on a terminal, unless --no-color or $NO_COLOR says no.
func colourOK(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// savePlan writes the plan with its programme, through a temporary file
// so that a failed write never leaves half a plan.
func savePlan(path string, p *campaigns.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".nurture-plan-*")
	if err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the plan: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the plan: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// loadPlan reads a saved plan and checks that it is whole.
func loadPlan(path string) (*campaigns.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p campaigns.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s is not a saved plan: %v (make one with nurture plan --out %s)", path, err, path)
	}
	switch {
	case p.FormatVersion == 0 || p.Program == nil:
		return nil, fmt.Errorf("%s is not a saved plan (make one with nurture plan --out %s)", path, path)
	case p.FormatVersion > campaigns.PlanFormatVersion:
		return nil, fmt.Errorf("%s was saved by a newer nurture (plan format %d; this one reads %d): upgrade nurture", path, p.FormatVersion, campaigns.PlanFormatVersion)
	case p.Program.Hash() != p.Hash:
		return nil, fmt.Errorf("%s was changed after it was saved: its programme no longer matches its hash %s; make the plan again", path, p.Hash)
	}
	return &p, nil
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
		if saved, err = loadPlan(target); err != nil {
			return err
		}
		dir = saved.Source
	}
	var prog *campaigns.Program
	if saved == nil {
		if prog, err = compileFor(stderr, dir); err != nil {
			return err
		}
	} else {
		prog = saved.Program
		if err := programMoved(saved); err != nil {
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
		if p, err = makePlan(ctx, st, prog, dir, now, f.sample); err != nil {
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
	}
	if err := st.SyncSchema(ctx, &prog.Contact); err != nil {
		return err
	}
	body, err := campaigns.Canonical(prog)
	if err != nil {
		return err
	}
	v := runtime.Version{Hash: p.Hash, AppliedBy: who, GitCommit: gitCommit(p.Source), Program: body}
	res, err := st.Apply(ctx, v, p.Base, p.Migrations)
	if errors.Is(err, runtime.ErrStale) {
		return fmt.Errorf("%w; make a new plan", err)
	}
	if err != nil {
		return fmt.Errorf("applying: %w; the previous version is still in force", err)
	}
	moved, exited := 0, 0
	for i := range res.Moved {
		moved += res.Moved[i]
		exited += res.Exited[i]
	}
	fmt.Fprintf(stdout, "Apply complete: version %d (%s). %d added, %d changed, %d removed.\n",
		res.Serial, compiler.ShortHash(p.Hash), p.Summary.Add, p.Summary.Change, p.Summary.Remove)
	if moved+exited > 0 {
		fmt.Fprintf(stdout, "Contacts in renamed or removed steps: %d moved on, %d left their sequence.\n", moved, exited)
	}
	return nil
}

// programMoved refuses a saved plan whose programme directory now
// compiles to something else. A directory that is gone (the plan was
// carried to another machine) is not checked: the plan holds its
// programme.
func programMoved(p *campaigns.Plan) error {
	if p.Source == "" {
		return nil
	}
	if _, err := os.Stat(p.Source); err != nil {
		return nil
	}
	res := compiler.Compile(p.Source)
	if res.Program == nil {
		return fmt.Errorf("the saved plan is stale: the programme in %s no longer compiles; fix it and make a new plan", p.Source)
	}
	if h := res.Program.Hash(); h != p.Hash {
		return fmt.Errorf("the saved plan is stale: the programme in %s changed since the plan was made (%s then, %s now); make a new plan",
			p.Source, compiler.ShortHash(p.Hash), compiler.ShortHash(h))
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

// gitCommit is the commit of dir's repository, with "-dirty" when dir has
// uncommitted changes, or "" outside a repository.
func gitCommit(dir string) string {
	if dir == "" {
		return ""
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".").Output(); err == nil && len(st) > 0 {
		commit += "-dirty"
	}
	return commit
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
			p, err := loadPlan(args[0])
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
