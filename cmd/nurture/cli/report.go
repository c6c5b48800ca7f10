package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/report"
)

type reportFlags struct {
	store, since, until, sequence, format string
	html                                  string
	force                                 bool
}

// reporter is what the report asks of a store: its counts, aggregated
// in SQL.
type reporter interface {
	Report(ctx context.Context, f runtime.ReportFilter) (runtime.ReportData, error)
}

// period reads --since and --until against now: until defaults to now
// and since to 30 days before until; since may be a span before until.
func (f *reportFlags) period(now time.Time) (since, until time.Time, err error) {
	until = now.UTC()
	if f.until != "" {
		if until, err = parseDay("--until", f.until); err != nil {
			return
		}
	}
	since = until.Add(-30 * 24 * time.Hour)
	if f.since != "" {
		if d, derr := campaigns.ParseDuration(f.since); derr == nil {
			since = until.Add(-d.Std())
		} else if since, err = parseDay("--since", f.since); err != nil {
			return
		}
	}
	if !since.Before(until) {
		err = fmt.Errorf("--since %s is not before --until %s: the period is empty", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	return
}

func (f *reportFlags) check() error {
	switch f.format {
	case "text", "json", "markdown":
		return nil
	}
	return fmt.Errorf("--format %q: want text, json or markdown", f.format)
}

// parseDay reads a date (midnight UTC) or an RFC 3339 time.
func parseDay(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a date such as 2026-11-23, an RFC 3339 time such as 2026-11-23T09:00:00Z, or for --since a span such as 30d", flag, s)
	}
	return t.UTC(), nil
}

func newReport() *cobra.Command {
	f := reportFlags{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Show how the programme performs: per sequence, step, email and A/B arm",
		Long: `Report shows, for a period (the last 30 days unless --since and --until
say otherwise), what each sequence sent and what came of it: per step,
email and A/B arm the messages sent, delivered and bounced, clicks and
click-through (CTR), click-to-open (CTOR), replies, unsubscribes and
complaints; then each sequence's contacts, how far they got through the
lifecycle stages, its exits and its hand-offs to sales. When the
programme declares goals, each sequence's conversion to them: the
contacts who exited for a goal's reason or reached its stage, and the
goal exits' mean time from entry.

Opens are shown apart: image blocking hides many, and privacy proxies
fetch every image on delivery. Opens the tracking server marked as a
machine's are left out, as the engine leaves them out of engagement.

Each rate is judged against the playbooks' benchmarks (CTR 2–4%, CTOR
10–12%, replies 1–5%, unsubscribes under 0.3%): a rate whose whole 95%
interval sits under half the benchmark, or an unsubscribe, bounce or
complaint rate at its limit, is marked ! and listed under Flags.

Every step with A/B arms is an experiment, judged on the metric its send
names (clicks of delivered by default; replies, or the contacts who
reached one of the goals): each arm's rate with its 95% Wilson interval,
and a verdict from a two-proportion z-test (split among the comparisons
when there are more than two arms) — the leading arm wins, or there is no
difference the step's min_lift (20% by default) would not have shown, or
it must keep running, with the sends each arm still needs for 80% power.
nurture plan shows the same verdict beside a sequence it changes.

--html FILE writes the report instead as a self-contained page with
charts (the funnel, each sequence's sends and clicks week by week, the
experiments' intervals), readable on a phone; it will not replace a file
unless --force. nurture serve serves the same page at /v1/report.

The store aggregates in SQL; the report reads a row per email, not per
send.`,
		Example: `  nurture report
  nurture report --since 2026-10-01 --until 2026-11-01 --sequence welcome
  nurture report --since 7d --format markdown > digest.md
  nurture report --format json | jq '.flags'
  nurture report --since 90d --html report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			since, until, err := f.period(time.Now())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if f.html != "" && !f.force {
				if _, err := os.Lstat(f.html); err == nil {
					return fmt.Errorf("--html %s: the file exists; --force replaces it", f.html)
				}
			}
			st, err := openStore(ctx, f.store)
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := buildReport(ctx, st, runtime.ReportFilter{Since: since, Until: until, Sequence: f.sequence})
			if err != nil {
				return err
			}
			if f.html != "" {
				return writeHTMLReport(f.html, f.force, r)
			}
			return writeReport(cmd.OutOrStdout(), f.format, r)
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "from this date or RFC 3339 time, or this span before --until (e.g. 7d); default 30d")
	fl.StringVar(&f.until, "until", "", "up to (not including) this date or RFC 3339 time; default now")
	fl.StringVar(&f.sequence, "sequence", "", "only this sequence")
	fl.StringVar(&f.format, "format", "text", "text, json or markdown")
	fl.StringVar(&f.html, "html", "", "write the report as a self-contained HTML page with charts to this file instead")
	fl.BoolVar(&f.force, "force", false, "let --html replace a file that exists")
	return cmd
}

// buildReport reads the store's counts for filter and builds the report,
// its funnel in the applied programme's order of stages.
func buildReport(ctx context.Context, st runtime.Store, filter runtime.ReportFilter) (report.Report, error) {
	rs, ok := st.(reporter)
	if !ok {
		return report.Report{}, fmt.Errorf("the %s store cannot report", st.Dialect())
	}
	var prog *campaigns.Program
	if v, err := st.Applied(ctx); err != nil {
		return report.Report{}, err
	} else if v != nil {
		prog = new(campaigns.Program)
		if err := json.Unmarshal(v.Program, prog); err != nil {
			return report.Report{}, fmt.Errorf("reading applied version %d: %w", v.Serial, err)
		}
	}
	filter = report.StageFilter(report.GoalFilter(filter, prog), prog)
	data, err := rs.Report(ctx, filter)
	if err != nil {
		return report.Report{}, err
	}
	if prog != nil {
		if filter.Sequence != "" && prog.Sequences[filter.Sequence] == nil && len(data.Emails) == 0 && len(data.Outcomes) == 0 {
			return report.Report{}, noSequenceError{filter.Sequence, slices.Sorted(maps.Keys(prog.Sequences))}
		}
	}
	return report.Build(data, filter, prog), nil
}

// noSequenceError is a report asked of a sequence the programme lacks.
type noSequenceError struct {
	name string
	have []string
}

func (e noSequenceError) Error() string {
	return fmt.Sprintf("--sequence %s: the applied programme has no such sequence; it has %s", e.name, strings.Join(e.have, ", "))
}

// writeHTMLReport writes the page to path: a new file unless force, so
// that a page written at the same moment by someone else is not lost
// either.
func writeHTMLReport(path string, force bool, r report.Report) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	file, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("--html %s: the file exists; --force replaces it", path)
	}
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err := report.HTML(file, r); err != nil {
		file.Close()
		return fmt.Errorf("--html %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return nil
}

func writeReport(w io.Writer, format string, r report.Report) error {
	switch format {
	case "json":
		return report.JSON(w, r)
	case "markdown":
		return report.Markdown(w, r)
	}
	return report.Text(w, r)
}

// reportPage serves the report page of st for the period and sequence
// the query names (since, until, sequence), read as the command reads
// its flags. The page fetches nothing, and its policy says so: a browser
// refuses anything else it might try.
func reportPage(st runtime.Store, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := reportFlags{since: q.Get("since"), until: q.Get("until"), sequence: q.Get("sequence")}
		since, until, err := f.period(now())
		if err != nil {
			http.Error(w, strings.NewReplacer("--since", "since", "--until", "until").Replace(err.Error()), http.StatusBadRequest)
			return
		}
		rep, err := buildReport(r.Context(), st, runtime.ReportFilter{Since: since, Until: until, Sequence: f.sequence})
		if err != nil {
			if errors.As(err, new(noSequenceError)) {
				http.Error(w, strings.TrimPrefix(err.Error(), "--"), http.StatusNotFound)
				return
			}
			http.Error(w, "the report could not be read from the store", http.StatusInternalServerError)
			return
		}
		var b bytes.Buffer
		if err := report.HTML(&b, rep); err != nil {
			http.Error(w, "the report page could not be written", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b.Bytes())
	})
}
