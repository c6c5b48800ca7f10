package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime/engine"
	"github.com/nurture-dev/nurture/runtime/mail"
	"github.com/nurture-dev/nurture/runtime/worker"
)

// BenchmarkDeliver sends the emails the cold tick of the sample contacts
// planned to a local SMTP sink, with the ledger on: claims, rendering
// with tracked links, the SMTP pool, and each outcome recorded. Beside it
// the same number of messages of the same size go through a bare loop of
// go-mail clients at the same concurrency, pre-composed, with nothing
// recorded. deliver/bare is the share of the ceiling delivery reaches.
//
//	NURTURE_BENCH_CONTACTS=10000 go test ./cmd/nurture/cli -run '^$' -bench BenchmarkDeliver -benchtime 3x
//
// The sink is Postfix's smtp-sink when installed (.ci/run installs it),
// otherwise an in-process SMTP server that discards what it gets.
// NURTURE_BENCH_SMTP_CONC sets the concurrency (4).
func BenchmarkDeliver(b *testing.B) {
	ctx := context.Background()
	n := benchContacts(b)
	conc := 4
	if s := os.Getenv("NURTURE_BENCH_SMTP_CONC"); s != "" {
		conc, _ = strconv.Atoi(s)
	}
	addr, sink := startSink(b)
	b.Logf("sink: %s", sink)
	_, contacts, events := benchData(b, n)
	for i, mk := range benchStores(b) {
		// b.Run calls the function more than once (b.N = 1 first): each
		// call gets a store of its own, dropped after it.
		b.Run([]string{"sqlite", "postgres"}[i], func(b *testing.B) {
			st := mk()
			defer st.drop()
			for _, args := range [][]string{
				{"contacts", "import", contacts, "--dir", benchDir, "--rejects", filepath.Join(b.TempDir(), "r")},
				{"events", "import", events, "--dir", benchDir, "--batch", "5000", "--rejects", filepath.Join(b.TempDir(), "r")},
				{"apply", benchDir, "--auto-approve"},
			} {
				if out, errOut, code := run(b, append(args, "--store", st.spec)...); code != 0 {
					b.Fatalf("%s: %s%s", args[0], out, errOut)
				}
			}
			es, err := openEngineStore(ctx, st.spec)
			if err != nil {
				b.Fatal(err)
			}
			defer es.Close()
			at := benchNow.Add(15 * time.Hour)
			res, err := tickOnce(ctx, es, nil, "bench", at, false)
			if err != nil {
				b.Fatal(err)
			}
			planned := res.Report.Planned
			if planned == 0 {
				b.Fatal("the tick planned nothing")
			}
			db := es.(interface{ DB() *sql.DB }).DB()
			cfg, err := mail.ParseSMTPURL(fmt.Sprintf("smtp://%s?tls=none&pool=%d", addr, conc), func(string) string { return "" })
			if err != nil {
				b.Fatal(err)
			}
			var ours, bare time.Duration
			var size int
			for range b.N {
				if _, err := db.Exec(`UPDATE sends SET status = 'planned', claimed_at = NULL, claimed_by = NULL, sent_at = NULL, message_id = NULL, handover_at = NULL`); err != nil {
					b.Fatal(err)
				}
				s, err := mail.NewSMTP(cfg)
				if err != nil {
					b.Fatal(err)
				}
				keys, err := worker.TrackingKeys(ctx, es)
				if err != nil {
					b.Fatal(err)
				}
				v, _ := es.Applied(ctx)
				eng := &engine.Engine{Store: es, Program: benchProgram(b, v.Program), Version: v.Serial, Keys: keys}
				probe := &sizeProbe{SMTP: s}
				t0 := time.Now()
				d, err := eng.Deliver(ctx, es, probe, "bench", at)
				ours += time.Since(t0)
				s.Close()
				if err != nil || d.Accepted != planned {
					b.Fatalf("delivered %+v of %d: %v", d, planned, err)
				}
				size = probe.size()
				bare += bareSMTP(b, addr, conc, planned, size)
			}
			b.ReportMetric(float64(planned*b.N)/ours.Seconds(), "deliver-msg/s")
			b.ReportMetric(float64(planned*b.N)/bare.Seconds(), "bare-msg/s")
			b.ReportMetric(bare.Seconds()/ours.Seconds(), "deliver/bare")
			b.ReportMetric(float64(size), "msg-bytes")
			b.ReportMetric(float64(planned), "emails")
		})
	}
}

// sizeProbe passes messages on and notes the size of one.
type sizeProbe struct {
	*mail.SMTP
	once  sync.Once
	bytes int
}

func (p *sizeProbe) Send(ctx context.Context, o *mail.Outgoing) error {
	p.once.Do(func() {
		if m, err := mail.Compose(o); err == nil {
			var c countWriter
			m.WriteTo(&c)
			p.bytes = int(c)
		}
	})
	return p.SMTP.Send(ctx, o)
}

func (p *sizeProbe) size() int { return p.bytes }

type countWriter int

func (c *countWriter) Write(b []byte) (int, error) { *c += countWriter(len(b)); return len(b), nil }

// bareSMTP sends n pre-composed messages of about size bytes over conc
// go-mail clients, one connection each, and says how long it took.
func bareSMTP(b *testing.B, addr string, conc, n, size int) time.Duration {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	body := make([]byte, 0, size)
	for len(body) < size-600 {
		body = append(body, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\n"...)
	}
	// A message each: a go-mail Msg is not for sending from two
	// goroutines at once.
	newMsg := func() *gomail.Msg {
		msg := gomail.NewMsg()
		msg.From("bench@acme.example")
		msg.To("someone@example.com")
		msg.Subject("A message of the same size")
		msg.SetBodyString(gomail.TypeTextPlain, string(body))
		return msg
	}
	clients := make([]*gomail.Client, conc)
	for i := range clients {
		c, err := gomail.NewClient(host, gomail.WithPort(p), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithHELO("bench.test"))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.DialWithContext(context.Background()); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	var wg sync.WaitGroup
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	t0 := time.Now()
	for _, c := range clients {
		wg.Add(1)
		msg := newMsg()
		go func() {
			defer wg.Done()
			for range work {
				if err := c.Send(msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	for _, c := range clients {
		c.Close()
	}
	return took
}

// startSink starts Postfix's smtp-sink on a free port, or an in-process
// server when it is not installed, and says which.
func startSink(b *testing.B) (string, string) {
	path, err := exec.LookPath("smtp-sink")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/smtp-sink"); serr == nil {
			path, err = "/usr/sbin/smtp-sink", nil
		}
	}
	if err != nil {
		mb := startMailbox(b)
		return mb.Addr, "in-process SMTP server (install postfix for smtp-sink)"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{addr, "1000"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(path, args...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, "smtp-sink"
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("smtp-sink did not start")
	return "", ""
}

func benchProgram(b *testing.B, raw []byte) *campaigns.Program {
	p := new(campaigns.Program)
	if err := json.Unmarshal(raw, p); err != nil {
		b.Fatal(err)
	}
	return p
}
