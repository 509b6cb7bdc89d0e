package product

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"phonebill/shared/cache"
)

// Products is the service's business logic: reads through the caches to
// KOS, pre-checks, the change and its events. It never touches HTTP.
type Products struct {
	store *store
	cache *cache.Cache
	// kos is this function's own client and breaker: every function (the
	// worker, product-change, product-customer…) is started apart, in the
	// cluster and in the all-in-one alike.
	kos     kosDoer
	events  publisher
	log     *slog.Logger
	now     func() time.Time
	cfg     Config
	metrics *metrics
	// publishTimeout bounds the immediate publish after a commit; the
	// relay takes over whatever it could not send.
	publishTimeout time.Duration
}

// newService is the constructor production (start) and tests share. now is
// the business clock (timestamps, the 24 h limit); request budgets use the
// monotonic clock.
func newService(d Deps, cfg Config, now func() time.Time) *Products {
	if now == nil {
		now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("KST", 9*3600)
	}
	if cfg.Source == "" {
		cfg.Source = EventSource
	}
	if cfg.OutboxBatch < 1 {
		cfg.OutboxBatch = 100
	}
	return &Products{store: &store{pool: d.Pool}, cache: d.Cache, kos: d.KOS, events: d.Events, log: d.Log,
		now: now, cfg: cfg, metrics: newMetrics(d.Registry), publishTimeout: 3 * time.Second}
}

// Failure is a business failure the client shows from an HTTP 200
// success:false answer (SPEC §3.3.1, §3.3.2).
type Failure struct {
	Code    string
	Message string
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

var (
	failNoCustomer     = &Failure{Code: CodeCustomerNotFound, Message: MsgCustomerNotFound}
	failKOSUnavailable = &Failure{Code: CodeKOSUnavailable, Message: MsgKOSUnavailable}
)

// Cache keys of SPEC §6.5 (the Product service's own).
func customerKey(line string) string   { return "product:customer:" + line }
func lineStatusKey(line string) string { return "product:line-status:" + line }

const catalogKey = "product:catalog"

// customer returns the line at KOS, from the cache when it holds it.
// errNoCustomer is KOS's definite "no such line"; other errors mean KOS
// could not be asked.
func (s *Products) customer(ctx context.Context, line string) (*Customer, error) {
	if c, ok := cache.GetJSON[Customer](ctx, s.cache, customerKey(line)); ok {
		return &c, nil
	}
	c, err := fetchCustomer(ctx, s.kos, line)
	if err != nil {
		return nil, err
	}
	s.cache.Set(ctx, customerKey(line), c, s.cfg.CustomerTTL)
	return c, nil
}

// catalog returns KOS's product list, from the cache when it holds it.
func (s *Products) catalog(ctx context.Context) (*Catalog, error) {
	if c, ok := cache.GetJSON[Catalog](ctx, s.cache, catalogKey); ok && len(c.Products) > 0 {
		return &c, nil
	}
	c, err := fetchCatalog(ctx, s.kos)
	if err != nil {
		return nil, err
	}
	s.cache.Set(ctx, catalogKey, c, s.cfg.CatalogTTL)
	return c, nil
}

// evictLine drops the Product service's cached view of line after a change
// (SPEC §5.4 step 5); the Bill service evicts its own keys on the event.
func (s *Products) evictLine(ctx context.Context, line string) {
	_ = s.cache.Del(context.WithoutCancel(ctx), customerKey(line), lineStatusKey(line))
}

// CustomerInfo is GET /products/customer (SPEC §3.3.1) for a validated,
// authorized line.
func (s *Products) CustomerInfo(ctx context.Context, line string) (*CustomerView, error) {
	c, err := s.customer(ctx, line)
	switch {
	case errors.Is(err, errNoCustomer):
		return nil, failNoCustomer
	case err != nil:
		s.log.WarnContext(ctx, "customer info unavailable", "err", err.Error())
		return nil, failKOSUnavailable
	}
	v := c.View()
	if v.LineNumber == "" {
		v.LineNumber = line
	}
	return &v, nil
}

// Available is GET /products/available (SPEC §3.3.2): ACTIVE products of the
// same operator as currentCode (or, when it is not a known product, as the
// caller's line at KOS), without currentCode, most expensive first.
func (s *Products) Available(ctx context.Context, callerLine, currentCode string) (*AvailableView, error) {
	cat, err := s.catalog(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "product catalog unavailable", "err", err.Error())
		return nil, failKOSUnavailable
	}
	operator := ""
	if p, ok := cat.Find(currentCode); ok {
		operator = p.Operator
	} else {
		if callerLine == "" {
			return nil, failNoCustomer
		}
		c, err := s.customer(ctx, callerLine)
		switch {
		case errors.Is(err, errNoCustomer):
			return nil, failNoCustomer
		case err != nil:
			s.log.WarnContext(ctx, "customer info unavailable", "err", err.Error())
			return nil, failKOSUnavailable
		}
		operator = c.CurrentOperator()
		if p, ok := cat.Find(c.CurrentCode()); ok && p.Operator != "" {
			operator = p.Operator
		}
	}
	list := cat.Available(operator, currentCode)
	return &AvailableView{Products: list, TotalCount: len(list)}, nil
}

// precheckData reads what the pre-checks need through the caches; cust is
// nil when KOS has no such line.
func (s *Products) precheckData(ctx context.Context, line string) (*Customer, *Catalog, error) {
	cat, err := s.catalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	cust, err := s.customer(ctx, line)
	if errors.Is(err, errNoCustomer) {
		return nil, cat, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return cust, cat, nil
}

// Validate runs the pre-checks of SPEC §5.3 (POST /products/change/validation).
func (s *Products) Validate(ctx context.Context, req ChangeRequest) Validation {
	cust, cat, err := s.precheckData(ctx, req.LineNumber)
	if err != nil {
		s.log.WarnContext(ctx, "pre-check data unavailable", "err", err.Error())
		return systemFailure()
	}
	return evaluate(req, cust, cat)
}
