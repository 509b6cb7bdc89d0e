package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/cache"
	"phonebill/shared/config"
	"phonebill/shared/db/migrate"
)

// scratch is the benchmark's own database and Redis key prefix, created at
// the start and removed at the end, so nothing else is touched.
type scratch struct {
	dbName string
	dbURL  string // the scratch database
	admin  string // the server's maintenance database
	prefix string
	redis  string
}

// readEnvFile parses KEY=VALUE lines (comments and blanks skipped).
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not KEY=VALUE", path, line)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return out, sc.Err()
}

// environ renders base with overrides applied; keys set to "" are removed.
func environ(base map[string]string, overrides map[string]string) []string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range overrides {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newScratch creates pb_bench_<rand> on the server of baseURL and applies
// the migrations and the seed.
func newScratch(ctx context.Context, baseURL, redisAddr string) (*scratch, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	id := randHex(4)
	s := &scratch{dbName: "pb_bench_" + id, prefix: "pb_bench_" + id + ":", redis: redisAddr}
	u.Path = "/" + s.dbName
	s.dbURL = u.String()
	u.Path = "/postgres"
	s.admin = u.String()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := migrate.Prepare(ctx, s.dbURL); err != nil {
		s.drop()
		return nil, err
	}
	return s, nil
}

// drop removes the scratch database and every key under the prefix.
func (s *scratch) drop() []error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, s.admin); err != nil {
		errs = append(errs, fmt.Errorf("drop %s: %w", s.dbName, err))
	} else {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop %s: %w", s.dbName, err))
		}
		conn.Close(ctx)
	}
	c := cache.New(config.Redis{Addr: s.redis, KeyPrefix: s.prefix}, nil)
	defer c.Close()
	if err := c.DelMatch(ctx, "*"); err != nil {
		errs = append(errs, fmt.Errorf("redis keys %s*: %w", s.prefix, err))
	}
	return errs
}
