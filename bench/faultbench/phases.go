package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"phonebill/shared/events"
)

// Lines of each phase (KOS-Mock test data made at the start).
const (
	inqLines   = 100 // a: 100 lines × 6 months = 600 distinct (line, month) pairs: every inquiry a cache miss
	chgLines   = 120 // a: one change per line
	crashLines = 60  // d: one change per line
	firstChg   = inqLines
	firstCrash = inqLines + chgLines
	allLines   = inqLines + chgLines + crashLines
)

// kosMix is phase a's result.
type kosMix struct {
	Duration         time.Duration
	InqRate, ChgRate float64
	Samples          []sample
	Inquiry, Change  stats
	OverDeadline     int // answers later than REQUEST_DEADLINE_MS + 100 ms
	NearClient       int // answers later than 9.5 s (the client gives up at 10 s)
	MetricChanges    []string
	KOSCalls         map[string]map[string]int // by op and outcome, over the whole phase (warm-up included)
	LogTransitions   []string
	Load1            string
}

const deadline = 8 * time.Second

// phaseKOSMix runs KOS-Mock at the SPEC's 80/15/5 mix (success 100–300 ms,
// delay 1–3 s, error 9999) with real latencies, under a steady open-model
// load of bill inquiries (every one a cache miss) and product changes.
func phaseKOSMix(ctx context.Context, k *kit, d time.Duration, inqRate, chgRate float64) (*kosMix, error) {
	if err := k.sys.startAIO(ctx, "kos-mix", map[string]string{"KOS_MOCK_SCENARIO_HEADER": "false"}); err != nil {
		return nil, err
	}
	logPath := k.sys.aio.LogPath
	defer func() { _, _ = k.sys.aio.Stop(30 * time.Second) }()
	logf("creating KOS-Mock data for %d lines", allLines)
	if err := k.createLines(ctx, 0, allLines); err != nil {
		return nil, err
	}
	var changeLines []string
	for n := firstChg; n < firstChg+chgLines; n++ {
		changeLines = append(changeLines, line(n))
	}
	current, err := k.currentProducts(ctx, changeLines)
	if err != nil {
		return nil, err
	}
	logf("warming the customer caches of the change lines (as the client's main page does)")
	if err := k.warmCustomers(ctx, changeLines); err != nil {
		return nil, err
	}
	res := &kosMix{Duration: d, InqRate: inqRate, ChgRate: chgRate, Load1: loadAverage()}
	targets := []target{
		{name: "bill-inquiry", rate: inqRate, judge: judgeShapeC, build: func(i int) (*http.Request, error) {
			l := line(i % inqLines)
			return k.request("POST", "/api/v1/bills/inquiry", k.token(l),
				map[string]string{"lineNumber": dashed(l), "inquiryMonth": k.months[(i/inqLines)%len(k.months)]})
		}},
		{name: "product-change", rate: chgRate, judge: judgeChange, build: func(i int) (*http.Request, error) {
			l := changeLines[i%len(changeLines)]
			return k.request("POST", "/api/v1/products/change", k.token(l), map[string]string{"lineNumber": dashed(l),
				"currentProductCode": current[l], "targetProductCode": targetFor(current[l], i)})
		}},
	}
	logf("a: %s of %.0f inquiries/s + %.0f changes/s against the 80/15/5 mix", d, inqRate, chgRate)
	wctx, stop := context.WithCancel(ctx)
	start := time.Now()
	w := k.watchBreakers(wctx, start)
	rec := &recorder{}
	runLoad(ctx, k.c, start, d, targets, rec, nil)
	stop()
	res.Samples = rec.all()
	res.Inquiry = summarize(res.Samples, byEndpoint("bill-inquiry"))
	res.Change = summarize(res.Samples, byEndpoint("product-change"))
	for _, s := range res.Samples {
		if s.Latency > deadline+100*time.Millisecond {
			res.OverDeadline++
		}
		if s.Latency > 9500*time.Millisecond {
			res.NearClient++
		}
	}
	res.MetricChanges = w.seen()
	res.KOSCalls = k.kosCalls()
	_, _ = k.sys.aio.Stop(30 * time.Second)
	res.LogTransitions, _ = breakerLogLines(logPath)
	return res, nil
}

// window is a stretch of a fault run.
type window struct {
	Name       string
	From, To   time.Duration
	N, Errors  int
	Err5xx     int
	P50, P99   time.Duration
	ErrorCodes map[string]int
}

