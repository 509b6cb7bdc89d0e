// Package config loads a function's settings from the environment with
// kelseyhightower/envconfig. Each function declares one struct that nests the
// shared sections it needs (HTTP, DB, Redis, JWT, KOS, ...); Load fills every
// section and validates all of them, so a missing or invalid variable stops the
// process at start with a message that names it.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Validator is implemented by sections that check more than envconfig can.
type Validator interface {
	Validate() error
}

// Load fills every struct-typed field of spec (a pointer to a struct) from the
// environment, using each field's `envconfig` names verbatim (no prefix), then
// calls Validate on every section that has one. All problems are reported at
// once, each naming its variable.
func Load(spec any) error {
	v := reflect.ValueOf(spec)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a pointer to a struct, got %T", spec)
	}
	var errs []error
	sections := v.Elem()
	for i := range sections.NumField() {
		f := sections.Field(i)
		if f.Kind() != reflect.Struct || !f.CanAddr() || !f.CanInterface() {
			continue
		}
		section := f.Addr().Interface()
		if err := envconfig.Process("", section); err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
			continue
		}
		if val, ok := section.(Validator); ok {
			if err := val.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// HTTP holds the listener and request-handling settings every function uses.
type HTTP struct {
	// ListenAddress wins over PORT; Knative sets PORT.
	ListenAddress string `envconfig:"LISTEN_ADDRESS"`
	Port          string `envconfig:"PORT"`
	// ExtraListenAddress absorbs a client defect in local runs (SPEC §2.9).
	ExtraListenAddress string `envconfig:"EXTRA_LISTEN_ADDRESS"`
	// CORSAllowedOrigins is the browser allow-list; "*" allows any origin.
	CORSAllowedOrigins []string `envconfig:"CORS_ALLOWED_ORIGINS" default:"http://localhost:3000,http://127.0.0.1:3000"`
	// MaxBodyBytes bounds every request body; larger bodies get 413.
	MaxBodyBytes int64 `envconfig:"MAX_BODY_BYTES" default:"65536"`
	// RequestDeadline bounds a whole request, KOS retries included, inside the
	// web client's 10 s axios timeout.
	RequestDeadlineMS int `envconfig:"REQUEST_DEADLINE_MS" default:"8000"`
	// BodyReadTimeout bounds the time a client takes to send its body (the
	// headers have 5 s): a 64 KiB JSON body that trickles in longer holds a
	// connection for nothing. Body, then the request deadline, fit in the
	// 15 s route timeout.
	BodyReadTimeoutMS int    `envconfig:"BODY_READ_TIMEOUT_MS" default:"5000"`
	LogLevel          string `envconfig:"LOG_LEVEL" default:"info"`
	// LogLevelApp, LogLevelDB and LogLevelKOS set the application's,
	// the database's and the KOS client's loggers apart (empty: LOG_LEVEL).
	LogLevelApp string `envconfig:"LOG_LEVEL_APP"`
	LogLevelDB  string `envconfig:"LOG_LEVEL_DB"`
	LogLevelKOS string `envconfig:"LOG_LEVEL_KOS"`
	TZ          string `envconfig:"TZ" default:"Asia/Seoul"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM (Knative's grace period is the
	// Service's timeoutSeconds, so the drain must end within it).
	ShutdownTimeoutSeconds int `envconfig:"SHUTDOWN_TIMEOUT_SECONDS" default:"25"`
}

// Addr is the address to listen on: LISTEN_ADDRESS, else :PORT, else :8080.
func (h HTTP) Addr() string {
	switch {
	case h.ListenAddress != "":
		return h.ListenAddress
	case h.Port != "":
		return ":" + h.Port
	}
	return ":8080"
}

// RequestDeadline is REQUEST_DEADLINE_MS as a duration.
func (h HTTP) RequestDeadline() time.Duration {
	return time.Duration(h.RequestDeadlineMS) * time.Millisecond
}

// BodyReadTimeout is BODY_READ_TIMEOUT_MS as a duration.
func (h HTTP) BodyReadTimeout() time.Duration {
	return time.Duration(h.BodyReadTimeoutMS) * time.Millisecond
}

// Location is the configured time zone (Asia/Seoul by default).
func (h HTTP) Location() *time.Location {
	loc, err := time.LoadLocation(h.TZ)
	if err != nil {
		return time.FixedZone("KST", 9*3600)
	}
	return loc
}

// Validate implements Validator.
func (h HTTP) Validate() error {
	var errs []error
	if h.MaxBodyBytes < 1 {
		errs = append(errs, errors.New("config: MAX_BODY_BYTES must be positive"))
	}
	if h.RequestDeadlineMS < 100 {
		errs = append(errs, errors.New("config: REQUEST_DEADLINE_MS must be at least 100"))
	}
	if h.BodyReadTimeoutMS < 100 {
		errs = append(errs, errors.New("config: BODY_READ_TIMEOUT_MS must be at least 100"))
	}
	if _, err := time.LoadLocation(h.TZ); err != nil {
		errs = append(errs, fmt.Errorf("config: TZ %q is not a known time zone", h.TZ))
	}
	for _, l := range []struct{ name, v string }{{"LOG_LEVEL", h.LogLevel}, {"LOG_LEVEL_APP", h.LogLevelApp},
		{"LOG_LEVEL_DB", h.LogLevelDB}, {"LOG_LEVEL_KOS", h.LogLevelKOS}} {
		var lv slog.Level
		if l.v != "" && lv.UnmarshalText([]byte(l.v)) != nil {
			errs = append(errs, fmt.Errorf("config: %s %q is not debug, info, warn or error", l.name, l.v))
		}
	}
	for _, a := range []struct{ name, v string }{{"LISTEN_ADDRESS", h.ListenAddress}, {"EXTRA_LISTEN_ADDRESS", h.ExtraListenAddress}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("config: %s %q is not host:port", a.name, a.v))
		}
	}
	return errors.Join(errs...)
}

// Level is the level of the named logger ("app", "db", "kos"): its own
// LOG_LEVEL_* when set, LOG_LEVEL otherwise (info when neither parses).
func (h HTTP) Level(logger string) slog.Level {
	v := map[string]string{"app": h.LogLevelApp, "db": h.LogLevelDB, "kos": h.LogLevelKOS}[logger]
	if v == "" {
		v = h.LogLevel
	}
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(v))
	return lv
}

// DB holds the PostgreSQL settings.
type DB struct {
	// URL is preferred; when empty it is built from the seed's DB_* variables.
	URL      string `envconfig:"DATABASE_URL"`
	Host     string `envconfig:"DB_HOST" default:"127.0.0.1"`
	Port     string `envconfig:"DB_PORT" default:"5432"`
	Name     string `envconfig:"DB_NAME" default:"phonebill"`
	User     string `envconfig:"DB_USER" default:"postgres"`
	Password string `envconfig:"DB_PASSWORD" json:"-"`
	// MaxConns is small because ~30 functions share PostgreSQL's 100
	// connections through PgBouncer (DESIGN §4); the all-in-one uses 8.
	MaxConns int32 `envconfig:"DB_MAX_CONNS" default:"2"`
	// MigrateOnStart is only on in make run; in the cluster a Job migrates.
	MigrateOnStart bool `envconfig:"MIGRATE_ON_START" default:"false"`
}

// ConnString returns DATABASE_URL, or one built from DB_*, always carrying
// timezone=Asia/Seoul as a runtime parameter (SPEC §10.2: no per-connection SET).
func (d DB) ConnString() string {
	raw := d.URL
	if raw == "" {
		u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(d.Host, d.Port), Path: "/" + d.Name}
		if d.Password != "" {
			u.User = url.UserPassword(d.User, d.Password)
		} else {
			u.User = url.User(d.User)
		}
		u.RawQuery = "sslmode=disable"
		raw = u.String()
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return raw // Validate reports it
	}
	q := u.Query()
	if q.Get("timezone") == "" {
		q.Set("timezone", "Asia/Seoul")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// String hides the password so the section can be logged.
func (d DB) String() string {
	u, err := url.Parse(d.ConnString())
	if err != nil {
		return "postgres://?"
	}
	return u.Redacted()
}

// Validate implements Validator.
func (d DB) Validate() error {
	var errs []error
	if d.MaxConns < 1 {
		errs = append(errs, errors.New("config: DB_MAX_CONNS must be at least 1"))
	}
	if d.URL != "" {
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			errs = append(errs, errors.New("config: DATABASE_URL must be a postgres:// URL with a host"))
		}
	}
	return errors.Join(errs...)
}

// Redis holds the cache settings.
type Redis struct {
	Addr     string `envconfig:"REDIS_ADDR"`
	Host     string `envconfig:"REDIS_HOST" default:"127.0.0.1"`
	Port     string `envconfig:"REDIS_PORT" default:"6379"`
	Password string `envconfig:"REDIS_PASSWORD" json:"-"`
	DB       int    `envconfig:"REDIS_DB" default:"0"`
	// KeyPrefix isolates tests (and environments sharing one Redis).
	KeyPrefix string `envconfig:"REDIS_KEY_PREFIX"`
}

// Address is REDIS_ADDR, else REDIS_HOST:REDIS_PORT.
func (r Redis) Address() string {
	if r.Addr != "" {
		return r.Addr
	}
	return net.JoinHostPort(r.Host, r.Port)
}

// Validate implements Validator.
func (r Redis) Validate() error {
	if _, _, err := net.SplitHostPort(r.Address()); err != nil {
		return fmt.Errorf("config: REDIS_ADDR %q is not host:port", r.Address())
	}
	if r.DB < 0 {
		return errors.New("config: REDIS_DB must not be negative")
	}
	return nil
}

// JWT holds the token settings shared by every service.
type JWT struct {
	// Secret signs and verifies HS256 tokens; never compiled in.
	Secret                 string `envconfig:"JWT_SECRET" required:"true" json:"-"`
	AccessValiditySeconds  int    `envconfig:"JWT_ACCESS_TOKEN_VALIDITY_SECONDS" default:"1800"`
	RefreshValiditySeconds int    `envconfig:"JWT_REFRESH_TOKEN_VALIDITY_SECONDS" default:"86400"`
	// LeewaySeconds tolerates small clock skew between pods.
	LeewaySeconds int `envconfig:"JWT_LEEWAY_SECONDS" default:"30"`
}

// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2).
const MinSecretBytes = 32

// Validate implements Validator.
func (j JWT) Validate() error {
	var errs []error
	if len(j.Secret) < MinSecretBytes {
		errs = append(errs, fmt.Errorf("config: JWT_SECRET must be at least %d bytes", MinSecretBytes))
	}
	if j.AccessValiditySeconds < 1 {
		errs = append(errs, errors.New("config: JWT_ACCESS_TOKEN_VALIDITY_SECONDS must be positive"))
	}
	if j.RefreshValiditySeconds < 1 {
		errs = append(errs, errors.New("config: JWT_REFRESH_TOKEN_VALIDITY_SECONDS must be positive"))
	}
	if j.LeewaySeconds < 0 || j.LeewaySeconds > 300 {
		errs = append(errs, errors.New("config: JWT_LEEWAY_SECONDS must be between 0 and 300"))
	}
	return errors.Join(errs...)
}

// String hides the secret.
func (j JWT) String() string {
	return fmt.Sprintf("JWT{secret:[%d bytes], access:%ds, refresh:%ds}", len(j.Secret), j.AccessValiditySeconds, j.RefreshValiditySeconds)
}

// KOS holds the settings of the client that calls the carrier core.
type KOS struct {
	BaseURL string `envconfig:"KOS_BASE_URL" default:"http://127.0.0.1:8080"`
	// TimeoutMS covers the seed's 1–3 s slow answers with margin.
	TimeoutMS          int `envconfig:"KOS_TIMEOUT_MS" default:"5000"`
	BreakerFailures    int `envconfig:"KOS_BREAKER_FAILURES" default:"5"`
	BreakerOpenSeconds int `envconfig:"KOS_BREAKER_OPEN_SECONDS" default:"10"`
	// ScenarioHeader passes a caller's X-Mock-Scenario to the main KOS call
	// (tests and demos only; SPEC §5.5).
	ScenarioHeader bool `envconfig:"KOS_MOCK_SCENARIO_HEADER" default:"false"`
}

// Timeout is KOS_TIMEOUT_MS as a duration.
func (k KOS) Timeout() time.Duration { return time.Duration(k.TimeoutMS) * time.Millisecond }

// BreakerOpen is KOS_BREAKER_OPEN_SECONDS as a duration.
func (k KOS) BreakerOpen() time.Duration { return time.Duration(k.BreakerOpenSeconds) * time.Second }

// Validate implements Validator.
func (k KOS) Validate() error {
	var errs []error
	u, err := url.Parse(k.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("config: KOS_BASE_URL %q must be an http(s) URL", k.BaseURL))
	}
	if k.TimeoutMS < 1 {
		errs = append(errs, errors.New("config: KOS_TIMEOUT_MS must be positive"))
	}
	if k.BreakerFailures < 1 {
		errs = append(errs, errors.New("config: KOS_BREAKER_FAILURES must be at least 1"))
	}
	if k.BreakerOpenSeconds < 1 {
		errs = append(errs, errors.New("config: KOS_BREAKER_OPEN_SECONDS must be at least 1"))
	}
	return errors.Join(errs...)
}

// splitList trims a comma-separated setting.
func splitList(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Origins returns the CORS allow-list without blanks.
func (h HTTP) Origins() []string { return splitList(h.CORSAllowedOrigins) }
