package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/schema"
)

// The compiler's budget: on the same files, Compile should cost at most
// 1.5× what `cue export` costs plus the Markdown rendering, and grow
// linearly with the number of sequences. BenchmarkCompile,
// BenchmarkCUEExport and BenchmarkMarkdown measure the three; each reports
// ns/seq so that linear growth shows as a flat figure from 50 to 500.
//
//	go test ./compiler -run XXX -bench 'Compile|CUEExport|Markdown' -benchtime 5x -count 3

var benchSizes = []int{50, 500}

// benchProgramme generates a programme of n sequences once for b.
func benchProgramme(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	writeProgramme(b, dir, n)
	return dir
}

func reportPerSequence(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/seq")
}

// BenchmarkCompile is the whole compiler: load, evaluate and validate the
// CUE, check, render every email.
func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("seq=%d", n), func(b *testing.B) {
			dir := benchProgramme(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res := Compile(dir)
				if res.Program == nil || len(res.Diagnostics) > 0 {
					b.Fatalf("generated programme does not compile clean:\n%v", res.Diagnostics)
				}
			}
			reportPerSequence(b, n)
		})
	}
}

// cueExport does what `cue export` does on the programme's files with the
// schema overlaid, as the compiler overlays it: load, build, validate
// concrete, marshal to JSON.
func cueExport(dir string) ([]byte, error) {
	cfg := &load.Config{
		Dir:     dir,
		Package: PackageName,
		Overlay: map[string]load.Source{filepath.Join(dir, schema.FileName): load.FromBytes(schema.Source)},
	}
	inst := load.Instances([]string{"."}, cfg)[0]
	if inst.Err != nil {
		return nil, inst.Err
	}
	v := cuecontext.New().BuildInstance(inst)
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return nil, err
	}
	return v.MarshalJSON()
}

// BenchmarkCUEExport is the CUE evaluation alone: the baseline of the budget.
func BenchmarkCUEExport(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("seq=%d", n), func(b *testing.B) {
			dir := benchProgramme(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := cueExport(dir); err != nil {
					b.Fatal(err)
				}
			}
			reportPerSequence(b, n)
		})
	}
}

// BenchmarkLoadCUE is the compiler's own CUE step (loadCUE: the package
// clause check, the top-level names, validate, marshal), to compare with
// BenchmarkCUEExport.
func BenchmarkLoadCUE(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("seq=%d", n), func(b *testing.B) {
			dir := benchProgramme(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if src, ds := loadCUE(dir); src == nil || len(ds) > 0 {
					b.Fatalf("loadCUE: %v", ds)
				}
			}
			reportPerSequence(b, n)
		})
	}
}

// BenchmarkMarkdown is the email part of Compile: every email of the
// programme read from disk and compiled (front matter, merge tags, goldmark
// render, text part, footer). It reports ns/seq beside ns/email.
func BenchmarkMarkdown(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("seq=%d", n), func(b *testing.B) {
			dir := benchProgramme(b, n)
			res := Compile(dir)
			if res.Program == nil {
				b.Fatalf("generated programme does not compile:\n%v", res.Diagnostics)
			}
			var files []string
			for i := range n {
				for _, name := range genEmailNames {
					files = append(files, filepath.Join(dir, filepath.FromSlash(genEmailPath(i, name))))
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c := &checker{src: &source{dir: dir}, dir: dir, prog: res.Program}
				for _, f := range files {
					src, err := os.ReadFile(f)
					if err != nil {
						b.Fatal(err)
					}
					if e := c.emailSource(f, src, campaigns.KindMarketing, nil); e == nil {
						b.Fatalf("%s does not compile: %v", f, c.diags)
					}
				}
				if len(c.diags) > 0 {
					b.Fatalf("emails have diagnostics: %v", c.diags)
				}
			}
			reportPerSequence(b, n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(files)), "ns/email")
		})
	}
}
