package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"phonebill/shared/cache"
	"phonebill/shared/db"
)

// Redis keys of the revocation mirror (SPEC §10.3).
const (
	revokedKey     = "auth:revoked"
	rebuildLockKey = "auth:revoked:rebuild"
	sentinel       = "__mirror__"
	// rebuildBound caps the rebuild scan; unexpired revocations are few
	// (at most one per logout, rotation or password change per token life).
	rebuildBound = 200_000
	// rebuildMargin re-reads revocations committed while the scan ran.
	rebuildMargin = 5 * time.Second
)

// ErrStoresDown means neither Redis nor PostgreSQL could answer a revocation
// check; protected routes answer 503, never 200 (SPEC §2.6).
var ErrStoresDown = errors.New("auth: revocation stores unavailable")

// lookupScript answers in one round trip: -1 when the mirror is missing
// (unknown: ask PostgreSQL); otherwise 1 if jti is a member, plus 2 while the
// freshness marker says a process that reached PostgreSQL vouches for it.
var lookupScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = 0
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then n = 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then n = n + 2 end
return n`)

// addScript publishes revocations to the processes' views (KEYS[2]) and adds
// them only to an existing mirror (a writer never creates a partial set),
// trimming expired members.
var addScript = redis.NewScript(`
local msg = {}
for i = 2, #ARGV, 2 do msg[#msg+1] = ARGV[i+1] .. ' ' .. ARGV[i] end
redis.call('PUBLISH', KEYS[2], table.concat(msg, ' '))
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i+1]) end
return 1`)

// Revocations checks and records revoked token ids: PostgreSQL
// (auth.auth_revoked_tokens) is authoritative, Redis mirrors it.
type Revocations struct {
	pool  *pgxpool.Pool
	cache *cache.Cache
	log   *slog.Logger
	now   func() time.Time
	// stale is set while a mirror that missed a revocation could not be
	// dropped (Redis unreachable from here but maybe still holding it):
	// this process skips the mirror and a repairer keeps trying to drop it.
	stale atomic.Bool
	// staleUntil (unix seconds) is when the revocations the mirror missed
	// have all expired, past which the missing members no longer matter.
	staleUntil atomic.Int64

	// view is this process's copy of the revoked set (view.go), kept current
	// by a loop started on the first check and stopped by Close.
	view        *view
	startOnce   sync.Once
	stop        context.CancelFunc
	lastSyncLog atomic.Int64
}

// NewRevocations returns a checker over pool and c (c may be nil: every check
// then costs one primary-key lookup).
func NewRevocations(pool *pgxpool.Pool, c *cache.Cache, lg *slog.Logger) *Revocations {
	return &Revocations{pool: pool, cache: c, log: lg, now: time.Now, view: newView()}
}

// Revoked is one token id to revoke.
type Revoked struct {
	JTI       string
	UserID    string
	Reason    string
	ExpiresAt time.Time
}

// IsRevoked reports whether jti was revoked. The process's view answers
// while it is confirmed (view.go). Otherwise the mirror answers while it
// exists and is vouched for; a missing mirror is rebuilt by the one reader
// that wins the rebuild lock while the others, like every reader of a mirror
// nobody vouches for, do one primary-key lookup. Only when PostgreSQL cannot
// answer does an unvouched mirror's "not revoked" stand. Returns
// ErrStoresDown when neither store can answer.
func (r *Revocations) IsRevoked(ctx context.Context, jti string) (bool, error) {
	r.startOnce.Do(r.startView)
	if revoked, known := r.view.check(jti); known {
		return revoked, nil
	}
	unvouched := false
	if r.cache != nil && !r.stale.Load() && !r.cache.Down() {
		keys := []string{r.cache.Key(revokedKey), r.cache.Key(freshKey)}
		n, err := lookupScript.Run(ctx, r.cache.Client(), keys, jti).Int()
		switch {
		case err == nil && n >= 0:
			if n&1 == 1 || n == 2 {
				return n&1 == 1, nil
			}
			unvouched = true
		case err == nil:
			won, lerr := r.cache.Client().SetNX(ctx, r.cache.Key(rebuildLockKey), "1", 10*time.Second).Result()
			if lerr == nil && won {
				if rerr := r.rebuild(ctx); rerr != nil {
					r.cache.Failed(ctx, "rebuild revocation mirror", rerr)
				}
			}
		default:
			r.cache.RedisFailed(ctx, "revocation lookup", err)
		}
	}
	revoked, err := r.lookup(ctx, jti)
	if err != nil && unvouched {
		// PostgreSQL is unreachable from here, so no revocation can have
		// committed through this process; the mirror is the best record left.
		return false, nil
	}
	return revoked, err
}

func (r *Revocations) lookup(ctx context.Context, jti string) (bool, error) {
	var one int
	err := r.pool.QueryRow(ctx, `SELECT 1 FROM auth.auth_revoked_tokens WHERE jti = $1`, jti).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("%w: %w", ErrStoresDown, err)
}

// rebuild fills a temporary key with the unexpired revocations (bounded scan
// on the expires_at index) plus a sentinel, renames it over the mirror, then
// adds the rows revoked while it scanned.
func (r *Revocations) rebuild(ctx context.Context) error {
	started := r.now()
	rows, err := r.pool.Query(ctx, `SELECT jti, expires_at FROM auth.auth_revoked_tokens
		WHERE expires_at > localtimestamp ORDER BY expires_at LIMIT $1`, rebuildBound)
	if err != nil {
		return err
	}
	members, err := scanMembers(rows)
	if err != nil {
		return err
	}
	if len(members) >= rebuildBound {
		// A set cut at the bound would claim completeness it lacks and let
		// the missing revoked tokens through: leave readers on PostgreSQL.
		return fmt.Errorf("auth: %d unexpired revocations exceed the mirror bound", len(members))
	}
	rdb := r.cache.Client()
	tmp := r.cache.Key(revokedKey) + ":tmp:" + strconv.FormatInt(started.UnixNano(), 36)
	pipe := rdb.TxPipeline()
	pipe.ZAdd(ctx, tmp, redis.Z{Score: math.Inf(1), Member: sentinel})
	for i := 0; i < len(members); i += 1000 {
		pipe.ZAdd(ctx, tmp, members[i:min(i+1000, len(members))]...)
	}
	pipe.Rename(ctx, tmp, r.cache.Key(revokedKey))
	if _, err := pipe.Exec(ctx); err != nil {
		rdb.Del(ctx, tmp)
		return err
	}
	rows, err = r.pool.Query(ctx, `SELECT jti, expires_at FROM auth.auth_revoked_tokens
		WHERE revoked_at >= $1 AND expires_at > localtimestamp`, started.Add(-rebuildMargin).In(db.Seoul))
	if err != nil {
		return err
	}
	late, err := scanMembers(rows)
	if err != nil || len(late) == 0 {
		return err
	}
	return r.mirror(ctx, late)
}

func scanMembers(rows pgx.Rows) ([]redis.Z, error) {
	var out []redis.Z
	for rows.Next() {
		var jti string
		var exp time.Time
		if err := rows.Scan(&jti, &exp); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, redis.Z{Score: float64(db.Local(exp).Unix()), Member: jti})
	}
	return out, rows.Err()
}

// Add records revocations inside tx (the caller's transaction, so they commit
// with the session change). Call Mirror after the commit.
func (r *Revocations) Add(ctx context.Context, tx pgx.Tx, revs ...Revoked) error {
	for _, v := range revs {
		_, err := tx.Exec(ctx, `INSERT INTO auth.auth_revoked_tokens (jti, user_id, reason, expires_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING`,
			v.JTI, v.UserID, v.Reason, v.ExpiresAt.In(db.Seoul).Format("2006-01-02 15:04:05"))
		if err != nil {
			return db.Wrap("revoke token", err)
		}
	}
	return nil
}

// Mirror adds committed revocations to this process's view, then copies them
// to Redis and publishes them to the other processes' views. If that fails the mirror is
// dropped, so readers fall back to PostgreSQL instead of trusting a stale set.
func (r *Revocations) Mirror(ctx context.Context, revs ...Revoked) {
	for _, v := range revs {
		r.view.add(v.JTI, v.ExpiresAt.Unix())
	}
	if r.cache == nil || len(revs) == 0 {
		return
	}
	members := make([]redis.Z, len(revs))
	for i, v := range revs {
		members[i] = redis.Z{Score: float64(v.ExpiresAt.Unix()), Member: v.JTI}
	}
	if err := r.mirror(ctx, members); err != nil {
		r.cache.Failed(ctx, "mirror revocation", err)
		if !r.dropMirror(context.WithoutCancel(ctx)) {
			var until time.Time
			for _, v := range revs {
				if v.ExpiresAt.After(until) {
					until = v.ExpiresAt
				}
			}
			r.repairLater(until.Add(maxLeeway))
		}
	}
}

// maxLeeway bounds the clock skew Verify may tolerate (JWT_LEEWAY_SECONDS is
// at most 300).
const maxLeeway = 5 * time.Minute

// dropMirror deletes the mirror so that readers fall back to PostgreSQL and
// rebuild it; false when Redis did not answer.
func (r *Revocations) dropMirror(ctx context.Context) bool {
	err := r.cache.Client().Del(ctx, r.cache.Key(revokedKey)).Err()
	if err != nil {
		r.cache.Failed(ctx, "drop revocation mirror", err)
		return false
	}
	return true
}

// repairLater handles a mirror that missed a revocation and could not be
// dropped because Redis was unreachable: Redis may still hold the set and
// answer "not revoked" once reachable again. Until the set is dropped this
// process checks PostgreSQL only, and one goroutine retries the drop with
// backoff until it succeeds or every missed revocation has expired.
func (r *Revocations) repairLater(until time.Time) {
	for {
		cur := r.staleUntil.Load()
		if until.Unix() <= cur || r.staleUntil.CompareAndSwap(cur, until.Unix()) {
			break
		}
	}
	if !r.stale.CompareAndSwap(false, true) {
		return // a repairer is already running; it honours the new limit
	}
	go func() {
		for d := 100 * time.Millisecond; ; d = min(2*d, 2*time.Second) {
			time.Sleep(d)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := r.cache.Client().Del(ctx, r.cache.Key(revokedKey)).Err()
			cancel()
			if err == nil || errors.Is(err, redis.ErrClosed) || time.Now().Unix() > r.staleUntil.Load() {
				r.stale.Store(false)
				return
			}
		}
	}()
}

func (r *Revocations) mirror(ctx context.Context, members []redis.Z) error {
	if r.cache.Down() {
		return cache.ErrDown // not mirrored: the caller invalidates the set
	}
	args := make([]any, 0, 1+2*len(members))
	args = append(args, r.now().Unix())
	for _, m := range members {
		args = append(args, m.Score, m.Member)
	}
	keys := []string{r.cache.Key(revokedKey), r.cache.Key(channelKey)}
	return addScript.Run(ctx, r.cache.Client(), keys, args...).Err()
}
