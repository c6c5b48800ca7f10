package sample

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// rng wraps the one random source of a run. Every draw goes through it,
// in a fixed order, which is what makes a run reproducible.
type rng struct{ *rand.Rand }

func newRNG(seed int64) rng {
	// The second PCG word is a constant so that the seed alone picks the
	// stream ("nurture." in ASCII).
	return rng{rand.New(rand.NewPCG(uint64(seed), 0x6e7572747572652e))}
}

func (r rng) chance(p float64) bool { return r.Float64() < p }

// between returns a number in [lo, hi), or lo when the span is empty.
func (r rng) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo)
}

func (r rng) pick(s []string) string { return s[r.IntN(len(s))] }

// poisson draws from a Poisson distribution; the means used here are
// small, so Knuth's method is quick enough.
func (r rng) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 60 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// logNormal draws a value whose logarithm is normal around ln(median).
func (r rng) logNormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

// weights is a cumulative weight table for drawing an index.
type weights []float64

func newWeights(w []float64) weights {
	cum := make(weights, len(w))
	total := 0.0
	for i, x := range w {
		total += max(x, 0)
		cum[i] = total
	}
	return cum
}

func (w weights) draw(r rng) int {
	if len(w) == 0 || w[len(w)-1] <= 0 {
		return 0
	}
	x := r.Float64() * w[len(w)-1]
	// The first index whose cumulative weight exceeds x: a value with no
	// weight is never drawn.
	return sort.Search(len(w)-1, func(i int) bool { return w[i] > x })
}

// enumWeights weights an enum's values: earlier values are more common,
// as programmes tend to list the usual case first; a catch-all ("other",
// "unknown") is less common, and values the programme's conditions name
// more so.
func enumWeights(values []string, hinted []string) weights {
	w := make([]float64, len(values))
	for i, v := range values {
		w[i] = 1 / float64(i+2)
		switch strings.ToLower(v) {
		case "other", "unknown", "none", "n/a", "misc":
			w[i] *= 0.6
		}
		if slices.Contains(hinted, v) {
			w[i] *= 1.5
		}
	}
	return newWeights(w)
}

// sortedKeys returns a map's keys in order: ranging over a map directly
// would make the output differ from run to run.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// mix64 is the SplitMix64 finaliser, a bijection on uint64: distinct
// inputs give distinct, random-looking outputs, which makes event IDs
// unique within a run without remembering them.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
