package knative

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"phonebill/functions/product"
	"phonebill/knative/gen"
	"phonebill/shared/fn"
)

// apiCallers are the workloads that call the Kubernetes API and so need a
// service-account token in their pods: none does (the functions talk to
// PostgreSQL, Redis, KOS and the Broker; the Jobs to PostgreSQL).
var apiCallers = map[string]bool{}

// checkNoToken: a pod that never calls the Kubernetes API gets no token.
func checkNoToken(d doc) []string {
	ps, _, ok := podSpecOf(d)
	if !ok || apiCallers[d.Obj.GetName()] {
		return nil
	}
	if a := ps.AutomountServiceAccountToken; a == nil || *a {
		return []string{fmt.Sprintf("%s: automountServiceAccountToken is not false (it never calls the Kubernetes API)", d)}
	}
	return nil
}

// Every function, Job and CronJob, and the infra workloads too, run
// without a service-account token: a compromised pod holds no credential
// for the API server.
func TestNoServiceAccountTokenInPods(t *testing.T) {
	t.Parallel()
	pods := 0
	for _, d := range loadRepo(t).Docs {
		if _, _, ok := podSpecOf(d); ok {
			pods++
		}
		for _, p := range checkNoToken(d) {
			t.Error(p)
		}
	}
	if pods < 30 {
		t.Fatalf("only %d pod templates found", pods)
	}
	t.Logf("%d pod templates without a token", pods)
}

func TestBrokenTokenMountFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	ks.Spec.Template.Spec.AutomountServiceAccountToken = nil
	wantProblem(t, checkNoToken(docOf(docs, ks)), ks.Name, "automountServiceAccountToken")
}

// drainProblems: Knative gives a revision's pod terminationGracePeriodSeconds
// = timeoutSeconds; the preStop hook (queue-proxy's /wait-for-drain) holds
// SIGTERM back until queue-proxy has been quiet for 30 s or the grace is
// spent, and kubelet then leaves at least 2 s before SIGKILL. The function's
// drain plus what it takes to stop after it (shared/fn's SIGTERM test
// measures both) must fit that window.
func drainProblems(docs []doc) (out []string, rows []string) {
	cms := configMaps(docs)
	for _, ks := range ofKind[*servingv1.Service](docs) {
		c := ks.Spec.Template.Spec.Containers[0]
		grace := *ks.Spec.Template.Spec.TimeoutSeconds
		preStop := min(grace, int64(gen.QueueProxyDrainSeconds))
		window := max(grace-preStop, int64(gen.KubeletMinGraceSeconds))
		v, ok := resolveEnv(c, "SHUTDOWN_TIMEOUT_SECONDS", cms)
		drain := int64(atoi(v))
		switch {
		case !ok || drain < 1:
			out = append(out, fmt.Sprintf("%s: SHUTDOWN_TIMEOUT_SECONDS %q, want the drain derived from timeoutSeconds %d", ks.Name, v, grace))
		case drain+gen.StopMarginSeconds > window:
			out = append(out, fmt.Sprintf("%s: drain %d s + stop %d s > the %d s kubelet leaves after SIGTERM (grace %d s, preStop %d s)",
				ks.Name, drain, gen.StopMarginSeconds, window, grace, preStop))
		}
		rows = append(rows, fmt.Sprintf("%s: grace %d s, preStop ≤ %d s, after SIGTERM %d s, drain %d s", ks.Name, grace, preStop, window, drain))
	}
	return out, rows
}

func TestDrainFitsTheGraceKnativeGives(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		problems, rows := drainProblems(r.profileDocs(p))
		for _, e := range problems {
			t.Errorf("%s: %s", p.Name, e)
		}
		if len(rows) == 0 {
			t.Fatalf("%s: no Knative Services", p.Name)
		}
		t.Logf("%s: %s", p.Name, rows[0])
	}
}

func TestBrokenDrainFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	c := &ks.Spec.Template.Spec.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == "SHUTDOWN_TIMEOUT_SECONDS" {
			c.Env[i].Value = "25"
		}
	}
	problems, _ := drainProblems(docs)
	wantProblem(t, problems, ks.Name, "kubelet leaves after SIGTERM")
}

