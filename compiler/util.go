package compiler

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/nurture-dev/nurture/campaigns"
)

func sub(path []string, elems ...string) []string {
	out := make([]string, 0, len(path)+len(elems))
	return append(append(out, path...), elems...)
}

func itoa(i int) string { return strconv.Itoa(i) }

func keysOf[V any](m map[string]V) []string {
	return sortedKeys(m)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *checker) suggest(name string, known []string, otherwise string) string {
	return suggestName(name, known, otherwise)
}

// suggestName returns a detail for an unknown name: the closest known name,
// if one is close, else what to do.
func suggestName(name string, known []string, otherwise string) string {
	if best := closestName(name, known); best != "" {
		return fmt.Sprintf("did you mean %q? Otherwise %s", best, otherwise)
	}
	return otherwise
}

// closestName is the known name a typo of name most likely meant, or "".
func closestName(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := EditDistance(name, k); d < bestD || d == bestD && best == "" && d <= len(name)/3 {
			if d <= max(1, len(name)/3) {
				best, bestD = k, d
			}
		}
	}
	return best
}

// EditDistance is the Levenshtein distance of two short strings, by
// byte: how suggestions find the name a typo meant.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// duration reads a JSON string duration the schema has already shaped.
func (c *checker) duration(path []string, raw json.RawMessage) campaigns.Duration {
	var s string
	_ = json.Unmarshal(raw, &s)
	return c.durationString(path, s)
}

func (c *checker) durationString(path []string, s string) campaigns.Duration {
	d, err := campaigns.ParseDuration(s)
	if err != nil {
		c.errorf(path, "NRT002", "write a number and a unit, like \"2d\" or \"14 days\"", "%v", err)
	}
	return d
}

func (c *checker) timeOfDay(path []string, s string) campaigns.TimeOfDay {
	t, err := campaigns.ParseTimeOfDay(s)
	if err != nil {
		c.errorf(path, "NRT002", "write HH:MM on a 24-hour clock", "%v", err)
	}
	return t
}
