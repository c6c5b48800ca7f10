package runtime

import "time"

// AccountRecord is one account as an import file states it: its key (the
// value its contacts' account attribute holds) and the values of the
// account attributes the row has a column for, typed as in
// ContactRecord. A nil value clears the attribute; attributes the row
// does not mention keep what the store holds.
type AccountRecord struct {
	// Line is where the record starts in its file, from 1.
	Line   int
	Key    string
	Values map[string]any
}

// Account is one account as the store holds it.
type Account struct {
	Key string
	// Values holds every account attribute with a value.
	Values    map[string]any
	CreatedAt time.Time
	UpdatedAt time.Time
}
