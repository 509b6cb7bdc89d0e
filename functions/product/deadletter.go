package product

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
)

// StoreDeadLetter keeps an undeliverable event for an operator and logs it.
// Nothing retries a dead letter, so whatever arrived is made storable
// rather than refused.
func (s *Products) StoreDeadLetter(ctx context.Context, doc []byte, reason, eventID string) error {
	if err := insertDeadLetter(ctx, s.store.pool, storableJSON(doc), storableText(reason), s.now()); err != nil {
		return err
	}
	s.metrics.deadLetters.Inc()
	s.log.ErrorContext(ctx, "event dead-lettered", "event_id", eventID, "reason", reason)
	return nil
}

// storableText replaces what a PostgreSQL text value cannot hold (NUL,
// invalid UTF-8) with U+FFFD.
func storableText(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// storableJSON makes doc acceptable to JSONB, which refuses invalid UTF-8
// and the \u0000 escape: both become U+FFFD (numbers kept as written).
func storableJSON(doc []byte) []byte {
	// Invalid UTF-8 (raw bytes of a header copied into the document) is
	// replaced first; inside a JSON string the replacement stays valid JSON.
	doc = bytes.ToValidUTF8(doc, []byte("\uFFFD"))
	if !bytes.Contains(doc, []byte(`\u0000`)) {
		return doc
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return doc
	}
	b, err := json.Marshal(scrubNUL(v))
	if err != nil {
		return doc
	}
	return b
}

func scrubNUL(v any) any {
	switch x := v.(type) {
	case string:
		return storableText(x)
	case []any:
		for i := range x {
			x[i] = scrubNUL(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[storableText(k)] = scrubNUL(e)
		}
		return out
	}
	return v
}
