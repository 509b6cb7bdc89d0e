package gen

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/pkg/tracker"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// Names of the Secrets and ConfigMaps every function reads (seed names).
const (
	SecretPostgres = "postgresql-secret"
	SecretRedis    = "redis-secret"
	SecretJWT      = "jwt-signing-key"
	ConfigCommon   = "phonebill-config"
	ConfigKOSMock  = "kos-mock-config"
)

// Annotation and label keys the manifests use.
const (
	AnnMinScale  = "autoscaling.knative.dev/min-scale"
	AnnMaxScale  = "autoscaling.knative.dev/max-scale"
	AnnTarget    = "autoscaling.knative.dev/target"
	AnnMetric    = "autoscaling.knative.dev/metric"
	AnnBrokerCls = "eventing.knative.dev/broker.class"
	AnnAlwaysOn  = "phonebill.io/always-on-reason"
	// queue-proxy's resources, set per revision instead of Knative's
	// cluster defaults, so the warm budget counts them.
	AnnQPCPURequest = "queue.sidecar.serving.knative.dev/cpu-resource-request"
	AnnQPMemRequest = "queue.sidecar.serving.knative.dev/memory-resource-request"
	AnnQPCPULimit   = "queue.sidecar.serving.knative.dev/cpu-resource-limit"
	AnnQPMemLimit   = "queue.sidecar.serving.knative.dev/memory-resource-limit"
	AnnUseRegex     = "nginx.ingress.kubernetes.io/use-regex"
	AnnVhost        = "nginx.ingress.kubernetes.io/upstream-vhost"
	LabelVisible    = "networking.knative.dev/visibility"
	LabelApp        = "app"
	LabelService    = "phonebill.io/service"
	LabelFunction   = "phonebill.io/function"
	LabelKind       = "phonebill.io/kind"
)

// Sizing of every function (DESIGN §4): a Go function idles at 10–20 MiB.
// With its queue-proxy (QP*) a warm function requests 13m / 36Mi, so up to
// 21 fit the seed's 300m / 768Mi at once, not all 28 (knative.TestResourceBudget).
const (
	QPCPURequest      = "5m"
	QPMemRequest      = "16Mi"
	QPCPULimit        = "100m"
	QPMemLimit        = "64Mi"
	ConcurrencyTarget = 50
	HTTPTimeout       = 15 // s; the client gives up at 10 s, a request's KOS budget is 8 s
	EventTimeout      = 30 // s; one KOS change with its retries, or one relay sweep
	AllInOneMaxScale  = 3
	AllInOneDBConns   = 8
	Port              = 8080
	BrokerName        = "default"
	KourierService    = "kourier-internal"
	KourierTarget     = "kourier-internal.kourier-system.svc.cluster.local"
	IngressClass      = "nginx"
)

// Size is how many requests one pod takes and how much CPU it may burn.
type Size struct {
	// ContainerConcurrency caps the requests in one pod (0: no cap, the
	// target is a soft goal the autoscaler steers to).
	ContainerConcurrency int64
	// Target is the autoscaler's concurrency target per pod.
	Target int
	// LimitCPU is the container's CPU limit.
	LimitCPU string
}

// BcryptRoutes run one cost-10 bcrypt per request (~58 ms of a full core,
// docs/benchmarks.md): at 200m and a soft target of 50, 50 logins in one pod
// would queue ~14 s, past the client's 10 s. A test ties the names to the
// route table.
var BcryptRoutes = []string{"auth-login", "auth-register", "auth-change-password"}

