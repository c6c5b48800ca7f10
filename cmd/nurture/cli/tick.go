package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
)

type tickFlags struct {
	store  string
	out    deliveryFlags
	now    string
	worker string
	full   bool
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

With --sender, the planned emails then go out: smtp://host:port hands
them to an SMTP server (STARTTLS unless ?tls=tls or none; the password
from $NURTURE_SMTP_PASSWORD), file:DIR writes each as an .eml file under
DIR. Suppressions and topic opt-outs are checked again right before each
message is handed over. No more emails are claimed than the connections
can send at once; a claim carries the Message-ID, so a worker that dies
leaves at most that many unknown, and a bounce naming one resolves it
(nurture sends lists and requeues them). A server that cannot be reached
or refuses the connection stops delivery: the tick names it and exits 1,
and the emails stay planned. A server's 4xx
deferral plans the email again later; a 5xx for the address is a hard
bounce that suppresses it. A connection lost after the message was handed
over leaves it unknown: it counts as sent and is never sent again
automatically. Sending pauses while hard bounces or complaints pass
--max-bounce-rate or --max-complaint-rate. Without --sender, emails stay
planned for the next tick that has one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now, err := parseNow(f.now, time.Now())
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			d, err := f.out.open(func(line string) { fmt.Fprintf(stderr, "nurture: %s\n", line) })
			if err != nil {
				return err
			}
			if d != nil {
				defer d.close()
			}
			return runTick(cmd.Context(), cmd.OutOrStdout(), f, d, now.UTC())
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	f.out.add(cmd)
	fl.StringVar(&f.now, "now", "", "tick as of this RFC 3339 time instead of now")
	fl.BoolVar(&f.full, "full", false, "look at every contact, not only those that changed or came due since the last tick")
	fl.StringVar(&f.worker, "worker", "", "the name the ledger records claims under (default: user@host)")
	return cmd
}

// engineStore is the store with the engine's and the ledger's methods;
// both adapters have them.
type engineStore interface {
	runtime.Store
	engine.Store
	engine.Ledger
	engine.HandoffStore
	LastTick(ctx context.Context) (at, started time.Time, version int64, err error)
	RecordTick(ctx context.Context, at, started time.Time, worker string, version int64, report string) error
	Clock() time.Time
}

func openEngineStore(ctx context.Context, spec string) (engineStore, error) {
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	es, ok := st.(engineStore)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store cannot run the engine", st.Dialect())
	}
	return es, nil
}

// tickResult is what one tick did.
type tickResult struct {
	Version   int64             `json:"version"`
	At        time.Time         `json:"at"`
	Report    engine.Report     `json:"report"`
	Delivered *engine.Delivered `json:"delivered,omitempty"`
	// Hand-offs delivered to sales, and failed for good.
	HandedOff      int `json:"handed_off"`
	HandoffsFailed int `json:"handoffs_failed"`
	// Skipped says why the tick did nothing: another worker held the
	// tick lock.
	Skipped string `json:"skipped,omitempty"`
}

const tickLockTTL = 10 * time.Minute

// tickOnce runs the applied version once at now under the store's tick
// lock, so that workers sharing a store never decide the same thing
// twice, and delivers what is planned when there is a sender.
func tickOnce(ctx context.Context, es engineStore, out *delivery, worker string, now time.Time, full bool) (tickResult, error) {
	res := tickResult{At: now}
	v, err := es.Applied(ctx)
	if err != nil {
		return res, err
	}
	if v == nil {
		return res, fmt.Errorf("nothing is applied to this store: nurture apply DIR installs a programme first")
	}
	res.Version = v.Serial
	prog := new(campaigns.Program)
	if err := json.Unmarshal(v.Program, prog); err != nil {
		return res, fmt.Errorf("reading applied version %d: %w", v.Serial, err)
	}
	lock, err := es.AcquireLock(ctx, runtime.Lock{Name: "tick", Holder: worker, Operation: "tick"}, tickLockTTL)
	var locked *runtime.LockedError
	if errors.As(err, &locked) {
		res.Skipped = fmt.Sprintf("%s is ticking (lock %s)", locked.Lock.Holder, locked.Lock.ID)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	// Released even when ctx is cancelled: the work under it is done.
	defer es.ReleaseLock(context.WithoutCancel(ctx), lock.Name, lock.ID)
	started := es.Clock()
	since, changedSince, last, err := es.LastTick(ctx)
	if err != nil {
		return res, err
	}
	if since.IsZero() && !v.AppliedAt.After(now) {
		since = v.AppliedAt // a first tick does not act on old events
	}
	// The first tick of a version looks at every contact: the programme
	// it judges them by is new.
	full = full || last != v.Serial
	eng := &engine.Engine{Store: es, Program: prog, Version: v.Serial, Since: since, ChangedSince: changedSince, Full: full}
	if res.Report, err = eng.Tick(ctx, now); err != nil {
		return res, err
	}
	var sender engine.Sender
	if out != nil {
		if out.trackingURL != "" {
			prog.Sender.TrackingURL = out.trackingURL
		}
		sender = out.sender
		if eng.Keys, err = trackingKeys(ctx, es); err != nil {
			return res, err
		}
		eng.Breaker, eng.Log = out.breaker, out.log
		d, err := eng.Deliver(ctx, es, sender, worker, now)
		if err != nil {
			return res, err
		}
		res.Delivered = &d
	}
	if res.HandedOff, res.HandoffsFailed, err = eng.Handoffs(ctx, es, &http.Client{Timeout: 20 * time.Second}, sender, now); err != nil {
		return res, err
	}
	b, _ := json.Marshal(res)
	return res, es.RecordTick(ctx, now, started, worker, v.Serial, string(b))
}

func defaultWorker(flag string) string {
	host, _ := os.Hostname()
	return cmp.Or(flag, whoAmI()+"@"+cmp.Or(host, "unknown"))
}

func runTick(ctx context.Context, stdout io.Writer, f tickFlags, sender *delivery, now time.Time) error {
	es, err := openEngineStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer es.Close()
	res, err := tickOnce(ctx, es, sender, defaultWorker(f.worker), now, f.full)
	var stopped *engine.DeliveryStopped
	if errors.As(err, &stopped) {
		return fmt.Errorf("%w; the tick's decisions are saved, and the next tick sends what is planned once the server takes mail", err)
	}
	if err != nil {
		return err
	}
	if res.Skipped != "" {
		fmt.Fprintf(stdout, "Tick skipped: %s.\n", res.Skipped)
		return nil
	}
	r := res.Report
	fmt.Fprintf(stdout, "Tick at %s, applied version %d: %d scores, %d decisions.\n", now.Format(time.RFC3339), res.Version, r.Scored, r.Steps)
	if r.Full {
		fmt.Fprintln(stdout, "  looked at: every contact")
	} else {
		fmt.Fprintf(stdout, "  looked at: %s that changed or came due\n", plural(r.Looked, "contact"))
	}
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
	if res.HandedOff+res.HandoffsFailed > 0 {
		fmt.Fprintf(stdout, "  handed to sales: %d", res.HandedOff)
		if res.HandoffsFailed > 0 {
			fmt.Fprintf(stdout, ", %d failed after every retry", res.HandoffsFailed)
		}
		fmt.Fprintln(stdout)
	}
	if res.Delivered == nil {
		if r.Planned > 0 {
			fmt.Fprintln(stdout, "  (not sent: give --sender to deliver planned emails)")
		}
		return nil
	}
	d := res.Delivered
	fmt.Fprintf(stdout, "  delivered: %s (%s)\n", deliveredLine(d), f.out.shown())
	if d.Paused != "" {
		fmt.Fprintf(stdout, "  paused: %s; sending resumes when the rate falls\n", d.Paused)
	}
	if d.Failed > d.Bounced {
		return exitError(1)
	}
	return nil
}

// deliveredLine is "12 accepted, 1 hard bounce (suppressed), 2 deferred".
func deliveredLine(d *engine.Delivered) string {
	parts := []string{fmt.Sprintf("%d accepted", d.Accepted)}
	if d.Bounced > 0 {
		parts = append(parts, plural(d.Bounced, "hard bounce")+" (suppressed)")
	}
	if n := d.Failed - d.Bounced; n > 0 || d.Accepted+d.Bounced+d.Deferred+d.Unknown+d.Withheld == 0 {
		parts = append(parts, fmt.Sprintf("%d failed", n))
	}
	if d.Deferred > 0 {
		parts = append(parts, fmt.Sprintf("%d deferred by the server (planned again)", d.Deferred))
	}
	if d.Unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d unknown (connection lost after the message was sent; not sent again)", d.Unknown))
	}
	if d.Withheld > 0 {
		parts = append(parts, fmt.Sprintf("%d withheld (opted out while waiting to go; cancelled)", d.Withheld))
	}
	return strings.Join(parts, ", ")
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
