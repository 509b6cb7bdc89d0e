package fn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"phonebill/shared/httpx"
)

// App is a set of mounted services: the handler to serve and what Stop needs.
type App struct {
	Handler http.Handler
	// Events are the event, scheduled and dead-letter routes with their bound
	// handlers (the all-in-one's broker delivers to them).
	Events  []BoundRoute
	env     *Env
	started []startedService
}

// BoundRoute is a route with its handler built.
type BoundRoute struct {
	Route   Route
	Service string
	Handler http.Handler
}

type startedService struct {
	svc      Service
	function string
	value    any
}

// function is one Knative Service of a service: one route, or every route
// of a one-function service (KOS-Mock).
type function struct {
	name   string
	routes []Route
}

func functionsOf(svc Service, routes []Route) []function {
	if svc.Function != "" {
		return []function{{svc.Function, routes}}
	}
	out := make([]function, 0, len(routes))
	for _, rt := range routes {
		out = append(out, function{rt.Name, []Route{rt}})
	}
	return out
}

func (a *App) oneService() bool {
	for _, s := range a.started {
		if s.svc.Name != a.started[0].svc.Name {
			return false
		}
	}
	return true
}

type functionKey struct{}

// WithFunction returns ctx naming the function whose Start runs in it.
func WithFunction(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, functionKey{}, name)
}

// FunctionName is the function (Knative Service) a Start call builds: the
// route's name, or the one-function service's Function ("" outside Start).
func FunctionName(ctx context.Context) string {
	name, _ := ctx.Value(functionKey{}).(string)
	return name
}

// Build starts the services and mounts their routes. Every function is
// started apart (Start runs once per route, or once for a one-function
// service), so the all-in-one holds what each Knative Service would hold in
// its own process. With only non-empty,
// just that route (or that one-function service) is served, event routes at
// "/" as Knative delivers them.
func Build(ctx context.Context, env *Env, services []Service, only string) (*App, error) {
	app := &App{env: env}
	mux := http.NewServeMux()
	paths := http.NewServeMux()    // path-only patterns: tells 405 from 404
	allow := map[string][]string{} // path pattern → its methods (405's Allow header)
	rootName := "phonebill"
	mounted := 0
	for _, svc := range services {
		routes := selectRoutes(svc, only)
		if len(routes) == 0 {
			continue
		}
		if only != "" {
			rootName = only
		}
		for _, f := range functionsOf(svc, routes) {
			// Each function is started on its own, as its own Knative Service
			// would be: its own KOS client and breaker, its own service value.
			value, err := svc.Start(WithFunction(ctx, f.name), env)
			if err != nil {
				return nil, fmt.Errorf("start %s (%s): %w", svc.Name, f.name, err)
			}
			app.started = append(app.started, startedService{svc, f.name, value})
			for _, rt := range f.routes {
				h, err := bind(ctx, env, svc, rt, value)
				if err != nil {
					return nil, err
				}
				if rt.IsEvent() {
					app.Events = append(app.Events, BoundRoute{Route: rt, Service: svc.Name, Handler: h})
					if only != "" { // a lone event function receives at "/"
						mux.Handle("POST /{$}", h)
					}
					continue
				}
				mux.Handle(rt.Method+" "+rt.Path, h)
				if _, seen := allow[rt.Path]; !seen {
					paths.Handle(rt.Path, http.NotFoundHandler())
				}
				allow[rt.Path] = append(allow[rt.Path], rt.Method)
				if rt.Method == http.MethodGet {
					allow[rt.Path] = append(allow[rt.Path], http.MethodHead) // ServeMux serves HEAD for GET
				}
				mounted++
			}
		}
		if svc.HealthPath != "" {
			mux.Handle("GET "+svc.HealthPath, serviceHealth(svc))
		}
		for _, p := range svc.Prefixes {
			// Both spellings: without the exact one ServeMux would redirect
			// "/prefix" to "/prefix/" instead of answering 404/405.
			p = strings.TrimSuffix(p, "/")
			mux.Handle(p, withStyle(svc.Style, notFound(paths, allow)))
			mux.Handle(p+"/", withStyle(svc.Style, notFound(paths, allow)))
		}
		if svc.Function != "" && only == svc.Function {
			rootName = svc.Function
		}
		if svc.Name == "kos-mock" && only == "" {
			rootName = "kos-mock" // the shared host's /health is KOS-Mock's (SPEC §3.0 #32)
		}
	}
	if mounted == 0 && len(app.Events) == 0 && len(services) > 0 && only != "" {
		return nil, fmt.Errorf("fn: no route named %q", only)
	}
	style := httpx.StyleStandard
	if len(app.started) > 0 && app.oneService() {
		style = app.started[0].svc.Style
	}
	mux.Handle("GET /health", jsonHealth(rootName))
	mux.Handle("GET /health/readiness", jsonHealth(rootName))
	mux.Handle("GET /health/liveness", jsonHealth(rootName))
	mux.Handle("GET /metrics", env.Metrics.Handler())
	mux.Handle("/", withStyle(style, notFound(paths, allow)))

	var h http.Handler = mux
	h = httpx.LimitBody(env.Settings.HTTP.MaxBodyBytes, h)
	h = httpx.BodyDeadline(env.Settings.HTTP.BodyReadTimeout(), h)
	h = httpx.Log(env.Log, h)
	// One allow-list for every service, KOS-Mock included.
	h = httpx.CORS(env.Settings.HTTP.Origins(), h)
	app.Handler = httpx.SecurityHeaders(h)
	return app, nil
}

