package knative

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"phonebill/knative/gen"
	"phonebill/shared/fn"
)

// The checks below return problems instead of failing, so the negative
// tests can prove each one trips on a broken copy of a real manifest.

// annotationAllowList are the annotation keys the manifests may use:
// Knative and ingress-nginx ignore keys they do not know, so a typo
// ("autoscaling.knative.dev/max-scael") would silently drop a setting.
var annotationAllowList = map[string]bool{
	gen.AnnMinScale:                true,
	gen.AnnMaxScale:                true,
	gen.AnnTarget:                  true,
	gen.AnnMetric:                  true,
	gen.AnnBrokerCls:               true,
	gen.AnnUseRegex:                true,
	gen.AnnVhost:                   true,
	alwaysOnAnnotation:             true,
	gen.AnnQPCPURequest:            true,
	gen.AnnQPMemRequest:            true,
	gen.AnnQPCPULimit:              true,
	gen.AnnQPMemLimit:              true,
	"phonebill.io/config-revision": true,
}

// alwaysOnAnnotation documents why a function keeps a pod warm; without it
// every function must scale to zero.
const alwaysOnAnnotation = gen.AnnAlwaysOn

// checkAnnotations reports annotation keys outside the allow-list, on the
// object and on every pod or revision template inside it.
func checkAnnotations(d doc) []string {
	var out []string
	check := func(where string, anns map[string]string) {
		keys := make([]string, 0, len(anns))
		for k := range anns {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !annotationAllowList[k] {
				out = append(out, fmt.Sprintf("%s: annotation %q%s is not in the allow-list (typo? unknown keys are silently ignored)", d, k, where))
			}
		}
	}
	check("", d.Obj.GetAnnotations())
	for where, m := range templateMetas(d) {
		check(" in "+where, m.Annotations)
	}
	return out
}

// templateMetas are the metadata of the templates an object stamps out.
func templateMetas(d doc) map[string]metav1.ObjectMeta {
	out := map[string]metav1.ObjectMeta{}
	if _, meta, ok := podSpecOf(d); ok {
		out["its template"] = meta
	}
	return out
}

// networkingIngress is the Ingress type (aliased for the type switch).
type networkingIngress = networkingv1.Ingress

// podSpecOf returns the pod template of anything that runs pods.
func podSpecOf(d doc) (*corev1.PodSpec, metav1.ObjectMeta, bool) {
	switch o := d.Obj.(type) {
	case *servingv1.Service:
		return &o.Spec.Template.Spec.PodSpec, o.Spec.Template.ObjectMeta, true
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, o.Spec.Template.ObjectMeta, true
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec, o.Spec.Template.ObjectMeta, true
	case *batchv1.Job:
		return &o.Spec.Template.Spec, o.Spec.Template.ObjectMeta, true
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec, o.Spec.JobTemplate.Spec.Template.ObjectMeta, true
	}
	return nil, metav1.ObjectMeta{}, false
}

// checkScaleToZero: every function has min-scale "0" and a max-scale,
// unless it documents why it stays warm.
func checkScaleToZero(d doc) []string {
	ks, ok := d.Obj.(*servingv1.Service)
	if !ok {
		return nil
	}
	a := ks.Spec.Template.Annotations
	var out []string
	if a[gen.AnnMinScale] != "0" && a[alwaysOnAnnotation] == "" {
		out = append(out, fmt.Sprintf("%s: %s is %q: functions scale to zero unless %s says why", d, gen.AnnMinScale, a[gen.AnnMinScale], alwaysOnAnnotation))
	}
	if n, err := strconv.Atoi(a[gen.AnnMaxScale]); err != nil || n < 1 {
		out = append(out, fmt.Sprintf("%s: %s %q must be a positive number (the connection budget depends on it)", d, gen.AnnMaxScale, a[gen.AnnMaxScale]))
	}
	if a[gen.AnnTarget] == "" || a[gen.AnnMetric] != "concurrency" {
		out = append(out, fmt.Sprintf("%s: want a concurrency target (%s=concurrency, %s)", d, gen.AnnMetric, gen.AnnTarget))
	}
	if ks.Spec.Template.Spec.TimeoutSeconds == nil {
		out = append(out, fmt.Sprintf("%s: no timeoutSeconds", d))
	}
	return out
}

