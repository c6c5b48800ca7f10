package compiler

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
)

// FormatResult lists the .cue files of a directory whose formatting
// differs from the canonical CUE style.
type FormatResult struct {
	Changed     []string // absolute paths, sorted
	Diagnostics Diagnostics
}

// Format formats the .cue files directly in dir like `cue fmt`. With write
// false it only reports which files would change.
func Format(dir string, write bool) (*FormatResult, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, err
	}
	res := &FormatResult{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		name := filepath.Join(abs, e.Name())
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			for _, ce := range cueerrors.Errors(err) {
				format, args := ce.Msg()
				res.Diagnostics = append(res.Diagnostics, Diagnostic{Pos: cuePos(ce), Code: "NRT001",
					Summary: fmt.Sprintf(format, args...), Detail: "fix the CUE syntax"})
			}
			continue
		}
		out, err := format.Node(f)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(out, src) {
			continue
		}
		res.Changed = append(res.Changed, name)
		if write {
			if err := writeFileAtomic(name, out); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(res.Changed)
	res.Diagnostics = res.Diagnostics.Sort()
	return res, nil
}

func cuePos(e cueerrors.Error) Pos {
	if ps := cueerrors.Positions(e); len(ps) > 0 {
		return toPos(ps[0])
	}
	return Pos{}
}

// writeFileAtomic replaces name with data without ever leaving it half
// written: a crash leaves the old file or the new one.
func writeFileAtomic(name string, data []byte) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".nurture-fmt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
