package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/worker"
)

type runFlags struct {
	store  string
	out    deliveryFlags
	worker string
	every  time.Duration
	full   time.Duration
	listen string
}

func newRun() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the applied programme on a schedule: a tick every --every",
		Example: `  nurture run --every 5m --sender smtp://mail.example.com:587
  nurture run --sender file:outbox --listen :9090`,
		Long: `Run ticks the applied programme on a schedule (see nurture tick): at
start, then every --every. A tick never overlaps the previous one; when
one overruns, the next starts when it ends. Workers sharing a store take
turns under the store's tick lock.

A tick looks at the contacts that changed or came due since the last
one; the first tick, and then one every --full-every, looks at every
contact, a reconciliation that also catches changes made to the store
by hand.

SIGTERM or Ctrl-C stops the schedule; a tick under way finishes first,
and its claimed sends are delivered or recorded before the process exits.

Logs go to stderr: text on a terminal, JSON otherwise. --listen serves
/healthz (503 once no tick has finished for three periods) and Prometheus
metrics on /metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.every < 100*time.Millisecond {
				return fmt.Errorf("--every must be at least 100ms; a cron-like period is 5m")
			}
			return runDaemon(cmd.Context(), cmd.ErrOrStderr(), f)
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.DurationVar(&f.every, "every", 5*time.Minute, "time between the starts of two ticks")
	fl.DurationVar(&f.full, "full-every", 24*time.Hour, "time between two ticks that look at every contact")
	f.out.add(cmd)
	fl.StringVar(&f.worker, "worker", "", "this worker's name in logs, locks and the ledger (default: user@host)")
	fl.StringVar(&f.listen, "listen", "", "serve /healthz and /metrics on this address, as in :9090")
	return cmd
}

// newLogger logs text to a terminal and JSON to anything else.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// metrics are what /metrics shows.
type metrics struct {
	reg       *prometheus.Registry
	ticks     *prometheus.CounterVec
	duration  prometheus.Histogram
	decisions prometheus.Counter
	planned   prometheus.Counter
	deferred  prometheus.Counter
	delivered *prometheus.CounterVec
	entered   *prometheus.CounterVec
	exited    *prometheus.CounterVec
	last      prometheus.Gauge
	stopped   prometheus.Counter

	mu       sync.Mutex
	lastDone time.Time
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.ticks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_ticks_total", Help: "Ticks by outcome: done, skipped (another worker held the lock), failed."}, []string{"outcome"})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nurture_tick_duration_seconds", Help: "How long a tick took.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)})
	m.decisions = prometheus.NewCounter(prometheus.CounterOpts{Name: "nurture_decisions_total", Help: "Decisions written about enrollments."})
	m.planned = prometheus.NewCounter(prometheus.CounterOpts{Name: "nurture_emails_planned_total", Help: "Emails planned in the send ledger."})
	m.deferred = prometheus.NewCounter(prometheus.CounterOpts{Name: "nurture_emails_deferred_total", Help: "Sends held back by the caps, the sending window or blackout dates (counted each tick they wait)."})
	m.delivered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_emails_delivered_total", Help: "Claimed sends by outcome."}, []string{"status"})
	m.entered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_enrollments_total", Help: "Contacts entering sequences."}, []string{"sequence"})
	m.exited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_exits_total", Help: "Contacts leaving sequences, by reason."}, []string{"reason"})
	m.last = prometheus.NewGauge(prometheus.GaugeOpts{Name: "nurture_last_tick_timestamp_seconds", Help: "When the last tick finished."})
	m.stopped = prometheus.NewCounter(prometheus.CounterOpts{Name: "nurture_delivery_stopped_total", Help: "Delivery passes stopped because the mail server could not be reached or refused the connection or the login; alert when it moves."})
	m.reg.MustRegister(m.ticks, m.duration, m.decisions, m.planned, m.deferred, m.delivered, m.entered, m.exited, m.last, m.stopped)
	return m
}

func (m *metrics) record(res worker.Result, took time.Duration, err error) {
	var locked *runtime.LockedError
	switch {
	case errors.As(err, &locked):
		m.ticks.WithLabelValues("skipped").Inc()
		return
	case err != nil:
		m.ticks.WithLabelValues("failed").Inc()
		return
	default:
		m.ticks.WithLabelValues("done").Inc()
	}
	m.duration.Observe(took.Seconds())
	r := res.Report
	m.decisions.Add(float64(r.Steps))
	m.planned.Add(float64(r.Planned))
	m.deferred.Add(float64(r.Deferred))
	for s, n := range r.Enrolled {
		m.entered.WithLabelValues(s).Add(float64(n))
	}
	for s, n := range r.Exited {
		m.exited.WithLabelValues(s).Add(float64(n))
	}
	if d := res.Delivered; d != nil {
		m.delivered.WithLabelValues("accepted").Add(float64(d.Accepted))
		m.delivered.WithLabelValues("failed").Add(float64(d.Failed - d.Bounced))
		m.delivered.WithLabelValues("bounced").Add(float64(d.Bounced))
		m.delivered.WithLabelValues("deferred").Add(float64(d.Deferred))
		m.delivered.WithLabelValues("unknown").Add(float64(d.Unknown))
		m.delivered.WithLabelValues("withheld").Add(float64(d.Withheld))
		if d.Held > 0 {
			m.delivered.WithLabelValues("held").Add(float64(d.Held))
		}
	}
	now := time.Now()
	m.last.Set(float64(now.Unix()))
	m.mu.Lock()
	m.lastDone = now
	m.mu.Unlock()
}

// healthy: a tick finished within three periods (or the first is due).
func (m *metrics) healthy(every time.Duration, started time.Time) (bool, string) {
	m.mu.Lock()
	last := m.lastDone
	m.mu.Unlock()
	if last.IsZero() {
		last = started
	}
	if age := time.Since(last); age > 3*every {
		return false, fmt.Sprintf("no tick has finished for %s", age.Round(time.Second))
	}
	return true, "ok"
}

func runDaemon(ctx context.Context, stderr io.Writer, f runFlags) error {
	log := newLogger(stderr)
	sender, err := f.out.open(func(line string) { log.Warn(line) })
	if err != nil {
		return err
	}
	if sender != nil {
		defer sender.close()
	}
	es, err := openEngineStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer es.Close()
	w := sender.worker(es, defaultWorker(f.worker))
	m := newMetrics()
	started := time.Now()
	if f.listen != "" {
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return fmt.Errorf("--listen %s: %w", f.listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			ok, why := m.healthy(f.every, started)
			if !ok {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintln(w, why)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Shutdown(context.Background())
		log.Info("serving health and metrics", "addr", ln.Addr().String())
	}
	log.Info("running", "worker", w.Name, "every", f.every.String(), "store", es.Dialect(), "sender", f.out.shown())
	err = w.Run(ctx, worker.Schedule{Every: f.every, FullEvery: f.full}, func(res worker.Result, took time.Duration, err error) {
		m.record(res, took, err)
		var locked *runtime.LockedError
		var stopped *engine.DeliveryStopped
		switch {
		case errors.As(err, &locked):
			log.Info("tick skipped", "why", lockedLine(locked.Lock))
		case errors.As(err, &stopped):
			m.stopped.Inc()
			log.Error("delivery stopped", "server", stopped.Server, "err", stopped.Err.Error(), "took", took.String())
		case err != nil:
			log.Error("tick failed", "err", err.Error(), "took", took.String())
		default:
			attrs := []any{"version", res.Version, "full", res.Report.Full}
			if !res.Report.Full { // a full tick looks at every contact, counted by no one
				attrs = append(attrs, "looked", res.Report.Looked)
			}
			attrs = append(attrs, "took", took.Round(time.Millisecond).String(), "decisions", res.Report.Steps,
				"planned", res.Report.Planned, "held_back", res.Report.Deferred)
			if len(res.Paused) > 0 {
				attrs = append(attrs, "paused", pausedList(res.Paused))
			}
			if d := res.Delivered; d != nil {
				attrs = append(attrs, "accepted", d.Accepted, "failed", d.Failed, "bounced", d.Bounced, "deferred", d.Deferred, "unknown", d.Unknown, "withheld", d.Withheld)
				if d.Held > 0 {
					attrs = append(attrs, "held", d.Held)
				}
				if d.Paused != "" {
					log.Warn("sending paused", "why", d.Paused)
				}
			}
			log.Info("tick", attrs...)
		}
	})
	log.Info("stopping", "reason", context.Cause(ctx).Error())
	return err
}
