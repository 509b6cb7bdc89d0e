package knative

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"phonebill/knative/gen"
)

// adminHeadroom are the connections kept for operators (psql sessions)
// on top of the pools; PostgreSQL's own superuser_reserved_connections come
// out of max_connections as well and are counted with them.
const adminHeadroom = 5

// defaultDBMaxConns is DB_MAX_CONNS when nothing sets it (SPEC §10.1).
const defaultDBMaxConns = 2

type budget struct {
	clientDemand, clientLimit            int
	serverPool, jobs, admin, serverLimit int
	maxConnections                       int
}

func (b budget) String() string {
	return fmt.Sprintf("clients Σ(max-scale × DB_MAX_CONNS) = %d ≤ PgBouncer max_client_conn %d; server pool %d + jobs %d + admin %d = %d ≤ %d (90%% of max_connections %d)",
		b.clientDemand, b.clientLimit, b.serverPool, b.jobs, b.admin, b.serverPool+b.jobs+b.admin, b.serverLimit, b.maxConnections)
}

// connectionBudget computes DESIGN §4's two inequalities from manifests.
func connectionBudget(docs []doc) (budget, []string) {
	var b budget
	var out []string
	cms := configMaps(docs)
	ini, ok := cms["pgbouncer-config"]["pgbouncer.ini"]
	if !ok {
		return b, []string{"no ConfigMap pgbouncer-config with pgbouncer.ini"}
	}
	bouncer := parseINI(ini)
	if bouncer["pool_mode"] != "transaction" {
		out = append(out, fmt.Sprintf("PgBouncer pool_mode %q, want transaction", bouncer["pool_mode"]))
	}
	replicas := 0
	for _, d := range ofKind[*appsv1.Deployment](docs) {
		if d.Name == "pgbouncer" {
			replicas = 1
			if d.Spec.Replicas != nil {
				replicas = int(*d.Spec.Replicas)
			}
		}
	}
	if replicas == 0 {
		out = append(out, "no pgbouncer Deployment")
	}
	b.clientLimit = replicas * atoi(bouncer["max_client_conn"])
	pool := atoi(bouncer["default_pool_size"]) + atoi(bouncer["reserve_pool_size"])
	if m := atoi(bouncer["max_db_connections"]); m > 0 && m < pool {
		pool = m
	}
	b.serverPool = replicas * pool

	for _, ks := range ofKind[*servingv1.Service](docs) {
		scale := atoi(ks.Spec.Template.Annotations[gen.AnnMaxScale])
		conns := defaultDBMaxConns
		if v, ok := resolveEnv(ks.Spec.Template.Spec.Containers[0], "DB_MAX_CONNS", cms); ok {
			conns = atoi(v)
		}
		b.clientDemand += scale * conns
	}
	// Jobs that talk to PostgreSQL directly: ours hold DB_MAX_CONNS, pg_dump
	// and pg_restore one each.
	jobPods := func(ps corev1.PodSpec) {
		for _, c := range ps.Containers {
			if v, ok := resolveEnv(c, "DB_MAX_CONNS", cms); ok {
				b.jobs += atoi(v)
			} else {
				b.jobs++
			}
		}
	}
	for _, j := range ofKind[*batchv1.Job](docs) {
		jobPods(j.Spec.Template.Spec)
	}
	for _, j := range ofKind[*batchv1.CronJob](docs) {
		jobPods(j.Spec.JobTemplate.Spec.Template.Spec)
	}
	for _, s := range ofKind[*appsv1.StatefulSet](docs) {
		if s.Name != "postgresql" {
			continue
		}
		args := postgresArgs(s.Spec.Template.Spec.Containers[0].Args)
		b.maxConnections = atoi(args["max_connections"])
		b.admin = adminHeadroom + atoi(args["superuser_reserved_connections"])
	}
	if b.maxConnections != 100 {
		out = append(out, fmt.Sprintf("PostgreSQL max_connections %d, DESIGN §4 plans with 100", b.maxConnections))
	}
	b.serverLimit = b.maxConnections * 9 / 10
	if b.clientDemand > b.clientLimit {
		out = append(out, fmt.Sprintf("Σ(max-scale × DB_MAX_CONNS) = %d exceeds PgBouncer's max_client_conn %d", b.clientDemand, b.clientLimit))
	}
	if sum := b.serverPool + b.jobs + b.admin; sum > b.serverLimit {
		out = append(out, fmt.Sprintf("PgBouncer server pool %d + jobs %d + admin %d = %d exceeds %d", b.serverPool, b.jobs, b.admin, sum, b.serverLimit))
	}
	return b, out
}

// parseINI reads key = value lines (sections and ; comments ignored).
func parseINI(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, ";") || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// postgresArgs reads the "-c name=value" settings of the postgres command.
func postgresArgs(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-c" {
			if k, v, ok := strings.Cut(args[i+1], "="); ok {
				out[k] = v
			}
		}
	}
	return out
}

func configMaps(docs []doc) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, cm := range ofKind[*corev1.ConfigMap](docs) {
		out[cm.Name] = cm.Data
	}
	return out
}

// secretKeys are the keys of each Secret template.
func secretKeys(docs []doc) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, s := range ofKind[*corev1.Secret](docs) {
		out[s.Name] = map[string]bool{}
		for k := range s.StringData {
			out[s.Name][k] = true
		}
	}
	return out
}

func isSecretName(k string) bool {
	switch k {
	case "JWT_SECRET", "DB_PASSWORD", "REDIS_PASSWORD", "DATABASE_URL", "PGPASSWORD", "POSTGRES_PASSWORD":
		return true
	}
	return false
}