// frontDoorProblems: the only way in from outside is the NGINX Ingress.
// Every Knative Service is cluster-local (Knative's public gateway serves
// none), no Service is a LoadBalancer or NodePort or has external IPs, and
// every Ingress is of class nginx and sends each path to kourier-internal
// with the cluster-local host of a function of the profile.
func frontDoorProblems(docs []doc) []string {
	var out []string
	ksvcs := map[string]bool{}
	for _, d := range docs {
		switch o := d.Obj.(type) {
		case *servingv1.Service:
			ksvcs[o.Name] = true
			if o.Labels[gen.LabelVisible] != "cluster-local" {
				out = append(out, fmt.Sprintf("%s: not cluster-local: public on Knative's own gateway", d))
			}
		case *corev1.Service:
			if o.Spec.Type == corev1.ServiceTypeLoadBalancer || o.Spec.Type == corev1.ServiceTypeNodePort || len(o.Spec.ExternalIPs) > 0 {
				out = append(out, fmt.Sprintf("%s: type %s with external IPs %v reaches the pods from outside", d, o.Spec.Type, o.Spec.ExternalIPs))
			}
		}
	}
	for _, d := range docs {
		ing, ok := d.Obj.(*networkingIngress)
		if !ok {
			continue
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != gen.IngressClass || ing.Spec.DefaultBackend != nil {
			out = append(out, fmt.Sprintf("%s: want class %s and no default backend", d, gen.IngressClass))
		}
		host := strings.TrimSuffix(ing.Annotations[gen.AnnVhost], "."+gen.Namespace+".svc.cluster.local")
		if !ksvcs[host] {
			out = append(out, fmt.Sprintf("%s: upstream-vhost %q is no cluster-local function of the profile", d, ing.Annotations[gen.AnnVhost]))
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != gen.KourierService || b.Port.Number != 80 {
					out = append(out, fmt.Sprintf("%s: path %s goes to %+v, not to %s:80", d, p.Path, p.Backend, gen.KourierService))
				}
			}
		}
	}
	return out
}

func TestOneFrontDoor(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		docs := r.profileDocs(p)
		for _, e := range frontDoorProblems(docs) {
			t.Errorf("%s: %s", p.Name, e)
		}
		t.Logf("%s: %d Knative Services, all cluster-local; %d Ingresses to %s", p.Name,
			len(ofKind[*servingv1.Service](docs)), len(ofKind[*networkingIngress](docs)), gen.KourierService)
	}
	// The kourier-internal backend is an ExternalName of Knative's internal
	// gateway, which serves cluster-local hosts only.
	for _, s := range ofKind[*corev1.Service](r.Docs) {
		if s.Name == gen.KourierService && (s.Spec.Type != corev1.ServiceTypeExternalName || s.Spec.ExternalName != gen.KourierTarget) {
			t.Errorf("%s: %s %q, want ExternalName %s", s.Name, s.Spec.Type, s.Spec.ExternalName, gen.KourierTarget)
		}
	}
}

func TestBrokenFrontDoorFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	delete(ks.Labels, gen.LabelVisible)
	wantProblem(t, frontDoorProblems(docs), ks.Name, "Knative's own gateway")
}

// cpuPerRequest reads the measured CPU per request of each function from
// docs/benchmarks.md: the server column of the load table (endpoint →
// function through the route table), and for the bcrypt routes without a
// row of their own login's figure (one cost-10 bcrypt plus the rest). A
// function measured nowhere gets unmeasuredFactor × the dearest measured
// non-bcrypt figure.
const unmeasuredFactor = 3

var loadRow = regexp.MustCompile(`^\| (GET|POST|PUT|PATCH|DELETE) (\S+)[^|]*\|(?:[^|]*\|){3} ([0-9.]+) µs,`)

func cpuPerRequest(t *testing.T, r *repo) (map[string]time.Duration, time.Duration) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.Root, "docs/benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, f := range r.In.Functions {
		for _, rt := range f.Routes {
			if !rt.IsEvent() {
				mux.HandleFunc(rt.Method+" "+rt.Path, func(http.ResponseWriter, *http.Request) {})
			}
		}
	}
	owner := func(method, path string) string {
		req, _ := http.NewRequest(method, "http://x/api/v1"+strings.ReplaceAll(strings.ReplaceAll(path, "{", ""), "}", ""), nil)
		_, pattern := mux.Handler(req)
		for _, f := range r.In.Functions {
			for _, rt := range f.Routes {
				if !rt.IsEvent() && rt.Method+" "+rt.Path == pattern {
					return f.Name
				}
			}
		}
		return ""
	}
	out := map[string]time.Duration{}
	var dearest time.Duration
	for _, line := range strings.Split(string(b), "\n") {
		m := loadRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		us, err := strconv.ParseFloat(m[3], 64)
		name := owner(m[1], m[2])
		if err != nil || name == "" {
			continue
		}
		d := time.Duration(us * float64(time.Microsecond))
		out[name] = max(out[name], d)
		if !slices.Contains(gen.BcryptRoutes, name) {
			dearest = max(dearest, d)
		}
	}
	login, ok := out["auth-login"]
	if !ok || login < 20*time.Millisecond || dearest == 0 {
		t.Fatalf("docs/benchmarks.md: no load row for login (%v) or for the other routes (%v): %v", login, dearest, out)
	}
	for _, n := range gen.BcryptRoutes {
		if _, ok := out[n]; !ok {
			out[n] = login
		}
	}
	return out, unmeasuredFactor * dearest
}

// queueProblems computes, per Knative Service, the worst time a request
// waits for CPU in one pod: perPod requests each needing cpu of CPU share
// the limit, so the last ends after perPod × cpu ÷ limit. perPod is the
// containerConcurrency cap, or, with a soft target only, twice the target
// (Knative's panic threshold: a burst below it is not scaled out at once).
// It also replays the burst that broke login (50 requests at once, all
// max-scale pods up, in waves of perPod per pod). Both stay under the
// timeout and, for HTTP functions, the request deadline inside the client's
// 10 s.
func queueProblems(docs []doc, cpu map[string]time.Duration, fallback time.Duration) (out, rows []string) {
	const burst = 50
	for _, ks := range ofKind[*servingv1.Service](docs) {
		c := ks.Spec.Template.Spec.Containers[0]
		limit := c.Resources.Limits.Cpu().AsApproximateFloat64()
		perPod := int64(2 * atoi(ks.Spec.Template.Annotations[gen.AnnTarget]))
		if cc := ks.Spec.Template.Spec.ContainerConcurrency; cc != nil && *cc > 0 {
			perPod = *cc
		}
		per, measured := cpu[ks.Name], true
		if ks.Name == gen.AllInOneName {
			per = slices.Max([]time.Duration{cpu["auth-login"], cpu["auth-register"], cpu["auth-change-password"]})
		} else if per == 0 {
			per, measured = fallback, false
		}
		if limit <= 0 || perPod <= 0 {
			out = append(out, fmt.Sprintf("%s: no CPU limit or per-pod concurrency", ks.Name))
			continue
		}
		full := time.Duration(float64(perPod) * float64(per) / limit)
		pods := int64(atoi(ks.Spec.Template.Annotations[gen.AnnMaxScale]))
		waves := (burst + pods*perPod - 1) / (pods * perPod)
		wave := time.Duration(float64(min(burst, perPod)) * float64(per) / limit)
		bound := time.Duration(*ks.Spec.Template.Spec.TimeoutSeconds) * time.Second
		if ks.Labels[gen.LabelKind] != gen.Event.String() && ks.Labels[gen.LabelKind] != gen.Scheduled.String() &&
			ks.Labels[gen.LabelKind] != gen.DeadLetter.String() {
			bound = 8 * time.Second // REQUEST_DEADLINE_MS, inside the client's 10 s
		}
		if full > bound || time.Duration(waves)*wave > bound {
			out = append(out, fmt.Sprintf("%s: a full pod (%d × %v CPU ÷ %.2f cores) waits %v, a burst of %d %v: over %v",
				ks.Name, perPod, per, limit, full.Round(time.Millisecond), burst, (time.Duration(waves)*wave).Round(time.Millisecond), bound))
		}
		note := ""
		if !measured {
			note = " (not measured: bound)"
		}
		rows = append(rows, fmt.Sprintf("%s: %d per pod × %v%s ÷ %.2f cores = %v; burst of %d over %d pods: %v",
			ks.Name, perPod, per.Round(time.Microsecond), note, limit, full.Round(time.Millisecond), burst, pods,
			(time.Duration(waves)*wave).Round(time.Millisecond)))
	}
	return out, rows
}

func TestQueueingStaysUnderTheTimeout(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	cpu, fallback := cpuPerRequest(t, r)
	for _, p := range r.In.Profiles {
		problems, rows := queueProblems(r.profileDocs(p), cpu, fallback)
		for _, e := range problems {
			t.Errorf("%s: %s", p.Name, e)
		}
		if p.Name == "dev" {
			for _, row := range rows {
				t.Log(row)
			}
		}
	}
}

func TestBrokenBcryptSizingFails(t *testing.T) {
	t.Parallel()
	r, _, docs, _ := devCopy(t)
	cpu, fallback := cpuPerRequest(t, r)
	var login *servingv1.Service
	for _, ks := range ofKind[*servingv1.Service](docs) {
		if ks.Name == "auth-login" {
			login = ks
		}
	}
	// The sizing before: a soft target of 50 at 200m.
	login.Spec.Template.Spec.ContainerConcurrency = nil
	login.Spec.Template.Annotations[gen.AnnTarget] = "50"
	login.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("200m")
	problems, _ := queueProblems(docs, cpu, fallback)
	wantProblem(t, problems, "auth-login", "over 8s")
}

// Knative's cluster defaults (config-autoscaler) and what a ping costs.
const (
	stableWindow     = 60 * time.Second // no requests for this long: desired scale 0
	scaleToZeroGrace = 30 * time.Second // upper bound before the last pod is removed
	coldStart        = 3 * time.Second  // scheduling + start (docs/operations.md: 1–3 s)
)

// pingsPerHour counts the pings of a five-field cron schedule's minute field
// ("*", "*/N", "M" or "M,N"; the other fields must be "*").
func pingsPerHour(schedule string) (int, error) {
	f := strings.Fields(schedule)
	if len(f) != 5 || f[1] != "*" || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		return 0, fmt.Errorf("schedule %q: only the minute field may be set", schedule)
	}
	switch m := f[0]; {
	case m == "*":
		return 60, nil
	case strings.HasPrefix(m, "*/"):
		n, err := strconv.Atoi(m[2:])
		if err != nil || n < 1 {
			return 0, fmt.Errorf("schedule %q", schedule)
		}
		return (60 + n - 1) / n, nil
	default:
		return len(strings.Split(m, ",")), nil
	}
}

// idleHour computes, for each Knative Service of a profile, the fraction of
// an hour without any client request that it has a pod: 1 with min-scale ≥
// 1; for a PingSource's target, each ping keeps a pod for the cold start,
// the stable window (the revision's window annotation if set), the
// scale-to-zero grace and the termination (preStop up to min(timeout, 30 s)
// plus kubelet's 2 s), merged when pings come closer than that; 0 otherwise.
func idleHour(docs []doc) (map[string]float64, map[string]time.Duration, []string) {
	frac := map[string]float64{}
	life := map[string]time.Duration{}
	var problems []string
	ksvcs := map[string]*servingv1.Service{}
	for _, ks := range ofKind[*servingv1.Service](docs) {
		ksvcs[ks.Name] = ks
		if atoi(ks.Spec.Template.Annotations[gen.AnnMinScale]) >= 1 {
			frac[ks.Name] = 1
		} else {
			frac[ks.Name] = 0
		}
	}
	for _, ps := range ofKind[*sourcesv1.PingSource](docs) {
		ks := ksvcs[ps.Spec.Sink.Ref.Name]
		n, err := pingsPerHour(ps.Spec.Schedule)
		if err != nil || ks == nil {
			problems = append(problems, fmt.Sprintf("PingSource %s: %v (sink %s)", ps.Name, err, ps.Spec.Sink.Ref.Name))
			continue
		}
		window := stableWindow
		if w, err := time.ParseDuration(ks.Spec.Template.Annotations["autoscaling.knative.dev/window"]); err == nil {
			window = w
		}
		timeout := time.Duration(*ks.Spec.Template.Spec.TimeoutSeconds) * time.Second
		l := coldStart + window + scaleToZeroGrace + min(timeout, gen.QueueProxyDrainSeconds*time.Second) + gen.KubeletMinGraceSeconds*time.Second
		life[ks.Name] = l
		frac[ks.Name] = max(frac[ks.Name], min(1, float64(n)*l.Seconds()/3600))
	}
	return frac, life, problems
}