// windows splits the samples of endpoint by start time.
func windows(samples []sample, endpoint string, cuts []time.Duration, names []string) []window {
	out := make([]window, len(names))
	for i := range names {
		out[i] = window{Name: names[i], From: cuts[i], To: cuts[i+1], ErrorCodes: map[string]int{}}
		var sub []sample
		for _, s := range samples {
			if s.Endpoint == endpoint && s.At >= cuts[i] && s.At < cuts[i+1] {
				sub = append(sub, s)
			}
		}
		st := summarize(sub, nil)
		out[i].N, out[i].P50, out[i].P99 = st.N, st.P50, st.P99
		for _, s := range sub {
			if s.Status < 200 || s.Status > 299 {
				out[i].Errors++
				out[i].ErrorCodes[s.Outcome]++
				if s.Status >= 500 || s.Status == 0 {
					out[i].Err5xx++
				}
			}
		}
	}
	return out
}

// redisStop is phase b's result.
type redisStop struct {
	StopAt, StartAt time.Duration
	Samples         []sample
	Inquiry         []window
	Customer        []window
	RevokedN        int
	RevokedAccepted int
	Total5xx        int
	HitsAfter       int
}

// storeFaults starts the all-in-one with KOS-Mock's random patterns off, so
// that every error of phases b and c is the store fault's.
func storeFaults(ctx context.Context, k *kit) error {
	return k.sys.startAIO(ctx, "stores", map[string]string{"KOS_MOCK_DELAY_RATE": "0", "KOS_MOCK_ERROR_RATE": "0"})
}

// phaseRedisStop stops the private redis-server in the middle of a load of
// cached bill inquiries, cached product customers and requests with a
// revoked token, then starts it again (empty: no persistence).
func phaseRedisStop(ctx context.Context, k *kit, d, stopAt, startAt time.Duration) (*redisStop, error) {
	pairs := 20
	var warm []string
	for n := range pairs {
		warm = append(warm, line(n))
	}
	for _, l := range warm {
		if st, err := k.call("POST", "/api/v1/bills/inquiry", k.token(l), map[string]string{"lineNumber": dashed(l),
			"inquiryMonth": k.months[0]}, nil); err != nil || st != 200 {
			return nil, fmt.Errorf("warm inquiry %s: %d %v", l, st, err)
		}
	}
	if err := k.warmCustomers(ctx, warm); err != nil {
		return nil, err
	}
	// A real logout of a seeded user gives the revoked token.
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if st, err := k.call("POST", "/api/v1/auth/login", "", map[string]any{"userId": "testuser02", "password": "test1234"},
		&login); err != nil || st != 200 {
		return nil, fmt.Errorf("login: %d %v", st, err)
	}
	revoked := login.AccessToken
	if st, err := k.call("POST", "/api/v1/auth/logout", revoked, nil, nil); err != nil || st != 200 {
		return nil, fmt.Errorf("logout: %d %v", st, err)
	}
	targets := []target{
		{name: "bill-inquiry", rate: 10, judge: judgeShapeC, build: func(i int) (*http.Request, error) {
			l := warm[i%pairs]
			return k.request("POST", "/api/v1/bills/inquiry", k.token(l),
				map[string]string{"lineNumber": dashed(l), "inquiryMonth": k.months[0]})
		}},
		{name: "product-customer", rate: 5, judge: judgeShapeC, build: func(i int) (*http.Request, error) {
			l := warm[i%pairs]
			return k.request("GET", "/api/v1/products/customer?lineNumber="+l, k.token(l), nil)
		}},
		{name: "revoked-token", rate: 2, judge: judgeStatus, build: func(int) (*http.Request, error) {
			return k.request("GET", "/api/v1/bills/menu", revoked, nil)
		}},
	}
	res := &redisStop{StopAt: stopAt, StartAt: startAt}
	logf("b: %s of cached inquiries, customers and a revoked token; Redis stopped at %s, started at %s", d, stopAt, startAt)
	start := time.Now()
	rec := &recorder{}
	runLoad(ctx, k.c, start, d, targets, rec, func() {
		time.Sleep(time.Until(start.Add(stopAt)))
		k.sys.redis.Stop()
		time.Sleep(time.Until(start.Add(startAt)))
		if err := k.sys.redis.Start(); err != nil {
			logf("restarting Redis: %v", err)
		}
	})
	res.Samples = rec.all()
	cuts := []time.Duration{0, stopAt, startAt, d + clientTimeout}
	names := []string{"before", "Redis down", "after"}
	res.Inquiry = windows(res.Samples, "bill-inquiry", cuts, names)
	res.Customer = windows(res.Samples, "product-customer", cuts, names)
	for _, s := range res.Samples {
		if s.Status >= 500 || s.Status == 0 {
			res.Total5xx++
		}
		if s.Endpoint == "revoked-token" {
			res.RevokedN++
			if s.Status != 401 {
				res.RevokedAccepted++
			}
		}
		if s.Endpoint == "bill-inquiry" && s.At >= startAt && s.Outcome == "ok (cache hit)" {
			res.HitsAfter++
		}
	}
	return res, nil
}

