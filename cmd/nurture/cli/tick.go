package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/worker"
)

type tickFlags struct {
	store  string
	out    deliveryFlags
	now    string
	worker string
	full   bool
	// skipIfLocked makes a tick skipped for the lock a success, for cron.
	skipIfLocked bool
	format       string
}

// TickSummary is what nurture tick --format json prints: the text
// summary's counts, by the same names.
type TickSummary struct {
	At      time.Time `json:"at"`
	Version int64     `json:"version,omitempty"`
	// Skipped says who held the tick lock when the tick did not run.
	Skipped   string         `json:"skipped,omitempty"`
	Full      bool           `json:"full"`
	Looked    int            `json:"looked"`
	Scored    int            `json:"scored"`
	Decisions int            `json:"decisions"`
	Entered   map[string]int `json:"entered"`
	Left      map[string]int `json:"left"`
	Returned  int            `json:"returned"`
	Planned   int            `json:"planned"`
	HeldBack  int            `json:"held_back"`
	// HeldOut counts the sends a holdout kept from its control group.
	HeldOut int `json:"held_out,omitempty"`
	// Paused lists the sequences a pause held, "*" for all sending.
	Paused         []string          `json:"paused,omitempty"`
	HandedOff      int               `json:"handed_off"`
	HandoffsFailed int               `json:"handoffs_failed"`
	Delivered      *DeliveredSummary `json:"delivered,omitempty"`
	// Stopped is why delivery stopped, when a server stopped taking mail.
	Stopped string `json:"delivery_stopped,omitempty"`
}

// DeliveredSummary counts what delivery did with the planned emails.
type DeliveredSummary struct {
	Sender   string `json:"sender"`
	Accepted int    `json:"accepted"`
	Failed   int    `json:"failed"`
	Bounced  int    `json:"bounced"`
	Deferred int    `json:"deferred"`
	Unknown  int    `json:"unknown"`
	Withheld int    `json:"withheld"`
	Held     int    `json:"held,omitempty"`
	Paused   string `json:"breaker_paused,omitempty"`
}

