// Package gen turns the route table (phonebill/functions/routes) and the
// profile files (config/<profile>.env) into the Knative manifests under
// knative/. Nothing in the generated files is typed by hand: a route added to
// the table becomes a Service, an ingress path or a Trigger on the next
// `make manifests`, and knative's tests fail until it is run.
package gen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"phonebill/shared/fn"
)

// Kind says how a function is reached.
type Kind int

const (
	// HTTP functions are reached through the one NGINX Ingress: an ingress
	// path per route (their Knative Services stay cluster-local, as all do).
	HTTP Kind = iota
	// Event functions receive one CloudEvent type from a Trigger.
	Event
	// Scheduled functions receive the pings of a PingSource, and with an
	// event type also that type from a Trigger (the outbox relay's sweep).
	Scheduled
	// DeadLetter is the dead-letter sink of every Trigger.
	DeadLetter
	// AllInOne serves every route in one Service (optional manifest).
	AllInOne
)

func (k Kind) String() string {
	return [...]string{"http", "event", "scheduled", "dead-letter", "all-in-one"}[k]
}

// ClusterLocal reports whether the function has no ingress path (event,
// scheduled and dead-letter functions). Every Knative Service is
// cluster-local; HTTP functions are public only through the Ingress.
func (k Kind) ClusterLocal() bool { return k == Event || k == Scheduled || k == DeadLetter }

// AllInOneName is the Knative Service of the all-in-one (root func.yaml).
const AllInOneName = "phonebill"

// AllInOneDir is the folder of the all-in-one's main.
const AllInOneDir = "functions/phonebill"

// Function is one Knative Service derived from the route table.
type Function struct {
	// Name is the Knative Service name (the route name, or Service.Function).
	Name string
	// Service is the owning service's short name ("auth", "kos-mock", ...).
	Service string
	// Kind says how the function is reached.
	Kind Kind
	// Routes are the routes it serves: one, or all of a Function service.
	Routes []fn.Route
	// Home is set on the one function per service that also answers the
	// service's health path and the unknown paths under its prefixes.
	Home bool
	// ExtraPaths are the ingress regexes a home function serves besides its
	// route: the service's health path and its prefixes' unknown paths.
	ExtraPaths []string
	// Dir is the repo-relative folder holding main.go and func.yaml.
	Dir string
}

// ImportPath is the Go import path of the function's main package.
func (f Function) ImportPath() string { return "phonebill/" + filepath.ToSlash(f.Dir) }

// Image is the ko reference that `ko resolve` replaces with a digest.
func (f Function) Image() string { return "ko://" + f.ImportPath() }

// Functions lists every function of the route table in table order, with
// the folder of its main taken from mains (route name → folders).
func Functions(services []fn.Service, mains map[string][]string) ([]Function, error) {
	var out []Function
	var errs []string
	seen := map[string]bool{}
	add := func(f Function) {
		if seen[f.Name] {
			errs = append(errs, fmt.Sprintf("function %q is defined twice in the route table", f.Name))
			return
		}
		seen[f.Name] = true
		dirs := mains[f.Name]
		switch len(dirs) {
		case 0:
			errs = append(errs, fmt.Sprintf("function %q has no folder: no functions/**/main.go calls fn.Main(..., %q)", f.Name, f.Name))
		case 1:
			f.Dir = dirs[0]
		default:
			errs = append(errs, fmt.Sprintf("function %q has %d folders (%v): exactly one main.go may serve it", f.Name, len(dirs), dirs))
		}
		out = append(out, f)
	}
	for _, s := range services {
		if s.Function != "" {
			for _, r := range s.Routes {
				if r.IsEvent() {
					errs = append(errs, fmt.Sprintf("service %q serves all routes from %q, but route %q is an event function", s.Name, s.Function, r.Name))
				}
			}
			extra := homePaths(s, nil)
			if s.Name == "kos-mock" {
				extra = append(extra, "/health$") // SPEC §3.0 row 32: /health on the shared host is KOS-Mock's
			}
			add(Function{Name: s.Function, Service: s.Name, Kind: HTTP, Routes: s.Routes, Home: true, ExtraPaths: extra})
			continue
		}
		home := false
		taken := map[string]bool{}
		for _, r := range s.Routes {
			if !r.IsEvent() && r.Path != "" {
				taken[PathRegex(r.Path)] = true
			}
		}
		for _, r := range s.Routes {
			k, err := kindOf(r)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			f := Function{Name: r.Name, Service: s.Name, Kind: k, Routes: []fn.Route{r}}
			if k == HTTP && !home {
				f.Home, home = true, true
				f.ExtraPaths = homePaths(s, taken)
			}
			add(f)
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("route table: %s", join(errs))
	}
	return out, nil
}

// homePaths are the service's health path and, per prefix, the prefix
// itself and its subtree, minus the regexes a route already owns. ingress-
// nginx tries regex locations longest first, so the subtree regex
// "<prefix>/" (as short as a path under the prefix can be) only wins where
// no route matches: unknown paths get the service's own 404 envelope.
func homePaths(s fn.Service, taken map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] && !taken[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if s.HealthPath != "" {
		add(PathRegex(s.HealthPath))
	}
	for _, pre := range s.Prefixes {
		add(regexp.QuoteMeta(pre) + "$")
		add(regexp.QuoteMeta(pre) + "/")
	}
	return out
}

func kindOf(r fn.Route) (Kind, error) {
	n := 0
	k := HTTP
	if r.EventType != "" {
		n, k = n+1, Event
	}
	if r.Schedule != "" {
		// A schedule may come with an event type: both drive one function.
		n, k = 1, Scheduled
	}
	if r.DeadLetter {
		n, k = n+1, DeadLetter
	}
	if n > 1 {
		return 0, fmt.Errorf("route %q is more than one of event or scheduled, and dead-letter", r.Name)
	}
	if k == HTTP && (r.Method == "" || r.Path == "") {
		return 0, fmt.Errorf("route %q has no method and path and is no event function", r.Name)
	}
	if r.Name == "" {
		return 0, fmt.Errorf("a route of %s %s has no name", r.Method, r.Path)
	}
	return k, nil
}

func join(errs []string) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += "; "
		}
		s += e
	}
	return s
}

// ScanMains finds every functions/**/main.go under root that calls
// fn.Main(<service>, "<name>") and returns name → repo-relative folders.
func ScanMains(root string) (map[string][]string, error) {
	out := map[string][]string{}
	base := filepath.Join(root, "functions")
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "main.go" {
			return nil
		}
		names, err := mainNames(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, n := range names {
			out[n] = append(out[n], filepath.ToSlash(rel))
		}
		return nil
	})
	for _, dirs := range out {
		sort.Strings(dirs)
	}
	return out, err
}

// mainNames returns the route names passed to fn.Main in one file.
func mainNames(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Main" {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "fn" {
			return true
		}
		lit, ok := call.Args[1].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if s, err := strconv.Unquote(lit.Value); err == nil {
			names = append(names, s)
		}
		return true
	})
	return names, nil
}
