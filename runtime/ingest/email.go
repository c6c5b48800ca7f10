package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/nurture-dev/nurture/runtime"
)

// roleLocals are local parts of addresses that reach a function or a
// machine, not a person who opted in. A "+tag" does not change that.
var roleLocals = map[string]bool{
	"abuse": true, "accounts": true, "admin": true, "billing": true,
	"careers": true, "contact": true, "do-not-reply": true, "donotreply": true,
	"enquiries": true, "feedback": true, "hello": true, "help": true,
	"hostmaster": true, "hr": true, "info": true, "inquiries": true,
	"jobs": true, "legal": true, "mailer-daemon": true, "marketing": true,
	"no-reply": true, "noreply": true, "office": true, "postmaster": true,
	"press": true, "privacy": true, "sales": true, "security": true,
	"support": true, "team": true, "webmaster": true,
}

// Key is what makes two addresses one contact: the whole address in lower
// case. Within one file a second row with the same key is a duplicate.
func Key(email string) string { return runtime.EmailKey(email) }

// ownKey is Key in memory of its own, so keeping it does not keep the row
// it was cut from alive.
func ownKey(email string) string {
	for i := 0; i < len(email); i++ {
		if email[i] >= utf8.RuneSelf {
			return strings.Clone(Key(email)) // a clone only when ToLower changed nothing
		}
	}
	b := make([]byte, len(email))
	for i := 0; i < len(email); i++ {
		c := email[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return string(b)
}

// NormalizeEmail checks that s is one plain address and returns it with the
// surrounding space trimmed and the domain in lower-case ASCII, an
// internationalised domain in punycode (IDNA lookup rules). The local part
// keeps its case: some mail systems tell case apart there, and the
// address is stored as written. role reports a role address such as
// info@.
//
// The error is a sentence about the address, for a person.
func NormalizeEmail(s string) (email string, role bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false, errors.New("the address is empty")
	}
	if !utf8.ValidString(s) {
		return "", false, errors.New("the address is not valid UTF-8")
	}
	ats := strings.Count(s, "@")
	if i := strings.IndexByte(s, '<'); i >= 0 || strings.IndexByte(s, '>') >= 0 {
		// "Ann <ann@acme.example>", as mail programs copy an address.
		msg := "write the bare address, without a name or angle brackets"
		if j := strings.LastIndexByte(s, '>'); i >= 0 && j > i && strings.Count(s[i:j], "@") == 1 {
			msg += fmt.Sprintf(": %q", strings.TrimSpace(s[i+1:j]))
		}
		return "", false, errors.New(msg)
	}
	for _, r := range s {
		if r > ' ' && r < 0x7F && r != ',' && r != ';' {
			continue // the common case, without the unicode tables
		}
		switch {
		case r == '\n' || r == '\r':
			return "", false, errors.New("the address holds a line break")
		case (r == ',' || r == ';' || unicode.IsSpace(r)) && ats > 1:
			return "", false, errors.New("the cell holds more than one address; give one address per row")
		case r == ',' || r == ';':
			return "", false, fmt.Errorf("the address holds %q, which an address cannot hold", r)
		case unicode.IsSpace(r):
			return "", false, errors.New("the address holds a space")
		case unicode.IsControl(r):
			return "", false, fmt.Errorf("the address holds the control character %U", r)
		case unicode.Is(unicode.Cf, r):
			return "", false, fmt.Errorf("the address holds the invisible character %U; retype it", r)
		}
	}
	switch {
	case ats == 0:
		return "", false, fmt.Errorf("%q has no @; want name@domain", s)
	case ats > 1:
		return "", false, fmt.Errorf("%q has more than one @", s)
	}
	at := strings.IndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if err := checkLocal(local); err != nil {
		return "", false, err
	}
	ascii, upper, err := normalizeDomain(domain)
	if err != nil {
		return "", false, err
	}
	if len(local)+1+len(ascii) > 254 {
		return "", false, errors.New("the address is longer than 254 characters")
	}
	switch {
	case upper:
		// One allocation for the whole address: this runs for every row.
		var b strings.Builder
		b.Grow(len(local) + 1 + len(ascii))
		b.WriteString(local)
		b.WriteByte('@')
		for i := 0; i < len(ascii); i++ {
			c := ascii[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		email = b.String()
	case ascii != domain:
		email = local + "@" + ascii
	default:
		email = s
	}
	return email, IsRoleLocal(local), nil
}

// IsRoleLocal reports whether the part of an address before the @ is a
// role (info, support, …), "+tag" and case aside: such an address reaches
// a function, not a person. It does not allocate; it runs for every row.
func IsRoleLocal(local string) bool {
	base, _, _ := strings.Cut(local, "+")
	var buf [16]byte
	if len(base) > len(buf) {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return roleLocals[string(buf[:len(base)])]
}

// checkLocal checks the part before @: a dot-atom of the characters an
// unquoted local part may hold, ASCII or not (internationalised mail).
// Quoted local parts are refused: they are almost always a pasting
// accident, and few mail systems deliver to them.
func checkLocal(local string) error {
	switch {
	case local == "":
		return errors.New("the address has nothing before the @")
	case len(local) > 64:
		return errors.New("the part before @ is longer than 64 characters")
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return errors.New("the part before @ cannot start or end with a dot, or hold two dots in a row")
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c >= utf8.RuneSelf || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune(".!#$%&'*+-/=?^_`{|}~", rune(c)) {
			return fmt.Errorf("the part before @ holds %q, which an address cannot hold", c)
		}
	}
	return nil
}

// normalizeDomain returns the domain in ASCII, lower case unless upper
// says it still holds upper-case letters (A–Z only) to lower. Plain ASCII
// host names skip IDNA, which costs far more than the rest of a row;
// anything else, including punycode labels ("xn--"), goes through
// idna.Lookup.
func normalizeDomain(domain string) (ascii string, upper bool, err error) {
	if domain == "" {
		return "", false, errors.New("the address has no domain after the @")
	}
	if strings.HasSuffix(domain, ".") {
		return "", false, fmt.Errorf("the domain %q ends with a dot", domain)
	}
	ascii = domain
	upper, ok := plainDomain(domain)
	if !ok {
		ascii, err = idna.Lookup.ToASCII(domain)
		if err != nil {
			return "", false, fmt.Errorf("%q is not a valid domain", domain)
		}
	}
	if !strings.Contains(ascii, ".") {
		return "", false, fmt.Errorf("the domain %q has no dot; want a full domain such as example.com", domain)
	}
	if len(ascii) > 253 {
		return "", false, fmt.Errorf("the domain %q is longer than 253 characters", domain)
	}
	var last string
	for label := range strings.SplitSeq(ascii, ".") {
		if label == "" || len(label) > 63 {
			return "", false, fmt.Errorf("%q is not a valid domain", domain)
		}
		last = label
	}
	if strings.Trim(last, "0123456789") == "" {
		return "", false, fmt.Errorf("%q is not a valid domain: it ends in a number", domain)
	}
	return ascii, upper, nil
}

// plainDomain reports an ASCII host name of letters, digits, dots and
// single hyphens inside labels, the form IDNA only lower-cases, and whether
// it has upper-case letters.
func plainDomain(d string) (upper, ok bool) {
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			upper = true
		case c == '.':
			if i == 0 || d[i-1] == '.' || d[i-1] == '-' {
				return false, false
			}
		case c == '-':
			// "--" is how punycode and reserved labels look; let IDNA judge.
			if i == 0 || d[i-1] == '.' || d[i-1] == '-' || i+1 == len(d) || d[i+1] == '.' || d[i+1] == '-' {
				return false, false
			}
		default:
			return false, false
		}
	}
	return upper, true
}
