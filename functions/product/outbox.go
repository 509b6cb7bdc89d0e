package product

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"phonebill/shared/db"
	"phonebill/shared/events"
)

// ChangedData is the data of phonebill.product.changed.v1 (read by the Bill
// service's cache eviction).
type ChangedData struct {
	LineNumber          string `json:"lineNumber"`
	RequestID           string `json:"requestId"`
	PreviousProductCode string `json:"previousProductCode"`
	ProductCode         string `json:"productCode"`
}

// RequestedData is the data of phonebill.product.change.requested.v1 (read
// by the change worker; the history row stays authoritative).
type RequestedData struct {
	RequestID          string `json:"requestId"`
	LineNumber         string `json:"lineNumber"`
	CurrentProductCode string `json:"currentProductCode,omitempty"`
	TargetProductCode  string `json:"targetProductCode,omitempty"`
}

// outboxRow is one event waiting to be published. Its id is the CloudEvent
// id, so every re-send of the row dedupes at the consumer.
type outboxRow struct {
	ID        string
	Type      string
	Source    string
	Subject   string
	Data      []byte
	CreatedAt time.Time
}

func newOutboxRow(typ, source, subject string, data any, now time.Time) outboxRow {
	return outboxRow{ID: uuid.NewString(), Type: typ, Source: source, Subject: subject, Data: []byte(jsonb(data)),
		CreatedAt: now}
}

// changedEvent is the outbox row announcing a completed change.
func changedEvent(c *changeRow, source string, now time.Time) outboxRow {
	return newOutboxRow(events.TypeProductChanged, source, c.RequestID, ChangedData{LineNumber: c.LineNumber,
		RequestID: c.RequestID, PreviousProductCode: c.CurrentCode, ProductCode: c.TargetCode}, now)
}

// requestedEvent is the outbox row asking the worker to finish a PENDING
// change.
func requestedEvent(c *changeRow, source string, now time.Time) outboxRow {
	return newOutboxRow(events.TypeProductChangeRequested, source, c.RequestID, RequestedData{RequestID: c.RequestID,
		LineNumber: c.LineNumber, CurrentProductCode: c.CurrentCode, TargetProductCode: c.TargetCode}, now)
}

// event builds the CloudEvent of the row.
func (o outboxRow) event() (event.Event, error) {
	e, err := events.New(o.ID, o.Type, o.Source, o.Subject, json.RawMessage(o.Data))
	if err != nil {
		return e, err
	}
	if !o.CreatedAt.IsZero() {
		e.SetTime(o.CreatedAt)
	}
	return e, nil
}

// insertOutbox writes the row in the caller's transaction, the one that
// holds the status change the event announces.
func insertOutbox(ctx context.Context, q querier, o outboxRow) error {
	_, err := q.Exec(ctx, `INSERT INTO product_change.outbox (id, type, source, subject, data, created_at, attempts)
		VALUES ($1::uuid, $2, $3, $4, $5, $6::timestamptz, 0)`, o.ID, o.Type, o.Source, o.Subject, string(o.Data), o.CreatedAt)
	return db.Wrap("insert outbox", err)
}

const outboxColumns = `id::text, type, source, coalesce(subject, ''), data::text, created_at::timestamptz`

func scanOutbox(row pgx.Row) (outboxRow, error) {
	var o outboxRow
	var data string
	err := row.Scan(&o.ID, &o.Type, &o.Source, &o.Subject, &data, &o.CreatedAt)
	o.Data = []byte(data)
	return o, err
}

// publishNow publishes freshly committed outbox rows right away, giving up
// at by (a request's answer must not wait past its budget; zero: the
// default publish timeout). A row the relay holds (locked) or already sent
// is skipped, so the two never send the same row at once; a failed or
// skipped send leaves the row to the relay.
func (s *Products) publishNow(ctx context.Context, by time.Time, ids ...string) {
	limit := time.Now().Add(s.publishTimeout)
	if !by.IsZero() && by.Before(limit) {
		limit = by
	}
	if time.Until(limit) < minPublish {
		s.log.WarnContext(ctx, "no time left to publish; left to the relay", "outbox_ids", ids)
		return
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), limit)
	defer cancel()
	for _, id := range ids {
		err := db.InTx(ctx, s.store.pool, func(tx pgx.Tx) error {
			o, err := scanOutbox(tx.QueryRow(ctx, `SELECT `+outboxColumns+` FROM product_change.outbox
				WHERE id = $1::uuid AND published_at IS NULL FOR UPDATE SKIP LOCKED`, id))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return db.Wrap("lock outbox row", err)
			}
			_, err = s.sendRow(ctx, tx, o)
			return err
		})
		if err != nil {
			s.log.WarnContext(ctx, "outbox publish deferred to the relay", "outbox_id", id, "err", err.Error())
		}
	}
}

// minPublish is the least time worth trying an immediate publish with.
const minPublish = 50 * time.Millisecond

// sendRow sends one locked row and records the attempt; a send failure is
// reported as sent=false (the attempt count still commits).
func (s *Products) sendRow(ctx context.Context, tx pgx.Tx, o outboxRow) (sent bool, err error) {
	e, err := o.event()
	if err == nil {
		err = s.events.Send(ctx, e)
	}
	if err != nil {
		s.metrics.outbox.WithLabelValues(o.Type, "failed").Inc()
		s.log.WarnContext(ctx, "event not published", "outbox_id", o.ID, "type", o.Type, "err", err.Error())
		_, uerr := tx.Exec(ctx, `UPDATE product_change.outbox SET attempts = attempts + 1 WHERE id = $1::uuid`, o.ID)
		return false, db.Wrap("count outbox attempt", uerr)
	}
	s.metrics.outbox.WithLabelValues(o.Type, "published").Inc()
	_, uerr := tx.Exec(ctx, `UPDATE product_change.outbox SET attempts = attempts + 1,
		published_at = $2::timestamptz WHERE id = $1::uuid`, o.ID, s.now())
	return true, db.Wrap("mark outbox published", uerr)
}

// maxSinkFailures stops a relay batch once the sink keeps refusing: the
// rest would fail the same way and wait for the next ping anyway.
const maxSinkFailures = 3

// publishPending publishes up to limit unpublished rows, oldest first.
// FOR UPDATE SKIP LOCKED lets two relays (or a relay and publishNow) run
// at once without sending a row twice.
func (s *Products) publishPending(ctx context.Context, limit int) (published, failed int, err error) {
	err = db.InTx(ctx, s.store.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+outboxColumns+` FROM product_change.outbox
			WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return db.Wrap("read outbox", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outboxRow, error) { return scanOutbox(r) })
		if err != nil {
			return db.Wrap("read outbox", err)
		}
		streak := 0
		for _, o := range batch {
			sent, err := s.sendRow(ctx, tx, o)
			if err != nil {
				return err
			}
			if sent {
				published++
				streak = 0
				continue
			}
			failed++
			if streak++; streak >= maxSinkFailures {
				break
			}
		}
		return nil
	})
	if err != nil {
		return published, failed, fmt.Errorf("publish outbox: %w", err)
	}
	return published, failed, nil
}
