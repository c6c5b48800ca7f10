package cli

import (
	"cmp"
	"context"
	"os"
	"testing"

	"github.com/nurture-dev/nurture/compiler"
	"github.com/nurture-dev/nurture/runtime/scenario"
)

// BenchmarkScenario runs each scenario of examples/b2b-saas (or of the
// programme in $NURTURE_BENCH_DIR): its whole virtual run, store and all.
func BenchmarkScenario(b *testing.B) {
	res := compiler.Compile(cmp.Or(os.Getenv("NURTURE_BENCH_DIR"), "../../../examples/b2b-saas"))
	if res.Program == nil {
		b.Fatal(res.Diagnostics)
	}
	for _, sc := range res.Tests {
		b.Run(sc.Name, func(b *testing.B) {
			ticks := 0
			for b.Loop() {
				r := scenario.Run(context.Background(), b.TempDir(), res.Program, sc)
				ticks = r.Ticks
			}
			b.ReportMetric(float64(ticks), "ticks/op")
			b.ReportMetric(sc.Run.Std().Hours()/24, "days/op")
		})
	}
}
