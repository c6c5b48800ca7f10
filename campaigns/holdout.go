package campaigns

import (
	"fmt"
	"strconv"
	"strings"
)

// Share is a part of the contacts in hundredths of a percent (basis
// points): 1000 is 10%. A holdout is written as a percentage, "10%" or
// "2.5%"; two decimals are the finest a holdout needs, and whole
// numbers keep the assignment exact on every platform.
type Share int

// Whole is every contact; MaxHoldout the largest holdout a programme
// may declare: past half the audience, the "control" is the campaign's
// main audience and the treatment the sample.
const (
	Whole      Share = 10000
	MaxHoldout Share = 5000
)

// HoldoutPattern is how a holdout is written, as the schema's #Percent
// states it.
const HoldoutPattern = `^[0-9]{1,3}(\.[0-9]{1,2})?%$`

// ParseShare reads a percentage such as "10%" or "2.5%".
func ParseShare(s string) (Share, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok || num == "" {
		return 0, fmt.Errorf("%q is not a percentage such as \"10%%\"", s)
	}
	whole, frac, _ := strings.Cut(num, ".")
	if len(frac) > 2 || whole == "" {
		return 0, fmt.Errorf("%q has more than two decimals, or none before the point", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	digits := func(d string) bool { return strings.Trim(d, "0123456789") == "" }
	if len(whole) > 3 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a percentage such as \"10%%\"", s)
	}
	w, _ := strconv.Atoi(whole)
	f, _ := strconv.Atoi(frac)
	return Share(w*100 + f), nil
}

// String writes the share as it is written in a programme: "10%", "2.5%".
func (s Share) String() string {
	out := strconv.Itoa(int(s)/100) + "." + fmt.Sprintf("%02d", int(s)%100)
	return strings.TrimSuffix(strings.TrimRight(out, "0"), ".") + "%"
}

// The arms an enrollment can be assigned to when a holdout is in force
// as it starts. An enrollment that started with no holdout in force has
// none, and is mailed as the programme says.
const (
	// ArmTreatment gets the sequence's email.
	ArmTreatment = "treatment"
	// ArmControl is held out by the sequence's own holdout: it walks the
	// sequence and gets none of its email.
	ArmControl = "control"
	// ArmGlobalControl is held out by the programme's holdout: it gets
	// no marketing email from any sequence.
	ArmGlobalControl = "global_control"
)

// HeldOut reports whether an enrollment of arm gets no email.
func HeldOut(arm string) bool { return arm == ArmControl || arm == ArmGlobalControl }
