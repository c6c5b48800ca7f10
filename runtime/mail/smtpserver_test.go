package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// testServer is an in-process SMTP server (go-smtp, the real protocol)
// whose backend records what it receives and injects the faults a test
// sets before start.
type testServer struct {
	// AUTH PLAIN is offered, and required before MAIL, when user is set.
	user, pass string

	// Faults. n counts the command over all connections, from 1.
	mail func(n int) error
	rcpt func(n int, to string) error
	// data runs once the whole message is in, before the reply.
	data func(n int, c *gosmtp.Conn, msg []byte) error
	// afterMessage runs once an accepted message's reply has been
	// written.
	afterMessage func(n int, c *gosmtp.Conn)

	mode    string // "plain", "starttls" or "tls"
	host    string
	port    int
	roots   *x509.CertPool // trusts the server's certificate
	conns   atomic.Int32
	release chan struct{} // closed at cleanup: hooks that hang wait on it

	mu                  sync.Mutex
	nMail, nRcpt, nData int
	got                 []received
}

// errDrop from a hook drops the connection without a reply.
var errDrop = errors.New("connection dropped")

type received struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

// start serves on 127.0.0.1:0 in mode: "plain" (no TLS), "starttls" (a
// self-signed certificate offered with STARTTLS) or "tls" (TLS from the
// first byte).
func (ts *testServer) start(t testing.TB, mode string) *testServer {
	t.Helper()
	ts.mode = mode
	ts.release = make(chan struct{})
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &testSession{ts: ts, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener = countingListener{ln, &ts.conns}
	if mode != "plain" {
		cert, roots := selfSigned(t)
		ts.roots = roots
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		if mode == "starttls" {
			srv.TLSConfig = cfg
		} else {
			l = tls.NewListener(l, cfg)
		}
	}
	a := ln.Addr().(*net.TCPAddr)
	ts.host, ts.port = "127.0.0.1", a.Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() { close(ts.release) }) // runs first: hung hooks return
	return ts
}

// url is the server's smtp URL with params added.
func (ts *testServer) url(params string) string {
	scheme, tlsParam := "smtp", "tls=none"
	switch ts.mode {
	case "starttls":
		tlsParam = "tls=starttls&insecure=true"
	case "tls":
		scheme, tlsParam = "smtps", "insecure=true"
	}
	u := fmt.Sprintf("%s://%s:%d?%s", scheme, ts.host, ts.port, tlsParam)
	if !strings.Contains(params, "timeout=") {
		u += "&timeout=5s"
	}
	if params != "" {
		u += "&" + params
	}
	return u
}

func (ts *testServer) received() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.got...)
}

func (ts *testServer) counts() (mail, rcpt, data int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.nMail, ts.nRcpt, ts.nData
}

type testSession struct {
	ts       *testServer
	c        *gosmtp.Conn
	user     string
	from, to string
	accepted int // the number of the message accepted last, 0 after reset
}

func (s *testSession) AuthMechanisms() []string {
	if s.ts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.ts.user || pass != s.ts.pass {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.ts.mu.Lock()
	s.ts.nMail++
	n := s.ts.nMail
	s.ts.mu.Unlock()
	if s.ts.user != "" && s.user == "" {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if s.ts.mail != nil {
		if err := s.ts.mail(n); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.ts.mu.Lock()
	s.ts.nRcpt++
	n := s.ts.nRcpt
	s.ts.mu.Unlock()
	if s.ts.rcpt != nil {
		if err := s.ts.rcpt(n, to); err != nil {
			if err == errDrop {
				s.c.Conn().Close()
			}
			return err
		}
	}
	s.to = to
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ts.mu.Lock()
	s.ts.nData++
	n := s.ts.nData
	s.ts.mu.Unlock()
	if s.ts.data != nil {
		if err := s.ts.data(n, s.c, msg); err != nil {
			return err
		}
	}
	_, isTLS := s.c.TLSConnectionState()
	s.ts.mu.Lock()
	s.ts.got = append(s.ts.got, received{from: s.from, to: s.to, data: msg, tls: isTLS, user: s.user})
	s.ts.mu.Unlock()
	s.accepted = n
	return nil
}

// Reset runs after every message, once the reply is written.
func (s *testSession) Reset() {
	if n := s.accepted; n > 0 && s.ts.afterMessage != nil {
		s.ts.afterMessage(n, s.c)
	}
	s.accepted = 0
	s.from, s.to = "", ""
}

func (s *testSession) Logout() error { return nil }

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nurture test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// backoffs records the sender's sleeps and returns from them at once.
type backoffs struct {
	mu sync.Mutex
	d  []time.Duration
}

func (b *backoffs) sleep(ctx context.Context, d time.Duration) error {
	b.mu.Lock()
	b.d = append(b.d, d)
	b.mu.Unlock()
	return ctx.Err()
}

func (b *backoffs) all() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.d...)
}

// newSender parses rawURL (with env as the environment) and makes a
// sender whose backoff sleeps are recorded, not slept, and whose jitter
// always picks the longest wait.
func newSender(t testing.TB, rawURL string, env map[string]string) (*SMTP, *backoffs) {
	t.Helper()
	cfg, err := ParseSMTPURL(rawURL, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &backoffs{}
	s.sleep = b.sleep
	s.jitter = func(n int64) int64 { return n - 1 }
	t.Cleanup(func() { s.Close() })
	return s, b
}

// sendWithin sends and fails the test if Send has not returned after
// limit: a guard against hanging, not a measure of speed.
func sendWithin(t *testing.T, ctx context.Context, s *SMTP, o *Outgoing, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx, o) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("Send still running after %s", limit)
		return nil
	}
}

func testOutgoing(key, to string) *Outgoing {
	return &Outgoing{
		Key:      key,
		FromName: "Ada Émile",
		From:     "ada@sender.example",
		To:       to,
		Subject:  "Hello " + key,
		Text:     "Hello,\nthis is " + key + ".\n",
		HTML:     "<p>Hello,</p><p>this is " + key + ".</p>\n",
		ListUnsubscribe: []string{
			"mailto:unsub@sender.example?subject=unsubscribe",
			"https://sender.example/u/" + key,
		},
		OneClick: true,
		Bulk:     true,
		Date:     time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}
}

// sendError is err as a *SendError, or fails the test.
func sendError(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is no *SendError", err, err)
	}
	return se
}

func smtpErr(code int, enhanced [3]int, msg string) error {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode(enhanced), Message: msg}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
