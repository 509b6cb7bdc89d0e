package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/auth"
	"phonebill/shared/config"
)

// kit is what every phase uses: the system, a direct pool to the private
// database (for setup and counting), tokens signed with the run's secret,
// and the load's HTTP client.
type kit struct {
	sys    *system
	pool   *pgxpool.Pool
	tokens *auth.Tokens
	c      *http.Client
	months []string // the current Seoul month and the 5 before, YYYYMM
}

func newKit(ctx context.Context, sys *system) (*kit, error) {
	pool, err := pgxpool.New(ctx, sys.dbURL)
	if err != nil {
		return nil, err
	}
	tk, err := auth.NewTokens(config.JWT{Secret: jwtSecret, AccessValiditySeconds: 3600, RefreshValiditySeconds: 86400,
		LeewaySeconds: 30}, nil)
	if err != nil {
		pool.Close()
		return nil, err
	}
	seoul, _ := time.LoadLocation("Asia/Seoul")
	now := time.Now().In(seoul)
	first := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, seoul)
	var months []string
	for i := range 6 {
		months = append(months, first.AddDate(0, -i, 0).Format("200601"))
	}
	return &kit{sys: sys, pool: pool, tokens: tk, c: newClient(), months: months}, nil
}

// line is the n-th load line: 010-7xxx-xxxx, away from the seed's lines.
func line(n int) string { return fmt.Sprintf("0107%07d", n) }

func dashed(l string) string { return l[:3] + "-" + l[3:7] + "-" + l[7:] }

// token is an access token of the line's (synthetic) owner.
func (k *kit) token(l string) string {
	tok, _, err := k.tokens.Issue(auth.Claims{UserID: "load" + l[3:], CustomerID: "LD" + l[3:], LineNumber: dashed(l),
		Permissions: []string{auth.PermBillInquiry, auth.PermProductChange}}, auth.TypeAccess)
	if err != nil {
		panic(err) // the secret is a valid constant
	}
	return tok
}

func (k *kit) request(method, path, tok string, body any, hdr ...string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, k.sys.base+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req, nil
}

// call sends one request and decodes a JSON answer into dst (may be nil).
func (k *kit) call(method, path, tok string, body, dst any, hdr ...string) (int, error) {
	req, err := k.request(method, path, tok, body, hdr...)
	if err != nil {
		return 0, err
	}
	res, err := k.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if dst != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, dst); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode, nil
}

// createLines makes KOS-Mock test data (customer, current product, six
// months of bills) for lines [from, to), eight at a time.
func (k *kit) createLines(ctx context.Context, from, to int) error {
	var wg sync.WaitGroup
	errs := make(chan error, to-from)
	sem := make(chan struct{}, 8)
	for n := from; n < to; n++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			l := line(n)
			var last error
			for range 3 {
				var out struct {
					Success bool `json:"success"`
				}
				st, err := k.call("POST", "/api/v1/kos/mock-datas", "", map[string]string{"customerId": "LD" + l[3:],
					"lineNumber": dashed(l)}, &out)
				if err == nil && st == 200 && out.Success {
					return
				}
				last = fmt.Errorf("mock data for %s: %d %v", l, st, err)
			}
			errs <- last
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// currentProducts reads the lines' current products at KOS.
func (k *kit) currentProducts(ctx context.Context, lines []string) (map[string]string, error) {
	rows, err := k.pool.Query(ctx, `SELECT line_number, current_product_code FROM kos_mock.customers
		WHERE line_number = ANY($1)`, lines)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var l, p string
		if err := rows.Scan(&l, &p); err != nil {
			return nil, err
		}
		out[l] = p
	}
	return out, rows.Err()
}

// targetFor picks a KT product on sale other than the current one.
func targetFor(current string, i int) string {
	choices := []string{"5G-PREMIUM-001", "5G-STANDARD-001", "LTE-PREMIUM-001", "LTE-BASIC-001"}
	for j := range choices {
		if c := choices[(i+j)%len(choices)]; c != current {
			return c
		}
	}
	return choices[0]
}

// warmCustomers reads each line's customer and product once (as the client's
// main page does), retrying KOS failures, so that changes find their
// pre-check data cached.
func (k *kit) warmCustomers(ctx context.Context, lines []string) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	var failed []string
	for _, l := range lines {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for range 8 {
				var e envelope
				if st, err := k.call("GET", "/api/v1/products/customer?lineNumber="+l, k.token(l), nil, &e); err == nil && st == 200 && e.Success {
					return
				}
			}
			mu.Lock()
			failed = append(failed, l)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		return fmt.Errorf("customer of %d lines could not be read: %v", len(failed), failed)
	}
	return nil
}

// breakerWatch samples phonebill_kos_breaker_state every 250 ms and keeps
// the changes it sees.
type breakerWatch struct {
	mu      sync.Mutex
	last    map[string]string
	changes []string
}

func (k *kit) watchBreakers(ctx context.Context, start time.Time) *breakerWatch {
	w := &breakerWatch{last: map[string]string{}}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			res, err := k.c.Get(k.sys.base + "/metrics")
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				l := sc.Text()
				if !strings.HasPrefix(l, "phonebill_kos_breaker_state{") {
					continue
				}
				caller, val, _ := strings.Cut(strings.TrimPrefix(l, "phonebill_kos_breaker_state{"), "} ")
				w.mu.Lock()
				if prev, ok := w.last[caller]; ok && prev != val {
					w.changes = append(w.changes, fmt.Sprintf("%.1f s %s %s→%s", time.Since(start).Seconds(), caller,
						breakerName(prev), breakerName(val)))
				}
				w.last[caller] = val
				w.mu.Unlock()
			}
			res.Body.Close()
		}
	}()
	return w
}

func breakerName(v string) string {
	switch v {
	case "0":
		return "closed"
	case "1":
		return "half-open"
	case "2":
		return "open"
	}
	return v
}

func (w *breakerWatch) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.changes...)
}

// breakerLogLines counts the "kos breaker" transitions a process logged.
func breakerLogLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg  string `json:"msg"`
			From string `json:"from"`
			To   string `json:"to"`
			Time string `json:"time"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "kos breaker" {
			out = append(out, l.From+"→"+l.To)
		}
	}
	return out, sc.Err()
}

func pct(n, of int) string {
	if of == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + " %"
}

// kosCalls reads phonebill_kos_calls_total from /metrics: calls by
// operation and outcome (ok, business_failure, system_error, timeout, ...).
func (k *kit) kosCalls() map[string]map[string]int {
	out := map[string]map[string]int{}
	res, err := k.c.Get(k.sys.base + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "phonebill_kos_calls_total{") {
			continue
		}
		labels, val, _ := strings.Cut(strings.TrimPrefix(l, "phonebill_kos_calls_total{"), "} ")
		var op, outcome string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "op":
				op = v
			case "outcome":
				outcome = v
			}
		}
		n, _ := strconv.ParseFloat(val, 64)
		if out[op] == nil {
			out[op] = map[string]int{}
		}
		out[op][outcome] += int(n)
	}
	return out
}
