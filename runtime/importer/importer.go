// Package importer moves the records an import file holds into a store:
// it reads them with runtime/ingest, writes them in batches, each batch
// one transaction, and hands every row that was not stored — refused by
// the reader or by the store — to the caller with its line and reason.
//
// It streams like the readers do: memory holds one batch. A failure of
// the store stops the import between batches; the batches before it are
// stored, and since imports are idempotent (contacts upsert by address,
// accounts by key, events by ID, suppressions by address and reason) running it again
// finishes the job.
package importer

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nurture-dev/nurture/campaigns"
	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/ingest"
)

// DefaultBatch is how many records go to the store in one transaction.
// Measured on SQLite and PostgreSQL (BenchmarkImport): 1000 gets within a
// few per cent of the best rate while keeping a failed batch small.
const DefaultBatch = 10_000

// Options tune an import. The zero Options are usable.
type Options struct {
	// Batch is the number of records per transaction; DefaultBatch when 0.
	Batch int
	// Who is recorded with each consent the file carries: the operator.
	Who string
	// Reject receives every row that was not stored, in file order within
	// the reader's rejects and batch order for the store's. An error from
	// it stops the import.
	Reject func(*ingest.Reject) error
	// Progress is called after each batch is stored with the rows done so
	// far (stored or rejected) and how much of the file they span.
	Progress func(Progress)
	// Now is the import's time, given to suppressions whose file does not
	// say when; time.Now when nil.
	Now func() time.Time
	// KeepUnknown is how long events of addresses the store does not hold
	// yet wait for their contact's import (a store that can keep them:
	// see PendingRecorder); zero rejects them.
	KeepUnknown time.Duration
}

// PendingRecorder is a store that keeps events of addresses not yet
// imported until a given time.
type PendingRecorder interface {
	RecordEventsPending(ctx context.Context, batch []runtime.Event, keepUntil time.Time) (runtime.EventResult, error)
}

func (o *Options) batch() int {
	if o.Batch <= 0 {
		return DefaultBatch
	}
	return o.Batch
}

// Summary counts what an import did with each row.
type Summary struct {
	// Inserted are new contacts, events or suppressions.
	Inserted int
	// Updated contacts had a value change; Unchanged ones did not.
	Updated, Unchanged int
	// Duplicate events or suppressions were stored already.
	Duplicate int
	// Pending events wait for their contact's import (KeepUnknown).
	Pending int
	// Rejected rows were not stored; each went to Options.Reject.
	Rejected int
}

// Rows is how many rows the import read.
func (s Summary) Rows() int {
	return s.Inserted + s.Updated + s.Unchanged + s.Duplicate + s.Pending + s.Rejected
}

// Progress is how far an import has got: rows are what a person counts,
// bytes (of a file whose size is known) say how much is left.
type Progress struct {
	// Rows are the rows done: stored or rejected.
	Rows int
	// Bytes is how much of the file those rows span.
	Bytes int64
}

// StoreError is the store failing part way: the rows before Line are
// stored, the rest are not.
type StoreError struct {
	// Line is the first line of the batch that failed.
	Line int
	Err  error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("line %d: the store failed: %v; the rows before line %d are stored, and importing the file again stores the rest", e.Line, e.Err, e.Line)
}

func (e *StoreError) Unwrap() error { return e.Err }