// Idle means zero function pods: every function but the always-on
// all-in-one is at zero in an idle hour except for the outbox relay's rare
// safety ping, and what stays warm, queue-proxy included, fits the seed's
// budget. The relay is driven by work (a sweep chain while anything is left,
// functions/product/sweep.go), so its figure is one ping's pod life per
// ping; the worst-case publish delay (an event whose send failed while the
// Broker was away, with no change deferred after it) is one ping interval.
func TestIdleHourWarmFraction(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	maxCPU, maxMem := resource.MustParse("300m"), resource.MustParse("768Mi")
	for _, p := range r.In.Profiles {
		docs := r.profileDocs(p)
		frac, life, problems := idleHour(docs)
		for _, e := range problems {
			t.Error(e)
		}
		var cpu, mem resource.Quantity
		for _, ks := range ofKind[*servingv1.Service](docs) {
			f := frac[ks.Name]
			scheduled := ks.Labels[gen.LabelKind] == gen.Scheduled.String()
			alwaysOn := ks.Spec.Template.Annotations[gen.AnnAlwaysOn] != ""
			if f > 0 && !scheduled && !alwaysOn {
				t.Errorf("%s: %s is warm %.0f %% of an idle hour without a schedule or an always-on reason", p.Name, ks.Name, 100*f)
			}
			if scheduled && f > maxScheduledWarm {
				t.Errorf("%s: %s is warm %.0f %% of an idle hour, above %.0f %%: schedule it less often and drive it by work", p.Name, ks.Name, 100*f, 100*maxScheduledWarm)
			}
			if f > 0 {
				c, m, _ := warmRequests(ks)
				cpu.Add(c)
				mem.Add(m)
				why := fmt.Sprintf("a ping keeps a pod %v", life[ks.Name])
				if n, err := pingsPerHour(pingOf(docs, ks.Name)); err == nil && ks.Name == "product-outbox-relay" {
					why += fmt.Sprintf("; worst-case publish delay %v", time.Hour/time.Duration(n))
				}
				if alwaysOn {
					why = "min-scale 1: " + ks.Spec.Template.Annotations[gen.AnnAlwaysOn]
				}
				t.Logf("%s: %s warm %.0f %% of an idle hour (%s)", p.Name, ks.Name, 100*f, why)
			}
		}
		if cpu.Cmp(maxCPU) > 0 || mem.Cmp(maxMem) > 0 {
			t.Errorf("%s: an idle hour keeps %s CPU / %s warm, above %s / %s", p.Name, cpu.String(), mem.String(), maxCPU.String(), maxMem.String())
		}
		t.Logf("%s: an idle hour keeps %s CPU / %s requested (queue-proxy included)", p.Name, cpu.String(), mem.String())
	}
}

// maxScheduledWarm bounds the idle-hour warm fraction of a scheduled
// function: scale to zero must mean something off-hours.
const maxScheduledWarm = 0.05

// pingOf is the schedule of the PingSource that drives a function.
func pingOf(docs []doc, name string) string {
	for _, ps := range ofKind[*sourcesv1.PingSource](docs) {
		if ps.Spec.Sink.Ref != nil && ps.Spec.Sink.Ref.Name == name {
			return ps.Spec.Schedule
		}
	}
	return ""
}

// A sweep link holds its request for up to PRODUCT_SWEEP_HOLD_SECONDS and
// then hands on: the longest hold the settings accept, plus one relay run
// and the hand-on, must fit the relay's revision timeout, or Knative would
// cut the link and the chain would wait for the next ping.
func TestSweepHoldFitsTheRelayTimeout(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, f := range r.In.Functions {
		if f.Name != "product-outbox-relay" {
			continue
		}
		timeout := time.Duration(gen.TimeoutSeconds(f)) * time.Second
		worst := time.Duration(product.MaxSweepHoldSeconds)*time.Second + 5*time.Second
		if worst > timeout {
			t.Errorf("a sweep link may run %v, past the relay's timeout %v", worst, timeout)
		}
		return
	}
	t.Fatal("no product-outbox-relay in the route table")
}

