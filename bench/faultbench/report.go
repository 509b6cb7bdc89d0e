package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

type report struct {
	Started                       time.Time
	Took                          time.Duration
	Load1                         string
	A                             *kosMix
	B                             *redisStop
	C                             *pgRestart
	D                             *crashRun
	StoresExit                    error
	ACSV, BCCSV, DCSV, PNG, BCPNG string
}

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms(d))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", ms(d))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func check(ok bool) string {
	if ok {
		return "✔"
	}
	return "✘"
}

// failures lists the pass criteria that did not hold.
func (r *report) failures() []string {
	var f []string
	add := func(ok bool, what string) {
		if !ok {
			f = append(f, what)
		}
	}
	add(r.A.OverDeadline == 0, fmt.Sprintf("a: %d answers later than 8.1 s", r.A.OverDeadline))
	add(r.A.NearClient == 0, fmt.Sprintf("a: %d answers later than 9.5 s", r.A.NearClient))
	add(r.A.Inquiry.Non2xx == 0 && r.A.Change.Non2xx == 0, "a: non-2xx answers")
	add(r.B.Total5xx == 0, fmt.Sprintf("b: %d 5xx or unanswered", r.B.Total5xx))
	add(r.B.RevokedAccepted == 0, fmt.Sprintf("b: revoked token accepted %d times", r.B.RevokedAccepted))
	add(r.C.ErrorsOutside == 0, fmt.Sprintf("c: %d errors outside the outage", r.C.ErrorsOutside))
	add(r.C.Non503 == 0, fmt.Sprintf("c: %d errors other than 503", r.C.Non503))
	l := r.D.Count
	add(r.D.Settled, "d: not settled")
	add(l.Lost == 0 && l.Phantom == 0 && l.DoubledLines == 0 && l.WrongProduct == 0 && l.ChangedBad == 0 &&
		l.Unpublished == 0 && l.Unsettled == 0 && r.D.ClientMismatch == 0, "d: lost, doubled or unsettled changes")
	add(r.D.DupStatuses[200] == r.D.DupDeliveries, "d: a duplicate delivery was not acknowledged")
	return f
}

