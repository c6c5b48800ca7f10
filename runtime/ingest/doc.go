// Package ingest reads import files — contacts, events and suppressions, as
// CSV or JSON Lines — into checked, typed runtime records.
//
// It streams: a file of any size needs memory for about one row, plus, for
// contacts, one map entry per address (about 100 bytes each) to find the
// same address twice in one file. A bad row never stops the good ones:
// each becomes a Reject with its line and a reason a person can act on, and
// a RejectWriter writes rejects to a file that, once fixed, imports as it
// is. Only a file that cannot be an import at all (binary data, no email
// column, unknown columns, …) is refused up front, before any row is read.
//
// The package only parses, normalises and validates. It must not touch a
// database — the store decides what a record means for what it already
// holds, such as whether a new contact lacks a required attribute — and it
// must not import the compiler: it knows the programme only through the
// plain campaigns model.
package ingest