func newTick() *cobra.Command {
	var f tickFlags
	cmd := &cobra.Command{
		Use:   "tick",
		Short: "Run the applied programme once: score, exit, enroll, advance, send",
		Example: `  nurture tick
  nurture tick --sender file:outbox --now 2026-11-23T15:00:00Z
  # from cron, leaving a running worker be
  nurture tick --skip-if-locked --sender smtp://mail.example.com:587
  nurture tick --format json`,
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
planned for the next tick that has one.

One tick runs at a time per store, under the store's tick lock: a lease
of 30 seconds renewed while the tick runs, so the lock of a worker that
was killed frees itself within 30 seconds. A tick that finds the lock
held says who holds it and exits with status 3 (--skip-if-locked: 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.format != "text" && f.format != "json" {
				return fmt.Errorf("--format must be text or json, not %q", f.format)
			}
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
	fl.BoolVar(&f.skipIfLocked, "skip-if-locked", false, "exit 0, not 3, when another worker holds the tick lock (for cron)")
	fl.StringVar(&f.format, "format", "text", "output format of the summary: text or json")
	return cmd
}

// openEngineStore opens a store that can run the tick: both adapters can.
func openEngineStore(ctx context.Context, spec string) (worker.Store, error) {
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	es, ok := st.(worker.Store)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s store cannot run the engine", st.Dialect())
	}
	return es, nil
}

// tickOnce runs one tick of the applied version at now through the
// worker, delivering with out when there is one. Another worker holding
// the tick lock is a *runtime.LockedError.
func tickOnce(ctx context.Context, es worker.Store, out *delivery, name string, now time.Time, full bool) (worker.Result, error) {
	return out.worker(es, name).Tick(ctx, now, full)
}

// worker is the tick's worker on es, delivering through d (nil: none).
func (d *delivery) worker(es worker.Store, name string) *worker.Worker {
	w := &worker.Worker{Store: es, Name: name}
	if d != nil {
		w.Sender, w.TrackingURL, w.Breaker, w.Log = d.sender, d.trackingURL, d.breaker, d.log
	}
	return w
}

// exitLocked is the exit status of a tick skipped because another worker
// holds the tick lock: a cron job or CI sees that nothing ran.
const exitLocked = 3

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
	var locked *runtime.LockedError
	if errors.As(err, &locked) {
		if f.format == "json" {
			if err := writeJSON(stdout, TickSummary{At: now, Skipped: lockedLine(locked.Lock)}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(stdout, "Tick skipped: %s.\n", lockedLine(locked.Lock))
		}
		if f.skipIfLocked {
			return nil
		}
		return exitError(exitLocked)
	}
	// A server that stopped taking mail fails the tick once what it
	// decided is shown: the decisions are saved.
	var stopped *engine.DeliveryStopped
	var stopErr error
	if errors.As(err, &stopped) {
		stopErr = fmt.Errorf("%w; the tick's decisions are saved, and the next tick sends what is planned once the server takes mail", err)
	} else if err != nil {
		return err
	}
	if f.format == "json" {
		if err := writeJSON(stdout, tickSummary(res, now, f.out.shown(), stopErr)); err != nil {
			return err
		}
		switch {
		case stopErr != nil:
			return stopErr
		case res.Delivered != nil && res.Delivered.Failed > res.Delivered.Bounced:
			return exitError(1)
		}
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
		fmt.Fprintf(stdout, ", %d held back by the caps, the sending window or blackout dates", r.Deferred)
	}
	if r.HeldOut > 0 {
		fmt.Fprintf(stdout, ", %d held out (control groups)", r.HeldOut)
	}
	fmt.Fprintln(stdout)
	if len(res.Paused) > 0 {
		fmt.Fprintf(stdout, "  held by a pause: %s (nurture queue lists what waits; nurture resume lifts it)\n", pausedList(res.Paused))
	}
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
	if stopErr != nil {
		return stopErr
	}
	if d.Failed > d.Bounced {
		return exitError(1)
	}
	return nil
}

// pausedList names what Result.Paused holds: "all sending", or
// sequences.
func pausedList(ps []string) string {
	var out []string
	for _, p := range ps {
		if p == worker.PausedAll {
			p = "all sending"
		}
		out = append(out, p)
	}
	return strings.Join(out, ", ")
}

// tickSummary is what a tick did, for --format json.
func tickSummary(res worker.Result, now time.Time, sender string, stopped error) TickSummary {
	r := res.Report
	t := TickSummary{At: now, Version: res.Version, Full: r.Full, Looked: r.Looked, Scored: r.Scored, Decisions: r.Steps,
		Entered: r.Enrolled, Left: r.Exited, Returned: r.Returned,
		Planned: r.Planned, HeldBack: r.Deferred, HeldOut: r.HeldOut, HandedOff: res.HandedOff, HandoffsFailed: res.HandoffsFailed, Paused: res.Paused}
	if t.Entered == nil {
		t.Entered = map[string]int{}
	}
	if t.Left == nil {
		t.Left = map[string]int{}
	}
	if d := res.Delivered; d != nil {
		t.Delivered = &DeliveredSummary{Sender: sender, Accepted: d.Accepted, Failed: d.Failed, Bounced: d.Bounced,
			Deferred: d.Deferred, Unknown: d.Unknown, Withheld: d.Withheld, Held: d.Held, Paused: d.Paused}
	}
	if stopped != nil {
		t.Stopped = stopped.Error()
	}
	return t
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// deliveredLine is "12 accepted, 1 hard bounce (suppressed), 2 deferred".
func deliveredLine(d *engine.Delivered) string {
	parts := []string{fmt.Sprintf("%d accepted", d.Accepted)}
	if d.Bounced > 0 {
		parts = append(parts, plural(d.Bounced, "hard bounce")+" (suppressed)")
	}
	if n := d.Failed - d.Bounced; n > 0 || d.Accepted+d.Bounced+d.Deferred+d.Unknown+d.Withheld+d.Held == 0 {
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
	if d.Held > 0 {
		parts = append(parts, fmt.Sprintf("%d held back (an earlier email to the contact went late; planned again for when the caps allow)", d.Held))
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

// lockedLine says who holds a lock and until when, as "ann@host has held
// the tick lock since 10:00:00 UTC (lease to 10:00:30 UTC, lock 1f2e…)".
func lockedLine(l runtime.Lock) string {
	if l.ID == "" {
		return l.Holder + " holds the " + l.Name + " lock"
	}
	return fmt.Sprintf("%s has held the %s lock since %s (lease to %s, lock %s)", l.Holder, l.Name,
		l.Created.UTC().Format("2006-01-02 15:04:05 MST"), l.Expires.UTC().Format("15:04:05 MST"), l.ID)
}