// deliveryProblems: each Trigger's policy fits its consumer. bill-cache-evict
// answers 5xx while Redis is away, so its redeliveries must outlast a cached
// bill (BILL_CACHE_TTL_SECONDS of the profile, 1800 by default): an eviction
// then lands or finds its entry expired, never lost. The change worker
// answers 202 whenever the sweep drives the change again (product tests), so
// its retries only bridge a pod that cannot be reached: they must end long
// before the sweep's next re-emission (a minute).
func deliveryProblems(docs []doc) (out, rows []string) {
	ttl := 1800 * time.Second
	if v := configMaps(docs)[gen.ConfigCommon]["BILL_CACHE_TTL_SECONDS"]; v != "" {
		ttl = time.Duration(atoi(v)) * time.Second
	}
	for _, tr := range ofKind[*eventingv1.Trigger](docs) {
		del := tr.Spec.Delivery
		if del == nil || del.Retry == nil || del.BackoffDelay == nil {
			out = append(out, fmt.Sprintf("Trigger %s: no retry policy", tr.Name))
			continue
		}
		back, err := time.ParseDuration(strings.ToLower(strings.TrimPrefix(*del.BackoffDelay, "PT")))
		if err != nil {
			out = append(out, fmt.Sprintf("Trigger %s: backoffDelay %q", tr.Name, *del.BackoffDelay))
			continue
		}
		span := fn.Delivery{Retries: int(*del.Retry), Backoff: back}.Span()
		rows = append(rows, fmt.Sprintf("%s: %d retries from %v, %v in all", tr.Name, *del.Retry, back, span))
		switch tr.Spec.Subscriber.Ref.Name {
		case "bill-cache-evict":
			if span < ttl {
				out = append(out, fmt.Sprintf("Trigger %s: redelivers for %v, less than a cached bill lives (%v): an eviction could be lost", tr.Name, span, ttl))
			}
		case "product-change-worker":
			if span >= time.Minute {
				out = append(out, fmt.Sprintf("Trigger %s: retries for %v, into the sweep's next re-emission", tr.Name, span))
			}
		}
	}
	return out, rows
}

func TestDeliveryFitsTheConsumers(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		problems, rows := deliveryProblems(r.profileDocs(p))
		for _, e := range problems {
			t.Errorf("%s: %s", p.Name, e)
		}
		if len(rows) == 0 {
			t.Fatalf("%s: no Triggers", p.Name)
		}
		for _, row := range rows {
			t.Logf("%s: %s", p.Name, row)
		}
	}
}

func TestBrokenEvictDeliveryFails(t *testing.T) {
	t.Parallel()
	_, _, docs, _ := devCopy(t)
	for _, tr := range ofKind[*eventingv1.Trigger](docs) {
		if tr.Spec.Subscriber.Ref.Name == "bill-cache-evict" {
			tr.Spec.Delivery.Retry = ptrTo(int32(5))
			tr.Spec.Delivery.BackoffDelay = ptrTo("PT0.2S")
		}
	}
	problems, _ := deliveryProblems(docs)
	wantProblem(t, problems, "bill-cache-evict", "eviction could be lost")
}

func ptrTo[T any](v T) *T { return &v }

// The Go runtime knows each function's memory limit: GOMEMLIMIT is set in
// every container to 80–90 % of the container's limit, in a form the
// runtime parses (bytes with an optional B/KiB/MiB/GiB suffix).
func TestGoMemLimitFitsTheContainerLimit(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	unit := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
	form := regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB)?$`)
	seen := 0
	for _, p := range r.In.Profiles {
		for _, ks := range ofKind[*servingv1.Service](r.profileDocs(p)) {
			for _, c := range ks.Spec.Template.Spec.Containers {
				limit := c.Resources.Limits[corev1.ResourceMemory]
				var val string
				for _, e := range c.Env {
					if e.Name == "GOMEMLIMIT" {
						val = e.Value
					}
				}
				m := form.FindStringSubmatch(val)
				if m == nil || limit.IsZero() {
					t.Errorf("%s/%s: GOMEMLIMIT %q with memory limit %s", p.Name, ks.Name, val, limit.String())
					continue
				}
				n, _ := strconv.ParseInt(m[1], 10, 64)
				ratio := float64(n*unit[m[2]]) / float64(limit.Value())
				if ratio < 0.80 || ratio > 0.90 {
					t.Errorf("%s/%s: GOMEMLIMIT %s is %.0f %% of the limit %s, want 80–90 %%", p.Name, ks.Name, val, 100*ratio, limit.String())
				}
				seen++
			}
		}
	}
	if seen == 0 {
		t.Fatal("no function container checked")
	}
}
