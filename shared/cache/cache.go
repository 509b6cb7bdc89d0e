// Package cache wraps go-redis with the rules of SPEC §6.5: every key carries
// REDIS_KEY_PREFIX, timeouts are short, and a Redis failure is a cache miss
// (logged at most once a minute) so requests still succeed from PostgreSQL.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"phonebill/shared/config"
)

// Cache is a prefixed, fail-soft Redis client.
type Cache struct {
	rdb     *redis.Client
	prefix  string
	log     *slog.Logger
	lastLog atomic.Int64 // unix seconds of the last "redis unavailable" log
	// downUntil (unix nanoseconds): after a connection failure Redis is
	// skipped for a short cool-down, so a black-holed Redis costs one timeout
	// per cool-down instead of one per command of every request.
	downUntil atomic.Int64
}

// coolDown is how long Redis is skipped after a connection failure.
const coolDown = time.Second

// ErrDown is returned by the calls that report errors (DelMatch) while Redis
// is skipped after a connection failure.
var ErrDown = errors.New("cache: redis unavailable (cooling down)")

// Down reports whether Redis is being skipped after a connection failure;
// callers with their own Redis commands (the revocation mirror) check it.
func (c *Cache) Down() bool { return time.Now().UnixNano() < c.downUntil.Load() }

// connFailure tells a broken connection (timeout, refused, pool exhausted)
// from an answer Redis gave (a miss, an error reply) or a caller that left.
func connFailure(err error) bool {
	var reply redis.Error
	switch {
	case err == nil, errors.Is(err, redis.Nil), errors.Is(err, context.Canceled), errors.As(err, &reply):
		return false
	}
	return true
}

// New returns a client for cfg; nothing is dialled until the first command.
func New(cfg config.Redis, lg *slog.Logger) *Cache {
	rdb := redis.NewClient(&redis.Options{
		Addr:     cfg.Address(),
		Password: cfg.Password,
		DB:       cfg.DB,
		// A dead Redis must cost little (SPEC §6.5): ~200 ms, at most 1 retry.
		DialTimeout:  200 * time.Millisecond,
		ReadTimeout:  200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond,
		PoolTimeout:  300 * time.Millisecond,
		MaxRetries:   1,
		// go-redis retries failed dials 5 times 100 ms apart by default:
		// that alone would cost half a second per command on a dead Redis.
		DialerRetries:      1,
		DialerRetryTimeout: 20 * time.Millisecond,
		MinRetryBackoff:    8 * time.Millisecond,
		MaxRetryBackoff:    32 * time.Millisecond,
		PoolSize:           16,
		// Honour the request's deadline too, not only the fixed timeouts.
		ContextTimeoutEnabled: true,
		// No CLIENT SETINFO round trip on every new connection.
		DisableIdentity: true,
		Protocol:        2,
	})
	return &Cache{rdb: rdb, prefix: cfg.KeyPrefix, log: lg}
}

// Client is the underlying go-redis client, for scripts and pipelines; keys
// given to it must go through Key.
func (c *Cache) Client() *redis.Client { return c.rdb }

// Key returns k with the configured prefix.
func (c *Cache) Key(k string) string { return c.prefix + k }

// Close releases the connections.
func (c *Cache) Close() error { return c.rdb.Close() }

// Failed records a Redis failure: logged at most once a minute, never
// returned to the caller.
func (c *Cache) Failed(ctx context.Context, op string, err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	now := time.Now().Unix()
	last := c.lastLog.Load()
	if now-last < 60 || !c.lastLog.CompareAndSwap(last, now) {
		return
	}
	if c.log != nil {
		c.log.WarnContext(ctx, "redis unavailable; serving without cache", "op", op, "err", err.Error())
	}
}

// RedisFailed records the failure of a Redis command: a broken connection
// starts the cool-down (Down), then the failure is logged like Failed.
func (c *Cache) RedisFailed(ctx context.Context, op string, err error) {
	if connFailure(err) {
		c.downUntil.Store(time.Now().Add(coolDown).UnixNano())
	}
	c.Failed(ctx, op, err)
}

// GetBytes returns the raw value of key; any failure is a miss.
func (c *Cache) GetBytes(ctx context.Context, key string) ([]byte, bool) {
	if c.Down() {
		return nil, false
	}
	b, err := c.rdb.Get(ctx, c.Key(key)).Bytes()
	if err != nil {
		c.RedisFailed(ctx, "get", err)
		return nil, false
	}
	return b, true
}

// Get decodes the JSON value of key into dst; a missing key, a Redis failure
// or an undecodable value are all a miss.
func (c *Cache) Get(ctx context.Context, key string, dst any) bool {
	b, ok := c.GetBytes(ctx, key)
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, dst); err != nil {
		c.Failed(ctx, "decode "+key, err)
		return false
	}
	return true
}

// GetJSON is the typed form of Get.
func GetJSON[T any](ctx context.Context, c *Cache, key string) (T, bool) {
	var v T
	ok := c.Get(ctx, key, &v)
	return v, ok
}

// Set stores v as JSON under key for ttl; failures are logged, not returned.
func (c *Cache) Set(ctx context.Context, key string, v any, ttl time.Duration) {
	if c.Down() {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		c.Failed(ctx, "encode "+key, err)
		return
	}
	c.RedisFailed(ctx, "set", c.rdb.Set(ctx, c.Key(key), b, ttl).Err())
}

// Del removes keys; failures are logged and returned (ErrDown during the
// cool-down), so an eviction can be retried.
func (c *Cache) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if c.Down() {
		return ErrDown
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = c.Key(k)
	}
	err := c.rdb.Del(ctx, full...).Err()
	c.RedisFailed(ctx, "del", err)
	return err
}

// DelMatch removes every key matching pattern (a Redis glob, without the
// prefix) with SCAN, never KEYS. It returns the error so that event
// consumers can ask for redelivery when Redis is down.
func (c *Cache) DelMatch(ctx context.Context, pattern string) error {
	if c.Down() {
		return ErrDown
	}
	iter := c.rdb.Scan(ctx, 0, c.Key(pattern), 200).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 200 {
			if err := c.rdb.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		c.RedisFailed(ctx, "scan", err)
		return err
	}
	if len(batch) > 0 {
		return c.rdb.Unlink(ctx, batch...).Err()
	}
	return nil
}

// Ping reports whether Redis answers.
func (c *Cache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }
