// Package schema holds the nurture language: the CUE schema every
// programme is checked against. It is the single source of truth for the
// language and imports nothing but embed.
package schema

import _ "embed"

// Source is the schema, in package nurture. The compiler overlays it into
// the programme's package, so its constraints apply to the user's own
// fields and its #Definitions are visible to the user's files.
//
//go:embed nurture.cue
var Source []byte

// FileName is the name the schema takes in the user's package. It must not
// begin with "_" or ".", or CUE silently ignores it.
const FileName = "nurture.schema.cue"
