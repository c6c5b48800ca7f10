package engine

import (
	"hash/fnv"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
)

// ProgrammeSalt is what the programme-wide holdout hashes beside the
// address, where a sequence's holdout hashes the sequence's name: a
// contact is in the programme's control group for every sequence at
// once, and the two holdouts pick their contacts independently.
const ProgrammeSalt = "\x00programme"

// Held reports whether the contact with address email falls in a
// holdout of share, salted with salt. Like Variant, it hashes with
// FNV-1a, so the same contact falls the same way on every tick, every
// apply and every store; unlike Variant it hashes the address (as
// EmailKey folds it) rather than the store's ID, which another store
// loading the same contacts may number otherwise. The buckets are
// hundredths of a percent: a contact held out at 10% is held out at any
// larger share, so raising a holdout only adds to the control group.
func Held(email, salt string, share campaigns.Share) bool {
	if share <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(runtime.EmailKey(email) + "\x00holdout\x00" + salt))
	return campaigns.Share(h.Sum32()%uint32(campaigns.Whole)) < share
}

// Arm is the holdout arm of a contact starting in sequence under prog:
// global_control when the programme's holdout holds it out, control
// when the sequence's does, treatment when a holdout is in force and
// holds it in, and empty when none is. Transactional sequences have no
// holdout: their mail is owed to everyone who triggers it, the
// programme's control group included.
func Arm(prog *campaigns.Program, sequence, email string) string {
	seq := prog.Sequences[sequence]
	switch {
	case seq == nil || seq.Transactional() || prog.Holdout == 0 && seq.Holdout == 0:
		return ""
	case Held(email, ProgrammeSalt, prog.Holdout):
		return campaigns.ArmGlobalControl
	case Held(email, sequence, seq.Holdout):
		return campaigns.ArmControl
	}
	return campaigns.ArmTreatment
}

// firstDecision reports whether no decision has moved a yet: the one
// that assigns its holdout arm.
func firstDecision(a runtime.Active) bool {
	return a.Waiting == runtime.WaitingEntry || a.Waiting == runtime.WaitingStart
}

// assignArm gives an enrollment at its first decision its holdout arm:
// the one a scenario test asks for, or the contact's own. An enrollment
// that has an arm keeps it, and one that began before any holdout was in
// force stays without: a holdout declared or changed later moves nobody
// already in the sequence.
func (e *Engine) assignArm(a *runtime.Active, c *runtime.Contact) {
	if a.Arm != "" || !firstDecision(*a) {
		return
	}
	a.Arm = Arm(e.Program, a.Sequence, c.Email)
	if want, ok := e.Arms[a.Sequence]; ok && a.Arm != "" {
		a.Arm = want
	}
}
