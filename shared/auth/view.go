package auth

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/puddle/v2"
	"github.com/redis/go-redis/v9"

	"phonebill/shared/db"
)

// The in-memory view of the revoked set (issue 16 item 1, SPEC §10.3): each
// process keeps every unexpired revoked jti in a map, so a protected request
// checks revocation without a round trip. PostgreSQL stays the record:
//
//   - A background loop reads the rows revoked since its previous read (with
//     rebuildMargin for transactions still in flight) every syncEvery; the
//     first read, and the one after every (re)subscription, loads all
//     unexpired rows. Entries are dropped once their token has expired.
//   - Writers publish each revocation on a Redis channel after it commits;
//     subscribers add it at once, so other processes usually refuse the token
//     within milliseconds, and within syncEvery when Redis lost the message.
//   - The view answers "not revoked" only while it is confirmed: its last
//     PostgreSQL read started less than viewLease ago. A writer that cannot
//     reach Redis still commits to PostgreSQL, so every reader that can reach
//     PostgreSQL sees its revocation within syncEvery (+ the read itself)
//     whatever Redis holds. Unconfirmed (not loaded yet, PostgreSQL
//     unreachable), the check falls back to the Redis mirror and PostgreSQL.
//
// The loop also repairs the Redis mirror with what it read and then sets the
// freshness marker (auth:revoked:fresh, expiring with the lease): readers
// without a confirmed view trust the mirror's "not revoked" only while some
// process that reached both stores vouches for it.
const (
	syncEvery = 250 * time.Millisecond
	viewLease = 750 * time.Millisecond
	// sweepEvery is how often expired entries leave the map.
	sweepEvery = 10 * time.Second
	// channelKey is the pub/sub channel of new revocations ("jti exp ...").
	channelKey = "auth:revoked:events"
	freshKey   = "auth:revoked:fresh"
)

