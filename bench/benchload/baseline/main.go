// Command baseline serves the three floors the load benchmark reads the
// endpoints against, built from the same shared libraries the functions use
// and configured from the same environment:
//
//	GET /bare       a fixed JSON body (net/http alone)
//	GET /jwt-redis  HS256 verification of the bearer token, then one Redis GET
//	GET /pgx        one primary-key SELECT through the pgx pool
//
// It runs as its own process, like the all-in-one, so that both are measured
// the same way (same GOMAXPROCS, CPU time read from /proc).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"phonebill/shared/auth"
	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db"
)

// CacheKey is the key /jwt-redis reads (under REDIS_KEY_PREFIX).
const CacheKey = "bench:baseline"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fatal:", err)
		os.Exit(1)
	}
}

func run() error {
	var s struct {
		HTTP  config.HTTP
		DB    config.DB
		Redis config.Redis
		JWT   config.JWT
	}
	if err := config.Load(&s); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	tokens, err := auth.NewTokens(s.JWT, nil)
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, s.DB)
	if err != nil {
		return err
	}
	defer pool.Close()
	c := cache.New(s.Redis, nil)
	defer c.Close()
	// A value of the size of a cached bill.
	value, _ := json.Marshal(map[string]any{"billInfo": map[string]any{"lineNumber": "01012345678",
		"billingMonth": "202501", "productCode": "5G-STANDARD-001", "productName": "5G 스탠다드 플랜",
		"monthlyFee": 69000, "usageFee": 12500, "discountAmount": 5000, "totalFee": 76500, "dataUsage": "45GB",
		"voiceUsage": "210분", "smsUsage": "35건", "billStatus": "CONFIRMED", "dueDate": "20250225"},
		"customerInfo": map[string]any{"customerName": "홍길동", "customerId": "CUST001", "operatorCode": "KT",
			"lineStatus": "ACTIVE"}})
	if err := c.Client().Set(ctx, c.Key(CacheKey), value, time.Hour).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}

	bare := []byte(`{"status":"UP","service":"baseline"}`)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/readiness", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, bare) })
	mux.HandleFunc("GET /bare", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, bare) })
	mux.HandleFunc("GET /jwt-redis", func(w http.ResponseWriter, r *http.Request) {
		if _, err := tokens.Verify(auth.BearerToken(r), auth.TypeAccess); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		v, ok := c.GetBytes(r.Context(), CacheKey)
		if !ok {
			http.Error(w, "miss", http.StatusInternalServerError)
			return
		}
		writeJSON(w, v)
	})
	mux.HandleFunc("GET /pgx", func(w http.ResponseWriter, r *http.Request) {
		var u struct {
			UserID     string `json:"userId"`
			UserName   string `json:"userName"`
			CustomerID string `json:"customerId"`
			LineNumber string `json:"lineNumber"`
			Status     string `json:"accountStatus"`
		}
		err := pool.QueryRow(r.Context(), `SELECT user_id, COALESCE(user_name, ''), customer_id, line_number,
			account_status FROM auth.auth_users WHERE user_id = $1`, "testuser01").
			Scan(&u.UserID, &u.UserName, &u.CustomerID, &u.LineNumber, &u.Status)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b, _ := json.Marshal(u)
		writeJSON(w, b)
	})
	srv := &http.Server{Addr: s.HTTP.Addr(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
