#!/usr/bin/env bash
# deploy.sh [function] — apply the manifests `make build` resolved (images
# pinned by digest) to the current kube context.
#
#   scripts/deploy.sh                 # everything of the profile: stores, migrations Job, functions, eventing, ingress
#   scripts/deploy.sh auth-login      # one function: its Knative Service and its Ingress/Trigger/SinkBinding
#   CLUSTER=local scripts/deploy.sh   # the same on the single-node cluster of `make cluster`
#                                     # (the default when no kube context is configured and it runs)
#
# Needs: Knative Serving (Kourier), ingress-nginx, the three Secrets
# (knative/secrets/secrets.template.yaml), and Knative Eventing for what has a
# Broker, Triggers, PingSources or SinkBindings (the whole profile; one
# function only if it has them). Env: PROFILE (dev|prod), OUT (out), KUBECTL
# (kubectl), DRY_RUN=1 prints the commands instead, ALLOW_LOOPBACK_IMAGES=1
# accepts images in a 127.0.0.1 registry (a cluster wired to it), ALL_IN_ONE=1
# also applies the optional all-in-one (knative/optional), which is left out
# otherwise: beside the functions, its in-process outbox sweep and broker
# would do the relay's and the worker's work past the real Broker, and its
# min-scale 1 keeps a pod up.
#
# CLUSTER=local is the cluster profile of `make cluster` (scripts/cluster,
# docs/operations.md): its kubeconfig and kubectl, loopback images allowed,
# and only these differences, each for something that cluster lacks:
#   - the docker.io/... images of knative/infra come from the loopback
#     registry (stand-ins made by scripts/cluster/infra-images.sh: no Docker Hub);
#   - the PersistentVolumeClaims get hostPath PersistentVolumes under
#     bin/cluster/run/pv, bound by claimRef (no storage provisioner);
#   - missing Secrets are made from knative/secrets/secrets.template.yaml with
#     random values;
#   - the NGINX Ingresses are applied unchanged and translated into the
#     configuration of Traefik's front door on 10.244.0.1:8083
#     (knative/cmd/frontdoor: no ingress-nginx there, and Traefik v3.6's NGINX
#     provider has no upstream-vhost).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-dev}
OUT=${OUT:-out}
NS=phonebill
FN=${1:-}
resolved="$OUT/$PROFILE/resolved.yaml"
CLUSTER=${CLUSTER:-}
# No kube context configured at all, but the cluster of `make cluster` runs:
# that cluster is meant.
if [ -z "$CLUSTER" ] && [ -z "${KUBECONFIG:-}" ] && [ ! -e "$HOME/.kube/config" ] && [ -s bin/cluster/run/admin.kubeconfig ]; then
	CLUSTER=local
	echo "deploy: no kube context configured; using the cluster of \`make cluster\` (CLUSTER=local)" >&2
fi
LOCAL_REGISTRY=127.0.0.1:${REGISTRY_PORT:-5050}
if [ "$CLUSTER" = local ]; then
	export KUBECONFIG=$PWD/bin/cluster/run/admin.kubeconfig
	KUBECTL=${KUBECTL:-$PWD/bin/cluster/bin/kubectl}
	ALLOW_LOOPBACK_IMAGES=1
elif [ -n "$CLUSTER" ]; then
	echo "deploy: CLUSTER=$CLUSTER: the one cluster profile is local" >&2
	exit 2
fi
KUBECTL=${KUBECTL:-kubectl}

