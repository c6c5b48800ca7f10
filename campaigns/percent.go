package campaigns

import (
	"math"
	"strconv"
	"strings"
)

// Percent writes a fraction as a percentage with enough digits for the
// playbooks' benchmarks, which go down to 0.1%: 2%, 12.5%, 0.3%, 0.05%.
// The report, the plan and the diagnostics write rates with it alike.
func Percent(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	p := 100 * f
	digits := 1
	if p < 1 {
		digits = 2
	}
	s := strconv.FormatFloat(p, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + "%"
}
