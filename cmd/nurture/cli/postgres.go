package cli

import (
	"context"
	"errors"

	"github.com/nurture-dev/nurture/runtime"
)

func openPostgres(ctx context.Context, url string) (runtime.Store, error) {
	return nil, errors.New("the PostgreSQL store is not built yet")
}
