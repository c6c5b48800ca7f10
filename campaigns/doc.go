// Package campaigns is the compiled nurture programme: plain Go values that
// the compiler produces, a plan diffs and the runtime executes.
//
// It has a stable, canonical JSON encoding (maps sorted by key, durations
// written as people write them) and a content hash per object and for the
// whole programme. It imports the standard library only and must never
// learn about CUE, SQL, SMTP or the command line.
package campaigns
