package product

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/db"
	"phonebill/shared/events"
)

// RelayReport says what one relay run did.
type RelayReport struct {
	Unresolved int // PENDING past the limit → FAILED KOS_UNRESOLVED
	Recovered  int // stuck PROCESSING → PENDING, REQUESTED/VALIDATED → FAILED
	Reemitted  int // change.requested re-emitted for stale PENDING rows
	Published  int // outbox rows sent
	Failed     int // outbox sends that failed (left for the next run)
}

// RunRelay is one run of the outbox relay (a PingSource every minute in
// Knative, a ticker in the all-in-one): it gives up changes PENDING past the
// limit, re-emits change.requested for PENDING changes whose last KOS attempt
// is stale, and publishes the outbox rows not yet sent, oldest first.
//
// Re-emission writes a fresh outbox row each time (the worker dedupes on the
// event id, and a new attempt is a new event), unless an earlier one for the
// same change is still unpublished, so an unreachable broker does not pile
// up copies.
func (s *Products) RunRelay(ctx context.Context) (RelayReport, error) {
	var r RelayReport
	now := s.now()
	var err error
	if r.Unresolved, err = s.expirePending(ctx, now); err != nil {
		return r, err
	}
	if r.Recovered, err = s.recoverStuck(ctx, now); err != nil {
		return r, err
	}
	if r.Reemitted, err = s.reemitPending(ctx, now); err != nil {
		return r, err
	}
	r.Published, r.Failed, err = s.publishPending(ctx, s.cfg.OutboxBatch)
	if err == nil {
		err = s.observeBacklog(ctx)
	}
	return r, err
}

// observeBacklog sets the gauges the alerts read: how old the oldest
// unpublished outbox row and the oldest PENDING change are.
func (s *Products) observeBacklog(ctx context.Context) error {
	var outbox, pending float64
	err := s.store.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT extract(epoch FROM clock_timestamp() - min(created_at))
		          FROM product_change.outbox WHERE published_at IS NULL), 0)::float8,
		coalesce((SELECT extract(epoch FROM clock_timestamp() - min(requested_at))
		          FROM product_change.pc_product_change_history WHERE process_status = 'PENDING'), 0)::float8`).
		Scan(&outbox, &pending)
	if err != nil {
		return db.Wrap("read the relay backlog", err)
	}
	s.metrics.outboxAge.Set(outbox)
	s.metrics.pendingAge.Set(pending)
	return nil
}

// expirePending moves changes PENDING longer than the limit to FAILED
// KOS_UNRESOLVED, each with a dead_letters row for an operator: KOS may
// have applied the change without ever saying so.
func (s *Products) expirePending(ctx context.Context, now time.Time) (int, error) {
	var expired []*changeRow
	err := db.InTx(ctx, s.store.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE product_change.pc_product_change_history
			SET process_status = 'FAILED', result_code = $1, process_message = $2, processed_at = $3::timestamptz,
			    version = version + 1, updated_at = `+seoulNow+`
			WHERE id IN (SELECT id FROM product_change.pc_product_change_history
			             WHERE process_status = 'PENDING' AND requested_at < $4::timestamptz
			             ORDER BY requested_at LIMIT $5 FOR UPDATE SKIP LOCKED)
			RETURNING `+changeColumns,
			CodeUnresolved, MsgUnresolved, now, now.Add(-s.cfg.PendingLimit), s.cfg.OutboxBatch)
		if err != nil {
			return db.Wrap("expire pending changes", err)
		}
		expired, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*changeRow, error) { return scanChange(r) })
		if err != nil {
			return db.Wrap("expire pending changes", err)
		}
		for _, c := range expired {
			ev, err := requestedEvent(c, s.cfg.Source, now).event()
			if err != nil {
				return err
			}
			doc, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("encode unresolved change: %w", err)
			}
			reason := fmt.Sprintf("%s: no definite KOS answer for change %s within %s (requested %s); "+
				"check the line at KOS before telling the customer", CodeUnresolved, c.RequestID,
				s.cfg.PendingLimit, c.RequestedAt.In(s.cfg.Location).Format(time.RFC3339))
			if err := insertDeadLetter(ctx, tx, doc, reason, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, c := range expired {
		s.metrics.relay.WithLabelValues("unresolved").Inc()
		s.log.ErrorContext(ctx, "product change unresolved; sent to dead letters for an operator",
			"request_id", c.RequestID, "line", maskLine(c.LineNumber))
	}
	return len(expired), nil
}

