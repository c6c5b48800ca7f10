// Package sample writes synthetic, seeded sample data for a programme: a
// contacts CSV and an events JSON Lines file in the formats `nurture
// contacts import` and `nurture events import` read, so a programme's
// segments, scores and sequences can be tried without real people's data.
//
// The data is believable rather than random: names, companies and job
// titles fit the schema's attribute names, accounts hold several contacts,
// stages lean to the early ones, engagement is skewed, and the values the
// programme's own conditions mention (a "/pricing" page, an industry, a
// threshold) turn up often enough for its segments to have members.
//
// Everything follows from the programme and Options: the same inputs give
// the same bytes. So the package must not read the clock, iterate a map
// without sorting its keys, or use any randomness but the generator seeded
// from Options.Seed. It streams, holding one account's contacts and
// events at a time, plus the names of the first few thousand companies to
// keep them unique; memory does not grow with the number of contacts. Like the rest of the runtime it knows the programme
// only through the plain campaigns model and must never import the
// compiler; it touches no store and no network.
package sample
