package mail

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// How the connection to an SMTP server is encrypted.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS
	// before anything else is said; a server that does not offer
	// STARTTLS is refused, never spoken to in the clear.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (smtps://, port 465).
	TLSImplicit = "tls"
	// TLSNone does not encrypt: for a relay on this host or a test
	// server.
	TLSNone = "none"
)

// Defaults of the smtp:// URL's parameters.
const (
	DefaultPool    = 4
	DefaultTimeout = 30 * time.Second
	DefaultRetries = 3
	maxPool        = 100
)

// The environment variables that hold the SMTP credentials: secrets stay
// out of campaign files and command lines.
const (
	EnvSMTPUsername = "NURTURE_SMTP_USERNAME"
	EnvSMTPPassword = "NURTURE_SMTP_PASSWORD"
)

// SMTPConfig is how to reach and use an SMTP server. ParseSMTPURL reads
// one from a URL; printing it (String) never shows the password.
type SMTPConfig struct {
	Host string
	Port int
	TLS  string // TLSStartTLS, TLSImplicit or TLSNone
	// InsecureSkipVerify accepts any certificate: for test servers with
	// a self-signed one, never for a real relay.
	InsecureSkipVerify bool
	// Username and Password log in with AUTH PLAIN (or LOGIN when the
	// server offers only that); no Username, no AUTH.
	Username string
	Password string
	// HELO is the name we greet the server with; empty, the host name.
	HELO string
	// Pool is how many connections are kept open, and so how many
	// messages can be in flight at once.
	Pool int
	// Rate caps the messages handed over per second across all
	// connections; 0 leaves it unlimited.
	Rate float64
	// DomainRates caps, per recipient domain (lower case), the messages
	// per second to addresses at that domain.
	DomainRates map[string]float64
	// Timeout bounds every wait on the server: connecting, each
	// command's reply, writing the message and the reply to it.
	Timeout time.Duration
	// Retries is how many attempts a message gets inside one Send while
	// the server defers it (4xx) or cannot be reached; 1 tries once.
	Retries int
	// DKIM signs each message when set.
	DKIM *DKIMConfig
}