// run is the loop every import shares: read a batch, store it, report.
// line gives a record's line; raw the reader's last row as read; store
// writes a batch and returns its store-level rejects.
//
// Reading and storing overlap: a goroutine parses the next batch while
// the store writes this one (parsing is a tenth to a fifth of an import's
// time). Rejects still reach Options.Reject from this goroutine alone,
// each batch's reader rejects before its store rejects.
func run[T any](ctx context.Context, r Reader[T], raw func() ([]string, []byte), opt Options, sum *Summary,
	line func(T) int, store func([]T) ([]runtime.Rejected, error)) error {
	size := opt.batch()
	// Unbuffered: the reader runs one batch ahead of the store and no
	// more, so that an import holds two batches whatever the file's size.
	// A buffer of one let it hold a third, a third more memory, while
	// the store, the slower side, still never waited for the reader.
	chunks := make(chan chunk[T])
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(chunks)
		c := chunk[T]{}
		send := func() bool {
			c.bytes = r.BytesRead()
			select {
			case chunks <- c:
				c = chunk[T]{}
				return true
			case <-done:
				return false
			}
		}
		for {
			rec, rej, err := r.Next()
			if err == io.EOF {
				send()
				return
			}
			if err != nil {
				c.err = err
				send()
				return
			}
			if rej != nil {
				c.rejects = append(c.rejects, rej)
			} else {
				c.recs = append(c.recs, rec)
				if raw != nil {
					cells, text := raw()
					c.raws = append(c.raws, rawRow{line(rec), cells, text})
				}
			}
			if len(c.recs)+len(c.rejects) >= size && !send() {
				return
			}
		}
	}()

	reject := func(rej *ingest.Reject) error {
		sum.Rejected++
		if opt.Reject != nil {
			return opt.Reject(rej)
		}
		return nil
	}
	for c := range chunks {
		for _, rej := range c.rejects {
			if err := reject(rej); err != nil {
				return err
			}
		}
		if c.err != nil {
			return c.err
		}
		if len(c.recs) > 0 {
			if err := ctx.Err(); err != nil {
				return &StoreError{Line: line(c.recs[0]), Err: err}
			}
			rejected, err := store(c.recs)
			if err != nil {
				return &StoreError{Line: line(c.recs[0]), Err: err}
			}
			for _, r := range rejected {
				rej := &ingest.Reject{Line: r.Line, Email: r.Email, Reason: r.Reason}
				for i := range c.raws {
					if c.raws[i].line == r.Line {
						rej.Raw, rej.RawLine = c.raws[i].cells, c.raws[i].text
						break
					}
				}
				if err := reject(rej); err != nil {
					return err
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(Progress{Rows: sum.Rows(), Bytes: c.bytes})
		}
	}
	return nil
}

// chunk is a batch as read: the records, their rows as read, the rows
// the reader rejected among them, how far into the file it ends, and the
// reader's error if it ends there.
type chunk[T any] struct {
	recs    []T
	raws    []rawRow
	rejects []*ingest.Reject
	bytes   int64
	err     error
}

type rawRow struct {
	line  int
	cells []string
	text  []byte
}

// Contacts upserts the contacts r reads into st, whose schema must have
// been synced to schema.
func Contacts(ctx context.Context, st runtime.Store, schema *campaigns.ContactSchema, r *ingest.ContactReader, opt Options) (Summary, error) {
	var sum Summary
	err := run(ctx, r, r.Raw, opt, &sum,
		func(c runtime.ContactRecord) int { return c.Line },
		func(batch []runtime.ContactRecord) ([]runtime.Rejected, error) {
			res, err := st.UpsertContacts(ctx, schema, batch, opt.Who)
			if err != nil {
				return nil, err
			}
			sum.Inserted += res.Inserted
			sum.Updated += res.Updated
			sum.Unchanged += res.Unchanged
			return res.Rejected, nil
		})
	return sum, err
}

// Accounts upserts the accounts r reads into st by key, whose account
// schema must have been synced to attrs.
func Accounts(ctx context.Context, st runtime.Store, attrs map[string]*campaigns.Attribute, r *ingest.AccountReader, opt Options) (Summary, error) {
	var sum Summary
	err := run(ctx, r, r.Raw, opt, &sum,
		func(a runtime.AccountRecord) int { return a.Line },
		func(batch []runtime.AccountRecord) ([]runtime.Rejected, error) {
			res, err := st.UpsertAccounts(ctx, attrs, batch)
			if err != nil {
				return nil, err
			}
			sum.Inserted += res.Inserted
			sum.Updated += res.Updated
			sum.Unchanged += res.Unchanged
			return res.Rejected, nil
		})
	return sum, err
}

// Events records the events r reads into st, each once by its ID. Events
// of addresses the store does not hold wait for their contact's import for
// Options.KeepUnknown, or without it are rejected.
func Events(ctx context.Context, st runtime.Store, r *ingest.EventReader, opt Options) (Summary, error) {
	var sum Summary
	record := st.RecordEvents
	if pr, ok := st.(PendingRecorder); ok && opt.KeepUnknown > 0 {
		now := opt.Now
		if now == nil {
			now = time.Now
		}
		until := now().Add(opt.KeepUnknown)
		record = func(ctx context.Context, batch []runtime.Event) (runtime.EventResult, error) {
			return pr.RecordEventsPending(ctx, batch, until)
		}
	}
	err := run(ctx, r, r.Raw, opt, &sum,
		func(e runtime.Event) int { return e.Line },
		func(batch []runtime.Event) ([]runtime.Rejected, error) {
			res, err := record(ctx, batch)
			if err != nil {
				return nil, err
			}
			sum.Inserted += res.Inserted
			sum.Duplicate += res.Duplicate
			sum.Pending += res.Pending
			return res.Rejected, nil
		})
	return sum, err
}

// Suppressions adds the suppressions r reads to st. A suppression the file
// gives no time gets the import's.
func Suppressions(ctx context.Context, st runtime.Store, r *ingest.SuppressionReader, opt Options) (Summary, error) {
	var sum Summary
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	at := now().UTC()
	err := run(ctx, suppressionLines{r}, nil, opt, &sum,
		func(s lined) int { return s.line },
		func(batch []lined) ([]runtime.Rejected, error) {
			sups := make([]runtime.Suppression, len(batch))
			for i, s := range batch {
				sups[i] = s.Suppression
				if sups[i].At.IsZero() {
					sups[i].At = at
				}
			}
			n, err := st.Suppress(ctx, sups)
			if err != nil {
				return nil, err
			}
			sum.Inserted += n
			sum.Duplicate += len(sups) - n
			return nil, nil
		})
	return sum, err
}

// lined is a suppression and its line, which runtime.Suppression does not
// carry.
type lined struct {
	runtime.Suppression
	line int
}

type suppressionLines struct{ *ingest.SuppressionReader }

func (r suppressionLines) Next() (lined, *ingest.Reject, error) {
	s, rej, err := r.SuppressionReader.Next()
	return lined{s, r.Line()}, rej, err
}

// Reader is any of the ingest readers.
type Reader[T any] interface {
	Next() (T, *ingest.Reject, error)
	BytesRead() int64
}

// Check reads every row as an import would and stores nothing, for a dry
// run: Inserted counts the rows the reader accepts, Rejected the rest,
// each given to Options.Reject. What only the store can tell — that a new
// contact lacks a required attribute, that an event's contact is unknown —
// is not checked.
func Check[T any](r Reader[T], opt Options) (Summary, error) {
	var sum Summary
	err := run(context.Background(), r, nil, opt, &sum,
		func(T) int { return 0 },
		func(batch []T) ([]runtime.Rejected, error) {
			sum.Inserted += len(batch)
			return nil, nil
		})
	return sum, err
}