log() { printf 'deploy: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
run() {
	if [ "${DRY_RUN:-}" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

[ -f "$resolved" ] || die "no $resolved: run \`make build PROFILE=$PROFILE\` first"
if grep -q 'image: 127\.0\.0\.1:' "$resolved" && [ "${ALLOW_LOOPBACK_IMAGES:-}" != 1 ]; then
	die "the images are in the loopback registry, which a cluster cannot pull from: rebuild with REGISTRY=<your registry>/phonebill make build (or set ALLOW_LOOPBACK_IMAGES=1)"
fi

# docs AWK-CONDITION — the documents of $resolved for which the condition on
# d (one document) holds, as a multi-document YAML.
docs() {
	awk 'BEGIN { RS = "\n---\n" } { d = $0; sub(/^---\n/, "", d) } '"$1"' { printf "---\n%s\n", d }' "$resolved"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# What this run applies: one function's documents, picked here by label (not
# with `kubectl apply -l`, which maps every kind of the file first and so
# needed Eventing's CRDs even for one HTTP function), or the whole profile.
if [ -n "$FN" ]; then
	grep -q "phonebill.io/function: $FN\$" "$resolved" || die "no function $FN in $resolved (see out/$PROFILE/images.txt)"
	docs "index(d, \"phonebill.io/function: $FN\\n\")" >"$work/apply.yaml"
elif [ "${ALL_IN_ONE:-}" = 1 ]; then
	cp "$resolved" "$work/apply.yaml"
else
	docs '!index(d, "phonebill.io/kind: all-in-one\n")' >"$work/apply.yaml"
fi
if [ "$CLUSTER" = local ]; then
	sed -i -E "s#^([[:space:]]*(- )?image: )docker\.io/#\1$LOCAL_REGISTRY/#" "$work/apply.yaml"
fi

if [ "${DRY_RUN:-}" != 1 ]; then
	command -v "$KUBECTL" >/dev/null || die "$KUBECTL not found"
	"$KUBECTL" config current-context >/dev/null || die "no current kube context"
	# The CRDs of the kinds this run applies, and only those.
	need=(services.serving.knative.dev)
	kinds=$(grep -E '^kind: ' "$work/apply.yaml" | sort -u)
	for k in Broker:brokers.eventing.knative.dev Trigger:triggers.eventing.knative.dev \
		PingSource:pingsources.sources.knative.dev SinkBinding:sinkbindings.sources.knative.dev; do
		grep -qx "kind: ${k%%:*}" <<<"$kinds" && need+=("${k#*:}")
	done
	for crd in "${need[@]}"; do
		"$KUBECTL" get crd "$crd" >/dev/null 2>&1 || die "CRD $crd missing: install Knative Serving, and Eventing for Brokers, Triggers and sources (docs/operations.md)"
	done
fi

# The local cluster's front door, from the Ingresses: Traefik's file provider
# watches the folder.
frontdoor() {
	[ "$CLUSTER" = local ] || return 0
	mkdir -p bin/cluster/run/traefik
	run go run ./knative/cmd/frontdoor -f "$resolved" -o bin/cluster/run/traefik/frontdoor.yaml
}

if [ -n "$FN" ]; then
	run "$KUBECTL" apply -f "$work/apply.yaml"
	run "$KUBECTL" -n "$NS" wait "ksvc/$FN" --for=condition=Ready --timeout=5m
	frontdoor
	exit 0
fi

run "$KUBECTL" apply -f knative/infra/namespace.yaml
if [ "$CLUSTER" = local ] && [ "${DRY_RUN:-}" != 1 ]; then
	# The stand-in infra images are in the loopback registry.
	for ref in $(grep -oE "image: $LOCAL_REGISTRY/[^@ ]+:[^@ ]+$" "$work/apply.yaml" | sed 's/^image: //' | sort -u); do
		r=${ref#"$LOCAL_REGISTRY"/}
		curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
			"http://$LOCAL_REGISTRY/v2/${r%:*}/manifests/${r##*:}" || die "$ref missing: run scripts/cluster/infra-images.sh"
	done
	# Secrets from the template with random values, once.
	if ! "$KUBECTL" -n "$NS" get secret postgresql-secret >/dev/null 2>&1; then
		sed -e "s#<postgres-user>#phonebill#" -e "s#<postgres-password>#$(openssl rand -hex 16)#" \
			-e "s#<redis-password>#$(openssl rand -hex 16)#" -e "s#<at-least-32-random-bytes>#$(openssl rand -hex 32)#" \
			knative/secrets/secrets.template.yaml >"$work/secrets.yaml"
		if grep -qE '^[^#]*<[a-z0-9-]+>' "$work/secrets.yaml"; then die "a placeholder of the Secret template has no value here"; fi
		"$KUBECTL" apply -f "$work/secrets.yaml" >/dev/null
		log "Secrets made from knative/secrets/secrets.template.yaml (random values)"
	fi
	# hostPath volumes for the claims (a PVC's name, a StatefulSet's
	# <template>-<set>-0), bound to them by claimRef.
	claims=$("$KUBECTL" apply --dry-run=client -f "$work/apply.yaml" -o json | jq -r '
		(if .kind == "List" then .items[] else . end) |
		if .kind == "PersistentVolumeClaim" then .metadata.name
		elif .kind == "StatefulSet" then .metadata.name as $s | (.spec.volumeClaimTemplates // [])[] | "\(.metadata.name)-\($s)-0"
		else empty end')
	for claim in $claims; do
		dir="$PWD/bin/cluster/run/pv/$claim"
		mkdir -p "$dir"
		chmod 0777 "$dir"
		"$KUBECTL" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: phonebill-$claim, labels: {app: phonebill-local-cluster}}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: $NS, name: $claim}
  hostPath: {path: $dir, type: Directory}
EOF
	done
	log "hostPath volumes for: $(echo $claims)"
fi
if [ "${DRY_RUN:-}" != 1 ]; then
	for s in postgresql-secret redis-secret jwt-signing-key; do
		"$KUBECTL" -n "$NS" get secret "$s" >/dev/null 2>&1 ||
			die "Secret $s missing: fill in knative/secrets/secrets.template.yaml (outside the repository) and apply it"
	done
fi
# A Job's template is immutable: the finished migrations Job goes first.
run "$KUBECTL" -n "$NS" delete job phonebill-migrate --ignore-not-found
run "$KUBECTL" apply -f "$work/apply.yaml"
frontdoor
run "$KUBECTL" -n "$NS" rollout status statefulset/postgresql --timeout=10m
run "$KUBECTL" -n "$NS" wait job/phonebill-migrate --for=condition=complete --timeout=10m
run "$KUBECTL" -n "$NS" wait ksvc --all --for=condition=Ready --timeout=10m
[ "${DRY_RUN:-}" = 1 ] || log "profile $PROFILE deployed: kubectl -n $NS get ksvc"
