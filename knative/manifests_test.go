package knative

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"phonebill/knative/gen"
)

func TestManifestsDecodeStrictlyAndPassKnativeValidation(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	counts := map[string]int{}
	for _, d := range r.Docs {
		counts[d.Kind()]++
		if err := knativeCheck(d.Obj); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		if _, isNS := d.Obj.(*corev1.Namespace); !isNS && d.Obj.GetNamespace() != gen.Namespace {
			t.Errorf("%s: namespace %q, want %q", d, d.Obj.GetNamespace(), gen.Namespace)
		}
	}
	if counts["Service"] == 0 || counts["Trigger"] == 0 {
		t.Fatalf("suspiciously few manifests: %v", counts)
	}
	t.Logf("decoded %d documents: %v", len(r.Docs), counts)
}

func TestGeneratedManifestsMatchRouteTable(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	want, err := r.In.Render()
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for p, b := range want {
		got, ok := r.Files[p]
		switch {
		case !ok:
			problems = append(problems, p+" is missing")
		case !bytes.Equal(got, b):
			problems = append(problems, p+" differs from what the route table and config/ give")
		}
	}
	for p := range r.Files {
		if _, ok := want[p]; !ok && gen.IsGenerated(p) {
			problems = append(problems, p+" is stale (no route or profile produces it)")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("generated manifests drifted — run `make manifests`:\n  %s", joinLines(problems))
	}
}

func TestAnnotationsAreAllowListed(t *testing.T) {
	t.Parallel()
	for _, d := range loadRepo(t).Docs {
		for _, p := range checkAnnotations(d) {
			t.Error(p)
		}
	}
}

func TestFunctionsScaleToZero(t *testing.T) {
	t.Parallel()
	n := 0
	for _, d := range loadRepo(t).Docs {
		if _, ok := d.Obj.(*servingv1.Service); ok {
			n++
		}
		for _, p := range checkScaleToZero(d) {
			t.Error(p)
		}
	}
	if n == 0 {
		t.Fatal("no Knative Services found")
	}
}

func TestRestrictedSecurityContextEverywhere(t *testing.T) {
	t.Parallel()
	pods := 0
	for _, d := range loadRepo(t).Docs {
		if _, _, ok := podSpecOf(d); ok {
			pods++
		}
		for _, p := range checkSecurity(d) {
			t.Error(p)
		}
	}
	t.Logf("checked %d pod templates", pods)
}

func TestRouteTableTies(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			if problems := (ties{In: r.In, Profile: p, Docs: r.profileDocs(p)}).check(); len(problems) > 0 {
				t.Errorf("manifests and route table disagree:\n  %s", joinLines(problems))
			}
		})
	}
}

// TestIngressRouting replays ingress-nginx's choice (regex locations tried
// longest first, case-insensitive, anchored at the start) over every
// Ingress of a profile: each route's path reaches its own function, each
// service's health path and unknown paths reach that service.
func TestIngressRouting(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			rt, err := newRouter(ofKind[*networkingIngress](r.profileDocs(p)))
			if err != nil {
				t.Fatal(err)
			}
			serviceOf := map[string]string{}
			for _, f := range r.In.ProfileFunctions(p) {
				serviceOf[f.Name] = f.Service
			}
			for _, f := range r.In.Functions {
				deployed := serviceOf[f.Name] != ""
				for _, route := range f.Routes {
					if route.IsEvent() {
						continue
					}
					path := samplePath(route.Path)
					got := rt.route(path)
					switch {
					case deployed && got != f.Name:
						t.Errorf("%s %s (route %s) reaches %q, want %q", route.Method, path, route.Name, got, f.Name)
					case !deployed && got != "":
						t.Errorf("%s %s (route %s, not deployed in %s) reaches %q", route.Method, path, route.Name, p.Name, got)
					}
				}
			}
			for _, s := range r.In.Services {
				if s.Name == "kos-mock" && !p.KOSMock {
					continue
				}
				var probes []string
				if s.HealthPath != "" { // an events-only service has no public path
					probes = append(probes, s.HealthPath)
				}
				for _, pre := range s.Prefixes {
					probes = append(probes, pre+"/no-such-route/x")
				}
				for _, path := range probes {
					if got := rt.route(path); serviceOf[got] != s.Name {
						t.Errorf("%s reaches %q (service %q), want a function of %s", path, got, serviceOf[got], s.Name)
					}
				}
			}
			if want := map[bool]string{true: "kos-mock", false: ""}[p.KOSMock]; rt.route("/health") != want {
				t.Errorf("/health reaches %q, want %q", rt.route("/health"), want)
			}
			t.Logf("%d regex locations", len(rt.locs))
		})
	}
}

