package mail

import (
	"errors"
	"fmt"
)

// How a failed send ended, as the ledger records it.
const (
	// Temporary: the server deferred the message (4xx) or could not be
	// reached; it was not accepted and may be sent again later.
	Temporary = "temporary"
	// Permanent: the server refused the message (5xx); sending it again
	// would fail again. For the recipient's address it is a hard bounce.
	Permanent = "permanent"
	// Unknown: the connection was lost after the message was handed over
	// (after DATA) and before the server said whether it took it. It may
	// have gone: it is never sent again blindly.
	Unknown = "unknown"
	// KindWithheld: the Outgoing's Gate refused it at the last moment;
	// it was never handed over. The error wraps a *Withheld.
	KindWithheld = "withheld"
)

// SendError is why a message was not accepted.
type SendError struct {
	Kind string // Temporary, Permanent or Unknown
	// Code and Enhanced are the server's reply (550, "5.1.1"), when it
	// gave one.
	Code     int
	Enhanced string
	// Recipient is true when the refusal concerns the recipient's
	// address (a hard bounce), not the message or the sender.
	Recipient bool
	// Setup is true when the sender's own settings are wrong (a refused
	// login, an untrusted certificate, TLS the server does not speak):
	// every message would fail the same way until they are fixed, so the
	// message is not at fault.
	Setup bool
	// Connect is true when the server could not be reached or refused
	// the connection (at connect, greeting, TLS or login): no message
	// gets through until that changes, so delivery stops rather than
	// defer message after message.
	Connect bool
	Err     error
}

func (e *SendError) Error() string {
	s := e.Kind
	if e.Code != 0 {
		s = fmt.Sprintf("%s %d", s, e.Code)
		if e.Enhanced != "" {
			s += " " + e.Enhanced
		}
	}
	return s + ": " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// KindOf is how err ended a send: the SendError's kind, or Permanent for
// any other error (a message that cannot be built fails the same way
// every time).
func KindOf(err error) string {
	var wh *Withheld
	if errors.As(err, &wh) {
		return KindWithheld
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Kind
	}
	return Permanent
}