// checkSecurity: every container of every pod is restricted (non-root, no
// privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp,
// read-only root file system) and has requests and limits.
func checkSecurity(d doc) []string {
	ps, _, ok := podSpecOf(d)
	if !ok {
		return nil
	}
	var out []string
	pod := ps.SecurityContext
	for _, c := range append(append([]corev1.Container{}, ps.InitContainers...), ps.Containers...) {
		where := fmt.Sprintf("%s container %q", d, c.Name)
		sc := c.SecurityContext
		if sc == nil {
			out = append(out, where+": no securityContext")
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot)
		if !nonRoot {
			out = append(out, where+": runAsNonRoot is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			out = append(out, where+": allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			out = append(out, where+": privileged")
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
			out = append(out, where+": capabilities must drop ALL and add none")
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil && pod != nil {
			seccomp = pod.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			out = append(out, where+": seccompProfile is not RuntimeDefault")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			out = append(out, where+": readOnlyRootFilesystem is not true")
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				out = append(out, fmt.Sprintf("%s: no %s request", where, r))
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				out = append(out, fmt.Sprintf("%s: no %s limit", where, r))
			}
		}
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		out = append(out, fmt.Sprintf("%s: uses host namespaces", d))
	}
	return out
}

// ties are the route table's links to the manifests of one profile.
type ties struct {
	In      *gen.Input
	Profile gen.Profile
	Docs    []doc
}

// check reports every way the manifests and the route table disagree:
// a function without its Service or with two, a Service, Trigger, ingress
// path or reference naming no function, event functions with an ingress or
// without exactly one Trigger, and so on.
func (t ties) check() []string {
	var out []string
	want := map[string]gen.Function{}
	for _, f := range t.In.ProfileFunctions(t.Profile) {
		want[f.Name] = f
	}
	if t.Profile.AllInOne {
		want[gen.AllInOneName] = t.In.AllInOneFunction()
	}
	ksvcs := map[string]int{}
	for _, d := range t.Docs {
		ks, ok := d.Obj.(*servingv1.Service)
		if !ok {
			continue
		}
		ksvcs[ks.Name]++
		f, ok := want[ks.Name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: Knative Service %q serves no route of the route table (profile %s)", d, ks.Name, t.Profile.Name))
			continue
		}
		if img := ks.Spec.Template.Spec.Containers[0].Image; img != f.Image() {
			out = append(out, fmt.Sprintf("%s: image %q, want %q (the folder whose main.go serves %q)", d, img, f.Image(), f.Name))
		}
		if ks.Labels[gen.LabelVisible] != "cluster-local" {
			out = append(out, fmt.Sprintf("%s: %s function %q is not cluster-local: public on Knative's gateway besides the Ingress", d, f.Kind, f.Name))
		}
	}
	for name := range want {
		if ksvcs[name] != 1 {
			out = append(out, fmt.Sprintf("function %q has %d Knative Services in profile %s, want 1", name, ksvcs[name], t.Profile.Name))
		}
	}
	exists := func(kind, apiVersion, name string) bool {
		if kind == "Service" && apiVersion == "serving.knative.dev/v1" {
			return ksvcs[name] > 0
		}
		if kind == "Broker" {
			return len(t.brokers()) > 0 && name == gen.BrokerName
		}
		return false
	}

	// Triggers: exactly one per function with an event type (event
	// functions, and scheduled ones that also take an event), the exact
	// type, the common delivery, a subscriber and dead-letter sink that exist.
	dl, err := t.In.DeadLetterSink()
	if err != nil {
		out = append(out, err.Error())
	}
	triggers := map[string][]*eventingv1.Trigger{}
	for _, d := range t.Docs {
		tr, ok := d.Obj.(*eventingv1.Trigger)
		if !ok {
			continue
		}
		var sub string
		if tr.Spec.Subscriber.Ref != nil {
			sub = tr.Spec.Subscriber.Ref.Name
			if !exists(tr.Spec.Subscriber.Ref.Kind, tr.Spec.Subscriber.Ref.APIVersion, sub) {
				out = append(out, fmt.Sprintf("%s: subscriber %s %q does not exist", d, tr.Spec.Subscriber.Ref.Kind, sub))
			}
		} else {
			out = append(out, fmt.Sprintf("%s: subscriber is not a reference to a function", d))
		}
		triggers[sub] = append(triggers[sub], tr)
		f, ok := want[sub]
		if !ok || f.Routes[0].EventType == "" {
			out = append(out, fmt.Sprintf("%s: Trigger for %q, which takes no event in the route table", d, sub))
			continue
		}
		if got := tr.Spec.Filter; got == nil || len(got.Attributes) != 1 || got.Attributes["type"] != f.Routes[0].EventType {
			out = append(out, fmt.Sprintf("%s: filter %v, want exactly type=%s", d, tr.Spec.Filter, f.Routes[0].EventType))
		}
		if tr.Spec.Broker != gen.BrokerName {
			out = append(out, fmt.Sprintf("%s: broker %q, want %q", d, tr.Spec.Broker, gen.BrokerName))
		}
		out = append(out, checkDelivery(d, tr.Spec.Delivery, f.Routes[0].DeliveryOf(), dl, exists)...)
	}
	for name, f := range want {
		if f.Routes[0].EventType != "" && len(triggers[name]) != 1 {
			out = append(out, fmt.Sprintf("function %q of event type %s has %d Triggers, want 1", name, f.Routes[0].EventType, len(triggers[name])))
		}
	}

	// PingSources drive the scheduled functions, with the table's schedule.
	pings := map[string]int{}
	for _, d := range t.Docs {
		ps, ok := d.Obj.(*sourcesv1.PingSource)
		if !ok {
			continue
		}
		ref := ps.Spec.Sink.Ref
		if ref == nil || !exists(ref.Kind, ref.APIVersion, ref.Name) {
			out = append(out, fmt.Sprintf("%s: sink %v does not exist", d, ref))
			continue
		}
		pings[ref.Name]++
		if f := want[ref.Name]; f.Kind != gen.Scheduled {
			out = append(out, fmt.Sprintf("%s: PingSource for %q, which is no scheduled function", d, ref.Name))
		} else if ps.Spec.Schedule != f.Routes[0].Schedule {
			out = append(out, fmt.Sprintf("%s: schedule %q, the route table says %q", d, ps.Spec.Schedule, f.Routes[0].Schedule))
		}
	}
	for name, f := range want {
		if f.Kind == gen.Scheduled && pings[name] != 1 {
			out = append(out, fmt.Sprintf("scheduled function %q has %d PingSources, want 1", name, pings[name]))
		}
	}

	// SinkBindings: their subjects exist, and every producer has one.
	bound := map[string]bool{}
	for _, d := range t.Docs {
		sb, ok := d.Obj.(*sourcesv1.SinkBinding)
		if !ok {
			continue
		}
		s := sb.Spec.Subject
		if !exists(s.Kind, s.APIVersion, s.Name) {
			out = append(out, fmt.Sprintf("%s: subject %s %q does not exist", d, s.Kind, s.Name))
		}
		if r := sb.Spec.Sink.Ref; r == nil || !exists(r.Kind, r.APIVersion, r.Name) {
			out = append(out, fmt.Sprintf("%s: sink %v does not exist", d, r))
		}
		bound[s.Name] = true
	}
	for _, p := range gen.Producers {
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("producer %q is not a function of the route table", p))
		} else if !bound[p] {
			out = append(out, fmt.Sprintf("producer %q has no SinkBinding (no K_SINK)", p))
		}
	}

	out = append(out, t.checkIngress(want)...)
	if len(t.brokers()) != 1 {
		out = append(out, fmt.Sprintf("profile %s has %d Brokers, want 1", t.Profile.Name, len(t.brokers())))
	}
	sort.Strings(out)
	return out
}

