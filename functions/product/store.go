package product

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// Every timestamp is written as `$n::timestamptz` from a Go time and read
// back as `col::timestamptz`: with the session time zone Asia/Seoul (SPEC
// §10.2) that is exact for TIMESTAMPTZ columns and stores the Seoul wall
// clock in TIMESTAMP ones, so the queries do not depend on which of the two
// a column is.

// seoulNow is the value of the plain TIMESTAMP bookkeeping columns.
const seoulNow = `(now() AT TIME ZONE 'Asia/Seoul')`

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// store is the service's SQL on schema product_change.
type store struct {
	pool *pgxpool.Pool
}

// changeRow is one row of pc_product_change_history.
type changeRow struct {
	ID            int64
	RequestID     string
	LineNumber    string
	CustomerID    string
	UserID        string
	CurrentCode   string
	TargetCode    string
	Status        string
	ResultCode    string
	Message       string
	RequestedAt   time.Time
	ProcessedAt   time.Time // zero when not processed
	LastAttemptAt time.Time // zero when KOS was never tried
}

const changeColumns = `id, request_id, line_number, customer_id, user_id, current_product_code,
	target_product_code, process_status, coalesce(result_code, ''), coalesce(process_message, ''),
	requested_at::timestamptz, processed_at::timestamptz, last_attempt_at::timestamptz`

func scanChange(row pgx.Row) (*changeRow, error) {
	var c changeRow
	var processed, attempted *time.Time
	if err := row.Scan(&c.ID, &c.RequestID, &c.LineNumber, &c.CustomerID, &c.UserID, &c.CurrentCode,
		&c.TargetCode, &c.Status, &c.ResultCode, &c.Message, &c.RequestedAt, &processed, &attempted); err != nil {
		return nil, err
	}
	if processed != nil {
		c.ProcessedAt = *processed
	}
	if attempted != nil {
		c.LastAttemptAt = *attempted
	}
	return &c, nil
}

// insertRequested records a new change request (SPEC §5.4 step 2).
func (s *store) insertRequested(ctx context.Context, c *changeRow) error {
	err := s.pool.QueryRow(ctx, `
		INSERT INTO product_change.pc_product_change_history
			(request_id, line_number, customer_id, user_id, current_product_code, target_product_code,
			 process_status, requested_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'REQUESTED', $7::timestamptz)
		RETURNING id`,
		c.RequestID, c.LineNumber, c.CustomerID, c.UserID, c.CurrentCode, c.TargetCode, c.RequestedAt).Scan(&c.ID)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "pc_history_one_in_flight_per_line" {
		return httpx.Conflict(CodeChangeInProgress, MsgChangeInProgress)
	}
	return db.Wrap("insert change request", err)
}

// errStale means a row was no longer in the status a transition expected:
// another worker (or the sweep) moved it first.
var errStale = errors.New("change request is no longer in the expected status")

// transition moves one row from status `from`, applying set (a SET list
// whose parameters start at $3).
func transition(ctx context.Context, q querier, id int64, from, set string, args ...any) error {
	tag, err := q.Exec(ctx, `UPDATE product_change.pc_product_change_history SET `+set+`,
		version = version + 1, updated_at = `+seoulNow+` WHERE id = $1 AND process_status = $2`, append([]any{id, from}, args...)...)
	if err != nil {
		return db.Wrap("update change request", err)
	}
	if tag.RowsAffected() == 0 {
		return errStale
	}
	return nil
}

// markValidated records a passed pre-check (SPEC §5.4 step 3).
func (s *store) markValidated(ctx context.Context, id int64, v Validation, now time.Time) error {
	return transition(ctx, s.pool, id, StatusRequested,
		`process_status = 'VALIDATED', validation_result = $3, validated_at = $4::timestamptz`, jsonb(v), now)
}

// markValidationFailed ends a request whose pre-check failed (or could not
// run: code and message then say it was the system, not the request).
func (s *store) markValidationFailed(ctx context.Context, id int64, v Validation, code, msg string, now time.Time) error {
	return transition(ctx, s.pool, id, StatusRequested,
		`process_status = 'FAILED', validation_result = $3, result_code = $4, process_message = $5,
		 processed_at = $6::timestamptz`, jsonb(v), code, msg, now)
}

