package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
)

type tickFlags struct {
	store  string
	sender string
	now    string
	worker string
}

func newTick() *cobra.Command {
	var f tickFlags
	cmd := &cobra.Command{
		Use:   "tick",
		Short: "Run the applied programme once: score, exit, enroll, advance, send",
		Long: `Tick makes every decision the applied programme has due now, once: it
scores contacts, ends the enrollments an exit rule or a suppression ends,
enrolls the contacts the entry segments admit (highest priority first),
and moves every due enrollment through its steps. Each email a step sends
is planned in the send ledger with the decision that caused it, held back
by the cadence caps and the sending window when they say so.

With --sender, the planned emails then go out: file:DIR writes each as an
.eml file under DIR. The suppression list is checked again right before.
Without it, they stay planned for the next tick that has a sender.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			s, err := parseSender(f.sender)
			if err != nil {
				return err
			}
			return runTick(cmd.Context(), cmd.OutOrStdout(), f, s, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.sender, "sender", "", "where planned emails go: file:DIR writes .eml files under DIR")
	fl.StringVar(&f.now, "now", "", "tick as of this RFC 3339 time instead of now")
	fl.StringVar(&f.worker, "worker", "", "the name the ledger records claims under (default: user@host)")
	return cmd
}

// parseSender reads --sender.
func parseSender(spec string) (engine.Sender, error) {
	switch {
	case spec == "":
		return nil, nil
	case strings.HasPrefix(spec, "file:") && len(spec) > len("file:"):
		return mail.FileSink{Dir: strings.TrimPrefix(spec, "file:")}, nil
	}
	return nil, fmt.Errorf("--sender %q: want file:DIR", spec)
}

// engineStore is the store with the engine's and the ledger's methods;
// both adapters have them.
type engineStore interface {
	runtime.Store
	engine.Store
	engine.Ledger
}

func runTick(ctx context.Context, stdout io.Writer, f tickFlags, sender engine.Sender, now time.Time) error {
	st, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer st.Close()
	es, ok := st.(engineStore)
	if !ok {
		return fmt.Errorf("the %s store cannot run the engine", st.Dialect())
	}
	v, err := st.Applied(ctx)
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("nothing is applied to this store: nurture apply DIR installs a programme first")
	}
	prog := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, prog); err != nil {
		return fmt.Errorf("reading applied version %d: %w", v.Serial, err)
	}
	eng := &engine.Engine{Store: es, Program: prog, Version: v.Serial}
	r, err := eng.Tick(ctx, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Tick at %s, applied version %d: %d scores, %d decisions.\n", now.Format(time.RFC3339), v.Serial, r.Scored, r.Steps)
	if line := counts(r.Enrolled); line != "" {
		fmt.Fprintf(stdout, "  entered: %s\n", line)
	}
	if line := counts(r.Exited); line != "" {
		fmt.Fprintf(stdout, "  left: %s\n", line)
	}
	fmt.Fprintf(stdout, "  emails: %d planned", r.Planned)
	if r.Deferred > 0 {
		fmt.Fprintf(stdout, ", %d held back by the caps or the sending window", r.Deferred)
	}
	fmt.Fprintln(stdout)
	if sender == nil {
		if r.Planned > 0 {
			fmt.Fprintln(stdout, "  (not sent: give --sender to deliver planned emails)")
		}
		return nil
	}
	host, _ := os.Hostname()
	d, err := eng.Deliver(ctx, es, sender, cmp.Or(f.worker, whoAmI()+"@"+cmp.Or(host, "unknown")), now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  delivered: %d accepted, %d failed (%s)\n", d.Accepted, d.Failed, f.sender)
	if d.Failed > 0 {
		return exitError(1)
	}
	return nil
}

// counts writes a map of counts as "3 converted, 1 timeout", by name.
func counts(m map[string]int) string {
	var parts []string
	for _, k := range sortedNames(m) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
