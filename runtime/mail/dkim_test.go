package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func writePEM(t *testing.T, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// dkimKeys are the kinds of key LoadDKIM reads, each with the TXT record
// that publishes its public half.
func dkimKeys(t *testing.T) map[string]struct{ file, txt string } {
	rsaKey := testRSAKey()
	pub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaTXT := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct{ file, txt string }{
		"RSA PKCS#1":     {writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), rsaTXT},
		"RSA PKCS#8":     {writePEM(t, "PRIVATE KEY", pkcs8(t, rsaKey)), rsaTXT},
		"Ed25519 PKCS#8": {writePEM(t, "PRIVATE KEY", pkcs8(t, edKey)), "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	}
}

// verifyDKIM checks data's one signature against txt published for
// s1._domainkey.sender.example.
func verifyDKIM(data []byte, txt string) (*dkim.Verification, error) {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "s1._domainkey.sender.example" {
				return nil, fmt.Errorf("no TXT record for %s", domain)
			}
			return []string{txt}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("%d signatures, want 1", len(vs))
	}
	return vs[0], vs[0].Err
}

// The signature covers the very bytes the server received.
func TestDKIMSignsWhatGoesOnTheWire(t *testing.T) {
	for name, key := range dkimKeys(t) {
		t.Run(name, func(t *testing.T) {
			d, err := LoadDKIM("sender.example", "s1", key.file)
			if err != nil {
				t.Fatal(err)
			}
			ts := (&testServer{}).start(t, "plain")
			cfg, err := ParseSMTPURL(ts.url(""), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg.DKIM = d
			s, err := NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			o := testOutgoing("dkim", "lead@example.com")
			o.Subject = "Grüße, signed"
			o.ReplyTo = "sales@sender.example"
			o.Text = "Hello\n.dot line\n" + strings.Repeat("long ", 400) + "\n"
			if err := s.Send(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			got := ts.received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			data := got[0].data
			v, err := verifyDKIM(data, key.txt)
			if err != nil {
				t.Fatalf("the received message does not verify: %v\n%s", err, data)
			}
			if v.Domain != "sender.example" {
				t.Errorf("d=%s, want sender.example", v.Domain)
			}
			for _, h := range []string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "reply-to", "list-unsubscribe", "list-unsubscribe-post"} {
				if !slices.ContainsFunc(v.HeaderKeys, func(k string) bool { return strings.EqualFold(k, h) }) {
					t.Errorf("%s is not signed (h=%v)", h, v.HeaderKeys)
				}
			}
			for _, line := range strings.Split(string(data), "\r\n") {
				if len(line) > 998 {
					t.Errorf("a line of %d octets", len(line))
				}
			}

			// The verification can fail: altered bytes do not verify.
			for what, tamper := range map[string]func([]byte) []byte{
				"subject": func(b []byte) []byte {
					return bytes.Replace(b, []byte("\r\nSubject: "), []byte("\r\nSubject: Re: "), 1)
				},
				"body": func(b []byte) []byte { return bytes.Replace(b, []byte("dot line"), []byte("dot lime"), 1) },
				"Reply-To": func(b []byte) []byte {
					return bytes.Replace(b, []byte("\r\nReply-To: "), []byte("\r\nReply-To: <evil@evil.example>\r\nX-Was: "), 1)
				},
			} {
				if _, err := verifyDKIM(tamper(data), key.txt); err == nil {
					t.Errorf("a message with its %s altered still verifies", what)
				}
			}
		})
	}
}

func TestFileSinkSignsWithDKIM(t *testing.T) {
	key := dkimKeys(t)["Ed25519 PKCS#8"]
	d, err := LoadDKIM("sender.example", "s1", key.file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := (FileSink{Dir: dir, DKIM: d}).Send(context.Background(), testOutgoing("file", "lead@example.com")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "file.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyDKIM(data, key.txt); err != nil {
		t.Errorf("the .eml does not verify: %v", err)
	}
}

func TestLoadDKIMErrors(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := dkimKeys(t)["RSA PKCS#8"].file
	notPEM := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(notPEM, []byte("not a key\n"), 0o600)
	tests := []struct {
		name, domain, selector, file string
		want                         []string // in the error
	}{
		{"missing file", "sender.example", "s1", filepath.Join(t.TempDir(), "nope.pem"), []string{"dkim key", "nope.pem", "no such file"}},
		{"not PEM", "sender.example", "s1", notPEM, []string{"key.txt", "no PEM block", "RSA", "Ed25519"}},
		{"EC key", "sender.example", "s1", writePEM(t, "PRIVATE KEY", pkcs8(t, ecKey)), []string{"ecdsa", "RSA or Ed25519 only"}},
		{"encrypted", "sender.example", "s1", writePEM(t, "ENCRYPTED PRIVATE KEY", []byte("x")), []string{"encrypted", "openssl pkey"}},
		{"certificate", "sender.example", "s1", writePEM(t, "CERTIFICATE", []byte("x")), []string{`"CERTIFICATE"`, "want a PEM file"}},
		{"garbage in block", "sender.example", "s1", writePEM(t, "RSA PRIVATE KEY", []byte("garbage")), []string{"key.pem", "want a PEM file"}},
		{"no domain", "", "s1", good, []string{"dkim domain"}},
		{"bad selector", "sender.example", "s 1", good, []string{"dkim selector", "_domainkey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadDKIM(tt.domain, tt.selector, tt.file)
			if err == nil {
				t.Fatalf("no error; got %+v", d)
			}
			if !containsAll(err.Error(), tt.want...) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
		})
	}
}
