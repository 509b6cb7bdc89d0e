package kosmock

import (
	"context"

	"phonebill/shared/fn"
)

// start builds the service value the routes are bound to.
func start(ctx context.Context, env *fn.Env) (any, error) {
	return nil, nil
}
