package bill

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/testenv/faults"
)

// Redis away for a minute while a product change is published: the
// eviction answers 5xx, the broker redelivers on bill-cache-evict's own
// policy (EvictDelivery, shrunk by the harness's time scale like the minute),
// and once Redis is back the stale bill is gone. Nothing reaches the
// dead-letter sink.
func TestRedisOutageLosesNoEviction(t *testing.T) {
	t.Parallel()
	var px *faults.Proxy
	var c *cache.Cache
	te := setup(t, setupOpts{harness: func(h *fntest.Harness) {
		px = faults.StartProxy(t, "redis", "127.0.0.1:6379")
		c = cache.New(config.Redis{Addr: px.Addr, KeyPrefix: h.Prefix}, nil)
		t.Cleanup(func() { _ = c.Close() })
		h.Env.UseCache(c)
	}})
	var dead atomic.Int32
	te.h.Broker.Subscribe([]fn.BoundRoute{{Route: fn.Route{Name: "dl-probe", DeadLetter: true},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { dead.Add(1); w.WriteHeader(200) })}})
	tok := te.token(t, user01)
	if a := te.inquire(t, tok, "010-1234-5678", month(0)); !a.Success {
		t.Fatalf("inquiry = %+v", a)
	}
	key := "bill:data:01012345678:" + month(0)
	if !exists(t, te.h.Cache, key) {
		t.Fatal("bill not cached")
	}

	px.Cut()
	e, err := events.New("evt-outage", events.TypeProductChanged, "/phonebill/product", "01012345678",
		map[string]string{"lineNumber": "01012345678", "requestId": "c2f1d7b6-0000-4000-8000-000000000009",
			"productCode": "5G-PREMIUM-001"})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.NewSender(te.h.Env.EventSink, te.h.Env.EventClient).Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	// The outage: one minute at the broker's time scale.
	outage := time.Duration(float64(time.Minute) * te.h.Broker.TimeScale)
	time.Sleep(outage)
	if !exists(t, te.h.Cache, key) {
		t.Fatal("evicted while Redis was away")
	}
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	te.h.Broker.Wait(ctx)
	if exists(t, te.h.Cache, key) {
		t.Fatal("the stale bill outlived the outage: the eviction was lost")
	}
	if n := dead.Load(); n != 0 {
		t.Fatalf("%d dead letters after a one-minute Redis outage, want 0", n)
	}
	if span := EvictDelivery.Span(); span < time.Duration(DefaultConfig(Settings{CacheTTLSeconds: 1800}, config.HTTP{}).CacheTTL) {
		t.Fatalf("evictions are redelivered for %v only", span)
	}
}