// SizeOf is the function's sizing: a hard cap of 4 requests and one core
// for the bcrypt routes (the last of 4 concurrent logins ends after ~0.23 s
// of CPU); a cap of 10 and 500m for the all-in-one, which serves them too;
// a soft target of 50 and 200m for everything else (a few hundred µs of CPU
// per request).
func SizeOf(f Function) Size {
	switch {
	case f.Kind == AllInOne:
		return Size{ContainerConcurrency: 10, Target: 10, LimitCPU: "500m"}
	case f.Kind == HTTP && len(f.Routes) == 1 && slices.Contains(BcryptRoutes, f.Name):
		return Size{ContainerConcurrency: 4, Target: 4, LimitCPU: "1000m"}
	}
	return Size{Target: ConcurrencyTarget, LimitCPU: "200m"}
}

// Termination as Knative Serving v0.50 and kubelet run it: the revision's
// pod gets terminationGracePeriodSeconds = timeoutSeconds; the function's
// container has a preStop hook (queue-proxy's /wait-for-drain) that returns
// only once queue-proxy has seen QueueProxyDrainSeconds without a request,
// and kubelet sends SIGTERM when the hook returns or the grace is spent,
// leaving at least KubeletMinGraceSeconds before SIGKILL. By then
// queue-proxy has stopped routing and its in-flight requests (bounded by
// timeoutSeconds) have been answered.
const (
	QueueProxyDrainSeconds = 30
	KubeletMinGraceSeconds = 2
	// StopMarginSeconds is what the process takes after its drain (Stop
	// hooks, pools closed), measured by shared/fn's SIGTERM test.
	StopMarginSeconds = 1
)

// memoryLimit is every function container's memory limit.
var memoryLimit = resource.MustParse("128Mi")

// GoMemLimitPercent of the container's limit is the Go runtime's soft limit:
// the GC works harder near it instead of the kernel killing the pod, and
// the rest is headroom for what the runtime does not count (stacks in
// flight, the binary's text, cgo-free but not free).
const GoMemLimitPercent = 85

// GoMemLimit is the GOMEMLIMIT value for a container memory limit, in whole
// MiB rounded down.
func GoMemLimit(limit resource.Quantity) string {
	return strconv.FormatInt(limit.Value()*GoMemLimitPercent/100/(1<<20), 10) + "MiB"
}

// TimeoutSeconds is the function's revision timeout.
func TimeoutSeconds(f Function) int64 {
	if f.Kind.ClusterLocal() {
		return EventTimeout
	}
	return HTTPTimeout
}

// AfterSIGTERMSeconds is the window kubelet surely leaves the function's
// container between SIGTERM and SIGKILL for a revision timeout.
func AfterSIGTERMSeconds(timeout int64) int64 {
	return max(timeout-min(timeout, QueueProxyDrainSeconds), KubeletMinGraceSeconds)
}

// DrainSeconds is the function's SHUTDOWN_TIMEOUT_SECONDS: the window after
// SIGTERM less the stop margin (1 s for timeouts up to 32 s; a function with
// a longer timeout would drain longer).
func DrainSeconds(f Function) int64 {
	return max(AfterSIGTERMSeconds(TimeoutSeconds(f))-StopMarginSeconds, 1)
}

// ISODuration spells d as the ISO 8601 duration a Trigger's backoffDelay
// takes ("PT0.2S", "PT1S").
func ISODuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}

// Producers are the functions that POST CloudEvents to the Broker; a
// SinkBinding gives each its K_SINK (the route table has no field for it,
// so a test ties these names to it).
var Producers = []string{"product-change", "product-change-worker", "product-outbox-relay"}

// EnvSource is one Secret or ConfigMap a function takes all keys of,
// spelled as func.yaml spells it ("{{ secret:name }}").
type EnvSource struct {
	Kind string // "secret" or "configMap"
	Name string
}

// FuncYAML is the func.yaml spelling of the source.
func (s EnvSource) FuncYAML() string { return "{{ " + s.Kind + ":" + s.Name + " }}" }

