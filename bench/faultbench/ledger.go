package main

import (
	"context"
	"encoding/json"
	"time"

	"phonebill/shared/events"
)

// ledger is what the database says about every product change of the run,
// next to what KOS-Mock applied.
type ledger struct {
	Changes      int            // pc_product_change_history rows
	ByStatus     map[string]int // by process_status (and result code when FAILED)
	KOSApplied   int            // processing_results SUCCESS of those request ids
	KOSRefused   int            // processing_results FAILED (business refusals)
	Unsettled    int            // rows still REQUESTED/VALIDATED/PROCESSING/PENDING
	Lost         int            // COMPLETED without a KOS success, or a KOS success not COMPLETED
	Phantom      int            // KOS changes of load lines with no history row
	DoubledLines int            // load lines with more than one change row
	WrongProduct int            // lines whose product at KOS is not what the history says
	ChangedRows  int            // product.changed outbox rows
	ChangedBad   int            // COMPLETED changes without exactly one product.changed row
	Unpublished  int            // outbox rows never published
	Processed    int            // processed_events rows (worker deliveries that had an effect)
}

// count reads the ledger of every change made on load lines (phases a and d).
func (k *kit) count(ctx context.Context) (ledger, error) {
	l := ledger{ByStatus: map[string]int{}}
	rows, err := k.pool.Query(ctx, `SELECT h.process_status, coalesce(h.result_code, ''), coalesce(p.status, '')
		FROM product_change.pc_product_change_history h
		LEFT JOIN kos_mock.processing_results p ON p.request_id = h.request_id
		WHERE h.line_number LIKE '0107%'`)
	if err != nil {
		return l, err
	}
	for rows.Next() {
		var st, code, kos string
		if err := rows.Scan(&st, &code, &kos); err != nil {
			rows.Close()
			return l, err
		}
		l.Changes++
		key := st
		if st == "FAILED" {
			key += " " + code
		}
		l.ByStatus[key]++
		switch kos {
		case "SUCCESS":
			l.KOSApplied++
		case "FAILED":
			l.KOSRefused++
		}
		switch {
		case st == "COMPLETED" && kos != "SUCCESS", st != "COMPLETED" && kos == "SUCCESS" && st != "PENDING" && st != "PROCESSING":
			l.Lost++
		}
		if st != "COMPLETED" && st != "FAILED" {
			l.Unsettled++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return l, err
	}
	q := func(dst *int, sql string, args ...any) {
		if err == nil {
			err = k.pool.QueryRow(ctx, sql, args...).Scan(dst)
		}
	}
	q(&l.Phantom, `SELECT count(*) FROM kos_mock.processing_results p WHERE p.line_number LIKE '0107%'
		AND NOT EXISTS (SELECT 1 FROM product_change.pc_product_change_history h WHERE h.request_id = p.request_id)`)
	q(&l.DoubledLines, `SELECT count(*) FROM (SELECT line_number FROM product_change.pc_product_change_history
		WHERE line_number LIKE '0107%' GROUP BY line_number HAVING count(*) > 1) d`)
	// Each load line gets one change: its product at KOS is the target if
	// that change completed, else what it was.
	q(&l.WrongProduct, `SELECT count(*) FROM product_change.pc_product_change_history h
		JOIN kos_mock.customers c ON c.line_number = h.line_number
		WHERE h.line_number LIKE '0107%' AND c.current_product_code <>
		      CASE WHEN h.process_status = 'COMPLETED' THEN h.target_product_code ELSE h.current_product_code END`)
	q(&l.ChangedRows, `SELECT count(*) FROM product_change.outbox WHERE type = $1`, events.TypeProductChanged)
	q(&l.ChangedBad, `SELECT count(*) FROM product_change.pc_product_change_history h
		WHERE h.line_number LIKE '0107%' AND h.process_status = 'COMPLETED'
		  AND (SELECT count(*) FROM product_change.outbox o WHERE o.type = $1 AND o.subject = h.request_id) <> 1`,
		events.TypeProductChanged)
	q(&l.Unpublished, `SELECT count(*) FROM product_change.outbox WHERE published_at IS NULL`)
	q(&l.Processed, `SELECT count(*) FROM product_change.processed_events`)
	return l, err
}

// settle waits until no change is in flight or PENDING and every outbox
// row is published (or within passes).
func (k *kit) settle(ctx context.Context, within time.Duration) (bool, error) {
	end := time.Now().Add(within)
	for {
		var open, unpublished int
		if err := k.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM product_change.pc_product_change_history
			 WHERE process_status NOT IN ('COMPLETED', 'FAILED')),
			(SELECT count(*) FROM product_change.outbox WHERE published_at IS NULL)`).Scan(&open, &unpublished); err != nil {
			return false, err
		}
		if open == 0 && unpublished == 0 {
			return true, nil
		}
		if time.Now().After(end) {
			logf("d: not settled after %s: %d changes open, %d events unpublished", within, open, unpublished)
			return false, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// requestedEvent is a change.requested outbox row, as the relay sends it.
type requestedEvent struct {
	id, typ, source, subject string
	data                     []byte
}

func (k *kit) requestedEvents(ctx context.Context) ([]requestedEvent, error) {
	rows, err := k.pool.Query(ctx, `SELECT id::text, type, source, coalesce(subject, ''), data::text
		FROM product_change.outbox WHERE type = $1`, events.TypeProductChangeRequested)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []requestedEvent
	for rows.Next() {
		var e requestedEvent
		var data string
		if err := rows.Scan(&e.id, &e.typ, &e.source, &e.subject, &data); err != nil {
			return nil, err
		}
		e.data = []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

func rawJSON(b []byte) json.RawMessage { return json.RawMessage(b) }