// pgRestart is phase c's result.
type pgRestart struct {
	StopAt, UpAt    time.Duration
	Samples         []sample
	Inquiry         []window
	History         []window
	Customer        []window
	ErrorsOutside   int // errors outside [stop, up + 3 s]
	Non503          int // errors other than 503
	LastErrorAfter  time.Duration
	FirstOKAfter    time.Duration
	OutageP99Answer time.Duration
}

// phasePostgresRestart stops the private PostgreSQL (immediate mode: open
// connections die, as in a crash or failover) in the middle of a load and
// starts it again.
func phasePostgresRestart(ctx context.Context, k *kit, d, stopAt, downFor time.Duration) (*pgRestart, error) {
	pairs := 20
	var lines []string
	for n := range pairs {
		lines = append(lines, line(n))
	}
	targets := []target{
		{name: "bill-inquiry", rate: 10, judge: judgeShapeC, build: func(i int) (*http.Request, error) {
			l := lines[i%pairs]
			return k.request("POST", "/api/v1/bills/inquiry", k.token(l),
				map[string]string{"lineNumber": dashed(l), "inquiryMonth": k.months[0]})
		}},
		{name: "bill-history", rate: 2, judge: judgeShapeC, build: func(i int) (*http.Request, error) {
			l := lines[i%pairs]
			return k.request("GET", "/api/v1/bills/history?size=5", k.token(l), nil)
		}},
		{name: "product-customer", rate: 5, judge: judgeShapeC, build: func(i int) (*http.Request, error) {
			l := lines[i%pairs]
			return k.request("GET", "/api/v1/products/customer?lineNumber="+l, k.token(l), nil)
		}},
	}
	res := &pgRestart{StopAt: stopAt}
	logf("c: %s of inquiries, history and customers; PostgreSQL stopped at %s for about %s", d, stopAt, downFor)
	start := time.Now()
	rec := &recorder{}
	var mu sync.Mutex
	runLoad(ctx, k.c, start, d, targets, rec, func() {
		time.Sleep(time.Until(start.Add(stopAt)))
		if err := k.sys.pg.Stop(); err != nil {
			logf("stopping PostgreSQL: %v", err)
		}
		time.Sleep(downFor)
		if err := k.sys.pg.Start(); err != nil {
			logf("starting PostgreSQL: %v", err)
		}
		mu.Lock()
		res.UpAt = time.Since(start)
		mu.Unlock()
	})
	res.Samples = rec.all()
	cuts := []time.Duration{0, stopAt, res.UpAt, d + clientTimeout}
	names := []string{"before", "PostgreSQL down", "after"}
	res.Inquiry = windows(res.Samples, "bill-inquiry", cuts, names)
	res.History = windows(res.Samples, "bill-history", cuts, names)
	res.Customer = windows(res.Samples, "product-customer", cuts, names)
	var outage []time.Duration
	res.FirstOKAfter = -1
	for _, s := range res.Samples {
		failed := s.Status < 200 || s.Status > 299
		if failed {
			if s.Status != 503 {
				res.Non503++
			}
			if s.At < stopAt || s.At > res.UpAt+3*time.Second {
				res.ErrorsOutside++
			}
			if s.At > res.UpAt && s.At-res.UpAt > res.LastErrorAfter {
				res.LastErrorAfter = s.At - res.UpAt
			}
			if s.At >= stopAt && s.At < res.UpAt {
				outage = append(outage, s.Latency)
			}
		} else if s.At >= res.UpAt && s.Endpoint != "product-customer" && (res.FirstOKAfter < 0 || s.At-res.UpAt < res.FirstOKAfter) {
			res.FirstOKAfter = s.At - res.UpAt
		}
	}
	if len(outage) > 0 {
		res.OutageP99Answer = summarize(toSamples(outage), nil).P99
	}
	return res, nil
}

func toSamples(lat []time.Duration) []sample {
	out := make([]sample, len(lat))
	for i, l := range lat {
		out[i] = sample{Latency: l, Status: 200}
	}
	return out
}

// crashRun is phase d's result.
type crashRun struct {
	Samples        []sample
	Change         stats
	Rows           int // change rows the phase's requests created
	Kills          []time.Duration
	DupDeliveries  int
	DupStatuses    map[int]int
	SettleTook     time.Duration
	Settled        bool
	Count          ledger
	ClientMismatch int // answered COMPLETED but not COMPLETED in the database
}