// warmRequests is what one warm pod of a Knative Service requests: its
// containers and its queue-proxy (the revision's queue-sidecar annotations).
func warmRequests(ks *servingv1.Service) (cpu, mem resource.Quantity, problems []string) {
	for _, c := range ks.Spec.Template.Spec.Containers {
		cpu.Add(c.Resources.Requests[corev1.ResourceCPU])
		mem.Add(c.Resources.Requests[corev1.ResourceMemory])
	}
	a := ks.Spec.Template.Annotations
	for _, k := range []string{gen.AnnQPCPURequest, gen.AnnQPMemRequest, gen.AnnQPCPULimit, gen.AnnQPMemLimit} {
		if _, err := resource.ParseQuantity(a[k]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s %q: queue-proxy's resources must be explicit", ks.Name, k, a[k]))
		}
	}
	if len(problems) == 0 {
		cpu.Add(resource.MustParse(a[gen.AnnQPCPURequest]))
		mem.Add(resource.MustParse(a[gen.AnnQPMemRequest]))
	}
	return cpu, mem, problems
}

// journeyFunctions are the functions the client's journey (SPEC §7) wakes
// within a few minutes: they must fit the seed's budget warm together.
var journeyFunctions = []string{"auth-login", "user-get", "product-customer", "bill-menu", "bill-inquiry", "kos-mock",
	"product-available", "product-validation", "product-change", "product-change-worker", "bill-cache-evict",
	"product-outbox-relay", "product-history", "bill-history", "auth-logout"}

// The seed's four services requested 300m / 768Mi. A warm function counts
// with its queue-proxy. Not every function fits warm at once (said here, not
// hidden): the journey's set does, and so does what an idle hour keeps warm.
func TestResourceBudget(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	maxCPU, maxMem := resource.MustParse("300m"), resource.MustParse("768Mi")
	for _, p := range r.In.Profiles {
		var allCPU, allMem, jCPU, jMem resource.Quantity
		var one resource.Quantity
		n, fit := 0, 0
		for _, ks := range ofKind[*servingv1.Service](r.profileDocs(p)) {
			cpu, mem, problems := warmRequests(ks)
			for _, e := range problems {
				t.Error(e)
			}
			allCPU.Add(cpu)
			allMem.Add(mem)
			n++
			if slices.Contains(journeyFunctions, ks.Name) {
				jCPU.Add(cpu)
				jMem.Add(mem)
			}
			if ks.Name == "auth-login" {
				one = mem
				fit = int(min(maxCPU.MilliValue()/cpu.MilliValue(), maxMem.Value()/mem.Value()))
			}
		}
		t.Logf("%s: all %d warm together would request %s CPU / %s (budget %s / %s): at most %d functions (%s each with queue-proxy) fit at once",
			p.Name, n, allCPU.String(), allMem.String(), maxCPU.String(), maxMem.String(), fit, one.String())
		t.Logf("%s: the journey's functions warm together request %s CPU / %s", p.Name, jCPU.String(), jMem.String())
		if jCPU.Cmp(maxCPU) > 0 || jMem.Cmp(maxMem) > 0 {
			t.Errorf("%s: the journey's functions request %s CPU / %s memory, above the seed's %s / %s", p.Name, jCPU.String(), jMem.String(), maxCPU.String(), maxMem.String())
		}
	}
}

func TestConnectionBudget(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			b, problems := connectionBudget(r.profileDocs(p))
			t.Log(b)
			for _, pr := range problems {
				t.Error(pr)
			}
		})
	}
}

func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		docs := r.profileDocs(p)
		docs = append(docs, docsUnder(r, "knative/ops/")...)
		for _, pr := range checkNetworkPolicies(docs) {
			t.Errorf("%s: %s", p.Name, pr)
		}
	}
}

func docsUnder(r *repo, prefix string) []doc {
	var out []doc
	for _, d := range r.Docs {
		if strings.HasPrefix(d.File, prefix) {
			out = append(out, d)
		}
	}
	return out
}

