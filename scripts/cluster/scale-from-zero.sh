#!/usr/bin/env bash
# scale-from-zero.sh [FUNCTION] [RUNS] — deploys one function of knative/dev
# as a Knative Service on the cluster of `make cluster`, then RUNS times
# (default 10): waits until the function has no pod, sends one request through
# Traefik (the Knative ingress) and times it until the answer. The request
# reaches the activator, which holds it until the first pod is ready.
#
#   make cluster && make build   # images in the cluster's loopback registry
#   scripts/cluster/scale-from-zero.sh kos-mock 10
#
# For the measurement only, config-autoscaler's stable-window and
# scale-to-zero-grace-period are shortened (to 6 s) so that a run does not
# wait Knative's 90 s to reach zero; the defaults are restored at the end.
# The answer's latency is what scale-from-zero costs, whatever the idle time.
# Env: ROUTE (default /health/readiness), EXPECT (200), VIA (how the request
# goes in: public = Traefik's public entry point 8081, local = its
# cluster-local one 8082, both with the Service's host; frontdoor = the front
# door 8083, ROUTE as the client's path; default: local for a cluster-local
# Service, else public), SKIP_APPLY=1 (the Service is deployed already, e.g.
# by `make deploy`; make e2e sets it).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
C="$ROOT/bin/cluster"
FN=${1:-kos-mock}
RUNS=${2:-10}
ROUTE=${ROUTE:-/health/readiness}
EXPECT=${EXPECT:-200}
NS=phonebill
NODE_IP=10.244.0.1
export KUBECONFIG="$C/run/admin.kubeconfig"
kc() { "$C/bin/kubectl" "$@"; }
log() { printf 'scale-from-zero: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -s "$KUBECONFIG" ] || die "no cluster: make cluster first"
[ -s out/dev/resolved.yaml ] || die "no out/dev/resolved.yaml: make build (with the cluster up, it pushes to its registry)"

if [ "${SKIP_APPLY:-}" != 1 ]; then
# The namespace, the function's ConfigMaps and development Secrets (random
# values, made here once; the template is knative/secrets/secrets.template.yaml).
kc apply -f knative/infra/namespace.yaml >/dev/null
kc apply -f knative/dev/config.yaml >/dev/null
if ! kc -n "$NS" get secret postgresql-secret >/dev/null 2>&1; then
	kc -n "$NS" create secret generic postgresql-secret --from-literal DB_USER=phonebill \
		--from-literal DB_PASSWORD="$(openssl rand -hex 16)" >/dev/null
	kc -n "$NS" create secret generic redis-secret --from-literal REDIS_PASSWORD="$(openssl rand -hex 16)" >/dev/null
	kc -n "$NS" create secret generic jwt-signing-key --from-literal JWT_SECRET="$(openssl rand -base64 48)" >/dev/null
fi
# The function's Knative Service from what `make build` resolved.
awk -v fn="$FN" 'BEGIN { RS = "\n---\n" }
	/\nkind: Service\n/ && /apiVersion: serving.knative.dev\/v1/ && index($0, "phonebill.io/function: " fn "\n") { print "---"; print }' \
	out/dev/resolved.yaml | kc apply -f - >&2
fi
kc -n "$NS" wait "ksvc/$FN" --for=condition=Ready --timeout=5m >&2

restore() {
	kc -n knative-serving patch configmap config-autoscaler --type json \
		-p '[{"op":"remove","path":"/data/stable-window"},{"op":"remove","path":"/data/scale-to-zero-grace-period"}]' >/dev/null 2>&1 || true
}
trap restore EXIT
kc -n knative-serving patch configmap config-autoscaler --type merge \
	-p '{"data":{"stable-window":"6s","scale-to-zero-grace-period":"6s"}}' >/dev/null

url=$(kc -n "$NS" get ksvc "$FN" -o jsonpath='{.status.url}')
host=${url#http://}
case "${VIA:-}" in
'') case $host in *.svc.cluster.local) VIA=local ;; *) VIA=public ;; esac ;;
public | local | frontdoor) ;;
*) die "VIA=$VIA: public, local or frontdoor" ;;
esac
case $VIA in
public) target=(-H "Host: $host" "http://$NODE_IP:8081$ROUTE") ;;
local) target=(-H "Host: $host" "http://$NODE_IP:8082$ROUTE") ;;
frontdoor) target=("http://$NODE_IP:8083$ROUTE") ;;
esac
pods() { kc -n "$NS" get pods -l "serving.knative.dev/service=$FN" --no-headers 2>/dev/null | wc -l; }
times=()
for i in $(seq 1 "$RUNS"); do
	s=$SECONDS
	until [ "$(pods)" = 0 ]; do
		[ $((SECONDS - s)) -lt 300 ] || die "run $i: $FN did not reach zero pods in 300 s"
		sleep 1
	done
	zero=$((SECONDS - s))
	out=$(curl -sS -o /dev/null -m 60 -w '%{http_code} %{time_total}' "${target[@]}") ||
		die "run $i: request failed"
	code=${out%% *}; t=${out##* }
	[ "$code" = "$EXPECT" ] || die "run $i: HTTP $code, want $EXPECT"
	log "run $i: 0 pods after ${zero}s wait, first answer HTTP $code in ${t}s"
	times+=("$t")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v fn="$FN" -v route="$ROUTE" -v via="$VIA" '
	{ v[NR] = $1 }
	END {
		med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "scale-from-zero: %s %s (via %s): %d runs, min %.2f s / median %.2f s / max %.2f s\n", fn, route, via, NR, v[1], med, v[NR]
	}'
