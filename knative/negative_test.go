package knative

import (
	"strings"
	"testing"

	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"phonebill/knative/gen"
)

// The negative tests break an in-memory copy of a real manifest and prove
// the checks above notice, with a message that says what is wrong.

// devCopy returns a deep copy of the dev profile's documents and the first
// HTTP function's Knative Service in it.
func devCopy(t *testing.T) (*repo, gen.Profile, []doc, *servingv1.Service) {
	t.Helper()
	r := loadRepo(t)
	dev := r.profile(t, "dev")
	var docs []doc
	var target *servingv1.Service
	for _, d := range r.profileDocs(dev) {
		d.Obj = d.Obj.DeepCopyObject().(object)
		if ks, ok := d.Obj.(*servingv1.Service); ok && target == nil && ks.Labels[gen.LabelKind] == gen.HTTP.String() {
			target = ks
		}
		docs = append(docs, d)
	}
	if target == nil {
		t.Fatal("no HTTP function in knative/dev")
	}
	return r, dev, docs, target
}

func docOf(docs []doc, o object) doc {
	for _, d := range docs {
		if d.Obj == o {
			return d
		}
	}
	return doc{File: "(copy)", Obj: o}
}

func wantProblem(t *testing.T, problems []string, want ...string) {
	t.Helper()
	for _, p := range problems {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(p, w)
		}
		if ok {
			t.Logf("caught: %s", p)
			return
		}
	}
	t.Errorf("no problem mentioning %q among:\n  %s", want, joinLines(problems))
}

func TestBrokenMaxScaleBelowMinScaleFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	ks.Spec.Template.Annotations[gen.AnnMinScale] = "3"
	ks.Spec.Template.Annotations[gen.AnnMaxScale] = "2"
	err := knativeCheck(ks)
	if err == nil {
		t.Fatal("Knative accepted max-scale 2 below min-scale 3")
	}
	wantProblem(t, []string{err.Error()}, "max-scale")
	wantProblem(t, checkScaleToZero(docOf(docs, ks)), gen.AnnMinScale, "scale to zero")
}

func TestBrokenAnnotationTypoFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	a := ks.Spec.Template.Annotations
	a["autoscaling.knative.dev/max-scael"] = a[gen.AnnMaxScale]
	delete(a, gen.AnnMaxScale)
	d := docOf(docs, ks)
	wantProblem(t, checkAnnotations(d), "autoscaling.knative.dev/max-scael", "not in the allow-list")
	wantProblem(t, checkScaleToZero(d), gen.AnnMaxScale, "positive number")
}

func TestBrokenServiceForMissingRouteFails(t *testing.T) {
	t.Parallel()
	r, dev, docs, ks := devCopy(t)
	ghost := ks.DeepCopy()
	ghost.Name = "auth-no-such-route"
	docs = append(docs, doc{File: "knative/dev/functions/auth-no-such-route.yaml", Obj: ghost})
	wantProblem(t, ties{In: r.In, Profile: dev, Docs: docs}.check(), `"auth-no-such-route" serves no route`)
}

func TestBrokenEventWiringFails(t *testing.T) {
	t.Parallel()
	r, dev, docs, _ := devCopy(t)
	var kept []doc
	dropped := ""
	for _, d := range docs {
		if d.Kind() == "Trigger" && dropped == "" {
			dropped = d.Obj.GetName()
			continue
		}
		kept = append(kept, d)
	}
	if dropped == "" {
		t.Fatal("no Trigger in knative/dev")
	}
	wantProblem(t, ties{In: r.In, Profile: dev, Docs: kept}.check(), dropped, "has 0 Triggers")
}

func TestBrokenSecurityContextFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	c := &ks.Spec.Template.Spec.Containers[0]
	no := false
	c.SecurityContext.ReadOnlyRootFilesystem = &no
	c.SecurityContext.Capabilities.Drop = nil
	d := docOf(docs, ks)
	wantProblem(t, checkSecurity(d), "readOnlyRootFilesystem")
	wantProblem(t, checkSecurity(d), "drop ALL")
}

func TestBrokenYAMLFieldFailsStrictDecoding(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	var src []byte
	for p, b := range r.Files {
		if strings.HasPrefix(p, "knative/dev/functions/") {
			src = b
			break
		}
	}
	bad := strings.Replace(string(src), "timeoutSeconds:", "timeoutSecond:", 1)
	if bad == string(src) {
		t.Fatal("no timeoutSeconds to break")
	}
	_, err := decodeStrict([]byte(splitDocsString(bad)))
	if err == nil || !strings.Contains(err.Error(), "timeoutSecond") {
		t.Fatalf("strict decoding accepted an unknown field: %v", err)
	}
	t.Logf("caught: %v", err)
}

func splitDocsString(s string) string { return string(splitDocs([]byte(s))[0]) }

func TestBrokenConnectionBudgetFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	ks.Spec.Template.Annotations[gen.AnnMaxScale] = "400"
	_, problems := connectionBudget(docs)
	wantProblem(t, problems, "exceeds PgBouncer's max_client_conn")
}

func TestBrokenIngressForEventFunctionFails(t *testing.T) {
	t.Parallel()
	r, dev, docs, _ := devCopy(t)
	var ing *networkingIngress
	for _, d := range docs {
		if i, ok := d.Obj.(*networkingIngress); ok {
			ing = i.DeepCopy()
			break
		}
	}
	var event string
	for _, f := range r.In.Functions {
		if f.Kind == gen.Event {
			event = f.Name
			break
		}
	}
	if ing == nil || event == "" {
		t.Fatal("need an Ingress and an event function")
	}
	ing.Name = event
	ing.Spec.Rules[0].HTTP.Paths = ing.Spec.Rules[0].HTTP.Paths[:1]
	ing.Spec.Rules[0].HTTP.Paths[0].Path = "/api/v1/events-by-mistake$"
	docs = append(docs, doc{File: "(copy)", Obj: ing})
	wantProblem(t, ties{In: r.In, Profile: dev, Docs: docs}.check(), event, "must have no ingress path")
}

func TestBrokenFuncYAMLFails(t *testing.T) {
	t.Parallel()
	r, _, _, ks := devCopy(t)
	var f gen.Function
	for _, fn := range r.In.Functions {
		if fn.Name == ks.Name {
			f = fn
		}
	}
	fy, err := readFuncYAML(r.Root, f.Dir+"/func.yaml")
	if err != nil {
		t.Fatal(err)
	}
	big := 50
	fy.Deploy.Options.Scale.Max = &big
	fy.Run.Envs = fy.Run.Envs[:len(fy.Run.Envs)-1]
	problems := compareFuncYAML(f.Dir+"/func.yaml", fy, f, ks)
	wantProblem(t, problems, "scale.max 50")
	wantProblem(t, problems, "run.envs sources")
}