// ParseSMTPURL reads an SMTP server's URL:
//
//	smtp://[user@]host[:port][?param=value&...]
//	smtps://[user@]host[:port][?...]    TLS from the first byte
//
// Parameters: tls=starttls|tls|none (default starttls; tls for smtps://
// and port 465), pool=N connections (4), rate=N/s, N/m or N/h over all
// connections (unlimited), domain_rate=DOMAIN:N/s (repeatable; per
// recipient domain), timeout=DURATION (30s), retries=N attempts while
// the server defers a message (3), insecure=true (accept any
// certificate: test servers only), helo=NAME. The port defaults to 587,
// 465 with tls=tls, 25 with tls=none.
//
// The password comes from NURTURE_SMTP_PASSWORD and the user name from
// the URL or NURTURE_SMTP_USERNAME. A password written into the URL
// (user:pass@) is accepted, so that a whole URL kept in a secret store
// works, but only when the environment gives none: two passwords is an
// error, not a guess. getenv is os.Getenv when nil.
func ParseSMTPURL(raw string, getenv func(string) string) (SMTPConfig, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	bad := func(format string, args ...any) (SMTPConfig, error) {
		return SMTPConfig{}, fmt.Errorf("smtp URL: "+format, args...)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("%v; want smtp://[user@]host[:port][?param=value&...]", err)
	}
	cfg := SMTPConfig{Pool: DefaultPool, Timeout: DefaultTimeout, Retries: DefaultRetries}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		cfg.TLS = TLSImplicit
	default:
		return bad("scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("no host: want smtp://[user@]host[:port]")
	}
	if u.Path != "" && u.Path != "/" {
		return bad("path %q: an SMTP URL has none; parameters go after ?", u.Path)
	}
	if u.Fragment != "" {
		return bad("fragment #%s: an SMTP URL has none", u.Fragment)
	}
	cfg.Host = u.Hostname()
	if cfg.Host == "" {
		return bad("no host: want smtp://[user@]host[:port]")
	}
	if !validHost(cfg.Host) {
		return bad("host %q: want a host name or an IP address", cfg.Host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %q: want a number from 1 to 65535", p)
		}
		cfg.Port = n
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("parameters %q: %v; want param=value pairs joined by &", u.RawQuery, err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if k != "domain_rate" && len(vs) > 1 {
			return bad("%s given %d times: give it once", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "tls":
			switch v {
			case TLSStartTLS, TLSImplicit, TLSNone:
			default:
				return bad("tls=%q: want tls=starttls, tls=tls or tls=none", v)
			}
			if u.Scheme == "smtps" && v != TLSImplicit {
				return bad("tls=%s with smtps://: smtps:// is TLS from the start; use smtp:// with tls=%s", v, v)
			}
			cfg.TLS = v
		case "pool":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPool {
				return bad("pool=%q: want a number of connections from 1 to %d, as in pool=4", v, maxPool)
			}
			cfg.Pool = n
		case "rate":
			r, err := parseRate(v)
			if err != nil {
				return bad("rate=%q: %v", v, err)
			}
			cfg.Rate = r
		case "domain_rate":
			for _, v := range vs {
				domain, rv, ok := strings.Cut(v, ":")
				domain = strings.ToLower(strings.TrimSpace(domain))
				if !ok || domain == "" || strings.ContainsAny(domain, "@/ ") {
					return bad("domain_rate=%q: want DOMAIN:N/s, as in domain_rate=example.com:5/s", v)
				}
				r, err := parseRate(rv)
				if err != nil {
					return bad("domain_rate=%q: %v", v, err)
				}
				if _, dup := cfg.DomainRates[domain]; dup {
					return bad("domain_rate for %s given twice: give each domain once", domain)
				}
				if cfg.DomainRates == nil {
					cfg.DomainRates = map[string]float64{}
				}
				cfg.DomainRates[domain] = r
			}
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("timeout=%q: want a positive duration, as in timeout=30s or timeout=1m", v)
			}
			cfg.Timeout = d
		case "retries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return bad("retries=%q: want the number of attempts from 1 (no retry) to 100, as in retries=3", v)
			}
			cfg.Retries = n
		case "insecure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("insecure=%q: want insecure=true or insecure=false", v)
			}
			cfg.InsecureSkipVerify = b
		case "helo":
			if v == "" || strings.ContainsAny(v, " \t\r\n") {
				return bad("helo=%q: want a host name, as in helo=mail.example.com", v)
			}
			cfg.HELO = v
		default:
			return bad("unknown parameter %q; want tls, pool, rate, domain_rate, timeout, retries, insecure or helo", k)
		}
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
		if cfg.Port == 465 {
			cfg.TLS = TLSImplicit
		}
	}
	if cfg.Port == 0 {
		switch cfg.TLS {
		case TLSImplicit:
			cfg.Port = 465
		case TLSNone:
			cfg.Port = 25
		default:
			cfg.Port = 587
		}
	}

	envUser, envPass := getenv(EnvSMTPUsername), getenv(EnvSMTPPassword)
	if u.User != nil {
		cfg.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			if envPass != "" {
				return bad("a password in the URL and another in %s: keep the one in %s and take it out of the URL", EnvSMTPPassword, EnvSMTPPassword)
			}
			cfg.Password = p
		}
	}
	if envUser != "" {
		if cfg.Username != "" && cfg.Username != envUser {
			return bad("user %q in the URL but %s=%q: give the user name once", cfg.Username, EnvSMTPUsername, envUser)
		}
		cfg.Username = envUser
	}
	if cfg.Password == "" {
		cfg.Password = envPass
	}
	switch {
	case cfg.Username == "" && cfg.Password != "":
		return bad("a password but no user name: put it in the URL (smtp://USER@host) or in %s", EnvSMTPUsername)
	case cfg.Username != "" && cfg.Password == "":
		return bad("user %q has no password: set %s", cfg.Username, EnvSMTPPassword)
	case cfg.Username != "" && cfg.TLS == TLSNone && !isLoopback(cfg.Host):
		return bad("tls=none with a password would send it in the clear to %s: use tls=starttls or tls=tls", cfg.Host)
	}
	return cfg, nil
}

// parseRate reads N/s, N/m or N/h as messages per second.
func parseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || !(n > 0) || math.IsInf(n, 0) {
		return 0, errors.New("want a positive number of messages per second, minute or hour, as in 10/s, 300/m or 1000/h")
	}
	switch unit {
	case "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("unit %q: want /s, /m or /h, as in 10/s", unit)
}

func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	return !strings.ContainsFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
	})
}

// isLoopback is whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String is c as a URL, without its password: safe to print and log.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	if c.Username != "" {
		u.User = url.User(c.Username)
	}
	q := url.Values{}
	q.Set("tls", c.TLS)
	q.Set("pool", strconv.Itoa(c.Pool))
	if c.Rate > 0 {
		q.Set("rate", formatRate(c.Rate))
	}
	for _, d := range slices.Sorted(maps.Keys(c.DomainRates)) {
		q.Add("domain_rate", d+":"+formatRate(c.DomainRates[d]))
	}
	q.Set("timeout", c.Timeout.String())
	q.Set("retries", strconv.Itoa(c.Retries))
	if c.InsecureSkipVerify {
		q.Set("insecure", "true")
	}
	if c.HELO != "" {
		q.Set("helo", c.HELO)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// GoString keeps %#v from printing the password too.
func (c SMTPConfig) GoString() string { return "mail.SMTPConfig(" + c.String() + ")" }

func formatRate(r float64) string {
	if m := r * 60; r < 1 && math.Abs(m-math.Round(m)) < 1e-9 {
		return strconv.FormatFloat(math.Round(m), 'g', -1, 64) + "/m"
	}
	return strconv.FormatFloat(r, 'g', -1, 64) + "/s"
}