// markProcessing records the KOS request about to be sent (step 4).
func (s *store) markProcessing(ctx context.Context, id int64, body kosChangeBody, now time.Time) error {
	return transition(ctx, s.pool, id, StatusValidated,
		`process_status = 'PROCESSING', kos_request_data = $3, last_attempt_at = $4::timestamptz`, jsonb(body), now)
}

// finish ends a row with KOS's definite answer (COMPLETED or FAILED).
func finish(ctx context.Context, q querier, id int64, from string, o changeOutcome, now time.Time) error {
	status := StatusFailed
	if o.OK {
		status = StatusCompleted
	}
	return transition(ctx, q, id, from,
		`process_status = $3, result_code = $4, process_message = $5, kos_response_data = $6,
		 processed_at = $7::timestamptz, last_attempt_at = $7::timestamptz`,
		status, o.Code, o.Message, rawJSON(o.Raw), now)
}

// markPending records an unknown KOS outcome (SPEC §5.4 6a).
func markPending(ctx context.Context, q querier, id int64, lastAnswer []byte, now time.Time) error {
	return transition(ctx, q, id, StatusProcessing,
		`process_status = 'PENDING', result_code = $3, process_message = $4, kos_response_data = $5,
		 last_attempt_at = $6::timestamptz`, CodePending, MsgPending, rawJSON(lastAnswer), now)
}

// touchAttempt stamps a PENDING row's last KOS attempt (the worker's
// attempts without a definite answer).
func (s *store) touchAttempt(ctx context.Context, id int64, now time.Time) error {
	err := transition(ctx, s.pool, id, StatusPending, `last_attempt_at = $3::timestamptz`, now)
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

// getChange returns the row of requestID (nil when unknown).
func (s *store) getChange(ctx context.Context, requestID string) (*changeRow, error) {
	c, err := scanChange(s.pool.QueryRow(ctx, `SELECT `+changeColumns+`
		FROM product_change.pc_product_change_history WHERE request_id = $1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Wrap("read change request", err)
	}
	return c, nil
}

// historyFilter selects history rows; an empty Line means every line.
type historyFilter struct {
	Line         string
	From, Before time.Time
	Limit        int
	Offset       int
}

// history returns one page of rows, newest first, and the total count.
func (s *store) history(ctx context.Context, f historyFilter) ([]changeRow, int, error) {
	const where = ` FROM product_change.pc_product_change_history
		WHERE ($1::text = '' OR line_number = $1::text) AND requested_at >= $2::timestamptz AND requested_at < $3::timestamptz`
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*)`+where, f.Line, f.From, f.Before).Scan(&total); err != nil {
		return nil, 0, db.Wrap("count history", err)
	}
	if total == 0 || f.Offset >= total {
		return []changeRow{}, total, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+changeColumns+where+`
		ORDER BY requested_at DESC, id DESC LIMIT $4 OFFSET $5`, f.Line, f.From, f.Before, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, db.Wrap("read history", err)
	}
	defer rows.Close()
	out := []changeRow{}
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, 0, db.Wrap("scan history", err)
		}
		out = append(out, *c)
	}
	return out, total, db.Wrap("read history", rows.Err())
}

// markProcessed records that the worker consumed event (source, id); false
// means it already had (a duplicate delivery).
func markProcessed(ctx context.Context, q querier, source, id string, now time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO product_change.processed_events (source, id, processed_at)
		VALUES ($1, $2, $3::timestamptz) ON CONFLICT DO NOTHING`, source, id, now)
	if err != nil {
		return false, db.Wrap("record processed event", err)
	}
	return tag.RowsAffected() == 1, nil
}

// isProcessed reports whether event (source, id) was already consumed.
func (s *store) isProcessed(ctx context.Context, source, id string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM product_change.processed_events
		WHERE source = $1 AND id = $2)`, source, id).Scan(&ok)
	return ok, db.Wrap("read processed events", err)
}

// insertDeadLetter keeps an event (or a given-up change) for an operator.
func insertDeadLetter(ctx context.Context, q querier, ev []byte, reason string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO product_change.dead_letters (event, error, received_at)
		VALUES ($1, $2, $3::timestamptz)`, rawJSON(ev), reason, now)
	return db.Wrap("insert dead letter", err)
}

// jsonb encodes v for a JSONB parameter (a string: the exec query mode
// PgBouncer needs would send []byte as bytea).
func jsonb(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// rawJSON passes stored JSON on as a JSONB parameter; nil or invalid JSON
// become NULL (an answer that was not JSON is not worth keeping verbatim).
func rawJSON(b []byte) any {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return string(b)
}