func (t ties) brokers() []*eventingv1.Broker { return ofKind[*eventingv1.Broker](t.Docs) }

func checkDelivery(d doc, del *eventingduckv1.DeliverySpec, want fn.Delivery, deadLetter string, exists func(kind, apiVersion, name string) bool) []string {
	if del == nil {
		return []string{fmt.Sprintf("%s: no delivery spec (retries, backoff, dead-letter sink)", d)}
	}
	var out []string
	if del.Retry == nil || int(*del.Retry) != want.Retries {
		out = append(out, fmt.Sprintf("%s: retry %v, want %d (the route's delivery)", d, del.Retry, want.Retries))
	}
	if del.BackoffPolicy == nil || *del.BackoffPolicy != eventingduckv1.BackoffPolicyExponential {
		out = append(out, fmt.Sprintf("%s: backoffPolicy is not exponential", d))
	}
	if del.BackoffDelay == nil || *del.BackoffDelay != gen.ISODuration(want.Backoff) {
		out = append(out, fmt.Sprintf("%s: backoffDelay %v, want %s (the route's delivery)", d, del.BackoffDelay, gen.ISODuration(want.Backoff)))
	}
	if s := del.DeadLetterSink; s == nil || s.Ref == nil || s.Ref.Name != deadLetter || !exists(s.Ref.Kind, s.Ref.APIVersion, s.Ref.Name) {
		out = append(out, fmt.Sprintf("%s: dead-letter sink must be the existing function %q", d, deadLetter))
	}
	return out
}

