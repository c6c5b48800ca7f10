package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/report"
	"github.com/nurture-dev/nurture/runtime/sqlstore"
	"github.com/nurture-dev/nurture/runtime/storetest"
)

// BenchmarkReport reports a month of a generated store — by default
// 100,000 sends to 25,000 contacts over two sequences with A/B arms, and
// the opens, clicks, replies, bounces and unsubscribes they drew — beside
// a bare aggregate over the same tables: the sends grouped by sequence,
// step, email and arm, the events by name, the enrollments and hand-offs
// by sequence, in the same period. The report does that and more (event
// properties, distinct contacts, the refused sends' bounces, stages, exit
// reasons, the statistics and the JSON); x-bare is its time over the
// bare queries'. Run with
//
//	NURTURE_BENCH_SENDS=100000 \
//	NURTURE_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	go test ./cmd/nurture/cli -run XXX -bench Report -benchtime 5x
func BenchmarkReport(b *testing.B) {
	sends := 100_000
	if s := os.Getenv("NURTURE_BENCH_SENDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 4 {
			b.Fatalf("NURTURE_BENCH_SENDS=%q: want a number of sends", s)
		}
		sends = v
	}
	ctx := context.Background()
	for _, mk := range benchStores(b) {
		bs := mk()
		s := bs.open()
		f := seedReportBench(b, s, sends)
		b.Run(bs.dialect, func(b *testing.B) {
			bare := func() {
				for _, q := range []struct {
					sql  string
					cols int
				}{
					{`SELECT sequence, step, email, COALESCE(variant, ''), COUNT(*) FROM sends WHERE sent_at >= ? AND sent_at < ? GROUP BY sequence, step, email, COALESCE(variant, '')`, 5},
					{`SELECT name, COUNT(*) FROM events WHERE at >= ? AND at < ? GROUP BY name`, 2},
					{`SELECT sequence, COUNT(*) FROM enrollments WHERE (exited_at IS NULL OR exited_at >= ?) AND entered_at < ? GROUP BY sequence`, 2},
					{`SELECT sequence, COUNT(*) FROM handoffs WHERE created_at >= ? AND created_at < ? GROUP BY sequence`, 2},
				} {
					rows, err := s.DB().QueryContext(ctx, rebindFor(s, q.sql), timeArg(s, f.Since), timeArg(s, f.Until))
					if err != nil {
						b.Fatal(err)
					}
					dst := make([]any, q.cols)
					for i := range dst {
						dst[i] = new(any)
					}
					for rows.Next() {
						if err := rows.Scan(dst...); err != nil {
							b.Fatal(err)
						}
					}
					if err := rows.Close(); err != nil {
						b.Fatal(err)
					}
				}
			}
			full := func() {
				data, err := s.Report(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				if err := report.JSON(io.Discard, report.Build(data, f, storetest.Program())); err != nil {
					b.Fatal(err)
				}
			}
			// Once each before timing, so that both read warm pages.
			bare()
			full()
			var tBare, tFull time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				bare()
				t1 := time.Now()
				full()
				tBare += t1.Sub(t0)
				tFull += time.Since(t1)
			}
			b.ReportMetric(float64(tFull.Milliseconds())/float64(b.N), "report-ms")
			b.ReportMetric(float64(tBare.Milliseconds())/float64(b.N), "bare-ms")
			b.ReportMetric(float64(tFull)/float64(tBare), "x-bare")
		})
		s.Close()
		bs.drop()
	}
}

