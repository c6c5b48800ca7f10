package cli

import (
	"context"

	"github.com/nurture-dev/nurture/runtime"
	"github.com/nurture-dev/nurture/runtime/postgres"
)

func openPostgres(ctx context.Context, url string) (runtime.Store, error) {
	return postgres.Open(ctx, url)
}