// checkIngress: every HTTP route has its path on its own function's
// Ingress (and on no other), no Ingress exists for an event function or the
// all-in-one, and every Ingress sends its host header to an existing
// function through Kourier.
func (t ties) checkIngress(want map[string]gen.Function) []string {
	var out []string
	pathOwner := map[string]string{}
	for _, d := range t.Docs {
		ing, ok := d.Obj.(*networkingIngress)
		if !ok {
			continue
		}
		f, ok := want[ing.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: Ingress for %q, which is no function of the route table", d, ing.Name))
			continue
		case f.Kind != gen.HTTP:
			out = append(out, fmt.Sprintf("%s: %s function %q must have no ingress path", d, f.Kind, f.Name))
			continue
		}
		if v := ing.Annotations[gen.AnnVhost]; v != fmt.Sprintf("%s.%s.svc.cluster.local", f.Name, gen.Namespace) {
			out = append(out, fmt.Sprintf("%s: upstream-vhost %q does not name function %q", d, v, f.Name))
		}
		if ing.Annotations[gen.AnnUseRegex] != "true" {
			out = append(out, fmt.Sprintf("%s: use-regex is not \"true\"", d))
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || p.Backend.Service.Name != gen.KourierService {
					out = append(out, fmt.Sprintf("%s: path %q does not go to Kourier (%s)", d, p.Path, gen.KourierService))
				}
				if prev, dup := pathOwner[p.Path]; dup {
					out = append(out, fmt.Sprintf("%s: path %q is also on %q", d, p.Path, prev))
				}
				pathOwner[p.Path] = ing.Name
			}
		}
	}
	for name, f := range want {
		if f.Kind != gen.HTTP || len(f.Routes) != 1 {
			continue
		}
		p := gen.PathRegex(f.Routes[0].Path)
		if pathOwner[p] != name {
			out = append(out, fmt.Sprintf("route %q (%s %s) has no ingress path %q on its Ingress (found on %q)", name, f.Routes[0].Method, f.Routes[0].Path, p, pathOwner[p]))
		}
	}
	return out
}

// envSources lists a container's envFrom in func.yaml spelling.
func envSources(c corev1.Container) []string {
	var out []string
	for _, e := range c.EnvFrom {
		switch {
		case e.SecretRef != nil:
			out = append(out, gen.EnvSource{Kind: "secret", Name: e.SecretRef.Name}.FuncYAML())
		case e.ConfigMapRef != nil:
			out = append(out, gen.EnvSource{Kind: "configMap", Name: e.ConfigMapRef.Name}.FuncYAML())
		}
	}
	return out
}

// resolveEnv is the value a container sees for key, as Kubernetes resolves
// it: explicit env wins, then the last envFrom source holding the key.
func resolveEnv(c corev1.Container, key string, configMaps map[string]map[string]string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == key && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	val, found := "", false
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			if v, ok := configMaps[e.ConfigMapRef.Name][key]; ok {
				val, found = v, true
			}
		}
	}
	return val, found
}

func joinLines(ss []string) string { return strings.Join(ss, "\n  ") }
