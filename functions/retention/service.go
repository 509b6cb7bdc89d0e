package retention

import (
	"context"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"phonebill/shared/config"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Service is the retention route table: one scheduled function.
func Service() fn.Service {
	return fn.Service{
		Name: "retention", Style: httpx.StyleStandard,
		Start: start,
		Routes: []fn.Route{
			// Hourly, so a backlog past one run's budget drains within a day
			// while an idle hour keeps the pod only for one short run.
			{Name: "retention-purge", Schedule: "47 * * * *", Handle: fn.Bind((*Handlers).Purge)},
		},
	}
}

// Handlers are the function's faces.
type Handlers struct{ purge httpx.HandlerFunc }

func start(ctx context.Context, env *fn.Env) (any, error) {
	var s struct{ Retention Settings }
	if err := config.Load(&s); err != nil {
		return nil, err
	}
	pool, err := env.DB(ctx)
	if err != nil {
		return nil, err
	}
	p := NewPurger(pool, s.Retention, env.Now, env.Logger(fn.LoggerApp), env.Metrics.Registry)
	return &Handlers{purge: events.Handler(env.Log, events.TypePing, func(ctx context.Context, _ event.Event) error {
		_, err := p.Run(ctx)
		return err
	})}, nil
}

// Purge receives the PingSource's pings (the all-in-one's ticker).
func (h *Handlers) Purge(w http.ResponseWriter, r *http.Request) error { return h.purge(w, r) }
