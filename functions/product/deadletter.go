package product

import "context"

// StoreDeadLetter keeps an undeliverable event for an operator and logs it.
func (s *Products) StoreDeadLetter(ctx context.Context, doc []byte, reason, eventID string) error {
	if err := insertDeadLetter(ctx, s.store.pool, doc, reason, s.now()); err != nil {
		return err
	}
	s.metrics.deadLetters.Inc()
	s.log.ErrorContext(ctx, "event dead-lettered", "event_id", eventID, "reason", reason)
	return nil
}