func selectRoutes(svc Service, only string) []Route {
	if only == "" || (svc.Function != "" && only == svc.Function) {
		return svc.Routes
	}
	if r, ok := svc.Find(only); ok {
		return []Route{r}
	}
	return nil
}

// bind builds a route's handler: style, auth, then metrics outermost.
func bind(ctx context.Context, env *Env, svc Service, rt Route, value any) (http.Handler, error) {
	var h http.Handler = httpx.Handle(env.Log, rt.Handle(value))
	if rt.Access != "" {
		g, err := env.Guard(ctx)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rt.Name, err)
		}
		h = g.Require(rt.Access, h)
	}
	style := svc.Style
	if rt.Style != nil {
		style = *rt.Style
	}
	if rt.EventType == "" && rt.Schedule == "" && !rt.DeadLetter && !svc.NoDeadline {
		h = withDeadline(env.Settings.HTTP.RequestDeadline()-answerMargin, h)
	}
	return env.Metrics.Instrument(rt.Name, withStyle(style, h)), nil
}

// answerMargin is kept from a request's deadline for writing the answer.
const answerMargin = 150 * time.Millisecond

// withDeadline bounds every call an API request makes (KOS retries and
// breaker waits, PostgreSQL, Redis) by one deadline counted from the
// request's arrival, so it answers inside the client's 10 s whatever KOS
// does. Work that must outlive the client detaches with
// context.WithoutCancel and keeps its own budget (a plan change).
func withDeadline(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func withStyle(s httpx.Style, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(httpx.WithStyle(r.Context(), s)))
	})
}

// notFound answers 405 (with the Allow header RFC 9110 requires) when the
// path exists under another method, else 404, in the envelope of the
// service that owns the prefix.
func notFound(paths *http.ServeMux, allow map[string][]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := paths.Handler(r); pattern != "" {
			methods := slices.Clone(allow[pattern])
			slices.Sort(methods)
			w.Header().Set("Allow", strings.Join(slices.Compact(methods), ", "))
			httpx.WriteError(w, r, nil, &httpx.Error{Kind: httpx.KindMethod, Code: "METHOD_NOT_ALLOWED", Message: httpx.MsgMethod})
			return
		}
		httpx.WriteError(w, r, nil, &httpx.Error{Kind: httpx.KindNotFound, Code: "NOT_FOUND", Message: httpx.MsgNotFound})
	})
}

func jsonHealth(service string) http.Handler {
	body, _ := json.Marshal(map[string]string{"status": "UP", "service": service})
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

func serviceHealth(svc Service) http.Handler {
	if svc.HealthText != "" {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(svc.HealthText))
		})
	}
	return jsonHealth(svc.Name)
}
