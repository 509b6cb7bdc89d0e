package auth

import (
	"context"
	"errors"
	"time"

	"golang.org/x/crypto/bcrypt"

	"phonebill/shared/config"
	"phonebill/shared/fn"
)

// Settings are the Auth service's own variables (SPEC §10.1).
type Settings struct {
	// MaxFailedAttempts consecutive failures lock the submitted id (SPEC §4.1).
	MaxFailedAttempts int `envconfig:"AUTH_MAX_FAILED_ATTEMPTS" default:"5"`
	// LockoutMinutes is how long a lock lasts.
	LockoutMinutes int `envconfig:"AUTH_LOCKOUT_MINUTES" default:"30"`
	// BcryptCost is the work factor of new hashes; tests use 4 to stay fast,
	// and hashes of any cost verify (the seed's are 10).
	BcryptCost int `envconfig:"BCRYPT_COST" default:"10"`
}

// Validate implements config.Validator.
func (s Settings) Validate() error {
	var errs []error
	if s.MaxFailedAttempts < 1 {
		errs = append(errs, errors.New("config: AUTH_MAX_FAILED_ATTEMPTS must be at least 1"))
	}
	if s.LockoutMinutes < 1 {
		errs = append(errs, errors.New("config: AUTH_LOCKOUT_MINUTES must be at least 1"))
	}
	if s.BcryptCost < bcrypt.MinCost || s.BcryptCost > bcrypt.MaxCost {
		errs = append(errs, errors.New("config: BCRYPT_COST must be between 4 and 31"))
	}
	return errors.Join(errs...)
}

// Config resolves the settings into the lockout rule.
func (s Settings) Config() Config {
	return Config{MaxFailedAttempts: s.MaxFailedAttempts, Lockout: time.Duration(s.LockoutMinutes) * time.Minute}
}

// start builds the service value the routes are bound to. Nothing is dialled:
// the pool and Redis connect on first use.
func start(ctx context.Context, env *fn.Env) (any, error) {
	var s struct{ Auth Settings }
	if err := config.Load(&s); err != nil {
		return nil, err
	}
	return build(ctx, env, s.Auth.Config(), Bcrypt{Cost: s.Auth.BcryptCost})
}

// build wires the handlers from env with a hasher and lockout rule; tests
// call it with their own.
func build(ctx context.Context, env *fn.Env, cfg Config, h Hasher) (*Handlers, error) {
	pool, err := env.DB(ctx)
	if err != nil {
		return nil, err
	}
	g, err := env.Guard(ctx)
	if err != nil {
		return nil, err
	}
	acc := NewAccounts(Deps{Pool: pool, Tokens: g.Tokens(), Revocations: g.Revocations(), Hasher: h,
		Log: env.Logger(fn.LoggerApp), Now: env.Now, Registry: env.Metrics.Registry}, cfg)
	return &Handlers{acc: acc}, nil
}
