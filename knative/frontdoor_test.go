package knative

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"phonebill/knative/gen"
)

// TestFrontDoorRoutesLikeNGINX: the local cluster's Traefik front door
// (gen.FrontDoor, written by scripts/deploy.sh with CLUSTER=local) sends
// every path the way ingress-nginx sends it with the same Ingresses: each
// route's sample path, each health path and each service prefix reaches the
// same function (the Host rewrite to its cluster-local name), and no two
// routers of different functions tie on a path (Traefik's order among equal
// priorities is not nginx's).
func TestFrontDoorRoutesLikeNGINX(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			ptrs := ofKind[*networkingIngress](r.profileDocs(p))
			nginx, err := newRouter(ptrs)
			if err != nil {
				t.Fatal(err)
			}
			var ings []networkingv1.Ingress
			for _, i := range ptrs {
				ings = append(ings, *i)
			}
			cfg, err := gen.FrontDoor(ings, "frontdoor", "http://10.244.0.1:8082")
			if err != nil {
				t.Fatal(err)
			}
			type route struct {
				re       *regexp.Regexp
				priority int
				host     string
			}
			var rts []route
			for name, rt := range cfg.HTTP.Routers {
				m := regexp.MustCompile("^PathRegexp\\(`(.*)`\\)$").FindStringSubmatch(rt.Rule)
				if m == nil {
					t.Fatalf("router %s: rule %q is not one PathRegexp", name, rt.Rule)
				}
				if len(rt.Middlewares) != 1 || rt.Service != gen.FrontDoorBackend || len(rt.EntryPoints) != 1 || rt.EntryPoints[0] != "frontdoor" {
					t.Errorf("router %s: %+v", name, rt)
				}
				host := cfg.HTTP.Middlewares[rt.Middlewares[0]].Headers.CustomRequestHeaders["Host"]
				rts = append(rts, route{regexp.MustCompile(m[1]), rt.Priority, host})
			}
			sort.Slice(rts, func(i, j int) bool { return rts[i].priority > rts[j].priority })
			traefik := func(path string) (string, bool) {
				for i, rt := range rts {
					if !rt.re.MatchString(path) {
						continue
					}
					for _, o := range rts[i+1:] {
						if o.priority == rt.priority && o.host != rt.host && o.re.MatchString(path) {
							return "", false
						}
					}
					return strings.TrimSuffix(rt.host, ".phonebill.svc.cluster.local"), true
				}
				return "", true
			}
			var paths []string
			for _, f := range r.In.Functions {
				for _, route := range f.Routes {
					if !route.IsEvent() {
						paths = append(paths, samplePath(route.Path), strings.ToUpper(samplePath(route.Path)))
					}
				}
			}
			for _, s := range r.In.Services {
				paths = append(paths, s.HealthPath)
				for _, pre := range s.Prefixes {
					paths = append(paths, pre+"/no-such-route/x")
				}
			}
			paths = append(paths, "/health", "/", "/api/v1", "/metrics")
			for _, path := range paths {
				got, ok := traefik(path)
				if !ok {
					t.Errorf("%s: two front-door routers of different functions tie", path)
					continue
				}
				if want := nginx.route(path); got != want {
					t.Errorf("%s: front door reaches %q, ingress-nginx %q", path, got, want)
				}
			}
			if u := cfg.HTTP.Services[gen.FrontDoorBackend].LoadBalancer; len(u.Servers) != 1 || !u.PassHostHeader {
				t.Errorf("backend %+v: want one server and the rewritten Host passed on", u)
			}
			t.Logf("%d paths checked over %d routers", len(paths), len(rts))
		})
	}
}

// TestFrontDoorRefusesWhatItCannotTranslate: an annotation, host rule or
// backend it has no translation for is an error, not a quiet difference.
func TestFrontDoorRefusesWhatItCannotTranslate(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	base := *ofKind[*networkingIngress](r.profileDocs(r.profile(t, "dev")))[0]
	for name, mutate := range map[string]func(*networkingv1.Ingress){
		"annotation": func(i *networkingv1.Ingress) { i.Annotations["nginx.ingress.kubernetes.io/rewrite-target"] = "/" },
		"no vhost":   func(i *networkingv1.Ingress) { delete(i.Annotations, gen.AnnVhost) },
		"no regex":   func(i *networkingv1.Ingress) { delete(i.Annotations, gen.AnnUseRegex) },
		"host rule":  func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "example.com" },
		"backend":    func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "other" },
	} {
		ing := *base.DeepCopy()
		mutate(&ing)
		if _, err := gen.FrontDoor([]networkingv1.Ingress{ing}, "frontdoor", "http://10.244.0.1:8082"); err == nil {
			t.Errorf("%s: translated without error", name)
		}
	}
}