// EnvSources are the Secrets and ConfigMaps of a function, in order (later
// ones win on a shared key, as in Kubernetes).
func EnvSources(f Function, p Profile) []EnvSource {
	out := []EnvSource{{"secret", SecretPostgres}, {"secret", SecretRedis}}
	if f.Service != "kos-mock" {
		out = append(out, EnvSource{"secret", SecretJWT})
	}
	out = append(out, EnvSource{"configMap", ConfigCommon})
	if p.KOSMock && (f.Service == "kos-mock" || f.Service == "bill" || f.Service == "product" || f.Kind == AllInOne) {
		out = append(out, EnvSource{"configMap", ConfigKOSMock})
	}
	return out
}

// MaxScale is the profile's pod cap for the function.
func MaxScale(f Function, p Profile) int {
	switch {
	case f.Kind == AllInOne:
		return AllInOneMaxScale
	case f.Kind == HTTP:
		return p.HTTPMaxScale
	}
	return p.EventMaxScale
}

func labels(f Function) map[string]string {
	return map[string]string{LabelApp: "phonebill", LabelService: f.Service, LabelFunction: f.Name, LabelKind: f.Kind.String()}
}

func meta(name string, lb map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: lb}
}

func ptr[T any](v T) *T { return &v }

// RestrictedSecurityContext is the Pod Security "restricted" container
// context with a read-only root file system (the binaries write nothing).
func RestrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// KnativeService is the serving.knative.dev/v1 Service of one function.
func KnativeService(f Function, p Profile) *servingv1.Service {
	// One front door: no Knative Service is exposed on Knative's own public
	// gateway; HTTP functions are reached through the NGINX Ingress, which
	// sends their paths to kourier-internal with the cluster-local host.
	// The template carries the same labels: `func deploy` writes one set to
	// both (FuncYAML).
	svcLabels := labels(f)
	svcLabels[LabelVisible] = "cluster-local"
	lb := svcLabels
	timeout := TimeoutSeconds(f)
	var envFrom []corev1.EnvFromSource
	for _, s := range EnvSources(f, p) {
		if s.Kind == "secret" {
			envFrom = append(envFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.Name}}})
		} else {
			envFrom = append(envFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.Name}}})
		}
	}
	var env []corev1.EnvVar
	size := SizeOf(f)
	var cc *int64
	if size.ContainerConcurrency > 0 {
		cc = ptr(size.ContainerConcurrency)
	}
	if f.Kind == AllInOne {
		// The root func.yaml's settings: a bigger pool, and KOS-Mock served
		// by the same process.
		env = []corev1.EnvVar{
			{Name: "DB_MAX_CONNS", Value: strconv.Itoa(AllInOneDBConns)},
			{Name: "MIGRATE_ON_START", Value: "false"},
			{Name: "KOS_BASE_URL", Value: "http://127.0.0.1:8080"},
		}
	}
	env = append(env, corev1.EnvVar{Name: "SHUTDOWN_TIMEOUT_SECONDS", Value: strconv.FormatInt(DrainSeconds(f), 10)},
		corev1.EnvVar{Name: "GOMEMLIMIT", Value: GoMemLimit(memoryLimit)})
	return &servingv1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "serving.knative.dev/v1", Kind: "Service"},
		ObjectMeta: meta(f.Name, svcLabels),
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: lb, Annotations: templateAnnotations(f, p, size)},
			Spec: servingv1.RevisionSpec{
				ContainerConcurrency: cc,
				TimeoutSeconds:       &timeout,
				PodSpec: corev1.PodSpec{
					// No function calls the Kubernetes API: no token in the pod.
					AutomountServiceAccountToken: ptr(false),
					Containers: []corev1.Container{{
						Name:    "function",
						Image:   f.Image(),
						Ports:   []corev1.ContainerPort{{Name: "http1", ContainerPort: Port}},
						EnvFrom: envFrom,
						Env:     env,
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8m"), corev1.ResourceMemory: resource.MustParse("20Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(size.LimitCPU), corev1.ResourceMemory: memoryLimit},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health/readiness"}}},
						// Path only, as `func deploy` writes them (Kubernetes' defaults
						// otherwise): the answers are fixed and touch no dependency.
						LivenessProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health/liveness"}}},
						SecurityContext: RestrictedSecurityContext(),
					}}},
			},
		}}},
	}
}

