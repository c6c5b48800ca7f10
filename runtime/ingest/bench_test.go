package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// benchCSV is a contacts file of n rows and ten columns, with the mix of
// types and repeats a real export has.
func benchCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("email,first_name,industry,employees,revenue,trial,signup_at,stage,timezone,account\n")
	industries := []string{"saas", "fintech", "other"}
	stages := []string{"lead", "mql", "sql", "customer"}
	zones := []string{"Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo"}
	for i := range n {
		fmt.Fprintf(&b, "Person.%d@Company%d.example,Person %d,%s,%d,%d.5,%v,2026-%02d-%02dT09:30:00Z,%s,%s,Company %d\n",
			i, i%5000, i, industries[i%3], i%900+10, i*7, i%2 == 0, i%12+1, i%28+1, stages[i%4], zones[i%4], i%5000)
	}
	return b.Bytes()
}

func BenchmarkContactCSV(b *testing.B) {
	const rows = 100_000
	data := benchCSV(rows)
	schema := testSchema()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := NewContactReader(bytes.NewReader(data), "bench.csv", CSV, schema, Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, rej, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || rej != nil {
				b.Fatal(err, rej)
			}
			n++
		}
		if n != rows {
			b.Fatalf("%d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
