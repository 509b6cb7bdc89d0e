package cache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"phonebill/shared/cache"
	"phonebill/shared/config"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ct" + hex.EncodeToString(b) + ":"
}

type bill struct {
	Month string `json:"month"`
	Total int    `json:"total"`
}

func TestGetSetDelWithPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis at 127.0.0.1:6379")
	}
	t.Parallel()
	ctx := context.Background()
	p := prefix()
	c := cache.New(config.Redis{Addr: "127.0.0.1:6379", KeyPrefix: p}, quiet)
	t.Cleanup(func() { _ = c.DelMatch(ctx, "*"); _ = c.Close() })

	if _, ok := cache.GetJSON[bill](ctx, c, "bill:data:01012345678:202509"); ok {
		t.Fatal("hit on an empty prefix")
	}
	c.Set(ctx, "bill:data:01012345678:202509", bill{"202509", 76500}, time.Minute)
	c.Set(ctx, "bill:data:01012345678:202508", bill{"202508", 72300}, time.Minute)
	c.Set(ctx, "bill:data:01099999999:202509", bill{"202509", 1}, time.Minute)
	got, ok := cache.GetJSON[bill](ctx, c, "bill:data:01012345678:202509")
	if !ok || got.Total != 76500 {
		t.Fatalf("get = %+v %v", got, ok)
	}
	if n, _ := c.Client().Exists(ctx, p+"bill:data:01012345678:202509").Result(); n != 1 {
		t.Errorf("key is not stored under the prefix")
	}
	if ttl, _ := c.Client().TTL(ctx, p+"bill:data:01012345678:202509").Result(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("ttl = %v", ttl)
	}
	if err := c.DelMatch(ctx, "bill:data:01012345678:*"); err != nil {
		t.Fatal(err)
	}
	if _, ok := cache.GetJSON[bill](ctx, c, "bill:data:01012345678:202508"); ok {
		t.Error("DelMatch left a matching key")
	}
	if _, ok := cache.GetJSON[bill](ctx, c, "bill:data:01099999999:202509"); !ok {
		t.Error("DelMatch removed another line's key")
	}
}

// A dead Redis is a miss within a bounded delay, never an error.
func TestDeadRedisIsAMiss(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := cache.New(config.Redis{Addr: addr, KeyPrefix: prefix()}, quiet)
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	c.Set(ctx, "k", bill{"202509", 1}, time.Minute)
	_, ok := cache.GetJSON[bill](ctx, c, "k")
	_ = c.Del(ctx, "k")
	if ok {
		t.Fatal("hit from a dead Redis")
	}
	// Three commands, each at most ~200 ms dial + one retry: generous bound.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dead Redis cost %v, want a bounded delay", d)
	}
}

// A black-holed Redis (accepts, never answers) costs one timeout per
// cool-down, not one per command.
func TestBlackHoledRedisCoolsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // hold it open, say nothing
		}
	}()
	c := cache.New(config.Redis{Addr: ln.Addr().String(), KeyPrefix: prefix()}, quiet)
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	for range 20 {
		if _, ok := cache.GetJSON[bill](ctx, c, "k"); ok {
			t.Fatal("hit from a black hole")
		}
	}
	if !c.Down() {
		t.Error("Down() = false after timeouts")
	}
	if err := c.DelMatch(ctx, "x:*"); err == nil {
		t.Error("DelMatch succeeded while Redis is down: an eviction would be lost instead of retried")
	}
	// 20 commands would cost 20 × ~400 ms without the cool-down.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("20 reads took %v, want about one timeout", d)
	}
}
