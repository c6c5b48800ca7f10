package sample

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The encoders here are hand-written because encoding/json and time.Format
// would be most of the cost of a million-contact run; what they write is
// plain JSON and RFC 3339, which the tests check against the standard
// library.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Only what JSON requires is
// escaped: quotes, backslashes and control characters; the rest is UTF-8
// as it is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTime appends a Unix time in seconds as RFC 3339 in UTC, as
// time.Time.Format(time.RFC3339) would write it.
func appendTime(b []byte, sec int64) []byte {
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civil(days)
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, int(rem/3600))
	b = append(b, ':')
	b = append2(b, int(rem/60%60))
	b = append(b, ':')
	b = append2(b, int(rem%60))
	return append(b, 'Z')
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil, inverted).
func civil(days int64) (year, month, day int) {
	z := days + 719468
	if z < 0 {
		z -= 146096 // floor division below
	}
	era := z / 146097
	z = days + 719468
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func append4(b []byte, n int) []byte {
	if n < 0 || n > 9999 {
		return strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// formatTime is appendTime as a string, for CSV cells.
func formatTime(sec int64) string {
	var buf [20]byte
	return string(appendTime(buf[:0], sec))
}

// formatNumber writes a decimal with at most two places, the way a CRM
// export shows amounts.
func formatNumber(f float64) string {
	return strconv.FormatFloat(float64(int64(f*100+0.5))/100, 'f', -1, 64)
}

// asciiFold spells a name in the lower-case ASCII letters and digits an
// email address uses: "Müller" is "mueller", "O'Brien" "obrien", "de Vries"
// "devries".
func asciiFold(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		case r < utf8.RuneSelf:
			// Spaces, apostrophes, hyphens and dots are dropped.
		default:
			b.WriteString(foldRune(r))
		}
	}
	return b.String()
}

func foldRune(r rune) string {
	switch r {
	case 'ä', 'Ä', 'æ', 'Æ':
		return "ae"
	case 'ö', 'Ö', 'œ', 'Œ':
		return "oe"
	case 'ü', 'Ü':
		return "ue"
	case 'ß':
		return "ss"
	case 'á', 'à', 'â', 'ã', 'å', 'ą', 'Á', 'À', 'Â', 'Ã', 'Å':
		return "a"
	case 'é', 'è', 'ê', 'ë', 'ę', 'É', 'È', 'Ê', 'Ë':
		return "e"
	case 'í', 'ì', 'î', 'ï', 'Í', 'Ì', 'Î', 'Ï':
		return "i"
	case 'ó', 'ò', 'ô', 'õ', 'ø', 'Ó', 'Ò', 'Ô', 'Õ', 'Ø':
		return "o"
	case 'ú', 'ù', 'û', 'Ú', 'Ù', 'Û':
		return "u"
	case 'ç', 'ć', 'Ç', 'Ć':
		return "c"
	case 'ñ', 'ń', 'Ñ', 'Ń':
		return "n"
	case 'ł', 'Ł':
		return "l"
	case 'ś', 'Ś':
		return "s"
	case 'ź', 'ż', 'Ź', 'Ż':
		return "z"
	}
	return ""
}

// slug writes a name as a lower-case, hyphenated URL or domain label:
// "Supply Co." is "supply-co".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, word := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '-' || r == '&' || r == '.' || r == '/' }) {
		w := asciiFold(word)
		if w == "" {
			continue
		}
		if dash {
			b.WriteByte('-')
		}
		b.WriteString(w)
		dash = true
	}
	return b.String()
}

// titleFromSlug writes a URL slug as a page title: "state-of-reporting"
// is "State of Reporting".
func titleFromSlug(s string) string {
	words := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	for i, w := range words {
		switch {
		case i > 0 && (w == "of" || w == "to" || w == "the" || w == "a" || w == "and" || w == "vs" || w == "in" || w == "on" || w == "for"):
		case titleWords[w] != "":
			words[i] = titleWords[w]
		default:
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// titleWords are words a title spells otherwise than capitalised.
var titleWords = map[string]string{
	"api": "API", "sso": "SSO", "roi": "ROI", "faq": "FAQ", "ai": "AI", "kpis": "KPIs", "kpi": "KPI",
	"dbt": "dbt", "iot": "IoT", "pdm": "PdM", "b2b": "B2B", "crm": "CRM",
}
