package sample

import (
	"io"
	"testing"
)

// BenchmarkGenerate writes 100,000 contacts of the test SaaS programme and
// their events to io.Discard.
//
//	go test ./runtime/sample -run '^$' -bench Generate -benchmem
func BenchmarkGenerate(b *testing.B) {
	const n = 100_000
	p := saasProgram()
	var events int
	for b.Loop() {
		st, err := Generate(p, Options{Contacts: n, Seed: 1, Now: testNow}, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		events = st.Events
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
