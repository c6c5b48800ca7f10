package runtime

import "time"

// StepRef names one step of a sequence.
type StepRef struct {
	Sequence, Step string
}

// Queued is an active enrollment standing at a step, as the queue lists
// it: when it is next looked at, and what it waits for.
type Queued struct {
	Enrollment, Contact int64
	// Address is the contact's email address.
	Address        string
	Sequence, Step string
	NextCheckAt    time.Time // zero: when something about the contact changes
	Waiting        string
}

// ContactEvent is one event of a contact, as its timeline shows it.
type ContactEvent struct {
	ID    string
	Name  string
	At    time.Time
	Props map[string]any
}

// AllSending is the Pause.Sequence of a pause of every sequence.
const AllSending = ""

// Pause stops a sequence, or all sending (Sequence AllSending), until it
// is resumed: its enrollments are neither advanced nor its planned email
// delivered, and they carry on where they were once it is resumed.
type Pause struct {
	Sequence string
	By       string
	Reason   string
	At       time.Time
}

// ReasonErased is the suppression an erased contact leaves behind.
const ReasonErased = "erased"

// Erasure is a contact erased on request: who did it, when and why.
type Erasure struct {
	Email  string
	By     string
	Reason string
	At     time.Time
}

// Erased counts the rows an erasure removed, by table.
type Erased struct {
	// Found is false when the store held no contact by that address;
	// the suppression is recorded all the same.
	Found   bool
	Removed map[string]int
}
