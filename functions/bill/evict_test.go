package bill

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/testenv/faults"
)

// productChangedEvent is a binary-mode CloudEvent as the Product service
// publishes it after a change.
func productChangedEvent(t *testing.T, id string, data any) *http.Request {
	t.Helper()
	e, err := events.New(id, events.TypeProductChanged, "/phonebill/product", "", data)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/", nil)
	if err := cehttp.WriteRequest(binding.WithForceBinary(context.Background()), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	return req
}

// exists reports whether key (without prefix) is in Redis.
func exists(t *testing.T, c *cache.Cache, key string) bool {
	t.Helper()
	n, err := c.Client().Exists(context.Background(), c.Key(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestEvictionThroughTheBroker(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	tok1 := te.token(t, user01)
	// Fill user01's bills of two months and months list; user02's bill too.
	for _, m := range []string{month(0), month(1)} {
		if a := te.inquire(t, tok1, "010-1234-5678", m); !a.Success {
			t.Fatalf("inquiry = %+v", a)
		}
	}
	te.do(t, "GET", "/api/v1/bills/menu", tok1, nil)
	if a := te.inquire(t, te.token(t, user02, "BILL_INQUIRY"), "010-8765-4321", month(0)); !a.Success {
		t.Fatalf("inquiry = %+v", a)
	}
	keys := []string{"bill:data:01012345678:" + month(0), "bill:data:01012345678:" + month(1), "bill:months:01012345678"}
	for _, k := range append(keys, "bill:data:01087654321:"+month(0)) {
		if !exists(t, te.h.Cache, k) {
			t.Fatalf("%s not cached before the event", k)
		}
	}

	// The Product service publishes through the broker (K_SINK).
	e, err := events.New("evt-1", events.TypeProductChanged, "/phonebill/product", "01012345678",
		map[string]string{"lineNumber": "01012345678", "requestId": "c2f1d7b6-0000-4000-8000-000000000001",
			"productCode": "5G-PREMIUM-001"})
	if err != nil {
		t.Fatal(err)
	}
	if err := events.NewSender(te.h.Env.EventSink, te.h.Env.EventClient).Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	te.h.Broker.Wait(ctx)
	for _, k := range keys {
		if exists(t, te.h.Cache, k) {
			t.Fatalf("%s survived the product change", k)
		}
	}
	if !exists(t, te.h.Cache, "bill:data:01087654321:"+month(0)) {
		t.Fatal("another line's bill was evicted")
	}
	// The next inquiry asks KOS again.
	before := te.calls.count(inquiryPath)
	if a := te.inquire(t, tok1, "010-1234-5678", month(0)); !a.Success || strings.Contains(string(a.Data), `"cacheHit":true`) {
		t.Fatalf("inquiry after eviction = %+v", a)
	}
	if te.calls.count(inquiryPath) != before+1 {
		t.Fatal("the inquiry after eviction did not call KOS")
	}
}

// evictFunction builds the bill-cache-evict function alone, as fn.Main
// serves it (the event at POST /).
func evictFunction(t *testing.T, te *testEnv, c *cache.Cache) http.Handler {
	t.Helper()
	svc := Service()
	svc.Start = func(ctx context.Context, env *fn.Env) (any, error) {
		pool, err := env.DB(ctx)
		if err != nil {
			return nil, err
		}
		return newService(Deps{Pool: pool, Cache: c, KOS: te.kos, Log: env.Log, Now: env.Now}, DefaultConfig(Settings{CacheTTLSeconds: 1800}, env.Settings.HTTP)), nil
	}
	app, err := fn.Build(context.Background(), te.h.Env, []fn.Service{svc}, "bill-cache-evict")
	if err != nil {
		t.Fatal(err)
	}
	return app.Handler
}

func TestEvictionFunctionAnswers(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	h := evictFunction(t, te, te.h.Cache)
	send := func(req *http.Request) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	te.h.Cache.Set(context.Background(), "bill:data:01012345678:202509", map[string]int{"x": 1}, time.Minute)
	te.h.Cache.Set(context.Background(), "bill:months:01012345678", []string{"2025-09"}, time.Minute)

	// Dashed spelling accepted; a second delivery is a no-op that succeeds.
	for i := range 2 {
		if code := send(productChangedEvent(t, "e1", map[string]string{"lineNumber": "010-1234-5678"})); code != 200 {
			t.Fatalf("delivery %d = %d, want 200", i, code)
		}
	}
	if exists(t, te.h.Cache, "bill:data:01012345678:202509") || exists(t, te.h.Cache, "bill:months:01012345678") {
		t.Fatal("keys survived the event")
	}
	// Poison events answer 400 (not retried).
	poison := map[string]any{
		"no line":        map[string]string{"requestId": "x"},
		"bad line":       map[string]string{"lineNumber": "12345"},
		"line as number": map[string]int{"lineNumber": 1012345678},
	}
	for name, data := range poison {
		if code := send(productChangedEvent(t, "p-"+name, data)); code != 400 {
			t.Errorf("%s = %d, want 400", name, code)
		}
	}
	notEvent := httptest.NewRequest("POST", "/", strings.NewReader(`{"lineNumber":"01012345678"}`))
	notEvent.Header.Set("Content-Type", "application/json")
	if code := send(notEvent); code != 400 {
		t.Errorf("a plain POST = %d, want 400", code)
	}
	wrongType := productChangedEvent(t, "w1", map[string]string{"lineNumber": "01012345678"})
	wrongType.Header.Set("Ce-Type", "phonebill.other.v1")
	if code := send(wrongType); code != 400 {
		t.Errorf("another event type = %d, want 400", code)
	}
}

func TestEvictionAsksForRedeliveryWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	te := setup(t, setupOpts{})
	redis := faults.RedisFor(t)
	c := cache.New(config.Redis{Addr: redis.Addr, KeyPrefix: "billevict:"}, nil)
	t.Cleanup(func() { _ = c.Close() })
	h := evictFunction(t, te, c)
	redis.Stop()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, productChangedEvent(t, "e2", map[string]string{"lineNumber": "01012345678"}))
	if rec.Code < 500 {
		t.Fatalf("eviction with Redis down = %d, want 5xx (redelivered)", rec.Code)
	}
}
