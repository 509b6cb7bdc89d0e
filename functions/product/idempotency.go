package product

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/db"
)

// idempotencyKeyPattern is the Idempotency-Key alphabet of SPEC §10.5.
var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// keyState is what a reservation of an Idempotency-Key found.
type keyState int

const (
	keyNew        keyState = iota // reserved: run the request
	keyReplay                     // answered before: replay the stored answer
	keyReused                     // used for another body: 422
	keyInProgress                 // the first request still runs: 409
)

// storedAnswer is a finished request's response.
type storedAnswer struct {
	Status int
	Body   []byte
}

// requestHash identifies a change request's body (normalized, so both line
// spellings are the same request).
func requestHash(req ChangeRequest) string {
	sum := sha256.Sum256([]byte(req.LineNumber + "\x00" + req.CurrentProductCode + "\x00" + req.TargetProductCode))
	return hex.EncodeToString(sum[:])
}

// abandonedAfter is when a reservation without an answer is taken to belong
// to a request that died: no request runs past its deadline.
func (s *Products) abandonedAfter() time.Duration { return 2*s.cfg.Deadline + 10*time.Second }

// reserveKey claims (user, key) for a request with hash. The primary key
// makes concurrent first uses race-safe: exactly one INSERT wins, the
// others see its row. Keys older than IdempotencyTTL are forgotten.
func (s *Products) reserveKey(ctx context.Context, user, key, hash string) (keyState, *storedAnswer, error) {
	for range 3 {
		now := s.now()
		tag, err := s.store.pool.Exec(ctx, `INSERT INTO product_change.idempotency_keys
			(user_id, "key", request_hash, created_at) VALUES ($1, $2, $3, $4::timestamptz)
			ON CONFLICT (user_id, "key") DO NOTHING`, user, key, hash, now)
		if err != nil {
			return 0, nil, db.Wrap("reserve idempotency key", err)
		}
		if tag.RowsAffected() == 1 {
			return keyNew, nil, nil
		}
		var (
			storedHash string
			body       *string
			status     *int
			created    time.Time
		)
		err = s.store.pool.QueryRow(ctx, `SELECT request_hash, response::text, status_code, created_at::timestamptz
			FROM product_change.idempotency_keys WHERE user_id = $1 AND "key" = $2`, user, key).
			Scan(&storedHash, &body, &status, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return 0, nil, db.Wrap("read idempotency key", err)
		}
		expired := created.Before(now.Add(-s.cfg.IdempotencyTTL))
		abandoned := body == nil && created.Before(now.Add(-s.abandonedAfter()))
		if expired || abandoned {
			// Only the row we looked at is removed, so two takers cannot both
			// delete a fresh reservation.
			if _, err := s.store.pool.Exec(ctx, `DELETE FROM product_change.idempotency_keys
				WHERE user_id = $1 AND "key" = $2 AND created_at = $3::timestamptz`, user, key, created); err != nil {
				return 0, nil, db.Wrap("expire idempotency key", err)
			}
			continue
		}
		switch {
		case storedHash != hash:
			return keyReused, nil, nil
		case body == nil || status == nil:
			return keyInProgress, nil, nil
		}
		return keyReplay, &storedAnswer{Status: *status, Body: []byte(*body)}, nil
	}
	return keyInProgress, nil, nil
}

// completeKey stores the answer of the request that reserved (user, key).
func (s *Products) completeKey(ctx context.Context, user, key string, a storedAnswer) error {
	_, err := s.store.pool.Exec(context.WithoutCancel(ctx), `UPDATE product_change.idempotency_keys
		SET response = $3, status_code = $4 WHERE user_id = $1 AND "key" = $2`, user, key, string(a.Body), a.Status)
	return db.Wrap("store idempotent answer", err)
}

// releaseKey forgets a reservation whose request failed without an answer
// worth replaying (5xx), so that the client may retry with the same key.
func (s *Products) releaseKey(ctx context.Context, user, key string) {
	_, err := s.store.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM product_change.idempotency_keys
		WHERE user_id = $1 AND "key" = $2 AND response IS NULL`, user, key)
	if err != nil {
		s.log.WarnContext(ctx, "idempotency key not released", "err", err.Error())
	}
}
