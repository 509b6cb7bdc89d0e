package product

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"phonebill/shared/db"
	"phonebill/shared/events"
)

// The sweep is driven by work, not by the clock, so that an idle system
// keeps no relay pod (Knative scales it to zero):
//
//   - a rare safety ping (the relay's PingSource) runs the relay once and, if
//     anything is left to sweep, starts a sweep;
//   - the worker starts one whenever it defers a change (KOS's outcome still
//     unknown), the moment a change needs sweeping;
//   - a sweep runs the relay every SweepTick for up to SweepHold (inside its
//     request, which keeps its pod), then hands on to the next link with a
//     sweep.requested event of the same chain, until nothing is left;
//   - a lease row lets one chain sweep at a time: a request to sweep while
//     another chain holds the lease returns at once, and a chain whose pod
//     died is replaced once its lease expires.
//
// What is left to sweep: unpublished outbox rows and changes not yet
// finished (REQUESTED, VALIDATED, PROCESSING, PENDING). In the all-in-one
// the in-process ticker runs the relay every few seconds instead, and no
// sweep holds a request (SweepHold 0).

// sweepLease names the lease row of migration 00009.
const sweepLease = "outbox-sweep"

// SweepData is the data of phonebill.product.sweep.requested.v1: the chain
// the next link continues.
type SweepData struct {
	Chain string `json:"chain"`
}

// leaseTTL covers one tick and the hop to the next link with room to spare.
func (c Config) leaseTTL() time.Duration { return 2*c.SweepTick + 10*time.Second }

// RunPing is the safety ping: one relay run, then a sweep if work is left.
func (s *Products) RunPing(ctx context.Context) (RelayReport, error) {
	r, err := s.RunRelay(ctx)
	if err != nil {
		return r, err
	}
	s.StartSweep(ctx)
	return r, nil
}

// StartSweep asks for a sweep when work is left and no chain holds the
// lease. It is best effort: a sweep request that cannot be sent leaves the
// work to the next safety ping.
func (s *Products) StartSweep(ctx context.Context) {
	if s.cfg.SweepHold <= 0 {
		return
	}
	busy, err := s.store.sweepWork(ctx)
	if err == nil && busy {
		var held bool
		if held, err = s.store.leaseHeld(ctx); err == nil && !held {
			err = s.requestSweep(ctx, uuid.NewString())
		}
	}
	if err != nil {
		s.log.WarnContext(ctx, "could not start an outbox sweep; the next ping will", "err", err.Error())
	}
}

// Sweep is one link of a chain: it runs the relay every SweepTick while
// work is left, for up to SweepHold, and hands on to the next link. A
// failure ends the chain (its lease expires); the caller defers the event,
// since the next ping or deferred change starts another.
func (s *Products) Sweep(ctx context.Context, e event.Event) (RelayReport, error) {
	var total RelayReport
	chain, err := decodeSweep(e.Data())
	if err != nil {
		return total, events.Poison(err)
	}
	if s.cfg.SweepHold <= 0 {
		return s.RunRelay(ctx)
	}
	end := time.Now().Add(s.cfg.SweepHold)
	for {
		held, err := s.store.takeLease(ctx, chain, s.cfg.leaseTTL())
		if err != nil || !held {
			return total, err
		}
		r, err := s.RunRelay(ctx)
		total.add(r)
		if err != nil {
			return total, err
		}
		busy, err := s.store.sweepWork(ctx)
		if err != nil {
			return total, err
		}
		if !busy {
			// Work that came while the lease was held had its request
			// dropped, so look once more after letting go.
			if err := s.store.releaseLease(ctx, chain); err != nil {
				return total, err
			}
			if busy, err = s.store.sweepWork(ctx); err != nil || !busy {
				return total, err
			}
			continue
		}
		if time.Until(end) < s.cfg.SweepTick {
			return total, s.requestSweep(ctx, chain)
		}
		select {
		case <-ctx.Done():
			return total, s.requestSweep(context.WithoutCancel(ctx), chain)
		case <-time.After(s.cfg.SweepTick):
		}
	}
}

func decodeSweep(data []byte) (string, error) {
	var d SweepData
	if err := json.Unmarshal(data, &d); err != nil {
		return "", fmt.Errorf("sweep event data: %w", err)
	}
	if d.Chain == "" || len(d.Chain) > 64 || !storable(d.Chain) {
		return "", errors.New("sweep event data has no usable chain")
	}
	return d.Chain, nil
}

// requestSweep sends the sweep.requested event of a chain.
func (s *Products) requestSweep(ctx context.Context, chain string) error {
	e, err := events.New(uuid.NewString(), events.TypeProductSweepRequested, s.cfg.Source, chain, SweepData{Chain: chain})
	if err == nil {
		err = s.events.Send(ctx, e)
	}
	if err != nil {
		return fmt.Errorf("hand the sweep on: %w", err)
	}
	return nil
}

func (r *RelayReport) add(o RelayReport) {
	r.Unresolved += o.Unresolved
	r.Recovered += o.Recovered
	r.Reemitted += o.Reemitted
	r.Published += o.Published
	r.Failed += o.Failed
}

// sweepWork reports whether anything is left for the relay.
func (s *store) sweepWork(ctx context.Context) (bool, error) {
	var busy bool
	err := s.pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM product_change.outbox WHERE published_at IS NULL)
		OR EXISTS (SELECT 1 FROM product_change.pc_product_change_history
		           WHERE process_status IN ('REQUESTED', 'VALIDATED', 'PROCESSING', 'PENDING'))`).Scan(&busy)
	return busy, db.Wrap("look for sweep work", err)
}

// takeLease gives the lease to chain when it is free, expired or already
// the chain's, for ttl from now (the database's clock, one for every pod).
func (s *store) takeLease(ctx context.Context, chain string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE product_change.sweep_lease
		SET holder = $2, expires_at = clock_timestamp() + $3 * interval '1 millisecond'
		WHERE name = $1 AND (expires_at < clock_timestamp() OR holder = $2)`, sweepLease, chain, ttl.Milliseconds())
	if err != nil {
		return false, db.Wrap("take the sweep lease", err)
	}
	return tag.RowsAffected() == 1, nil
}

// releaseLease frees the lease if chain holds it.
func (s *store) releaseLease(ctx context.Context, chain string) error {
	_, err := s.pool.Exec(ctx, `UPDATE product_change.sweep_lease SET holder = '', expires_at = '-infinity'
		WHERE name = $1 AND holder = $2`, sweepLease, chain)
	return db.Wrap("release the sweep lease", err)
}

// leaseHeld reports whether some chain holds an unexpired lease.
func (s *store) leaseHeld(ctx context.Context) (bool, error) {
	var held bool
	err := s.pool.QueryRow(ctx, `SELECT expires_at >= clock_timestamp() FROM product_change.sweep_lease WHERE name = $1`,
		sweepLease).Scan(&held)
	return held, db.Wrap("read the sweep lease", err)
}
