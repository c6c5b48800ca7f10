package cli

import (
	"context"
	"errors"
	"testing"
)

// An interrupt returns from a compile at once: CUE's evaluation cannot be
// stopped, so validate and test must not wait for it.
func TestCompileReturnsOnInterrupt(t *testing.T) {
	stop := errors.New("interrupted by SIGTERM")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(stop)
	if _, err := compile(ctx, "testdata/base"); !errors.Is(err, stop) {
		t.Errorf("compile after an interrupt = %v; want it to return with the interrupt", err)
	}
	if res, err := compile(context.Background(), "testdata/base"); err != nil || res.Program == nil {
		t.Errorf("compile = %v, %v; want the programme", res, err)
	}
}