func (r *report) markdown(root string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	rel := func(path string) string {
		if x, err := filepath.Rel(root, path); err == nil {
			return x
		}
		return path
	}
	p("## Under faults")
	p("")
	p("`make bench-faults` (`go run ./bench/faultbench -doc docs/benchmarks.md`), %s, %d CPUs, Go %s; "+
		"load average %s at the start, %s before phase a; the whole run took %s. Everything runs on loopback against a "+
		"private PostgreSQL 15 (initdb into a temporary folder, fsync off) and a private redis-server that the run "+
		"starts, stops and restarts itself; the all-in-one is the production binary (`functions/phonebill`) started "+
		"as a child process with its own environment. Raw per-request samples: `%s`, `%s`, `%s` "+
		"(elapsed_ms, latency_ms, endpoint, status, outcome).",
		r.Started.Format("2006-01-02"), runtime.NumCPU(), strings.TrimPrefix(runtime.Version(), "go"), r.Load1, r.A.Load1,
		r.Took.Round(time.Second), rel(r.ACSV), rel(r.BCCSV), rel(r.DCSV))
	p("")

	a := r.A
	p("### a. KOS at its 80/15/5 mix")
	p("")
	p("KOS-Mock with the SPEC's patterns and real latencies (80 %% answers in 100–300 ms, 15 %% in 1–3 s, 5 %% "+
		"`9999` after 100 ms) on every simulated endpoint; %s at a steady %.0f bill inquiries/s (each a different "+
		"line and month, so every one is a cache miss that reaches KOS) and %.0f product changes/s (each on its own "+
		"line, whose customer the client's main page had read first, as it does), requests started on schedule "+
		"whatever the answers took (open model), client timeout 10 s.", a.Duration, a.InqRate, a.ChgRate)
	p("")
	p("| endpoint | requests | p50 | p99 | max | non-2xx | answers |")
	p("|---|---|---|---|---|---|---|")
	for _, e := range []struct {
		name string
		st   stats
	}{{"bill inquiry", a.Inquiry}, {"product change", a.Change}} {
		p("| %s | %d | %s | %s | %s | %d | %s |", e.name, e.st.N, dur(e.st.P50), dur(e.st.P99), dur(e.st.Max),
			e.st.Non2xx, e.st.outcomes())
	}
	p("")
	inqFail := 0
	for k, v := range a.Inquiry.Outcomes {
		if strings.HasPrefix(k, "fail:") {
			inqFail += v
		}
	}
	p("* Error rate (non-2xx or no answer): %s of inquiries, %s of changes. Business failures the client shows: "+
		"%s of inquiries answered `success:false` after their retries (every attempt hit a `9999` or the budget ran "+
		"out); changes end COMPLETED, FAILED or PENDING as listed (PENDING is SPEC §5.4 6a: the outcome at KOS is "+
		"unknown and the worker finishes it).",
		pct(a.Inquiry.Non2xx, a.Inquiry.N), pct(a.Change.Non2xx, a.Change.N), pct(inqFail, a.Inquiry.N))
	p("* %s No answer later than the request deadline (8 s, KOS retries included) + 100 ms: %d over 8.1 s; "+
		"%s none near the client's 10 s: %d over 9.5 s (slowest %s).", check(a.OverDeadline == 0), a.OverDeadline,
		check(a.NearClient == 0), a.NearClient, dur(max(a.Inquiry.Max, a.Change.Max)))
	var ops []string
	for op, oc := range a.KOSCalls {
		total := 0
		for _, n := range oc {
			total += n
		}
		var parts []string
		for o, n := range oc {
			parts = append(parts, fmt.Sprintf("%s %s", o, pct(n, total)))
		}
		sort.Strings(parts)
		ops = append(ops, fmt.Sprintf("%s %d (%s)", op, total, strings.Join(parts, ", ")))
	}
	sort.Strings(ops)
	p("* KOS calls the services made (every attempt, warm-up included; `phonebill_kos_calls_total`): %s. "+
		"`business_failure` is KOS's own refusal (an answer), `system_error` the mix's `9999`, retried by reads "+
		"within the budget.", strings.Join(ops, "; "))
	tr := "none"
	if len(a.LogTransitions) > 0 {
		tr = fmt.Sprintf("%d (%s)", len(a.LogTransitions), strings.Join(a.LogTransitions, ", "))
	}
	mt := "none"
	if len(a.MetricChanges) > 0 {
		mt = strings.Join(a.MetricChanges, "; ")
	}
	p("* Breaker transitions (the all-in-one's `kos breaker` log lines): %s; changes of "+
		"`phonebill_kos_breaker_state` seen in /metrics every 250 ms: %s. The breaker opens after 5 consecutive "+
		"failed attempts; at a 5 %% error rate with independent patterns that takes a run of 5 errors in a row "+
		"(about 3 in 10 million), so under the plain mix it should stay closed.", tr, mt)
	if r.PNG != "" {
		p("")
		p("![latency of every request under the KOS mix](%s)", strings.TrimPrefix(r.PNG, "docs/"))
	}
	p("")

	bb := r.B
	p("### b. Redis stopped mid-run")
	p("")
	p("KOS-Mock's random patterns off (every error is the fault's). 20 s of 10 cached bill inquiries/s, 5 cached "+
		"product-customer reads/s and 2 requests/s with an access token revoked by a real logout; the private "+
		"redis-server killed at %s and started again (empty) at %s.", bb.StopAt, bb.StartAt)
	p("")
	p("| endpoint | window | requests | p50 | p99 | errors |")
	p("|---|---|---|---|---|---|")
	for _, e := range []struct {
		name string
		w    []window
	}{{"bill inquiry", bb.Inquiry}, {"product customer", bb.Customer}} {
		for _, w := range e.w {
			p("| %s | %s | %d | %s | %s | %d |", e.name, w.Name, w.N, dur(w.P50), dur(w.P99), w.Errors)
		}
	}
	p("")
	p("* %s No 5xx (nor unanswered request): %d in %d requests.", check(bb.Total5xx == 0), bb.Total5xx, len(bb.Samples))
	p("* %s The revoked token stayed refused: %d of %d requests answered 401 (before, during and after the outage).",
		check(bb.RevokedAccepted == 0), bb.RevokedN-bb.RevokedAccepted, bb.RevokedN)
	p("* After Redis came back (empty), inquiries were cache hits again: %d hits.", bb.HitsAfter)
	p("")

	if r.BCPNG != "" {
		p("![latency of every request with Redis stopped, then PostgreSQL restarted](%s)", strings.TrimPrefix(r.BCPNG, "docs/"))
		p("")
	}
	c := r.C
	p("### c. PostgreSQL restarted mid-run")
	p("")
	p("Same all-in-one, 20 s of 10 cached bill inquiries/s (each writes its history row), 2 history reads/s and 5 "+
		"cached product-customer reads/s; the private PostgreSQL stopped in immediate mode (open connections die, as in "+
		"a crash or failover) at %s and back (accepting connections) at %s.", c.StopAt, c.UpAt.Round(10*time.Millisecond))
	p("")
	p("| endpoint | window | requests | p50 | p99 | errors |")
	p("|---|---|---|---|---|---|")
	for _, e := range []struct {
		name string
		w    []window
	}{{"bill inquiry", c.Inquiry}, {"bill history", c.History}, {"product customer", c.Customer}} {
		for _, w := range e.w {
			codes := ""
			if len(w.ErrorCodes) > 0 {
				var ks []string
				for k, v := range w.ErrorCodes {
					ks = append(ks, fmt.Sprintf("%s ×%d", k, v))
				}
				sort.Strings(ks)
				codes = " (" + strings.Join(ks, ", ") + ")"
			}
			p("| %s | %s | %d | %s | %s | %d%s |", e.name, w.Name, w.N, dur(w.P50), dur(w.P99), w.Errors, codes)
		}
	}
	p("")
	p("* %s Errors only during the outage: %d outside [stop, back + 3 s]; %s all of them 503 "+
		"`SERVICE_UNAVAILABLE`: %d other. Failed requests during the outage answered within %s (p99).",
		check(c.ErrorsOutside == 0), c.ErrorsOutside, check(c.Non503 == 0), c.Non503, dur(c.OutageP99Answer))
	p("* Recovery: first database-backed success %s after PostgreSQL accepted connections again; last error %s "+
		"after it. Product-customer reads, served from Redis, never needed the database.",
		dur(c.FirstOKAfter), dur(c.LastErrorAfter))
	p("")

	d := r.D
	l := d.Count
	p("### d. Duplicate events and crashes between commit and publish")
	p("")
	p("KOS-Mock's random patterns off; %d product changes over 30 s, one per line, every third forced to KOS's "+
		"`timeout` scenario (KOS applies the change, then stays silent past the 5 s call timeout, so the request "+
		"ends PENDING and the change worker must finish it). The all-in-one was killed with SIGKILL at %s and "+
		"restarted at once each time (whatever sat between a commit and its publish, or half-way through a change, "+
		"was lost from memory). Then every `change.requested` event in the outbox was delivered 5× in a row and 5× "+
		"at once to the separately started change-worker function (%d deliveries). Settled in %s. Counted in the "+
		"database over every change of the run (phases a and d):", d.Change.N, durs(d.Kills), d.DupDeliveries,
		d.SettleTook.Round(100*time.Millisecond))
	p("")
	p("| | count |")
	p("|---|---|")
	p("| client answers (phase d) | %s |", d.Change.outcomes())
	p("| change rows phase d's requests created | %d (the other %d never got one: they met the closed port of a killed server, or died before their first commit) |",
		d.Rows, d.Change.N-d.Rows)
	p("| change rows (pc_product_change_history) | %d: %s |", l.Changes, mapString(l.ByStatus))
	p("| changes KOS applied (kos_mock.processing_results SUCCESS) / refused | %d / %d |", l.KOSApplied, l.KOSRefused)
	p("| lost: COMPLETED without a KOS success, or applied at KOS and not COMPLETED | **%d** %s |", l.Lost, check(l.Lost == 0))
	p("| KOS changes with no change row | %d %s |", l.Phantom, check(l.Phantom == 0))
	p("| lines changed twice (doubled) | **%d** %s |", l.DoubledLines, check(l.DoubledLines == 0))
	p("| lines whose product at KOS differs from what the history says | %d %s |", l.WrongProduct, check(l.WrongProduct == 0))
	p("| COMPLETED changes without exactly one product.changed event | %d %s |", l.ChangedBad, check(l.ChangedBad == 0))
	p("| outbox rows never published | %d %s |", l.Unpublished, check(l.Unpublished == 0))
	p("| changes still open after the run | %d %s |", l.Unsettled, check(l.Unsettled == 0))
	p("| client told COMPLETED but not COMPLETED in the database | %d %s |", d.ClientMismatch, check(d.ClientMismatch == 0))
	p("| duplicate deliveries answered 200 | %d of %d %s |", d.DupStatuses[200], d.DupDeliveries,
		check(d.DupStatuses[200] == d.DupDeliveries))
	p("| events with an effect (processed_events rows) | %d |", l.Processed)
	p("")
	if f := r.failures(); len(f) > 0 {
		p("**Failed criteria:** %s.", strings.Join(f, "; "))
	} else {
		p("Every pass criterion above held.")
	}
	return b.String()
}

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.1f s", d.Seconds()))
	}
	return strings.Join(s, " and ")
}

func mapString(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var out []string
	for _, k := range ks {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(out, ", ")
}
