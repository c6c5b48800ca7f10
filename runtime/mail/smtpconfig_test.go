package mail

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSMTPURL(t *testing.T) {
	base := SMTPConfig{Host: "mail.example.com", Port: 587, TLS: TLSStartTLS, Pool: 4, Timeout: 30 * time.Second, Retries: 3}
	with := func(f func(c *SMTPConfig)) SMTPConfig {
		c := base
		f(&c)
		return c
	}
	tests := []struct {
		url  string
		env  map[string]string
		want SMTPConfig
	}{
		{"smtp://mail.example.com", nil, base},
		{"smtp://mail.example.com/", nil, base},
		{"smtp://mail.example.com:2525", nil, with(func(c *SMTPConfig) { c.Port = 2525 })},
		{"smtp://mail.example.com:465", nil, with(func(c *SMTPConfig) { c.Port, c.TLS = 465, TLSImplicit })},
		{"smtps://mail.example.com", nil, with(func(c *SMTPConfig) { c.Port, c.TLS = 465, TLSImplicit })},
		{"smtp://mail.example.com?tls=tls", nil, with(func(c *SMTPConfig) { c.Port, c.TLS = 465, TLSImplicit })},
		{"smtp://mail.example.com:465?tls=starttls", nil, with(func(c *SMTPConfig) { c.Port = 465 })},
		{"smtp://localhost?tls=none", nil, with(func(c *SMTPConfig) { c.Host, c.Port, c.TLS = "localhost", 25, TLSNone })},
		{"smtp://[::1]:2525?tls=none", nil, with(func(c *SMTPConfig) { c.Host, c.Port, c.TLS = "::1", 2525, TLSNone })},
		{"smtp://mail.example.com?pool=8&rate=10/s&timeout=5s&retries=1&insecure=true&helo=out.example.com", nil, with(func(c *SMTPConfig) {
			c.Pool, c.Rate, c.Timeout, c.Retries, c.InsecureSkipVerify, c.HELO = 8, 10, 5*time.Second, 1, true, "out.example.com"
		})},
		{"smtp://mail.example.com?rate=120/m&domain_rate=Gmail.com:1/s&domain_rate=outlook.com:3600/h", nil, with(func(c *SMTPConfig) {
			c.Rate = 2
			c.DomainRates = map[string]float64{"gmail.com": 1, "outlook.com": 1}
		})},
		{"smtp://ada@mail.example.com", map[string]string{EnvSMTPPassword: "s3cret"}, with(func(c *SMTPConfig) { c.Username, c.Password = "ada", "s3cret" })},
		{"smtp://mail.example.com", map[string]string{EnvSMTPUsername: "ada", EnvSMTPPassword: "s3cret"}, with(func(c *SMTPConfig) { c.Username, c.Password = "ada", "s3cret" })},
		{"smtp://ada@mail.example.com", map[string]string{EnvSMTPUsername: "ada", EnvSMTPPassword: "s3cret"}, with(func(c *SMTPConfig) { c.Username, c.Password = "ada", "s3cret" })},
		{"smtp://ada%40corp:p%40ss@mail.example.com", nil, with(func(c *SMTPConfig) { c.Username, c.Password = "ada@corp", "p@ss" })},
		{"smtp://ada@127.0.0.1:2525?tls=none", map[string]string{EnvSMTPPassword: "s3cret"}, with(func(c *SMTPConfig) {
			c.Host, c.Port, c.TLS, c.Username, c.Password = "127.0.0.1", 2525, TLSNone, "ada", "s3cret"
		})},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseSMTPURL(tt.url, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// What String prints parses back to the same, bar the password.
			again, err := ParseSMTPURL(got.String(), func(k string) string { return map[string]string{EnvSMTPPassword: got.Password}[k] })
			if err != nil {
				t.Fatalf("String() = %q does not parse: %v", got.String(), err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("String() = %q parses to another config (-first +again):\n%s", got.String(), diff)
			}
		})
	}
}