// AllInOneAlwaysOn is why the all-in-one keeps one pod: its outbox sweep
// runs on an in-process ticker and its events go through an in-process
// broker, so at zero pods nothing publishes the outbox or sweeps PENDING
// changes.
const AllInOneAlwaysOn = "in-process ticker and broker: at zero pods nothing publishes the outbox or sweeps PENDING changes"

func templateAnnotations(f Function, p Profile, size Size) map[string]string {
	a := map[string]string{
		AnnMinScale:     "0",
		AnnMaxScale:     strconv.Itoa(MaxScale(f, p)),
		AnnMetric:       "concurrency",
		AnnTarget:       strconv.Itoa(size.Target),
		AnnQPCPURequest: QPCPURequest,
		AnnQPMemRequest: QPMemRequest,
		AnnQPCPULimit:   QPCPULimit,
		AnnQPMemLimit:   QPMemLimit,
	}
	if f.Kind == AllInOne {
		a[AnnMinScale] = "1"
		a[AnnAlwaysOn] = AllInOneAlwaysOn
	}
	return a
}

func ksvcRef(name string) *duckv1.KReference {
	return &duckv1.KReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: name}
}

// Broker is the profile's Broker "default".
func Broker(p Profile) *eventingv1.Broker {
	return &eventingv1.Broker{
		TypeMeta: metav1.TypeMeta{APIVersion: "eventing.knative.dev/v1", Kind: "Broker"},
		ObjectMeta: metav1.ObjectMeta{Name: BrokerName, Namespace: Namespace,
			Labels: map[string]string{LabelApp: "phonebill"}, Annotations: map[string]string{AnnBrokerCls: p.BrokerClass}},
		Spec: eventingv1.BrokerSpec{Config: p.BrokerConfig},
	}
}

// Trigger is the exact-type subscription of one event function, with the
// route's own delivery policy (fn.Route.Delivery: what its outage window
// needs).
func Trigger(f Function, deadLetter string) *eventingv1.Trigger {
	policy := eventingduckv1.BackoffPolicyExponential
	d := f.Routes[0].DeliveryOf()
	return &eventingv1.Trigger{
		TypeMeta:   metav1.TypeMeta{APIVersion: "eventing.knative.dev/v1", Kind: "Trigger"},
		ObjectMeta: meta(f.Name, labels(f)),
		Spec: eventingv1.TriggerSpec{
			Broker:     BrokerName,
			Filter:     &eventingv1.TriggerFilter{Attributes: eventingv1.TriggerFilterAttributes{"type": f.Routes[0].EventType}},
			Subscriber: duckv1.Destination{Ref: ksvcRef(f.Name)},
			Delivery: &eventingduckv1.DeliverySpec{
				DeadLetterSink: &duckv1.Destination{Ref: ksvcRef(deadLetter)},
				Retry:          ptr(int32(d.Retries)),
				BackoffPolicy:  &policy,
				BackoffDelay:   ptr(ISODuration(d.Backoff)),
			},
		},
	}
}

// PingSource drives a scheduled function with the route's cron schedule.
func PingSource(f Function) *sourcesv1.PingSource {
	return &sourcesv1.PingSource{
		TypeMeta:   metav1.TypeMeta{APIVersion: "sources.knative.dev/v1", Kind: "PingSource"},
		ObjectMeta: meta(f.Name, labels(f)),
		Spec: sourcesv1.PingSourceSpec{
			Schedule:   f.Routes[0].Schedule,
			Timezone:   "Asia/Seoul",
			SourceSpec: duckv1.SourceSpec{Sink: duckv1.Destination{Ref: ksvcRef(f.Name)}},
		},
	}
}

