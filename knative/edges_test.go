package knative

import (
	"fmt"
	"testing"

	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"phonebill/knative/gen"
)

// apiCallers are the workloads that call the Kubernetes API and so need a
// service-account token in their pods: none does (the functions talk to
// PostgreSQL, Redis, KOS and the Broker; the Jobs to PostgreSQL).
var apiCallers = map[string]bool{}

// checkNoToken: a pod that never calls the Kubernetes API gets no token.
func checkNoToken(d doc) []string {
	ps, _, ok := podSpecOf(d)
	if !ok || apiCallers[d.Obj.GetName()] {
		return nil
	}
	if a := ps.AutomountServiceAccountToken; a == nil || *a {
		return []string{fmt.Sprintf("%s: automountServiceAccountToken is not false (it never calls the Kubernetes API)", d)}
	}
	return nil
}

// Every function, Job and CronJob, and the infra workloads too, run
// without a service-account token: a compromised pod holds no credential
// for the API server.
func TestNoServiceAccountTokenInPods(t *testing.T) {
	t.Parallel()
	pods := 0
	for _, d := range loadRepo(t).Docs {
		if _, _, ok := podSpecOf(d); ok {
			pods++
		}
		for _, p := range checkNoToken(d) {
			t.Error(p)
		}
	}
	if pods < 30 {
		t.Fatalf("only %d pod templates found", pods)
	}
	t.Logf("%d pod templates without a token", pods)
}

func TestBrokenTokenMountFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	ks.Spec.Template.Spec.AutomountServiceAccountToken = nil
	wantProblem(t, checkNoToken(docOf(docs, ks)), ks.Name, "automountServiceAccountToken")
}

// drainProblems: Knative gives a revision's pod terminationGracePeriodSeconds
// = timeoutSeconds; the preStop hook (queue-proxy's /wait-for-drain) holds
// SIGTERM back until queue-proxy has been quiet for 30 s or the grace is
// spent, and kubelet then leaves at least 2 s before SIGKILL. The function's
// drain plus what it takes to stop after it (shared/fn's SIGTERM test
// measures both) must fit that window.
func drainProblems(docs []doc) (out []string, rows []string) {
	cms := configMaps(docs)
	for _, ks := range ofKind[*servingv1.Service](docs) {
		c := ks.Spec.Template.Spec.Containers[0]
		grace := *ks.Spec.Template.Spec.TimeoutSeconds
		preStop := min(grace, int64(gen.QueueProxyDrainSeconds))
		window := max(grace-preStop, int64(gen.KubeletMinGraceSeconds))
		v, ok := resolveEnv(c, "SHUTDOWN_TIMEOUT_SECONDS", cms)
		drain := int64(atoi(v))
		switch {
		case !ok || drain < 1:
			out = append(out, fmt.Sprintf("%s: SHUTDOWN_TIMEOUT_SECONDS %q, want the drain derived from timeoutSeconds %d", ks.Name, v, grace))
		case drain+gen.StopMarginSeconds > window:
			out = append(out, fmt.Sprintf("%s: drain %d s + stop %d s > the %d s kubelet leaves after SIGTERM (grace %d s, preStop %d s)",
				ks.Name, drain, gen.StopMarginSeconds, window, grace, preStop))
		}
		rows = append(rows, fmt.Sprintf("%s: grace %d s, preStop ≤ %d s, after SIGTERM %d s, drain %d s", ks.Name, grace, preStop, window, drain))
	}
	return out, rows
}

func TestDrainFitsTheGraceKnativeGives(t *testing.T) {
	t.Parallel()
	r := loadRepo(t)
	for _, p := range r.In.Profiles {
		problems, rows := drainProblems(r.profileDocs(p))
		for _, e := range problems {
			t.Errorf("%s: %s", p.Name, e)
		}
		if len(rows) == 0 {
			t.Fatalf("%s: no Knative Services", p.Name)
		}
		t.Logf("%s: %s", p.Name, rows[0])
	}
}

func TestBrokenDrainFails(t *testing.T) {
	t.Parallel()
	_, _, docs, ks := devCopy(t)
	c := &ks.Spec.Template.Spec.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == "SHUTDOWN_TIMEOUT_SECONDS" {
			c.Env[i].Value = "25"
		}
	}
	problems, _ := drainProblems(docs)
	wantProblem(t, problems, ks.Name, "kubelet leaves after SIGTERM")
}