func TestParseSMTPURLErrors(t *testing.T) {
	tests := []struct {
		url  string
		env  map[string]string
		want []string // in the error
	}{
		{"http://mail.example.com", nil, []string{"scheme", "smtp://", "smtps://"}},
		{"mail.example.com:25", nil, []string{"smtp://"}},
		{"smtp:mail.example.com", nil, []string{"no host"}},
		{"smtp://", nil, []string{"no host"}},
		{"smtp://0:0:", nil, []string{"host \"0:0\"", "host name or an IP address"}},
		{"smtp://mail.example.com:0", nil, []string{"port", "1 to 65535"}},
		{"smtp://mail.example.com:99999", nil, []string{"port", "1 to 65535"}},
		{"smtp://mail.example.com/relay", nil, []string{"path", "after ?"}},
		{"smtp://mail.example.com#x", nil, []string{"fragment"}},
		{"smtp://mail.example.com?tls=ssl", nil, []string{`tls="ssl"`, "starttls", "tls=tls", "none"}},
		{"smtps://mail.example.com?tls=starttls", nil, []string{"smtps://", "smtp://"}},
		{"smtp://mail.example.com?pool=0", nil, []string{"pool", "1 to 100", "pool=4"}},
		{"smtp://mail.example.com?pool=x", nil, []string{"pool"}},
		{"smtp://mail.example.com?rate=10", nil, []string{"rate", "10/s"}},
		{"smtp://mail.example.com?rate=10/d", nil, []string{"rate", "/s, /m or /h"}},
		{"smtp://mail.example.com?rate=-1/s", nil, []string{"rate", "positive"}},
		{"smtp://mail.example.com?rate=NaN/s", nil, []string{"rate", "positive"}},
		{"smtp://mail.example.com?rate=1/s&rate=2/s", nil, []string{"rate given 2 times"}},
		{"smtp://mail.example.com?domain_rate=10/s", nil, []string{"domain_rate", "DOMAIN:N/s"}},
		{"smtp://mail.example.com?domain_rate=a@b.com:1/s", nil, []string{"domain_rate", "DOMAIN:N/s"}},
		{"smtp://mail.example.com?domain_rate=b.com:fast", nil, []string{"domain_rate", "10/s"}},
		{"smtp://mail.example.com?domain_rate=b.com:1/s&domain_rate=B.com:2/s", nil, []string{"b.com given twice"}},
		{"smtp://mail.example.com?timeout=30", nil, []string{"timeout", "30s"}},
		{"smtp://mail.example.com?timeout=-1s", nil, []string{"timeout", "positive"}},
		{"smtp://mail.example.com?retries=0", nil, []string{"retries", "from 1"}},
		{"smtp://mail.example.com?insecure=maybe", nil, []string{"insecure", "true"}},
		{"smtp://mail.example.com?helo=", nil, []string{"helo", "host name"}},
		{"smtp://mail.example.com?pol=4", nil, []string{`"pol"`, "pool", "domain_rate"}},
		{"smtp://mail.example.com?a=1;b=2", nil, []string{"parameters", "&"}},
		{"smtp://ada@mail.example.com", nil, []string{`"ada"`, "no password", EnvSMTPPassword}},
		{"smtp://mail.example.com", map[string]string{EnvSMTPPassword: "s3cret"}, []string{"no user name", EnvSMTPUsername}},
		{"smtp://ada:inurl@mail.example.com", map[string]string{EnvSMTPPassword: "s3cret"}, []string{"a password in the URL and another", EnvSMTPPassword}},
		{"smtp://ada@mail.example.com", map[string]string{EnvSMTPUsername: "bob", EnvSMTPPassword: "s3cret"}, []string{`"ada"`, `"bob"`, "once"}},
		{"smtp://ada@mail.example.com?tls=none", map[string]string{EnvSMTPPassword: "s3cret"}, []string{"tls=none", "in the clear", "starttls"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseSMTPURL(tt.url, func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatalf("no error; got %v", got)
			}
			if !strings.HasPrefix(err.Error(), "smtp URL: ") || !containsAll(err.Error(), tt.want...) {
				t.Errorf("error %q, want it to start smtp URL: and mention %q", err, tt.want)
			}
		})
	}
}

// The password shows nowhere: not in String, %v, %+v or %#v, nor in
// an error about a malformed URL.
func TestSMTPConfigHidesPassword(t *testing.T) {
	cfg, err := ParseSMTPURL("smtp://ada:hunter2@mail.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "hunter2" {
		t.Fatalf("password %q, want hunter2", cfg.Password)
	}
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(&cfg)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("the password shows in %q", s)
		}
	}
	for _, raw := range []string{"smtp://ada:hunter2@mail.example.com:bad", "smtp://ada:hunter2@mail.example.com?pool=x", "smtp://ada:hunter2@mail.example.com/%zz"} {
		_, err := ParseSMTPURL(raw, nil)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %v shows the password (or is missing)", raw, err)
		}
	}
}

func FuzzParseSMTPURL(f *testing.F) {
	f.Add("smtp://ada:hunter2@mail.example.com:587?tls=starttls&pool=4&rate=10/s&domain_rate=a.com:1/m&timeout=5s&retries=2&insecure=true&helo=x")
	f.Add("smtps://mail.example.com")
	f.Add("smtp://[::1]:25?tls=none")
	f.Add("smtp://0:0:")
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := ParseSMTPURL(raw, func(string) string { return "" })
		if err != nil {
			return
		}
		if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 || cfg.Pool < 1 || cfg.Timeout <= 0 || cfg.Retries < 1 || cfg.Rate < 0 {
			t.Fatalf("%q parsed to an invalid config %v", raw, cfg)
		}
		u, err := url.Parse(cfg.String())
		if err != nil {
			t.Fatalf("String() %q is no URL: %v", cfg.String(), err)
		}
		if _, ok := u.User.Password(); ok {
			t.Errorf("String() %q shows the password", cfg.String())
		}
		if _, err := NewSMTP(cfg); err != nil {
			t.Errorf("%q parsed, but NewSMTP refuses it: %v", raw, err)
		}
	})
}