// SinkBinding gives a producer K_SINK = the Broker's address (resolved by
// Knative, so a Kafka Broker in prod needs no other change).
func SinkBinding(f Function) *sourcesv1.SinkBinding {
	return &sourcesv1.SinkBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "sources.knative.dev/v1", Kind: "SinkBinding"},
		ObjectMeta: meta(f.Name+"-sink", labels(f)),
		Spec: sourcesv1.SinkBindingSpec{
			SourceSpec: duckv1.SourceSpec{Sink: duckv1.Destination{Ref: &duckv1.KReference{
				APIVersion: "eventing.knative.dev/v1", Kind: "Broker", Name: BrokerName}}},
			BindingSpec: duckv1.BindingSpec{Subject: tracker.Reference{
				APIVersion: "serving.knative.dev/v1", Kind: "Service", Namespace: Namespace, Name: f.Name}},
		},
	}
}

// ConfigMap is a ConfigMap of settings.
func ConfigMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(name, map[string]string{LabelApp: "phonebill"}),
		Data:       data,
	}
}

// KourierBackend is the in-namespace name of Knative's internal ingress:
// an Ingress can only name a Service of its own namespace.
func KourierBackend() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(KourierService, map[string]string{LabelApp: "phonebill"}),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: KourierTarget,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(80)}}},
	}
}

// IngressPaths are the regex paths of a public function: its route's
// (a Go ServeMux pattern turned into an anchored regex) and, on the home
// function of a service, the ExtraPaths.
func IngressPaths(f Function) []string {
	var out []string
	if f.Kind == HTTP && len(f.Routes) == 1 && f.Routes[0].Path != "" {
		out = append(out, PathRegex(f.Routes[0].Path))
	}
	for _, p := range f.ExtraPaths {
		if len(out) == 0 || p != out[0] {
			out = append(out, p)
		}
	}
	return out
}

// PathRegex turns a Go ServeMux path pattern into the ingress-nginx regex
// that matches exactly its paths ({x} one segment, {x...} the rest, a
// trailing slash a subtree). nginx adds the leading ^.
func PathRegex(pattern string) string {
	var b strings.Builder
	rest := pattern
	anchored := true
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			if strings.HasSuffix(rest, "/") {
				anchored = false
			}
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			b.WriteString(regexp.QuoteMeta(rest[i:]))
			break
		}
		name := rest[i+1 : i+j]
		switch {
		case name == "$":
			anchored = true
		case strings.HasSuffix(name, "..."):
			b.WriteString(".*")
			anchored = false
		default:
			b.WriteString("[^/]+")
		}
		rest = rest[i+j+1:]
	}
	if anchored {
		b.WriteString("$")
	}
	return b.String()
}

// Ingress routes a public function's paths through NGINX to Kourier with
// the function's cluster host as upstream vhost.
func Ingress(f Function) *networkingv1.Ingress {
	pt := networkingv1.PathTypeImplementationSpecific
	var paths []networkingv1.HTTPIngressPath
	for _, p := range IngressPaths(f) {
		paths = append(paths, networkingv1.HTTPIngressPath{Path: p, PathType: &pt, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: KourierService, Port: networkingv1.ServiceBackendPort{Number: 80}}}})
	}
	return &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: f.Name, Namespace: Namespace, Labels: labels(f), Annotations: map[string]string{
			AnnUseRegex: "true",
			AnnVhost:    fmt.Sprintf("%s.%s.svc.cluster.local", f.Name, Namespace),
		}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr(IngressClass), Rules: []networkingv1.IngressRule{{
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}}},
	}
}

// KOSEgress lets Bill and Product (and nothing else) reach the real KOS.
func KOSEgress(p Profile) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta("kos-egress", map[string]string{LabelApp: "phonebill"}),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelApp: "phonebill"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: LabelService, Operator: metav1.LabelSelectorOpIn, Values: []string{"bill", "product"}}}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: p.KOSEgressCIDR}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr(intstr.FromInt32(443))}},
			}},
		},
	}
}
