package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	smtp "github.com/emersion/go-smtp"
	"github.com/spf13/cobra"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/importer"
	"github.com/nurture-dev/nurture/runtime/track"
	"github.com/nurture-dev/nurture/runtime/worker"
)

type serveFlags struct {
	store       string
	listen      string
	smtpListen  string
	refresh     time.Duration
	keepUnknown string
}

func newServe() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve tracked links, unsubscribes, preferences and the events API",
		Example: `  nurture serve
  nurture serve --listen :8080 --store postgres://nurture@db.example/nurture
  nurture serve --smtp-listen :25   # as the MX of the reply-to domain`,
		Long: `Serve runs the tracking and ingestion HTTP server the applied programme's
sender.tracking.base_url points at:

  GET  /c/TOKEN   records a click and redirects to the link's URL
  GET  /o/TOKEN   records an open (a 1×1 image; opens are unreliable)
  GET  /u/TOKEN   asks to confirm an unsubscribe
  POST /u/TOKEN   unsubscribes at once (RFC 8058 one-click)
  GET  /p/TOKEN   the preference page: frequency and topics
  POST /v1/events   events as JSON Lines, as nurture events import takes
                    them; an address not imported yet keeps its events
                    for --keep-unknown (30 days) until its import
  POST /v1/bounces  bounce and complaint notices of a mail provider
  POST /v1/replies  replies to the programme's email as JSON, matched to
                    their send by In-Reply-To or References; automatic
                    replies are counted and not recorded
  POST /v1/inbound  one raw message (MIME) the reply-to or unsubscribe
                    mailbox received, read as the SMTP listener reads it
  GET  /v1/report   the report page nurture report --html writes, for
                    ?since=&until=&sequence= as the command takes them
  GET  /healthz

Tokens are signed with the store's tracking keys (nurture keys); a
forged or altered one gets 404. The /v1/ API wants the bearer token in
$NURTURE_API_TOKEN and is off without it. Put the server behind your
HTTPS proxy at the base URL.

With --smtp-listen it also takes the programme's inbound mail over SMTP,
as the MX of its reply-to domain: mail only for the domains of the
programme's from, reply-to and unsubscribe addresses, at most 10 MB a
message. A reply is recorded as email.replied of the send it answers (an
exit rule on it stops the sequence); an automatic reply is counted and
changes nothing; mail to sender.unsubscribe.mailto unsubscribes its
sender, and a reply whose first line is "unsubscribe" or "stop"
unsubscribes the address the email went to, as the one-click POST does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), cmd.ErrOrStderr(), f)
		},
	}
	storeFlag(cmd, &f.store)
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "the address to listen on")
	fl.StringVar(&f.smtpListen, "smtp-listen", "", "also take inbound mail (replies, unsubscribe requests) over SMTP on this address, as :25")
	fl.DurationVar(&f.refresh, "refresh", 30*time.Second, "how often to pick up a newly applied programme and rotated keys")
	fl.StringVar(&f.keepUnknown, "keep-unknown", "30d", "how long API events of addresses not imported yet wait for their contact, as \"30d\" or \"2 weeks\"; 0 rejects them")
	return cmd
}

// keepingStore records the API's events as nurture events import does:
// those of an address the store does not hold yet wait for the contact's
// import until keep has passed, instead of being rejected, so that a web
// visitor who becomes a lead later keeps their history.
type keepingStore struct {
	track.Store
	pending importer.PendingRecorder
	keep    time.Duration
	now     func() time.Time
}

func (k keepingStore) RecordEvents(ctx context.Context, batch []runtime.Event) (runtime.EventResult, error) {
	return k.pending.RecordEventsPending(ctx, batch, k.now().Add(k.keep))
}

// keepUnknown wraps ts to keep unknown addresses' events for keep, when
// the store can and keep is not zero.
func keepUnknown(ts track.Store, keep time.Duration, now func() time.Time) track.Store {
	pr, ok := ts.(importer.PendingRecorder)
	if !ok || keep <= 0 {
		return ts
	}
	return keepingStore{Store: ts, pending: pr, keep: keep, now: now}
}

// appliedVersions reads applied versions of the programme from the
// store, each once: a web view renders a send's email as the version it
// was planned under had it.
func appliedVersions(es interface {
	Version(ctx context.Context, serial int64) (*runtime.Version, error)
}) func(context.Context, int64) (*campaigns.Program, error) {
	var mu sync.Mutex
	cache := map[int64]*campaigns.Program{}
	return func(ctx context.Context, serial int64) (*campaigns.Program, error) {
		mu.Lock()
		defer mu.Unlock()
		if p := cache[serial]; p != nil {
			return p, nil
		}
		v, err := es.Version(ctx, serial)
		if err != nil || v == nil {
			return nil, err
		}
		p := new(campaigns.Program)
		if err := json.Unmarshal(v.Program, p); err != nil {
			return nil, fmt.Errorf("reading applied version %d: %w", serial, err)
		}
		cache[serial] = p
		return p, nil
	}
}

func runServe(ctx context.Context, stderr io.Writer, f serveFlags) error {
	es, err := openEngineStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer es.Close()
	ts, ok := es.(track.Store)
	if !ok {
		return fmt.Errorf("the %s store cannot serve tracking", es.Dialect())
	}
	keep, err := parseKeepUnknown(f.keepUnknown)
	if err != nil {
		return err
	}
	ts = keepUnknown(ts, keep, time.Now)
	log := newLogger(stderr)
	srv := &track.Server{Store: ts, APIToken: os.Getenv("NURTURE_API_TOKEN"), Log: log, Programs: appliedVersions(es),
		Report: reportPage(es, time.Now)}
	load := func() error {
		keys, err := worker.TrackingKeys(ctx, es)
		if err != nil {
			return err
		}
		srv.SetKeys(keys)
		v, err := es.Applied(ctx)
		if err != nil || v == nil {
			return err
		}
		prog := new(campaigns.Program)
		if err := json.Unmarshal(v.Program, prog); err != nil {
			return fmt.Errorf("reading applied version %d: %w", v.Serial, err)
		}
		srv.SetProgram(prog)
		return nil
	}
	if err := load(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", f.listen, err)
	}
	hs := &http.Server{Handler: logRequests(log, srv.Handler()), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	api := "on"
	if srv.APIToken == "" {
		api = "off (set NURTURE_API_TOKEN)"
	}
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "api", api)
	done := make(chan error, 2)
	go func() { done <- hs.Serve(ln) }()
	if f.smtpListen != "" {
		sln, err := net.Listen("tcp", f.smtpListen)
		if err != nil {
			hs.Close()
			return fmt.Errorf("--smtp-listen %s: %w", f.smtpListen, err)
		}
		host, _ := os.Hostname()
		ss := srv.SMTP(cmp.Or(host, "localhost"))
		ss.ErrorLog = smtpLog{log}
		log.Info("taking inbound mail", "addr", "smtp://"+sln.Addr().String(), "domains", strings.Join(slices.Sorted(maps.Keys(srv.Domains())), ","))
		go func() {
			if err := ss.Serve(sln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				done <- fmt.Errorf("--smtp-listen: %w", err)
			}
		}()
		// Stopping lets a message being received finish, as the HTTP
		// server lets its requests.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if ss.Shutdown(sctx) != nil {
				ss.Close()
			}
		}()
	}
	tick := time.NewTicker(max(f.refresh, time.Second))
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if err := load(); err != nil {
				log.Error("refreshing the programme and keys", "err", err)
			}
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return err
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			log.Info("stopped")
			return nil
		}
	}
}

// smtpLog sends the SMTP server's complaints (a client that hung up)
// to the log at debug level: they are the peer's, not ours.
type smtpLog struct{ log *slog.Logger }

func (l smtpLog) Printf(format string, v ...any) {
	l.log.Debug("smtp", "msg", fmt.Sprintf(format, v...))
}
func (l smtpLog) Println(v ...any) { l.log.Debug("smtp", "msg", fmt.Sprintln(v...)) }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// logRequests logs each request without its token: the path's kind, the
// status and the time taken.
func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		path := r.URL.Path
		if len(path) > 3 && path[0] == '/' && path[2] == '/' {
			path = path[:3] + "…"
		}
		log.Debug("request", "method", r.Method, "path", path, "status", sw.status, "ms", time.Since(start).Milliseconds())
	})
}
