package alerttest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"go.yaml.in/yaml/v3"
)

// rule is one alert of the PrometheusRule.
type rule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
	For   string `yaml:"for"`
}

func loadAlerts(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("../ops/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Groups []struct {
				Rules []rule `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(strings.NewReader(strings.SplitN(string(b), "---\n", 2)[1]))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && doc.Kind == "" {
		t.Fatal(err)
	}
	var out []rule
	for _, g := range doc.Spec.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatal("no alerts in knative/ops/alerts.yaml")
	}
	return out
}

// scenario is a set of series (promqltest load notation, one sample a
// minute from 0) and whether the alert fires at minute At.
type scenario struct {
	Series string
	At     int
	Fire   bool
}

// cases: per alert, one firing scenario and at least one near miss.
var cases = map[string][]scenario{
	"PodCrashLooping": {
		{`kube_pod_container_status_restarts_total{namespace="phonebill",pod="p",container="c"} 0+1x20`, 15, true},
		{`kube_pod_container_status_restarts_total{namespace="phonebill",pod="p",container="c"} 0 0 0 0 0 0 0 0 0 0 1 2 3 3 3 3 3 3`, 17, false},
		{`kube_pod_container_status_restarts_total{namespace="other",pod="p",container="c"} 0+1x20`, 15, false},
	},
	"NodeNotReady": {
		{`kube_node_status_condition{condition="Ready",status="true",node="n"} 1 1 0x10`, 10, true},
		{`kube_node_status_condition{condition="Ready",status="true",node="n"} 1 1 1 1 1 1 0 0 0 1 1`, 10, false},
	},
	"ContainerMemoryNearLimit": {
		{`container_memory_working_set_bytes{namespace="phonebill",pod="p",container="function"} 125829120x10
		  kube_pod_container_resource_limits{namespace="phonebill",pod="p",container="function",resource="memory"} 134217728x10`, 8, true},
		{`container_memory_working_set_bytes{namespace="phonebill",pod="p",container="function"} 104857600x10
		  kube_pod_container_resource_limits{namespace="phonebill",pod="p",container="function",resource="memory"} 134217728x10`, 8, false},
	},
	"VolumeAlmostFull": {
		{`kubelet_volume_stats_used_bytes{namespace="phonebill",persistentvolumeclaim="data"} 9x10
		  kubelet_volume_stats_capacity_bytes{namespace="phonebill",persistentvolumeclaim="data"} 10x10`, 8, true},
		{`kubelet_volume_stats_used_bytes{namespace="phonebill",persistentvolumeclaim="data"} 7x10
		  kubelet_volume_stats_capacity_bytes{namespace="phonebill",persistentvolumeclaim="data"} 10x10`, 8, false},
	},
	"FunctionErrorRatioHigh": {
		{`phonebill_http_requests_total{route="bill-inquiry",method="POST",status="500"} 0+10x20
		  phonebill_http_requests_total{route="bill-inquiry",method="POST",status="200"} 0+10x20`, 15, true},
		{`phonebill_http_requests_total{route="bill-inquiry",method="POST",status="500"} 0+1x20
		  phonebill_http_requests_total{route="bill-inquiry",method="POST",status="200"} 0+100x20`, 15, false},
	},
	"KOSBreakerOpen": {
		{`phonebill_kos_breaker_state{caller="MVNO-PRODUCT-CHANGE",function="product-change"} 0 2x10`, 5, true},
		{`phonebill_kos_breaker_state{caller="MVNO-PRODUCT-CHANGE",function="product-change"} 0 1x10`, 5, false},
	},
	"OutboxUnpublished": {
		{`phonebill_product_outbox_oldest_unpublished_seconds 0 60 180 240`, 3, true},
		{`phonebill_product_outbox_oldest_unpublished_seconds 0 30 60 0`, 3, false},
	},
	"DeadLetterReceived": {
		{`phonebill_product_dead_letters_total 0 0 0 1 1 1`, 5, true},
		{`phonebill_product_relay_actions_total{action="unresolved"} 0 0 1 1 1`, 4, true},
		{`phonebill_product_dead_letters_total 0x10
		  phonebill_product_relay_actions_total{action="reemitted"} 0+3x10`, 8, false},
	},
	"ChangePendingTooLong": {
		{`phonebill_product_change_oldest_pending_seconds 500 560 620 680`, 3, true},
		{`phonebill_product_change_oldest_pending_seconds 500 560 0 60`, 3, false},
	},
	"LoginLockoutsSpiking": {
		{`phonebill_auth_login_events_total{type="LOGIN",status="LOCKED"} 0+5x20`, 15, true},
		{`phonebill_auth_login_events_total{type="LOGIN",status="LOCKED"} 0+1x20
		  phonebill_auth_login_events_total{type="LOGIN",status="FAILURE"} 0+50x20`, 15, false},
	},
}

// Every alert fires on its scenario and stays quiet on the near misses,
// evaluated as Prometheus does: once a minute, with its `for` hold.
func TestAlertsFireAndStayQuiet(t *testing.T) {
	alerts := loadAlerts(t)
	seen := map[string]bool{}
	for _, a := range alerts {
		seen[a.Alert] = true
		cs := cases[a.Alert]
		fires, quiet := 0, 0
		for _, c := range cs {
			if c.Fire {
				fires++
			} else {
				quiet++
			}
		}
		if fires == 0 || quiet == 0 {
			t.Errorf("%s: %d firing and %d quiet scenarios, want at least one of each", a.Alert, fires, quiet)
		}
		for i, c := range cs {
			if got := firesAt(t, a, c); got != c.Fire {
				t.Errorf("%s scenario %d: firing at minute %d = %v, want %v", a.Alert, i, c.At, got, c.Fire)
			}
		}
	}
	for name := range cases {
		if !seen[name] {
			t.Errorf("scenarios for %s, which is no alert of the file", name)
		}
	}
}

func firesAt(t *testing.T, a rule, c scenario) bool {
	t.Helper()
	var load strings.Builder
	load.WriteString("load 1m\n")
	for _, l := range strings.Split(c.Series, "\n") {
		load.WriteString("  " + strings.TrimSpace(l) + "\n")
	}
	st := promqltest.LoadedStorage(t, load.String())
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(a.Expr)
	if err != nil {
		t.Fatalf("%s: %v", a.Alert, err)
	}
	var hold time.Duration
	if a.For != "" {
		d, err := model.ParseDuration(a.For)
		if err != nil {
			t.Fatalf("%s: for %q: %v", a.Alert, a.For, err)
		}
		hold = time.Duration(d)
	}
	r := rules.NewAlertingRule(a.Alert, expr, hold, 0, labels.EmptyLabels(), labels.EmptyLabels(),
		labels.EmptyLabels(), "", true, slog.New(slog.DiscardHandler))
	q := rules.EngineQueryFunc(engine, st)
	for m := 0; m <= c.At; m++ {
		if _, err := r.Eval(context.Background(), 0, time.Unix(0, 0).Add(time.Duration(m)*time.Minute), q, nil, 0); err != nil {
			t.Fatalf("%s: eval at minute %d: %v", a.Alert, m, err)
		}
	}
	for _, al := range r.ActiveAlerts() {
		if al.State == rules.StateFiring {
			return true
		}
	}
	return false
}