// repairScript adds what a reader read from PostgreSQL to an existing mirror
// (never creating a partial one), trims expired members and sets the
// freshness marker for ARGV[2] ms. Returns 0 when the mirror is missing.
var repairScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1`)

// view is the process's revoked set: jti → expiry (unix seconds).
type view struct {
	mu  sync.RWMutex
	set map[string]int64
	// confirmed is the monotonic instant (nanoseconds since base) at which the
	// last successful PostgreSQL read started; 0 before the first.
	confirmed atomic.Int64
	base      time.Time
	// reload asks the loop for a full read (after a resubscription).
	reload chan struct{}
}

func newView() *view {
	return &view{set: map[string]int64{}, base: time.Now(), reload: make(chan struct{}, 1)}
}

// check answers from the view: known is false when the view cannot vouch for
// a "not revoked" (a member is revoked whatever the view's age).
func (v *view) check(jti string) (revoked, known bool) {
	v.mu.RLock()
	_, ok := v.set[jti]
	v.mu.RUnlock()
	if ok {
		return true, true
	}
	c := v.confirmed.Load()
	return false, c != 0 && time.Since(v.base)-time.Duration(c) < viewLease
}

func (v *view) add(jti string, exp int64) {
	v.mu.Lock()
	if exp > v.set[jti] {
		v.set[jti] = exp
	}
	v.mu.Unlock()
}

func (v *view) addAll(members []redis.Z) {
	v.mu.Lock()
	for _, m := range members {
		jti, _ := m.Member.(string)
		if exp := int64(m.Score); exp > v.set[jti] {
			v.set[jti] = exp
		}
	}
	v.mu.Unlock()
}

func (v *view) sweep(now time.Time) {
	v.mu.Lock()
	for jti, exp := range v.set {
		if exp < now.Unix() {
			delete(v.set, jti)
		}
	}
	v.mu.Unlock()
}

func (v *view) requestReload() {
	select {
	case v.reload <- struct{}{}:
	default:
	}
}

// startView starts the loop that keeps the view current; called on the first
// check, so a cold start dials nothing before its first request.
func (r *Revocations) startView() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	if r.cache != nil {
		go r.listen(ctx)
	}
	go r.keepCurrent(ctx, cancel)
}

// Close stops the view's loop and subscription.
func (r *Revocations) Close() {
	r.startOnce.Do(func() {}) // a later check must not start the loop
	if r.stop != nil {
		r.stop()
	}
}

// keepCurrent reads PostgreSQL every syncEvery until ctx ends or the pool is
// closed.
func (r *Revocations) keepCurrent(ctx context.Context, cancel context.CancelFunc) {
	defer cancel()
	var since time.Time // PostgreSQL's clock at the previous read; zero: load all
	lastSweep := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.view.reload:
			since = time.Time{}
		case <-t.C:
		}
		next, err := r.sync(ctx, since)
		switch {
		case err == nil:
			since = next
		case errors.Is(err, puddle.ErrClosedPool) || ctx.Err() != nil:
			return
		default:
			r.logSyncFailure(ctx, err)
		}
		if time.Since(lastSweep) > sweepEvery {
			r.view.sweep(r.now())
			lastSweep = time.Now()
		}
		t.Reset(syncEvery)
	}
}

// sync reads the rows revoked since since (all unexpired rows when zero) into
// the view, confirms it, and repairs the mirror. It returns PostgreSQL's
// clock at the read.
func (r *Revocations) sync(ctx context.Context, since time.Time) (time.Time, error) {
	started := time.Since(r.view.base)
	ctx, cancel := context.WithTimeout(ctx, viewLease)
	defer cancel()
	var rows pgx.Rows
	var err error
	if since.IsZero() {
		rows, err = r.pool.Query(ctx, `SELECT c.t, r.jti, r.expires_at
			FROM (SELECT localtimestamp AS t) c
			LEFT JOIN auth.auth_revoked_tokens r ON r.expires_at > c.t
			ORDER BY r.expires_at LIMIT $1`, rebuildBound)
	} else {
		rows, err = r.pool.Query(ctx, `SELECT c.t, r.jti, r.expires_at
			FROM (SELECT localtimestamp AS t) c
			LEFT JOIN auth.auth_revoked_tokens r ON r.revoked_at >= $1 AND r.expires_at > c.t`,
			since.Add(-rebuildMargin))
	}
	if err != nil {
		return time.Time{}, err
	}
	var pgNow time.Time
	var members []redis.Z
	for rows.Next() {
		var jti *string
		var exp *time.Time
		if err := rows.Scan(&pgNow, &jti, &exp); err != nil {
			rows.Close()
			return time.Time{}, err
		}
		if jti != nil && exp != nil {
			members = append(members, redis.Z{Score: float64(db.Local(*exp).Unix()), Member: *jti})
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, err
	}
	if since.IsZero() && len(members) >= rebuildBound {
		// A view cut at the bound would vouch for tokens it never read.
		return time.Time{}, errors.New("auth: unexpired revocations exceed the view bound")
	}
	r.view.addAll(members)
	r.view.confirmed.Store(int64(max(started, 1)))
	r.repairMirror(ctx, members, viewLease-(time.Since(r.view.base)-started))
	return db.Local(pgNow), nil
}

// repairMirror adds members to the Redis mirror and vouches for it for ttl;
// a missing mirror is rebuilt from PostgreSQL by the process that wins the
// rebuild lock (the next read vouches for it), so that processes without a
// confirmed view find one.
func (r *Revocations) repairMirror(ctx context.Context, members []redis.Z, ttl time.Duration) {
	if r.cache == nil || r.stale.Load() || r.cache.Down() || ttl < time.Millisecond {
		return
	}
	args := make([]any, 0, 2+2*len(members))
	args = append(args, r.now().Unix(), ttl.Milliseconds())
	for _, m := range members {
		args = append(args, m.Score, m.Member)
	}
	keys := []string{r.cache.Key(revokedKey), r.cache.Key(freshKey)}
	n, err := repairScript.Run(ctx, r.cache.Client(), keys, args...).Int()
	if err != nil {
		r.cache.RedisFailed(ctx, "repair revocation mirror", err)
		return
	}
	if n == 0 {
		won, err := r.cache.Client().SetNX(ctx, r.cache.Key(rebuildLockKey), "1", 10*time.Second).Result()
		if err == nil && won {
			if err := r.rebuild(ctx); err != nil {
				r.cache.Failed(ctx, "rebuild revocation mirror", err)
			}
		}
	}
}

func (r *Revocations) logSyncFailure(ctx context.Context, err error) {
	now := time.Now().Unix()
	last := r.lastSyncLog.Load()
	if now-last < 60 || !r.lastSyncLog.CompareAndSwap(last, now) || r.log == nil {
		return
	}
	r.log.WarnContext(ctx, "revocation view not confirmed; checking the stores per request", "err", err.Error())
}

// listen adds published revocations to the view and asks for a full read on
// every (re)subscription: messages sent while disconnected are lost.
func (r *Revocations) listen(ctx context.Context) {
	ps := r.cache.Client().Subscribe(ctx, r.cache.Key(channelKey))
	go func() { <-ctx.Done(); _ = ps.Close() }()
	subscriptions := 0
	for msg := range ps.ChannelWithSubscriptions(redis.WithChannelSize(256)) {
		switch m := msg.(type) {
		case *redis.Subscription:
			// The first subscription races the first full read anyway; what
			// it missed meanwhile the next incremental read brings.
			if subscriptions++; m.Kind == "subscribe" && subscriptions > 1 {
				r.view.requestReload()
			}
		case *redis.Message:
			f := strings.Fields(m.Payload)
			for i := 0; i+1 < len(f); i += 2 {
				if exp, err := strconv.ParseFloat(f[i+1], 64); err == nil {
					r.view.add(f[i], int64(exp))
				}
			}
		}
	}
}
