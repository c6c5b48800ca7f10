package mail

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"
)

// DKIMConfig signs messages for Domain with the key published at
// Selector._domainkey.Domain.
type DKIMConfig struct {
	Domain   string
	Selector string
	Signer   crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// dkimHeaders are the header fields each signature covers. Reply-To is
// there too: one added in transit would take the replies elsewhere.
// Fields a message lacks are signed as absent, so none can be added.
var dkimHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// LoadDKIM reads the private key in keyPEMFile: RSA in PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), or Ed25519 in PKCS#8.
func LoadDKIM(domain, selector, keyPEMFile string) (*DKIMConfig, error) {
	if domain == "" || strings.ContainsAny(domain, " ;=@") {
		return nil, fmt.Errorf("dkim domain %q: want the signing domain, as in example.com", domain)
	}
	if selector == "" || strings.ContainsAny(selector, " ;=@") {
		return nil, fmt.Errorf("dkim selector %q: want the name under _domainkey, as in s1 for s1._domainkey.%s", selector, domain)
	}
	data, err := os.ReadFile(keyPEMFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	const want = "want a PEM file with an RSA private key (PKCS#1 or PKCS#8) or an Ed25519 one (PKCS#8), as openssl genpkey writes"
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("dkim key %s: no PEM block; %s", keyPEMFile, want)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("dkim key %s: the key is encrypted; decrypt it (openssl pkey -in KEY -out PLAIN) and keep that file private", keyPEMFile)
	default:
		return nil, fmt.Errorf("dkim key %s: a %q PEM block; %s", keyPEMFile, block.Type, want)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %v; %s", keyPEMFile, err, want)
	}
	var signer crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		// RFC 8301: verifiers ignore RSA keys under 1024 bits.
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("dkim key %s: RSA key of %d bits; receivers ignore keys under 1024 bits: use 2048", keyPEMFile, k.N.BitLen())
		}
		signer = k
	case ed25519.PrivateKey:
		signer = k
	default:
		return nil, fmt.Errorf("dkim key %s: a %T key; DKIM signs with RSA or Ed25519 only", keyPEMFile, key)
	}
	return &DKIMConfig{Domain: domain, Selector: selector, Signer: signer}, nil
}

// sign returns msg with a DKIM-Signature field in front (relaxed/relaxed).
// msg must be the exact bytes that will be sent: go-mail draws new MIME
// boundaries each time it writes a message, so write once, sign those
// bytes and send them.
func (d *DKIMConfig) sign(msg []byte) ([]byte, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 d.Domain,
		Selector:               d.Selector,
		Signer:                 d.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             dkimHeaders,
	})
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if _, err := s.Write(msg); err != nil {
		s.Close()
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	sig := s.Signature()
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}

// messageBytes writes m once, signed when d is set: the bytes a sender
// hands over, every attempt the same.
func messageBytes(m *gomail.Msg, d *DKIMConfig) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing the message: %w", err)
	}
	if d == nil {
		return buf.Bytes(), nil
	}
	return d.sign(buf.Bytes())
}
