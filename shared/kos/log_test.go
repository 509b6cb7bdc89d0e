package kos

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"phonebill/shared/config"
)

// At DEBUG the client writes one line per attempt with method, path,
// status, duration and attempt number — and nothing of the body (the line
// number sits in the body here, so it must not appear either); at INFO it
// writes nothing.
func TestDebugLinePerAttemptWithoutBody(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		f := &fakeKOS{replies: []reply{{status: 500, body: serverErrStr}, {status: 200, body: okBody}}}
		srv := newServer(t, f)
		c, err := New(Options{Config: config.KOS{BaseURL: srv, TimeoutMS: 2000, BreakerFailures: 5, BreakerOpenSeconds: 1},
			ServiceName: "MVNO-TEST", Registry: prometheus.NewRegistry(), Backoff: []time.Duration{time.Millisecond},
			Log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(context.Background(), read(1)); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if level == slog.LevelInfo {
			if buf.Len() != 0 {
				t.Fatalf("at INFO the client logged: %s", buf.String())
			}
			continue
		}
		if len(lines) != 2 {
			t.Fatalf("%d lines for 2 attempts: %s", len(lines), buf.String())
		}
		for i, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"msg": "kos call", "method": "POST", "path": "/api/v1/kos/bill/inquiry",
				"status": float64([]int{500, 200}[i]), "attempt": float64(i + 1)}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("line %d: %s = %v, want %v (%s)", i, k, m[k], v, l)
				}
			}
			if _, ok := m["duration_ms"].(float64); !ok {
				t.Errorf("line %d has no duration_ms: %s", i, l)
			}
			if strings.Contains(l, "01012345678") || strings.Contains(l, "REQ_1") {
				t.Errorf("line %d carries request data: %s", i, l)
			}
		}
	}
}