// checkReferences: every ConfigMap, Secret and Secret key a pod names
// exists, and the hosts in phonebill-config are Services of the profile.
func checkReferences(docs []doc, cms map[string]map[string]string, secrets map[string]map[string]bool) []string {
	var out []string
	for _, d := range docs {
		ps, _, ok := podSpecOf(d)
		if !ok {
			continue
		}
		for _, c := range ps.Containers {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil && cms[e.ConfigMapRef.Name] == nil {
					out = append(out, fmt.Sprintf("%s: envFrom ConfigMap %q does not exist", d, e.ConfigMapRef.Name))
				}
				if e.SecretRef != nil && secrets[e.SecretRef.Name] == nil {
					out = append(out, fmt.Sprintf("%s: envFrom Secret %q has no template", d, e.SecretRef.Name))
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					if !secrets[ref.Name][ref.Key] {
						out = append(out, fmt.Sprintf("%s: %s reads Secret %s key %s, which the templates lack", d, e.Name, ref.Name, ref.Key))
					}
				}
			}
		}
		for _, v := range ps.Volumes {
			if v.ConfigMap != nil && cms[v.ConfigMap.Name] == nil {
				out = append(out, fmt.Sprintf("%s: volume ConfigMap %q does not exist", d, v.ConfigMap.Name))
			}
		}
	}
	services := map[string]bool{}
	for _, s := range ofKind[*corev1.Service](docs) {
		services[s.Name+"."+gen.Namespace+".svc.cluster.local"] = true
	}
	common := cms[gen.ConfigCommon]
	redisHost, _, _ := strings.Cut(common["REDIS_ADDR"], ":")
	for key, host := range map[string]string{"DB_HOST": common["DB_HOST"], "REDIS_ADDR": redisHost} {
		if !services[host] {
			out = append(out, fmt.Sprintf("%s %q is no Service of the profile", key, host))
		}
	}
	return out
}

// pod is a pod template with where it comes from.
type pod struct {
	from   string
	labels labels.Set
	fn     bool // a Knative function
}

func podsOf(docs []doc) []pod {
	var out []pod
	for _, d := range docs {
		if _, meta, ok := podSpecOf(d); ok {
			_, isFn := d.Obj.(*servingv1.Service)
			out = append(out, pod{d.String(), labels.Set(meta.Labels), isFn})
		}
	}
	return out
}

func matches(sel *metav1.LabelSelector, l labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(l)
}

// checkNetworkPolicies: dev-basic-policy covers every function; only the
// PostgreSQL clients (PgBouncer and jobs) may reach PostgreSQL, and no
// function may; functions may reach DNS, PgBouncer and Redis.
func checkNetworkPolicies(docs []doc) []string {
	var out []string
	pols := map[string]*networkingv1.NetworkPolicy{}
	for _, p := range ofKind[*networkingv1.NetworkPolicy](docs) {
		pols[p.Name] = p
	}
	basic, pg := pols["dev-basic-policy"], pols["postgresql-access"]
	if basic == nil || pg == nil {
		return []string{"dev-basic-policy or postgresql-access is missing"}
	}
	pods := podsOf(docs)
	byApp := map[string]labels.Set{}
	for _, p := range pods {
		byApp[p.labels["app"]] = p.labels
	}
	allowedPG := map[string]bool{"pgbouncer": true, "phonebill-migrate": true, "postgresql-backup": true, "postgresql-restore": true}
	for _, p := range pods {
		if sel := matches(&basic.Spec.PodSelector, p.labels); sel != p.fn {
			out = append(out, fmt.Sprintf("%s: is a function: %v, but selected by dev-basic-policy: %v", p.from, p.fn, sel))
		}
		reaches := false
		for _, rule := range pg.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.PodSelector != nil && peer.NamespaceSelector == nil && matches(peer.PodSelector, p.labels) {
					reaches = true
				}
			}
		}
		if reaches != allowedPG[p.labels["app"]] {
			out = append(out, fmt.Sprintf("%s: may reach PostgreSQL = %v", p.from, reaches))
		}
	}
	egressTo := func(app string, port int) bool {
		for _, rule := range basic.Spec.Egress {
			for _, peer := range rule.To {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || !matches(peer.PodSelector, byApp[app]) {
					continue
				}
				for _, p := range rule.Ports {
					if p.Port != nil && p.Port.IntValue() == port {
						return true
					}
				}
			}
		}
		return false
	}
	for app, port := range map[string]int{"pgbouncer": 5432, "redis": 6379} {
		if byApp[app] == nil {
			out = append(out, "no "+app+" pods")
		} else if !egressTo(app, port) {
			out = append(out, fmt.Sprintf("functions may not reach %s:%d", app, port))
		}
	}
	if egressTo("postgresql", 5432) {
		out = append(out, "functions may reach PostgreSQL directly")
	}
	dns := false
	for _, rule := range basic.Spec.Egress {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.IntValue() == 53 {
				dns = true
			}
		}
	}
	if !dns {
		out = append(out, "functions may not resolve DNS")
	}
	for _, n := range []string{"kourier-system", "knative-serving", "knative-eventing"} {
		ok := false
		for _, rule := range basic.Spec.Ingress {
			for _, peer := range rule.From {
				if peer.NamespaceSelector != nil && matches(peer.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": n}) {
					ok = true
				}
			}
		}
		if !ok {
			out = append(out, "functions do not accept traffic from "+n)
		}
	}
	return out
}
