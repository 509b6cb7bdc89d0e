package knative

import (
	"fmt"
	"testing"
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