// TestProfiles: the ConfigMaps hold only settings some code reads and no
// secrets, every Secret and ConfigMap a pod names exists, dev talks to
// KOS-Mock and prod to a real KOS through a Kafka Broker with more pods.
func TestProfiles(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	known, err := knownEnvNames(r.Root)
	if err != nil {
		t.Fatal(err)
	}
	secrets := secretKeys(docsUnder(r, "knative/secrets/"))
	if len(secrets) != 3 {
		t.Fatalf("secret templates: %v, want postgresql-secret, redis-secret, jwt-signing-key", secrets)
	}
	maxScale := map[string]int{}
	for _, p := range r.In.Profiles {
		docs := r.profileDocs(p)
		cms := configMaps(docs)
		for name, data := range cms {
			for k := range data {
				if name != gen.BackupConfigMap && name != "pgbouncer-config" && !known[k] {
					t.Errorf("%s: ConfigMap %s sets %s, which no code reads (typo?)", p.Name, name, k)
				}
				if isSecretName(k) {
					t.Errorf("%s: ConfigMap %s holds the secret %s; secrets belong in Secrets", p.Name, name, k)
				}
			}
		}
		for _, pr := range checkReferences(docs, cms, secrets) {
			t.Errorf("%s: %s", p.Name, pr)
		}
		common := cms[gen.ConfigCommon]
		kosURL, err := url.Parse(common["KOS_BASE_URL"])
		if err != nil {
			t.Fatalf("%s: KOS_BASE_URL: %v", p.Name, err)
		}
		ksvcs := map[string]*servingv1.Service{}
		for _, ks := range ofKind[*servingv1.Service](docs) {
			ksvcs[ks.Name] = ks
			if ks.Name != gen.AllInOneName {
				if n := atoi(ks.Spec.Template.Annotations[gen.AnnMaxScale]); n > maxScale[p.Name] {
					maxScale[p.Name] = n
				}
			}
		}
		brokers := ofKind[*eventingv1.Broker](docs)
		if len(brokers) != 1 {
			t.Fatalf("%s: %d brokers", p.Name, len(brokers))
		}
		class := brokers[0].Annotations[gen.AnnBrokerCls]
		if p.KOSMock {
			if kosURL.Host != "kos-mock."+gen.Namespace+".svc.cluster.local" || ksvcs["kos-mock"] == nil {
				t.Errorf("%s: KOS_BASE_URL %s does not name the deployed kos-mock Service", p.Name, kosURL)
			}
			if class != "MTChannelBasedBroker" {
				t.Errorf("%s: broker class %q", p.Name, class)
			}
		} else {
			if strings.Contains(kosURL.Host, "kos-mock") || ksvcs["kos-mock"] != nil || cms[gen.ConfigKOSMock] != nil {
				t.Errorf("%s: KOS-Mock is deployed or named (KOS_BASE_URL %s)", p.Name, kosURL)
			}
			if class != "Kafka" && class != "RabbitMQBroker" || brokers[0].Spec.Config == nil {
				t.Errorf("%s: broker class %q config %v, want Kafka or RabbitMQ with its config", p.Name, class, brokers[0].Spec.Config)
			}
		}
	}
	if maxScale["dev"] >= maxScale["prod"] {
		t.Errorf("dev's largest max-scale %d is not below prod's %d", maxScale["dev"], maxScale["prod"])
	}
}

func TestSecretTemplatesHoldNoValues(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	placeholder := func(v string) bool { return strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") }
	n := 0
	for _, d := range r.Docs {
		s, ok := d.Obj.(*corev1.Secret)
		if !ok {
			continue
		}
		n++
		if !strings.HasPrefix(d.File, "knative/secrets/") {
			t.Errorf("%s: a Secret outside knative/secrets/ would be applied with its values", d)
		}
		if len(s.Data) > 0 {
			t.Errorf("%s: data holds values; templates use stringData placeholders", d)
		}
		for k, v := range s.StringData {
			if !placeholder(v) {
				t.Errorf("%s: %s = %q is not a <placeholder>", d, k, v)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d secret templates, want 3", n)
	}
}

// TestFuncYAMLMatchesManifests: each function folder's func.yaml (what
// `func deploy` would create) says what knative/dev says.
func TestFuncYAMLMatchesManifests(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	dev := r.profile(t, "dev")
	ksvcs := map[string]*servingv1.Service{}
	for _, ks := range ofKind[*servingv1.Service](r.profileDocs(dev)) {
		ksvcs[ks.Name] = ks
	}
	fns := append(append([]gen.Function{}, r.In.Functions...), r.In.AllInOneFunction())
	for _, f := range fns {
		path := f.Dir + "/func.yaml"
		if f.Kind == gen.AllInOne {
			path = "func.yaml"
		}
		fy, err := readFuncYAML(r.Root, path)
		if err != nil {
			t.Errorf("function %q: %v", f.Name, err)
			continue
		}
		for _, p := range compareFuncYAML(path, fy, f, ksvcs[f.Name]) {
			t.Error(p)
		}
	}
	for _, p := range orphanFuncYAMLs(r.Root, fns) {
		t.Error(p)
	}
}

func atoi(s string) int {
	n := 0
	_, _ = fmt.Sscan(s, &n)
	return n
}