// recoverStuck settles changes a request left half-way when it died (a
// request never runs longer than its deadline): one left PROCESSING may
// have reached KOS, so it becomes PENDING and only the worker settles it;
// one left REQUESTED or VALIDATED never reached KOS, so it is FAILED
// INTERRUPTED and the customer may simply ask again.
func (s *Products) recoverStuck(ctx context.Context, now time.Time) (int, error) {
	before := now.Add(-max(s.cfg.ResendAfter, 2*s.cfg.Deadline))
	tag, err := s.store.pool.Exec(ctx, `UPDATE product_change.pc_product_change_history
		SET process_status = 'PENDING', result_code = $1, process_message = $2, version = version + 1,
		    updated_at = `+seoulNow+`
		WHERE id IN (SELECT id FROM product_change.pc_product_change_history
		             WHERE process_status = 'PROCESSING' AND coalesce(last_attempt_at, requested_at) < $3::timestamptz
		             ORDER BY requested_at LIMIT $4 FOR UPDATE SKIP LOCKED)`,
		CodePending, MsgPending, before, s.cfg.OutboxBatch)
	if err != nil {
		return 0, db.Wrap("recover stuck changes", err)
	}
	pending := int(tag.RowsAffected())
	tag, err = s.store.pool.Exec(ctx, `UPDATE product_change.pc_product_change_history
		SET process_status = 'FAILED', result_code = $1, process_message = $2, processed_at = $3::timestamptz,
		    version = version + 1, updated_at = `+seoulNow+`
		WHERE id IN (SELECT id FROM product_change.pc_product_change_history
		             WHERE process_status IN ('REQUESTED', 'VALIDATED') AND requested_at < $4::timestamptz
		             ORDER BY requested_at LIMIT $5 FOR UPDATE SKIP LOCKED)`,
		CodeInterrupted, MsgInterrupted, now, before, s.cfg.OutboxBatch)
	if err != nil {
		return 0, db.Wrap("fail interrupted changes", err)
	}
	failed := int(tag.RowsAffected())
	if n := pending + failed; n > 0 {
		s.metrics.relay.WithLabelValues("recovered").Add(float64(n))
		s.log.WarnContext(ctx, "half-done product changes recovered", "to_pending", pending, "to_failed", failed)
	}
	return pending + failed, nil
}

// reemitPending writes a change.requested outbox row for every PENDING
// change whose last KOS attempt is older than ResendAfter.
func (s *Products) reemitPending(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := db.InTx(ctx, s.store.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+changeColumns+` FROM product_change.pc_product_change_history h
			WHERE process_status = 'PENDING' AND coalesce(last_attempt_at, requested_at) < $1::timestamptz
			  AND NOT EXISTS (SELECT 1 FROM product_change.outbox o
			                  WHERE o.published_at IS NULL AND o.type = $2 AND o.subject = h.request_id)
			ORDER BY requested_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
			now.Add(-s.cfg.ResendAfter), events.TypeProductChangeRequested, s.cfg.OutboxBatch)
		if err != nil {
			return db.Wrap("read stale pending changes", err)
		}
		stale, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*changeRow, error) { return scanChange(r) })
		if err != nil {
			return db.Wrap("read stale pending changes", err)
		}
		for _, c := range stale {
			if err := insertOutbox(ctx, tx, requestedEvent(c, s.cfg.Source, now)); err != nil {
				return err
			}
		}
		n = len(stale)
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.metrics.relay.WithLabelValues("reemitted").Add(float64(n))
	return n, nil
}

// maskLine keeps logs free of whole phone numbers.
func maskLine(line string) string {
	if len(line) != 11 {
		return "***"
	}
	return line[:3] + "****" + line[7:]
}
