package mail

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"
)

// BenchmarkSMTP measures what our sender costs over go-mail used bare,
// against the same sink at the same concurrency C (default 4, or
// NURTURE_BENCH_SMTP_CONC):
//
//   - bare: C goroutines, each with one go-mail Client on one
//     connection, sending messages composed beforehand (~4 KB). The
//     Client skips its NOOP and RSET around each message, so that both
//     speak the same MAIL, RCPT, DATA exchange.
//   - sender: our SMTP with a pool of C and no rate limit, composing
//     each message from an Outgoing.
//
// Each reports msgs/s; sender also reports x_bare, its rate over bare's.
// The sink is Postfix's smtp-sink when installed, else an in-process
// go-smtp server that discards.
//
//	go test -run '^$' -bench BenchmarkSMTP -benchtime 5s ./runtime/mail/
func BenchmarkSMTP(b *testing.B) {
	conc := 4
	if v := os.Getenv("NURTURE_BENCH_SMTP_CONC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPool {
			b.Fatalf("NURTURE_BENCH_SMTP_CONC=%q: want 1 to %d", v, maxPool)
		}
		conc = n
	}
	host, port, sink := benchSink(b)
	o := benchOutgoing(0)
	m, err := Compose(o)
	if err != nil {
		b.Fatal(err)
	}
	size, err := m.WriteTo(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	// Printed, not logged: benchmarks show logs only with -v.
	fmt.Printf("sink: %s at %s:%d; concurrency %d; messages of %d bytes\n", sink, host, port, conc, size)

	// bare's messages and time over all its runs (the ramp-up's short
	// ones weigh little; with -count, each of the count runs counts).
	var bareN int
	var bareTime time.Duration
	b.Run("bare", func(b *testing.B) {
		clients := make([]*gomail.Client, conc)
		msgs := make([][]*gomail.Msg, conc)
		for i := range clients {
			c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS),
				gomail.WithoutNoop(), gomail.WithoutRset(), gomail.WithHELO("bench.localhost"))
			if err != nil {
				b.Fatal(err)
			}
			if err := c.DialWithContext(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			clients[i] = c
			for j := range 64 {
				m, err := Compose(benchOutgoing(i*64 + j))
				if err != nil {
					b.Fatal(err)
				}
				msgs[i] = append(msgs[i], m)
			}
		}
		b.ResetTimer()
		run(b, conc, func(w, i int) error { return clients[w].Send(msgs[w][i%64]) })
		report(b)
		bareN += b.N
		bareTime += b.Elapsed()
	})
	b.Run("sender", func(b *testing.B) {
		s, err := NewSMTP(SMTPConfig{Host: host, Port: port, TLS: TLSNone, Pool: conc, HELO: "bench.localhost"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		// Dial the pool before the clock starts, as bare does.
		var wg sync.WaitGroup
		for i := range conc {
			wg.Go(func() {
				if err := s.Send(context.Background(), benchOutgoing(i)); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		b.ResetTimer()
		run(b, conc, func(_, i int) error { return s.Send(context.Background(), benchOutgoing(i)) })
		rate := report(b)
		if bareTime > 0 {
			b.ReportMetric(rate/(float64(bareN)/bareTime.Seconds()), "x_bare")
		}
	})
}

// run sends b.N messages from conc goroutines; send(w, i) sends the
// i-th message from worker w.
func run(b *testing.B, conc int, send func(w, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := send(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func report(b *testing.B) float64 {
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

// benchOutgoing is a message of about 4 KB, different for each i.
func benchOutgoing(i int) *Outgoing {
	key := "bench-" + strconv.Itoa(i)
	para := "We help B2B teams keep their leads warm with emails that arrive when they matter. "
	return &Outgoing{
		Key:             key,
		FromName:        "Ada Émile",
		From:            "ada@sender.example",
		To:              "lead" + strconv.Itoa(i%1000) + "@example.com",
		Subject:         "Grüße, lead " + strconv.Itoa(i),
		Text:            strings.Repeat(para+"\n", 16),
		HTML:            "<html><body>" + strings.Repeat("<p>"+para+"</p>\n", 16) + "</body></html>\n",
		ListUnsubscribe: []string{"mailto:unsub@sender.example?subject=unsubscribe", "https://sender.example/u/" + key},
		OneClick:        true,
		Bulk:            true,
		Date:            time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}
}

// benchSink starts Postfix's smtp-sink on a free port when it is
// installed, else an in-process go-smtp server that discards.
func benchSink(b *testing.B) (host string, port int, which string) {
	path, err := exec.LookPath("smtp-sink")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/smtp-sink"); serr == nil {
			path, err = "/usr/sbin/smtp-sink", nil
		}
	}
	if err == nil {
		ln, lerr := net.Listen("tcp", "127.0.0.1:0")
		if lerr != nil {
			b.Fatal(lerr)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		args := []string{fmt.Sprintf("127.0.0.1:%d", port), "1000"}
		if os.Geteuid() == 0 {
			args = append([]string{"-u", "nobody"}, args...) // it refuses to run as root
		}
		cmd := exec.Command(path, args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatalf("starting %s: %v", path, err)
		}
		b.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for deadline := time.Now().Add(5 * time.Second); ; {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s does not listen on %s: %v", path, addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return "127.0.0.1", port, "Postfix smtp-sink (" + path + ")"
	}

	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return discard{}, nil }))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, "in-process go-smtp server (smtp-sink not installed)"
}

type discard struct{}

func (discard) Reset()                                 {}
func (discard) Logout() error                          { return nil }
func (discard) Mail(string, *gosmtp.MailOptions) error { return nil }
func (discard) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (discard) Data(r io.Reader) error                 { _, err := io.Copy(io.Discard, r); return err }
