package kosmock

import (
	"context"
	"fmt"

	"phonebill/shared/config"
	"phonebill/shared/fn"
)

// start loads the kos-mock-config settings and builds the service value.
func start(ctx context.Context, env *fn.Env) (any, error) {
	var c struct{ Mock Settings }
	if err := config.Load(&c); err != nil {
		return nil, err
	}
	return newServer(ctx, env, c.Mock)
}

// newServer builds the handlers over env's pool (not dialled yet) with the
// given settings; tests call it with their own.
func newServer(ctx context.Context, env *fn.Env, cfg Settings) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pool, err := env.DB(ctx)
	if err != nil {
		return nil, fmt.Errorf("kos-mock: %w", err)
	}
	return &Server{
		mock:     NewMock(pool, env.Now, cfg.Seed, env.Logger(fn.LoggerApp)),
		sim:      NewSimulator(cfg, nil, env.Metrics.Registry),
		scenario: cfg.ScenarioHeader,
		now:      env.Now,
		log:      env.Logger(fn.LoggerApp),
	}, nil
}