// phaseCrash sends changes (a third forced to KOS's "timeout": applied, then
// silent past the client's timeout, so they end PENDING) while the
// all-in-one is killed with SIGKILL twice — anything between a commit and
// its publish is lost from memory — then re-delivers every
// change.requested event five times in a row and five times at once to the
// change-worker function, waits until everything settles, and counts.
func phaseCrash(ctx context.Context, k *kit, d time.Duration, killAt []time.Duration) (*crashRun, error) {
	if err := k.sys.startAIO(ctx, "crash", map[string]string{"KOS_MOCK_DELAY_RATE": "0", "KOS_MOCK_ERROR_RATE": "0",
		"KOS_MOCK_SCENARIO_HEADER": "true"}); err != nil {
		return nil, err
	}
	defer func() { _, _ = k.sys.aio.Stop(30 * time.Second) }()
	worker, workerURL, err := k.sys.startWorker(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _, _ = worker.Stop(10 * time.Second) }()
	var lines []string
	for n := firstCrash; n < firstCrash+crashLines; n++ {
		lines = append(lines, line(n))
	}
	current, err := k.currentProducts(ctx, lines)
	if err != nil {
		return nil, err
	}
	if err := k.warmCustomers(ctx, lines); err != nil {
		return nil, err
	}
	rate := float64(crashLines) / d.Seconds()
	targets := []target{{name: "product-change", rate: rate, judge: judgeChange, build: func(i int) (*http.Request, error) {
		l := lines[i%len(lines)]
		hdr := []string{}
		if i%3 == 0 {
			hdr = []string{"X-Mock-Scenario", "timeout"}
		}
		return k.request("POST", "/api/v1/products/change", k.token(l), map[string]string{"lineNumber": dashed(l),
			"currentProductCode": current[l], "targetProductCode": targetFor(current[l], i)}, hdr...)
	}}}
	res := &crashRun{DupStatuses: map[int]int{}}
	logf("d: %s of changes (1 in 3 forced to KOS timeout), SIGKILL of the all-in-one at %v", d, killAt)
	start := time.Now()
	rec := &recorder{}
	runLoad(ctx, k.c, start, d, targets, rec, func() {
		for _, at := range killAt {
			time.Sleep(time.Until(start.Add(at)))
			k.sys.aio.Kill()
			res.Kills = append(res.Kills, time.Since(start))
			if err := k.sys.restartAIO(ctx, "crash-restart"); err != nil {
				logf("restart after kill: %v", err)
			}
		}
	})
	res.Samples = rec.all()
	res.Change = summarize(res.Samples, nil)
	if err := k.pool.QueryRow(ctx, `SELECT count(*) FROM product_change.pc_product_change_history
		WHERE line_number = ANY($1)`, lines).Scan(&res.Rows); err != nil {
		return nil, err
	}

	// Duplicates: every change.requested event, 5× in a row and 5× at once.
	dups, err := k.requestedEvents(ctx)
	if err != nil {
		return nil, err
	}
	logf("d: re-delivering %d change.requested events 10× each to the worker function", len(dups))
	var mu sync.Mutex
	deliver := func(raw requestedEvent) {
		e, err := events.New(raw.id, raw.typ, raw.source, raw.subject, rawJSON(raw.data))
		if err != nil {
			return
		}
		req, _ := http.NewRequest("POST", workerURL+"/", nil)
		if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(&e), req); err != nil {
			return
		}
		st := 0
		if r, err := k.c.Do(req); err == nil {
			st = r.StatusCode
			r.Body.Close()
		}
		mu.Lock()
		res.DupDeliveries++
		res.DupStatuses[st]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, e := range dups {
		wg.Go(func() {
			for range 5 {
				deliver(e)
			}
			var inner sync.WaitGroup
			for range 5 {
				inner.Go(func() { deliver(e) })
			}
			inner.Wait()
		})
	}
	wg.Wait()

	logf("d: waiting until every change is settled and every event published")
	t0 := time.Now()
	res.Settled, err = k.settle(ctx, 120*time.Second)
	if err != nil {
		return nil, err
	}
	res.SettleTook = time.Since(t0)
	if res.Count, err = k.count(ctx); err != nil {
		return nil, err
	}
	// What the clients were told must be what the database says.
	for _, s := range res.Samples {
		if s.Outcome == "COMPLETED" && s.requestID != "" {
			var st string
			_ = k.pool.QueryRow(ctx, `SELECT process_status FROM product_change.pc_product_change_history
				WHERE request_id = $1`, s.requestID).Scan(&st)
			if st != "COMPLETED" {
				res.ClientMismatch++
			}
		}
	}
	return res, nil
}
