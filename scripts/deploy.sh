#!/usr/bin/env bash
# deploy.sh [function] — apply the manifests `make build` resolved (images
# pinned by digest) to the current kube context.
#
#   scripts/deploy.sh              # everything of the profile: stores, migrations Job, functions, eventing, ingress
#   scripts/deploy.sh auth-login   # one function: its Knative Service and its Ingress/Trigger/SinkBinding
#
# Needs: Knative Serving (Kourier) and Eventing, ingress-nginx, the three
# Secrets (knative/secrets/secrets.template.yaml). Env: PROFILE (dev|prod),
# OUT (out), KUBECTL (kubectl), DRY_RUN=1 prints the commands instead,
# ALLOW_LOOPBACK_IMAGES=1 accepts images in a 127.0.0.1 registry (a kind
# cluster wired to it).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-dev}
OUT=${OUT:-out}
KUBECTL=${KUBECTL:-kubectl}
NS=phonebill
FN=${1:-}
resolved="$OUT/$PROFILE/resolved.yaml"

log() { printf 'deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
run() {
	if [ "${DRY_RUN:-}" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

[ -f "$resolved" ] || die "no $resolved: run \`make build PROFILE=$PROFILE\` first"
if grep -q 'image: 127\.0\.0\.1:' "$resolved" && [ "${ALLOW_LOOPBACK_IMAGES:-}" != 1 ]; then
	die "the images are in the loopback registry, which a cluster cannot pull from: rebuild with REGISTRY=<your registry>/phonebill make build (or set ALLOW_LOOPBACK_IMAGES=1)"
fi

if [ "${DRY_RUN:-}" != 1 ]; then
	command -v "$KUBECTL" >/dev/null || die "$KUBECTL not found"
	"$KUBECTL" config current-context >/dev/null || die "no current kube context"
	for crd in services.serving.knative.dev brokers.eventing.knative.dev triggers.eventing.knative.dev pingsources.sources.knative.dev sinkbindings.sources.knative.dev; do
		"$KUBECTL" get crd "$crd" >/dev/null 2>&1 || die "CRD $crd missing: install Knative Serving and Eventing first (docs/operations.md)"
	done
fi

if [ -n "$FN" ]; then
	grep -q "phonebill.io/function: $FN\$" "$resolved" || die "no function $FN in $resolved (see out/$PROFILE/images.txt)"
	run "$KUBECTL" apply -f "$resolved" -l "phonebill.io/function=$FN"
	run "$KUBECTL" -n "$NS" wait "ksvc/$FN" --for=condition=Ready --timeout=5m
	exit 0
fi

run "$KUBECTL" apply -f knative/infra/namespace.yaml
if [ "${DRY_RUN:-}" != 1 ]; then
	for s in postgresql-secret redis-secret jwt-signing-key; do
		"$KUBECTL" -n "$NS" get secret "$s" >/dev/null 2>&1 ||
			die "Secret $s missing: fill in knative/secrets/secrets.template.yaml (outside the repository) and apply it"
	done
fi
# A Job's template is immutable: the finished migrations Job goes first.
run "$KUBECTL" -n "$NS" delete job phonebill-migrate --ignore-not-found
run "$KUBECTL" apply -f "$resolved"
run "$KUBECTL" -n "$NS" rollout status statefulset/postgresql --timeout=10m
run "$KUBECTL" -n "$NS" wait job/phonebill-migrate --for=condition=complete --timeout=10m
run "$KUBECTL" -n "$NS" wait ksvc --all --for=condition=Ready --timeout=10m
[ "${DRY_RUN:-}" = 1 ] || log "profile $PROFILE deployed: kubectl -n $NS get ksvc"
