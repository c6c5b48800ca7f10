package engine

import (
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
)

// CapFree is the earliest instant at or after t when one more email fits
// every limit, given the times of the emails already counted against them
// (any order). A limit of Max per Per counts the emails in the window
// (t-Per, t]: one sent exactly Per ago no longer counts.
func CapFree(limits []campaigns.Limit, sent []time.Time, t time.Time) time.Time {
	if len(limits) == 0 || len(sent) == 0 {
		return t
	}
	s := slices.Clone(sent)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	for {
		moved := false
		for _, l := range limits {
			if l.Max <= 0 {
				continue
			}
			per := l.Per.Std()
			// The sends that still count at t.
			first, _ := slices.BinarySearchFunc(s, t.Add(-per), func(a, b time.Time) int {
				if !a.After(b) {
					return -1
				}
				return 1
			})
			last, _ := slices.BinarySearchFunc(s, t, func(a, b time.Time) int {
				if !a.After(b) {
					return -1
				}
				return 1
			})
			in := s[first:last]
			if len(in) < l.Max {
				continue
			}
			// Wait until all but Max-1 of them have left the window.
			free := in[len(in)-l.Max].Add(per)
			if free.After(t) {
				t, moved = free, true
			}
		}
		if !moved {
			return t
		}
	}
}

// SendTime is the earliest instant at or after t when a marketing email
// may go: within the limits given the sends counted against them, and in
// the sending window. Transactional email ignores both.
func SendTime(w Window, limits []campaigns.Limit, sent []time.Time, t time.Time, transactional bool) time.Time {
	if transactional {
		return t
	}
	for range 64 {
		next := w.Next(CapFree(limits, sent, t))
		if next.Equal(t) {
			return t
		}
		t = next
	}
	return t
}

// Variant picks the arm of a send a contact gets: the same contact, step
// and sequence always get the same arm, and across contacts the arms
// share them by weight.
func Variant(vs []campaigns.Variant, contact int64, sequence, step string) campaigns.Variant {
	if len(vs) == 1 {
		return vs[0]
	}
	h := fnv.New32a()
	h.Write([]byte(strconv.FormatInt(contact, 10) + "\x00" + sequence + "\x00" + step))
	total := 0
	for _, v := range vs {
		total += v.Weight
	}
	if total <= 0 {
		return vs[0]
	}
	n := int(h.Sum32() % uint32(total))
	for _, v := range vs {
		if n < v.Weight {
			return v
		}
		n -= v.Weight
	}
	return vs[len(vs)-1]
}
