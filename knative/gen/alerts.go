package gen

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AlertsFile holds the PrometheusRule of every alert (prometheus-operator).
const AlertsFile = "knative/ops/alerts.yaml"

// PrometheusRule is the prometheus-operator object (monitoring.coreos.com/v1),
// spelled out here instead of importing the operator's module.
type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              RuleSpec `json:"spec"`
}

// RuleSpec is the PrometheusRule's spec.
type RuleSpec struct {
	Groups []RuleGroup `json:"groups"`
}

// RuleGroup is one evaluation group.
type RuleGroup struct {
	Name  string  `json:"name"`
	Rules []Alert `json:"rules"`
}

// Alert is one alerting rule.
type Alert struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alert(name, expr, forDur, severity, summary, action string) Alert {
	return Alert{Alert: name, Expr: expr, For: forDur, Labels: map[string]string{"severity": severity},
		Annotations: map[string]string{"summary": summary, "action": action}}
}

// Alerts are the thresholds of the dev architecture's §8.1.1 (crash loop,
// node NotReady, memory, disk: kube-state-metrics, cAdvisor and kubelet
// series) and phonebill's own, on the functions' metrics. Each is unit
// tested to fire and not to fire (knative.TestAlertsFireAndStayQuiet); the
// metric-name check (functions/phonebill) keeps every phonebill_* series
// named here exported.
func Alerts() []RuleGroup {
	return []RuleGroup{{
		Name: "phonebill-cluster",
		Rules: []Alert{
			alert("PodCrashLooping",
				`increase(kube_pod_container_status_restarts_total{namespace="phonebill"}[15m]) >= 5`, "",
				"critical", "{{ $labels.pod }}/{{ $labels.container }} restarted 5 times in 15 minutes",
				"kubectl -n phonebill logs --previous {{ $labels.pod }} -c {{ $labels.container }}"),
			alert("NodeNotReady",
				`kube_node_status_condition{condition="Ready",status="true"} == 0`, "5m",
				"critical", "node {{ $labels.node }} NotReady for 5 minutes",
				"kubectl describe node {{ $labels.node }}; the stores' pods move only if the node is drained"),
			alert("ContainerMemoryNearLimit",
				`max by (namespace, pod, container) (container_memory_working_set_bytes{namespace="phonebill",container!=""})
  / max by (namespace, pod, container) (kube_pod_container_resource_limits{namespace="phonebill",resource="memory"}) > 0.85`, "5m",
				"warning", "{{ $labels.pod }}/{{ $labels.container }} above 85 % of its memory limit",
				"look for a leak in the function's Go memory panel; raise the limit (and GOMEMLIMIT) in the generator"),
			alert("VolumeAlmostFull",
				`kubelet_volume_stats_used_bytes{namespace="phonebill"} / kubelet_volume_stats_capacity_bytes{namespace="phonebill"} > 0.80`, "5m",
				"warning", "PVC {{ $labels.persistentvolumeclaim }} above 80 % full",
				"check the retention purge ran (phonebill_retention_purged_rows_total); grow the PVC"),
		},
	}, {
		Name: "phonebill-functions",
		Rules: []Alert{
			alert("FunctionErrorRatioHigh",
				`sum by (route) (rate(phonebill_http_requests_total{status=~"5.."}[5m]))
  / sum by (route) (rate(phonebill_http_requests_total[5m])) > 0.05`, "5m",
				"warning", "{{ $labels.route }} answers 5xx to more than 5 % of requests",
				"the function's logs (request_id); PostgreSQL or Redis reachability"),
			alert("KOSBreakerOpen",
				`max by (function) (phonebill_kos_breaker_state) == 2`, "1m",
				"warning", "the KOS circuit breaker of {{ $labels.function }} is open",
				"KOS is failing: check the KOS gateway; changes go PENDING and complete by themselves once it recovers"),
			alert("OutboxUnpublished",
				`max(phonebill_product_outbox_oldest_unpublished_seconds) > 120`, "",
				"warning", "an outbox event has waited over 2 minutes to be published",
				"the Broker or its ingress is unreachable from product functions; the relay sends it once it is back"),
			alert("DeadLetterReceived",
				`sum(increase(phonebill_product_dead_letters_total[10m])) > 0
  or sum(increase(phonebill_product_relay_actions_total{action="unresolved"}[10m])) > 0`, "",
				"warning", "an event or a change was dead-lettered",
				"read product_change.dead_letters (docs/operations.md, Logs and metrics)"),
			alert("ChangePendingTooLong",
				`max(phonebill_product_change_oldest_pending_seconds) > 600`, "",
				"warning", "a plan change has been PENDING for over 10 minutes",
				"KOS has given no definite answer; the sweep keeps re-sending; after 24 h it fails as KOS_UNRESOLVED"),
			alert("LoginLockoutsSpiking",
				`sum(increase(phonebill_auth_login_events_total{status="LOCKED"}[10m])) > 20`, "",
				"warning", "more than 20 locked login attempts in 10 minutes",
				"a password-guessing run is likely: look at client_ip in auth.auth_login_history"),
		},
	}}
}

// AlertRules is the PrometheusRule object of Alerts.
func AlertRules() PrometheusRule {
	return PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule"},
		ObjectMeta: metav1.ObjectMeta{Name: "phonebill-alerts", Namespace: Namespace, Labels: map[string]string{"app": "phonebill", "release": "prometheus"}},
		Spec:       RuleSpec{Groups: Alerts()},
	}
}

// DeepCopyObject makes PrometheusRule a runtime.Object (the manifest tests
// decode every document into a typed object).
func (p *PrometheusRule) DeepCopyObject() runtime.Object {
	c := *p
	p.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Spec.Groups = make([]RuleGroup, len(p.Spec.Groups))
	for i, g := range p.Spec.Groups {
		c.Spec.Groups[i] = RuleGroup{Name: g.Name, Rules: make([]Alert, len(g.Rules))}
		for j, a := range g.Rules {
			a.Labels, a.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
			c.Spec.Groups[i].Rules[j] = a
		}
	}
	return &c
}