// seedReportBench fills s with n/4 contacts, 4 sends to each but the
// one in nine welcome holds out (who gets 2), and what their recipients
// did, all in the 30 days before benchNow; it returns that period.
func seedReportBench(b testing.TB, s *sqlstore.Store, n int) runtime.ReportFilter {
	b.Helper()
	ctx := context.Background()
	p := storetest.Program()
	if err := s.SyncSchema(ctx, &p.Contact); err != nil {
		b.Fatal(err)
	}
	contacts := n / 4
	stages := p.Contact.Stages
	for i := 0; i < contacts; i += 1000 {
		var batch []runtime.ContactRecord
		for j := i; j < min(i+1000, contacts); j++ {
			batch = append(batch, runtime.ContactRecord{Line: j + 2, Email: fmt.Sprintf("c%d@bench.example", j),
				Values: map[string]any{"industry": "saas", "stage": stages[j%7%len(stages)]}})
		}
		if _, err := s.UpsertContacts(ctx, &p.Contact, batch, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]int64, 0, contacts)
	if err := s.Contacts(ctx, func(c runtime.Contact) error { ids = append(ids, c.ID); return nil }); err != nil {
		b.Fatal(err)
	}
	start := benchNow.Add(-30 * 24 * time.Hour)
	type send struct{ seq, step, email, variant string }
	plan := []send{
		{"welcome", "hello", "emails/hello.md", "a"}, {"welcome", "hello", "emails/hello-b.md", "b"},
		{"welcome", "tips", "emails/tips.md", ""}, {"nurture", "case", "emails/case.md", "a"},
		{"nurture", "case", "emails/case-b.md", "b"}, {"nurture", "demo", "emails/demo.md", ""},
	}
	var sendRows, enrollRows, handoffRows [][]any
	var events []runtime.Event
	for i, id := range ids {
		email := fmt.Sprintf("c%d@bench.example", i)
		entered := start.Add(time.Duration(i%(25*24)) * time.Hour)
		// welcome holds out one contact in nine, who converts half as
		// often: one in five treated converts, one in ten held out.
		held := i%9 == 0
		converted := i%5 == 0 && (!held || i%10 == 0)
		for k, seq := range []string{"welcome", "nurture"} {
			var exited, reason, arm any
			if converted {
				exited, reason = entered.Add(72*time.Hour), "converted"
			}
			if seq == "welcome" {
				arm = campaigns.ArmTreatment
				if held {
					arm = campaigns.ArmControl
				}
			}
			enrollRows = append(enrollRows, []any{id, seq, "active", entered, exited, reason, arm})
			if arm == campaigns.ArmControl {
				continue // held out: no email of welcome
			}
			for j := range 2 {
				// The first step's arm alternates; the second has one.
				st := plan[3*k+2]
				if j == 0 {
					st = plan[3*k+i%2]
				}
				at := entered.Add(time.Duration(24*(1+j)) * time.Hour)
				status := runtime.SendAccepted
				if i%97 == 0 {
					status = runtime.SendFailed
				}
				var variant any
				if st.variant != "" {
					variant = st.variant
				}
				sendRows = append(sendRows, []any{fmt.Sprintf("%d/%s/%s", id, st.seq, st.step), id, st.seq, st.step, st.email, variant, status, at, at})
				props := map[string]any{"sequence": st.seq, "step": st.step, "email": st.email}
				if st.variant != "" {
					props["variant"] = st.variant
				}
				ev := func(kind, name string, after time.Duration, extra ...any) {
					pr := map[string]any{}
					for k, v := range props {
						pr[k] = v
					}
					for x := 0; x+1 < len(extra); x += 2 {
						pr[extra[x].(string)] = extra[x+1]
					}
					events = append(events, runtime.Event{ID: fmt.Sprintf("%s/%d/%s/%s", kind, id, st.seq, st.step), Email: email, Name: name, At: at.Add(after), Props: pr})
				}
				h := (i*7 + j*13 + k*29) % 100
				switch {
				case i%97 == 0:
					ev("bounce", campaigns.EventBounced, time.Minute, "kind", "hard")
				case h < 40:
					ev("open", campaigns.EventOpened, time.Hour, "unreliable", h < 10)
					if h < 4+i%2 {
						ev("click", campaigns.EventClicked, 2*time.Hour, "url", "https://bench.example/")
					}
					if h == 20 {
						ev("reply", campaigns.EventReplied, 3*time.Hour)
					}
				case h == 99 && i%3 == 0:
					ev("unsub", campaigns.EventUnsubscribed, time.Hour)
				}
			}
		}
		if converted {
			handoffRows = append(handoffRows, []any{id, "sales", "converted", "welcome", "done", entered.Add(72 * time.Hour)})
		}
	}
	insertRows(b, s, `INSERT INTO sends (key, contact_id, sequence, step, email, variant, status, planned_at, sent_at, version) VALUES `, "1", sendRows)
	insertRows(b, s, `INSERT INTO enrollments (contact_id, sequence, state, entered_at, exited_at, exit_reason, arm, version) VALUES `, "1", enrollRows)
	insertRows(b, s, `INSERT INTO handoffs (contact_id, handoff, reason, sequence, status, created_at) VALUES `, "", handoffRows)
	for i := 0; i < len(events); i += 1000 {
		if _, err := s.RecordEvents(ctx, events[i:min(i+1000, len(events))]); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d contacts, %d sends, %d events, %d enrollments, %d hand-offs", s.Dialect(), len(ids), len(sendRows), len(events), len(enrollRows), len(handoffRows))
	return runtime.ReportFilter{Since: start, Until: benchNow}
}

// insertRows inserts rows, 500 a statement; each row is followed by the
// literal tail (a constant column) when one is given.
func insertRows(b testing.TB, s *sqlstore.Store, head, tail string, rows [][]any) {
	b.Helper()
	for i := 0; i < len(rows); i += 500 {
		part := rows[i:min(i+500, len(rows))]
		var q strings.Builder
		var args []any
		q.WriteString(head)
		for j, r := range part {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", "))
			if tail != "" {
				q.WriteString(", " + tail)
			}
			q.WriteString(")")
			for _, v := range r {
				if t, ok := v.(time.Time); ok {
					v = timeArg(s, t)
				}
				args = append(args, v)
			}
		}
		if _, err := s.DB().Exec(rebindFor(s, q.String()), args...); err != nil {
			b.Fatal(err)
		}
	}
}

// timeArg is a time as the store keeps it.
func timeArg(s *sqlstore.Store, t time.Time) any {
	if s.Dialect() == "sqlite" {
		return t.UnixMilli()
	}
	return t.UTC()
}

// rebindFor turns ? placeholders into the store's.
func rebindFor(s *sqlstore.Store, q string) string {
	if s.Dialect() == "sqlite" {
		return q
	}
	var out strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			out.WriteString("$" + strconv.Itoa(n))
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}
