package ingest

import "hash/maphash"

// seenKeys remembers the keys a reader has accepted, each with the line it
// was accepted on, so that a later row with the same key is rejected as a
// duplicate however far apart the two are.
//
// A key is kept as two 64-bit hashes of it under independent seeds, not
// as the string: 24 bytes a key in the map, and nothing the garbage
// collector scans. The strings (with a contact's address, the line the
// key was cut from, unless cloned) made the readers' memory grow with the
// file: about 100 MB of a million-contact import's peak. Two keys collide
// with probability 2^-128 a pair, far below any chance that matters.
type seenKeys struct {
	seeds [2]maphash.Seed
	lines map[[2]uint64]int
}

func newSeenKeys() *seenKeys {
	return &seenKeys{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, lines: map[[2]uint64]int{}}
}

func (s *seenKeys) hash(key string) [2]uint64 {
	return [2]uint64{maphash.String(s.seeds[0], key), maphash.String(s.seeds[1], key)}
}

// line returns the line key was accepted on, if it was.
func (s *seenKeys) line(key string) (int, bool) {
	l, ok := s.lines[s.hash(key)]
	return l, ok
}

// add records that key was accepted on line.
func (s *seenKeys) add(key string, line int) { s.lines[s.hash(key)] = line }
