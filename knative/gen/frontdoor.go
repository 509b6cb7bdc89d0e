package gen

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// The local cluster's front door (scripts/cluster, CLUSTER=local): that
// cluster has no ingress-nginx and Kourier, but Traefik as Knative's
// networking layer, and Traefik v3.6's ingress-nginx provider does not
// implement upstream-vhost. So the profile's NGINX Ingresses are translated,
// object by object, into a Traefik file-provider configuration that does what
// ingress-nginx does with them: each regex path a router (case-insensitive,
// anchored at the start, longest path first), the upstream-vhost a Host
// rewrite, and the kourier-internal backend Traefik's own cluster-local entry
// point. knative.TestFrontDoorRoutesLikeNGINX replays both and compares.

// FrontDoorConfig is a Traefik dynamic configuration (file provider).
type FrontDoorConfig struct {
	HTTP FrontDoorHTTP `json:"http"`
}

// FrontDoorHTTP is its http section.
type FrontDoorHTTP struct {
	Routers     map[string]FrontDoorRouter     `json:"routers"`
	Middlewares map[string]FrontDoorMiddleware `json:"middlewares"`
	Services    map[string]FrontDoorService    `json:"services"`
}

// FrontDoorRouter is one Ingress path.
type FrontDoorRouter struct {
	EntryPoints []string `json:"entryPoints"`
	Rule        string   `json:"rule"`
	Priority    int      `json:"priority"`
	Middlewares []string `json:"middlewares"`
	Service     string   `json:"service"`
}

// FrontDoorMiddleware rewrites the Host (the Ingress's upstream-vhost).
type FrontDoorMiddleware struct {
	Headers FrontDoorHeaders `json:"headers"`
}

// FrontDoorHeaders is the headers middleware's request side.
type FrontDoorHeaders struct {
	CustomRequestHeaders map[string]string `json:"customRequestHeaders"`
}

// FrontDoorService is the one backend.
type FrontDoorService struct {
	LoadBalancer FrontDoorLB `json:"loadBalancer"`
}

// FrontDoorLB lists the backend's servers.
type FrontDoorLB struct {
	Servers        []FrontDoorServer `json:"servers"`
	PassHostHeader bool              `json:"passHostHeader"`
}

// FrontDoorServer is one backend URL.
type FrontDoorServer struct {
	URL string `json:"url"`
}

// FrontDoorBackend is the service name of the cluster-local entry point.
const FrontDoorBackend = "knative-cluster-local"

// FrontDoorPriority is a path's router priority: ingress-nginx writes regex
// locations longest first and nginx takes the first that matches.
func FrontDoorPriority(path string) int { return len(path) + 1 }

// FrontDoorRegex is the Go regex of an Ingress path (nginx's `~* "^path"`).
func FrontDoorRegex(path string) string { return "(?i)^" + path }

// FrontDoor translates Ingresses (those of IngressClass nginx with
// use-regex) into the front door's configuration; entryPoint is the Traefik
// entry point it listens on and backend the URL of the entry point serving
// cluster-local KIngresses. Anything it cannot translate faithfully is an
// error, not a silent difference.
func FrontDoor(ings []networkingv1.Ingress, entryPoint, backend string) (*FrontDoorConfig, error) {
	cfg := &FrontDoorConfig{HTTP: FrontDoorHTTP{
		Routers:     map[string]FrontDoorRouter{},
		Middlewares: map[string]FrontDoorMiddleware{},
		Services: map[string]FrontDoorService{FrontDoorBackend: {LoadBalancer: FrontDoorLB{
			Servers: []FrontDoorServer{{URL: backend}}, PassHostHeader: true}}},
	}}
	sort.Slice(ings, func(i, j int) bool { return ings[i].Name < ings[j].Name })
	for _, ing := range ings {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != IngressClass {
			continue
		}
		id := ing.Namespace + "-" + ing.Name
		if ing.Annotations[AnnUseRegex] != "true" {
			return nil, fmt.Errorf("Ingress %s: without %s=true the paths are not regexes", id, AnnUseRegex)
		}
		for k := range ing.Annotations {
			if strings.HasPrefix(k, "nginx.ingress.kubernetes.io/") && k != AnnUseRegex && k != AnnVhost {
				return nil, fmt.Errorf("Ingress %s: annotation %s has no front-door translation", id, k)
			}
		}
		vhost := ing.Annotations[AnnVhost]
		if vhost == "" {
			return nil, fmt.Errorf("Ingress %s: no %s", id, AnnVhost)
		}
		mw := "vhost-" + id
		cfg.HTTP.Middlewares[mw] = FrontDoorMiddleware{Headers: FrontDoorHeaders{CustomRequestHeaders: map[string]string{"Host": vhost}}}
		n := 0
		for _, rule := range ing.Spec.Rules {
			if rule.Host != "" {
				return nil, fmt.Errorf("Ingress %s: host rules have no front-door translation", id)
			}
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != KourierService || b.Port.Number != 80 {
					return nil, fmt.Errorf("Ingress %s: path %s goes to a backend other than %s:80", id, p.Path, KourierService)
				}
				if strings.Contains(p.Path, "`") {
					return nil, fmt.Errorf("Ingress %s: path %q holds a backquote", id, p.Path)
				}
				cfg.HTTP.Routers[fmt.Sprintf("%s-%d", id, n)] = FrontDoorRouter{
					EntryPoints: []string{entryPoint},
					Rule:        "PathRegexp(`" + FrontDoorRegex(p.Path) + "`)",
					Priority:    FrontDoorPriority(p.Path),
					Middlewares: []string{mw},
					Service:     FrontDoorBackend,
				}
				n++
			}
		}
	}
	if len(cfg.HTTP.Routers) == 0 {
		return nil, fmt.Errorf("no Ingress of class %s with paths", IngressClass)
	}
	return cfg, nil
}
