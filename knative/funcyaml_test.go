package knative

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"phonebill/knative/gen"
)

// funcYAML holds the func.yaml fields the manifests are compared with
// (func's other fields are ignored, not rejected: func owns that format).
type funcYAML struct {
	SpecVersion string `json:"specVersion"`
	Name        string `json:"name"`
	Runtime     string `json:"runtime"`
	Run         struct {
		Envs []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"envs"`
	} `json:"run"`
	Deploy struct {
		Namespace string `json:"namespace"`
		Labels    []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
		HealthEndpoints struct {
			Liveness  string `json:"liveness"`
			Readiness string `json:"readiness"`
		} `json:"healthEndpoints"`
		Options struct {
			Scale struct {
				Min    *int    `json:"min"`
				Max    *int    `json:"max"`
				Metric string  `json:"metric"`
				Target float64 `json:"target"`
			} `json:"scale"`
			Resources struct {
				Requests map[string]string `json:"requests"`
				Limits   struct {
					CPU         string `json:"cpu"`
					Memory      string `json:"memory"`
					Concurrency *int64 `json:"concurrency"`
				} `json:"limits"`
			} `json:"resources"`
		} `json:"options"`
		Subscriptions []struct {
			Source  string            `json:"source"`
			Filters map[string]string `json:"filters"`
		} `json:"subscriptions"`
	} `json:"deploy"`
}

func readFuncYAML(root, rel string) (*funcYAML, error) {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	var f funcYAML
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return &f, nil
}

// compareFuncYAML reports where a func.yaml and the function's Knative
// Service (dev profile) differ.
func compareFuncYAML(path string, fy *funcYAML, f gen.Function, ks *servingv1.Service) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, path+": "+fmt.Sprintf(format, a...)) }
	if ks == nil {
		return []string{fmt.Sprintf("%s: function %q has no Knative Service in knative/dev", path, f.Name)}
	}
	if fy.Name != f.Name {
		bad("name %q, want %q (the route name its main.go serves)", fy.Name, f.Name)
	}
	if fy.Runtime != "go" || fy.SpecVersion == "" {
		bad("runtime %q specVersion %q, want go and a specVersion", fy.Runtime, fy.SpecVersion)
	}
	if fy.Deploy.Namespace != gen.Namespace {
		bad("deploy.namespace %q, want %q", fy.Deploy.Namespace, gen.Namespace)
	}
	c := ks.Spec.Template.Spec.Containers[0]
	if h := fy.Deploy.HealthEndpoints; h.Liveness != c.LivenessProbe.HTTPGet.Path || h.Readiness != c.ReadinessProbe.HTTPGet.Path {
		bad("healthEndpoints %+v, the Service probes %s and %s", h, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	a := ks.Spec.Template.Annotations
	sc := fy.Deploy.Options.Scale
	if sc.Min == nil || strconv.Itoa(*sc.Min) != a[gen.AnnMinScale] {
		bad("scale.min %v, the Service has min-scale %s", deref(sc.Min), a[gen.AnnMinScale])
	}
	if sc.Max == nil || strconv.Itoa(*sc.Max) != a[gen.AnnMaxScale] {
		bad("scale.max %v, the Service has max-scale %s", deref(sc.Max), a[gen.AnnMaxScale])
	}
	if sc.Metric != a[gen.AnnMetric] || strconv.FormatFloat(sc.Target, 'f', -1, 64) != a[gen.AnnTarget] {
		bad("scale metric/target %s/%v, the Service has %s/%s", sc.Metric, sc.Target, a[gen.AnnMetric], a[gen.AnnTarget])
	}
	res := fy.Deploy.Options.Resources
	limits := map[string]string{"cpu": res.Limits.CPU, "memory": res.Limits.Memory}
	for name, pair := range map[string][2]map[string]string{"requests": {res.Requests, nil}, "limits": {limits, nil}} {
		want := c.Resources.Requests
		if name == "limits" {
			want = c.Resources.Limits
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			got, err := resource.ParseQuantity(pair[0][string(r)])
			w := want[r]
			if err != nil || got.Cmp(w) != 0 {
				bad("resources.%s.%s %q, the Service has %s", name, r, pair[0][string(r)], w.String())
			}
		}
	}
	// What `func deploy` replaces on an existing Service must already be
	// what the manifest has: labels (Service and template alike),
	// annotations, containerConcurrency, and probes without settings func
	// would reset.
	gotLabels := map[string]string{}
	for _, l := range fy.Deploy.Labels {
		gotLabels[l.Key] = l.Value
	}
	if !reflect.DeepEqual(gotLabels, ks.Labels) || !reflect.DeepEqual(gotLabels, ks.Spec.Template.Labels) {
		bad("deploy.labels %v, the Service has %v and its template %v (func deploy writes these to both)", gotLabels, ks.Labels, ks.Spec.Template.Labels)
	}
	wantAnn := map[string]string{}
	for k, v := range a {
		if !slices.Contains(gen.ScaleAnnotations, k) {
			wantAnn[k] = v
		}
	}
	if len(ks.Annotations) > 0 || !(len(fy.Deploy.Annotations) == 0 && len(wantAnn) == 0 || reflect.DeepEqual(fy.Deploy.Annotations, wantAnn)) {
		bad("deploy.annotations %v, the template has %v besides scale and the Service %v", fy.Deploy.Annotations, wantAnn, ks.Annotations)
	}
	if cc := ks.Spec.Template.Spec.ContainerConcurrency; fmt.Sprint(deref64(cc)) != fmt.Sprint(deref64(res.Limits.Concurrency)) {
		bad("resources.limits.concurrency %v, the Service has containerConcurrency %v", deref64(res.Limits.Concurrency), deref64(cc))
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		bare := corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.HTTPGet.Path}}}
		if !reflect.DeepEqual(*p, bare) {
			bad("the Service's %s probe has settings beyond its path, which func deploy would reset: %+v", name, *p)
		}
	}
	var gotSrc, gotNamed []string
	for _, e := range fy.Run.Envs {
		if e.Name == "" {
			gotSrc = append(gotSrc, e.Value)
		} else {
			gotNamed = append(gotNamed, e.Name+"="+e.Value)
		}
	}
	wantSrc := envSources(c)
	var wantNamed []string
	for _, e := range c.Env {
		wantNamed = append(wantNamed, e.Name+"="+e.Value)
	}
	if !sameSet(gotSrc, wantSrc) {
		bad("run.envs sources %v, the Service takes %v", gotSrc, wantSrc)
	}
	if !sameSet(gotNamed, wantNamed) {
		bad("run.envs values %v, the Service sets %v", gotNamed, wantNamed)
	}
	subs := fy.Deploy.Subscriptions
	if f.Kind == gen.Event {
		want := map[string]string{"type": f.Routes[0].EventType}
		if len(subs) != 1 || subs[0].Source != gen.BrokerName || !reflect.DeepEqual(subs[0].Filters, want) {
			bad("subscriptions %+v, want one on broker %q with filters %v", subs, gen.BrokerName, want)
		}
	} else if len(subs) > 0 {
		bad("%s function has subscriptions %+v", f.Kind, subs)
	}
	return out
}

func deref64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func sameSet(a, b []string) bool {
	x, y := append([]string{}, a...), append([]string{}, b...)
	sort.Strings(x)
	sort.Strings(y)
	return reflect.DeepEqual(x, y) || (len(x) == 0 && len(y) == 0)
}

// orphanFuncYAMLs reports func.yaml files under functions/ that no
// function of the route table owns (a renamed route's leftover, or a folder
// whose main.go serves another name).
func orphanFuncYAMLs(root string, fns []gen.Function) []string {
	owned := map[string]bool{}
	for _, f := range fns {
		owned[f.Dir+"/func.yaml"] = true
	}
	var out []string
	_ = filepath.WalkDir(filepath.Join(root, "functions"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "func.yaml" {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !owned[rel] {
			out = append(out, rel+": no function of the route table is served from this folder (main.go calls fn.Main with another name, or none)")
		}
		return nil
	})
	return out
}

// knownEnvNames are the settings some code reads: envconfig tags and
// os.Getenv/LookupEnv literals under functions/ and shared/.
func knownEnvNames(root string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, dir := range []string{"functions", "shared"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
			if err != nil {
				return nil // a file mid-edit elsewhere is not this test's business
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.Field:
					if n.Tag != nil {
						if tag, err := strconv.Unquote(n.Tag.Value); err == nil {
							if v, ok := reflect.StructTag(tag).Lookup("envconfig"); ok {
								out[strings.Split(v, ",")[0]] = true
							}
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv") && len(n.Args) == 1 {
						if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if s, err := strconv.Unquote(lit.Value); err == nil {
								out[s] = true
							}
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
