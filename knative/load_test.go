package knative

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"phonebill/functions/routes"
	"phonebill/knative/gen"
	"phonebill/shared/testenv"
)

// object is what every typed API struct is.
type object interface {
	runtime.Object
	metav1.Object
}

// kinds maps apiVersion/kind to the typed struct a document must decode
// into; a kind not listed here is an error (nothing is applied untyped).
var kinds = map[string]func() object{
	"serving.knative.dev/v1/Service":          func() object { return &servingv1.Service{} },
	"eventing.knative.dev/v1/Broker":          func() object { return &eventingv1.Broker{} },
	"eventing.knative.dev/v1/Trigger":         func() object { return &eventingv1.Trigger{} },
	"sources.knative.dev/v1/PingSource":       func() object { return &sourcesv1.PingSource{} },
	"sources.knative.dev/v1/SinkBinding":      func() object { return &sourcesv1.SinkBinding{} },
	"v1/ConfigMap":                            func() object { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() object { return &corev1.Secret{} },
	"v1/Service":                              func() object { return &corev1.Service{} },
	"v1/Namespace":                            func() object { return &corev1.Namespace{} },
	"v1/PersistentVolumeClaim":                func() object { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() object { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() object { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                            func() object { return &batchv1.Job{} },
	"batch/v1/CronJob":                        func() object { return &batchv1.CronJob{} },
	"networking.k8s.io/v1/Ingress":            func() object { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() object { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() object { return &gen.PrometheusRule{} },
}

// doc is one decoded YAML document.
type doc struct {
	File string // repo-relative
	Idx  int    // position in the file
	Obj  object
}

func (d doc) Kind() string { return d.Obj.GetObjectKind().GroupVersionKind().Kind }

func (d doc) String() string {
	return fmt.Sprintf("%s[%d] %s/%s", d.File, d.Idx, d.Kind(), d.Obj.GetName())
}

// decodeStrict decodes one YAML document into its typed struct: duplicate
// keys and fields the struct does not know are errors.
func decodeStrict(y []byte) (object, error) {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, err
	}
	mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s/%s (add it to the typed list if it is meant)", tm.APIVersion, tm.Kind)
	}
	obj := mk()
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", tm.Kind, nameOf(j), err)
	}
	return obj, nil
}

func nameOf(j []byte) string {
	var m struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = json.Unmarshal(j, &m)
	return m.Metadata.Name
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocs splits a multi-document YAML file, dropping empty documents.
func splitDocs(b []byte) [][]byte {
	var out [][]byte
	for _, part := range docSep.Split(string(b), -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		out = append(out, []byte(part))
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// repo is everything the tests read once: the route table, the generator's
// view of it and every manifest.
type repo struct {
	Root  string
	In    *gen.Input
	Docs  []doc
	Files map[string][]byte // repo-relative path → contents, every YAML under knative/
}

var (
	repoOnce sync.Once
	repoVal  *repo
	repoErr  error
)

// manifestDirs are the folders whose YAML is checked.
var manifestDirs = []string{"knative/dev", "knative/prod", "knative/optional", "knative/infra", "knative/ops", "knative/secrets"}

func loadRepo(t *testing.T) *repo {
	t.Helper()
	repoOnce.Do(func() { repoVal, repoErr = readRepo() })
	if repoErr != nil {
		t.Fatal(repoErr)
	}
	return repoVal
}

func readRepo() (*repo, error) {
	root, err := testenv.RepoRoot(".")
	if err != nil {
		return nil, err
	}
	in, err := gen.Load(root, routes.All())
	if err != nil {
		return nil, err
	}
	r := &repo{Root: root, In: in, Files: map[string][]byte{}}
	var errs []string
	for _, d := range manifestDirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			r.Files[rel] = b
			for i, y := range splitDocs(b) {
				obj, err := decodeStrict(y)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s[%d]: %v", rel, i, err))
					continue
				}
				r.Docs = append(r.Docs, doc{File: rel, Idx: i, Obj: obj})
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	// The generated func.yaml files (compared byte for byte, not decoded).
	for _, f := range append(append([]gen.Function{}, in.Functions...), in.AllInOneFunction()) {
		if b, err := os.ReadFile(filepath.Join(root, gen.FuncYAMLPath(f))); err == nil {
			r.Files[gen.FuncYAMLPath(f)] = b
		}
	}
	if len(errs) > 0 {
		return r, fmt.Errorf("manifests do not decode strictly:\n  %s", strings.Join(errs, "\n  "))
	}
	sort.SliceStable(r.Docs, func(i, j int) bool { return r.Docs[i].File < r.Docs[j].File })
	return r, nil
}

// profileDocs are the documents `make deploy` applies for a profile: its
// folder, the always-on infra and (dev) the optional all-in-one.
func (r *repo) profileDocs(p gen.Profile) []doc {
	var out []doc
	for _, d := range r.Docs {
		switch {
		case strings.HasPrefix(d.File, "knative/"+p.Name+"/"), strings.HasPrefix(d.File, "knative/infra/"),
			p.AllInOne && strings.HasPrefix(d.File, gen.OptionalDir+"/"):
			out = append(out, d)
		}
	}
	return out
}

func (r *repo) profile(t *testing.T, name string) gen.Profile {
	t.Helper()
	for _, p := range r.In.Profiles {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no profile %q", name)
	return gen.Profile{}
}

// knativeCheck runs Knative's own SetDefaults and Validate (as the
// webhook does on create) on a copy of the object.
func knativeCheck(o object) error {
	type knativeObject interface {
		apis.Defaultable
		apis.Validatable
	}
	ko, ok := o.DeepCopyObject().(knativeObject)
	if !ok {
		return nil
	}
	ctx := apis.WithinCreate(context.Background())
	ko.SetDefaults(ctx)
	if fe := ko.Validate(ctx); fe != nil {
		return fmt.Errorf("knative validation: %v", fe)
	}
	return nil
}

func ofKind[T object](docs []doc) []T {
	var out []T
	for _, d := range docs {
		if o, ok := d.Obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}
