// Package events sends and receives the system's CloudEvents (binary mode,
// cloudevents/sdk-go/v2) over plain HTTP: producers POST to K_SINK (the
// Knative Broker, or the all-in-one's in-process broker); event functions are
// HTTP receivers that answer 2xx for done or duplicate events, 400 for poison
// events (not retried, they end in the dead-letter sink) and 5xx for
// transient failures (retried).
package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"phonebill/shared/httpx"
)

// Event types of DESIGN §5.
const (
	TypeProductChanged         = "phonebill.product.changed.v1"
	TypeProductChangeRequested = "phonebill.product.change.requested.v1"
	// TypeProductSweepRequested asks the outbox relay to sweep while work
	// remains (each sweep hands on to the next with one of these).
	TypeProductSweepRequested = "phonebill.product.sweep.requested.v1"
	// TypePing is what a PingSource sends.
	TypePing = "dev.knative.sources.ping"
)

// ErrNoSink means no K_SINK is configured, so nothing can be published now
// (the outbox keeps the event for the relay).
var ErrNoSink = errors.New("events: no sink configured (K_SINK)")

// Sender publishes events to one sink.
type Sender struct {
	sink   string
	client *http.Client
}

// NewSender returns a sender to sink through client.
func NewSender(sink string, client *http.Client) *Sender {
	if client == nil {
		client = http.DefaultClient
	}
	return &Sender{sink: sink, client: client}
}

// Send POSTs e in binary mode and succeeds on any 2xx.
func (s *Sender) Send(ctx context.Context, e event.Event) error {
	if s == nil || s.sink == "" {
		return ErrNoSink
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("events: invalid event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.sink, nil)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(&e), req); err != nil {
		return fmt.Errorf("events: encode: %w", err)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("events: send %s: %w", e.Type(), err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("events: send %s: sink answered %d", e.Type(), res.StatusCode)
	}
	return nil
}

// New builds an event with the given stable id (the outbox row id, so a
// re-send dedupes), type, source, subject and JSON data.
func New(id, typ, source, subject string, data any) (event.Event, error) {
	e := event.New()
	e.SetID(id)
	e.SetType(typ)
	e.SetSource(source)
	if subject != "" {
		e.SetSubject(subject)
	}
	if err := e.SetData(event.ApplicationJSON, data); err != nil {
		return e, fmt.Errorf("events: data: %w", err)
	}
	return e, nil
}

// PoisonError marks an event that can never be processed (bad shape or
// data); receivers answer 400 so it is not retried.
type PoisonError struct{ Err error }

func (e *PoisonError) Error() string { return "poison event: " + e.Err.Error() }
func (e *PoisonError) Unwrap() error { return e.Err }

// Poison wraps err as a poison-event error.
func Poison(err error) error { return &PoisonError{Err: err} }

// DeferredError marks an event whose work is not done but will be driven
// again without this delivery (the outbox relay re-emits a PENDING change):
// receivers answer 202, so the broker neither retries it nor dead-letters it.
type DeferredError struct{ Err error }

func (e *DeferredError) Error() string { return "deferred: " + e.Err.Error() }
func (e *DeferredError) Unwrap() error { return e.Err }

// Deferred wraps err as a deferred-event error.
func Deferred(err error) error { return &DeferredError{Err: err} }

// Receive reads the request as a CloudEvent (binary or structured mode).
func Receive(r *http.Request) (*event.Event, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, Poison(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		return nil, Poison(err)
	}
	if err := e.Validate(); err != nil {
		return nil, Poison(err)
	}
	return e, nil
}

// Handler adapts an event consumer to an HTTP receiver. wantType, when set,
// refuses other types as poison (a Trigger filter mismatch is a bug).
func Handler(lg *slog.Logger, wantType string, consume func(ctx context.Context, e event.Event) error) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		e, err := Receive(r)
		if err == nil && wantType != "" && e.Type() != wantType {
			err = Poison(fmt.Errorf("unexpected type %q", e.Type()))
		}
		if err == nil {
			err = consume(r.Context(), *e)
		}
		status := http.StatusOK
		var pe *PoisonError
		var de *DeferredError
		switch {
		case err == nil:
		case errors.As(err, &de):
			status = http.StatusAccepted
			lg.InfoContext(r.Context(), "event deferred; it will be driven again", "err", err.Error(), "id", idOf(e))
		case errors.As(err, &pe):
			status = http.StatusBadRequest
			lg.WarnContext(r.Context(), "poison event", "err", err.Error(), "id", idOf(e))
		default:
			status = http.StatusInternalServerError
			lg.ErrorContext(r.Context(), "event failed; asking for redelivery", "err", err.Error(), "id", idOf(e))
		}
		body := map[string]any{"status": status}
		if err != nil && status != http.StatusAccepted {
			body["error"] = http.StatusText(status)
		}
		httpx.WriteJSON(w, status, body)
		return nil
	}
}

func idOf(e *event.Event) string {
	if e == nil {
		return ""
	}
	return e.ID()
}
