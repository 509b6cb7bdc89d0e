#!/usr/bin/env bash
# knative.sh up|images — Knative Serving v0.50.0 with Traefik as its networking layer
# (KIngress), on the cluster that scripts/cluster/cluster.sh started. cluster.sh
# up runs it after the node is Ready (KNATIVE=0 skips it); `cluster.sh down`
# stops what it started (registry, Traefik) with the rest. `knative.sh images`
# runs only the registry and images stages (no cluster needed).
#
# Stages, one progress line each:
#   registry  crane registry serve on 127.0.0.1:$REGISTRY_PORT, blobs kept in
#             bin/cluster/registry (so images survive a down/up); containerd
#             mirrors it over plain HTTP
#   images    a static non-root base image, then `ko resolve` of Serving's own
#             config/core (its ko:// references) from the wrapper module
#             scripts/cluster/build/knative; the resolved YAML is cached in
#             bin/cluster/knative and rebuilt only when missing or when the
#             registry lost its images
#   infra-images  stand-ins for knative/infra's Docker Hub images (PostgreSQL,
#             Redis, PgBouncer) from Debian packages (scripts/cluster/infra-images.sh)
#   serving   CRDs and config from knative.dev/networking and knative.dev/caching
#             (the module zips drop Serving's symlinks to them), Serving core,
#             its config (ingress class, domain, registry), deployments Available,
#             their CPU requests lowered to fit the 2-core node (fit)
#   traefik   Traefik (bin/cluster/bin/traefik) on the host with its Knative
#             provider: public entry point $NODE_IP:8081, cluster-local one
#             $NODE_IP:8082, each behind a selector-less Service in namespace
#             traefik so that pods reach it; the front door $NODE_IP:8083 reads
#             the routers `CLUSTER=local make deploy` writes into run/traefik
#   eventing-images, eventing (EVENTING=0 skips them)  Eventing core, the
#             InMemoryChannel and the MT channel-based broker, built and
#             cached the same way
#
# Idempotent: a running component is left alone, applies are declarative.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
C="$ROOT/bin/cluster"
BIN="$C/bin"
RUN="$C/run"
KN="$C/knative"
NODE_IP=10.244.0.1
REGISTRY_PORT=${REGISTRY_PORT:-5050}
REGISTRY=127.0.0.1:$REGISTRY_PORT
PLATFORM=linux/amd64
KNATIVE_VERSION=v0.50.0
KUBECONFIG_ADMIN="$RUN/admin.kubeconfig"
MOD="$ROOT/scripts/cluster/build/knative"
KO_VERSION=v0.19.1
CRANE_VERSION=v0.22.1

stage=knative
step() { stage=$1; printf 'cluster: [%s] %s\n' "$1" "$2" >&2; }
fail() { printf 'cluster: FAILED at stage %s: %s\n' "$stage" "$*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || printf "cluster: FAILED at stage %s (exit %s); logs in %s/logs\n" "$stage" "$rc" "$RUN" >&2' EXIT

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
start() {
	local name=$1; shift
	if running "$name"; then return 0; fi
	"$@" >"$RUN/logs/$name.log" 2>&1 &
	echo $! >"$RUN/pids/$name"
}
running() { [ -f "$RUN/pids/$1" ] && kill -0 "$(cat "$RUN/pids/$1")" 2>/dev/null; }
wait_for() {
	local what=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "$what not ready after ${secs}s"
		sleep 2
	done
}
# retry SECONDS CMD... — like wait_for, but shows CMD's output on the last try.
retry() {
	local secs=$1; shift
	local end=$((SECONDS + secs))
	until "$@" >"$RUN/logs/retry.out" 2>&1; do
		[ $SECONDS -lt $end ] || { cat "$RUN/logs/retry.out" >&2; fail "$* kept failing for ${secs}s"; }
		sleep 3
	done
}

GOBIN_DIR=$(go env GOBIN); GOBIN_DIR=${GOBIN_DIR:-$(go env GOPATH)/bin}
tool() {
	local name=$1 pkg=$2
	if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
	if [ ! -x "$GOBIN_DIR/$name" ]; then
		GOFLAGS= GOWORK=off nice -n 19 go install "$pkg" >>"$RUN/logs/tools.log" 2>&1 || fail "go install $pkg"
	fi
	echo "$GOBIN_DIR/$name"
}
moddir() { (cd "$MOD" && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' "$1"); }

registry_up() {
	step registry "loopback registry $REGISTRY (blobs in bin/cluster/registry)"
	CRANE=$(tool crane "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION")
	mkdir -p "$C/registry"
	if ! curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; then
		start registry "$CRANE" registry serve --address "$REGISTRY" --disk "$C/registry"
	fi
	wait_for "registry $REGISTRY" 30 curl -fsS "http://$REGISTRY/v2/"
}

# base_image — the base every Knative image is built on: CA certificates, the
# zoneinfo tree and /etc/passwd with user 65532, run as that user (Knative's pods set
# runAsNonRoot). Platform set explicitly, else the runtime's match rejects it.
base_image() {
	local w="$KN/base"
	rm -rf "$w"
	mkdir -p "$w/rootfs/etc/ssl/certs" "$w/rootfs/tmp" "$w/rootfs/home/nonroot"
	cp /etc/ssl/certs/ca-certificates.crt "$w/rootfs/etc/ssl/certs/"
	# The zoneinfo tree, as in the distroless base of Knative's own images:
	# Eventing's webhook and PingSource adapter load the PingSource's
	# spec.timezone (knative/dev: Asia/Seoul) with time.LoadLocation.
	mkdir -p "$w/rootfs/usr/share"
	cp -RL /usr/share/zoneinfo "$w/rootfs/usr/share/zoneinfo"
	rm -rf "$w/rootfs/usr/share/zoneinfo/right" "$w/rootfs/usr/share/zoneinfo/posix"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$w/rootfs/etc/passwd"
	printf 'root:x:0:\nnonroot:x:65532:\n' >"$w/rootfs/etc/group"
	chmod 1777 "$w/rootfs/tmp"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$w/rootfs" -cf "$w/layer.tar" .
	"$CRANE" append -f "$w/layer.tar" -t "$REGISTRY/cluster/base:layer" >/dev/null 2>>"$RUN/logs/ko.log"
	"$CRANE" mutate "$REGISTRY/cluster/base:layer" --set-platform "$PLATFORM" --user 65532:65532 \
		-e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt -t "$REGISTRY/cluster/base:static" >/dev/null 2>>"$RUN/logs/ko.log"
	echo "$REGISTRY/cluster/base@$("$CRANE" digest "$REGISTRY/cluster/base:static")"
}

# cached FILE — the resolved YAML exists and every image it names is still in
# the registry.
cached() {
	[ -s "$1" ] || return 1
	local ref
	for ref in $(grep -oE "$REGISTRY/[^\" ]+@sha256:[0-9a-f]{64}" "$1" | sort -u); do
		"$CRANE" manifest "$ref" >/dev/null 2>&1 || return 1
	done
}

# ko_resolve NAME REPO DIR... — `ko resolve` the ko:// references of DIRs into
# $KN/NAME.yaml, images under $REGISTRY/REPO.
ko_resolve() {
	local name=$1 repo=$2; shift 2
	local out="$KN/$name.yaml"
	cached "$out" && return 0
	[ -n "${BASE:-}" ] || BASE=$(base_image)
	local files=() d s=$SECONDS
	for d in "$@"; do files+=(-f "$d"); done
	(cd "$MOD" && GOWORK=off GOFLAGS=-mod=readonly KO_DOCKER_REPO="$REGISTRY/$repo" KO_DEFAULTBASEIMAGE="$BASE" \
		SOURCE_DATE_EPOCH=0 CGO_ENABLED=0 nice -n 19 "$KO" resolve -B -R --sbom=none --platform="$PLATFORM" \
		"${files[@]}") >"$out.tmp" 2>>"$RUN/logs/ko.log" || fail "ko resolve $name (see $RUN/logs/ko.log)"
	mv "$out.tmp" "$out"
	echo "ko: $name in $((SECONDS - s)) s" >>"$RUN/logs/ko.log"
}

images() {
	step images "Knative Serving $KNATIVE_VERSION with ko into $REGISTRY (cached in bin/cluster/knative)"
	KO=$(tool ko "github.com/google/ko@$KO_VERSION")
	mkdir -p "$KN"
	SERVING=$(moddir knative.dev/serving) || fail "knative.dev/serving not in scripts/cluster/build/knative"
	ko_resolve serving-core knative-serving "$SERVING/config/core"
}

# Eventing (default; EVENTING=0 skips it): core, the in-memory channel and the MT channel-based
# broker, the dev profile's broker (prod keeps Kafka).
eventing_images() {
	step eventing-images "Knative Eventing $KNATIVE_VERSION with ko (core, InMemoryChannel, MT channel broker)"
	KO=$(tool ko "github.com/google/ko@$KO_VERSION")
	mkdir -p "$KN"
	EVENTING=$(moddir knative.dev/eventing) || fail "knative.dev/eventing not in scripts/cluster/build/knative"
	ko_resolve eventing-core knative-eventing "$EVENTING/config/core"
	ko_resolve eventing-imc knative-eventing-imc "$EVENTING/config/channels/in-memory-channel"
	ko_resolve eventing-mtbroker knative-eventing-mtbroker "$EVENTING/config/brokers/mt-channel-broker"
}

# fit NAMESPACE — Knative's own CPU requests down to $KNATIVE_CPU_REQUEST
# (10m): on this 2-core node, Serving's 600m and Eventing's ~850m of requests
# beside PostgreSQL's 500m would leave no room to schedule the functions.
# Limits stay; only the scheduler's accounting changes.
fit() {
	retry 120 kc -n "$1" set resources deployment --all --requests="cpu=${KNATIVE_CPU_REQUEST:-10m}"
}

eventing_up() {
	step eventing "Eventing core, InMemoryChannel, MT channel broker; waiting for their deployments"
	retry 300 kc apply -f "$KN/eventing-core.yaml"
	# The controller reads the integrations' image ConfigMaps.
	retry 60 kc apply -f "$EVENTING/third_party/eventing-integrations-latest"
	retry 60 kc wait --for condition=Established --timeout 10s crd --all
	retry 300 kc apply -f "$KN/eventing-imc.yaml"
	retry 300 kc apply -f "$KN/eventing-mtbroker.yaml"
	retry 420 kc -n knative-eventing wait --for condition=Available --timeout 10s deployment --all
	fit knative-eventing
	retry 300 kc -n knative-eventing wait --for condition=Available --timeout 10s deployment --all
}

serving_up() {
	step serving "CRDs, Serving core, config-network ingress-class Traefik; waiting for its deployments"
	local net cach
	net=$(moddir knative.dev/networking) && cach=$(moddir knative.dev/caching) ||
		fail "knative.dev/networking or knative.dev/caching not downloadable"
	# Serving's config/core links these files; module zips drop symlinks.
	kc apply -f "$net/config/certificate.yaml" -f "$net/config/domain-claim.yaml" -f "$net/config/ingress.yaml" \
		-f "$net/config/serverlessservice.yaml" -f "$cach/config/image.yaml" >/dev/null
	retry 60 kc wait --for condition=Established --timeout 10s crd --all
	retry 300 kc apply -f "$KN/serving-core.yaml"
	retry 120 kc apply -f "$net/config/config-network.yaml"
	retry 300 kc -n knative-serving wait --for condition=Available --timeout 10s deployment --all
	fit knative-serving
	# Ingress class: Traefik. Domain: the default suffix for public routes.
	# Tag resolution: the pods cannot reach the host's loopback registry (and
	# every image here is digest-pinned anyway).
	retry 120 kc -n knative-serving patch configmap config-network --type merge \
		-p '{"data":{"ingress-class":"traefik.ingress.networking.knative.dev"}}'
	retry 60 kc -n knative-serving patch configmap config-domain --type merge -p '{"data":{"example.com":""}}'
	retry 60 kc -n knative-serving patch configmap config-deployment --type merge \
		-p "{\"data\":{\"registries-skipping-tag-resolving\":\"$REGISTRY,kind.local,ko.local,dev.local\"}}"
}

traefik_up() {
	step traefik "Traefik (Knative provider) on $NODE_IP:8081 (public), $NODE_IP:8082 (cluster-local), front door $NODE_IP:8083"
	[ -x "$BIN/traefik" ] || fail "no $BIN/traefik (scripts/cluster/build.sh builds it)"
	kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: traefik}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: traefik-knative}
rules:
- apiGroups: [""]
  resources: [services, secrets, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.internal.knative.dev]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [networking.internal.knative.dev]
  resources: [ingresses/status]
  verbs: [update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: traefik-knative}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: traefik-knative}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: traefik}
EOF
	local svc
	for svc in traefik:8081 traefik-internal:8082; do
		kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: ${svc%%:*}, namespace: traefik}
spec:
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: ${svc##*:}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${svc%%:*}-host
  namespace: traefik
  labels: {kubernetes.io/service-name: ${svc%%:*}, endpointslice.kubernetes.io/managed-by: phonebill-cluster}
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions: {ready: true}
ports:
- {name: http, port: ${svc##*:}, protocol: TCP}
EOF
	done
	# The front door (entry point frontdoor): routers written by
	# `CLUSTER=local make deploy` from the NGINX Ingresses (knative/cmd/frontdoor).
	mkdir -p "$RUN/traefik"
	KUBECONFIG="$RUN/traefik.kubeconfig" start traefik "$BIN/traefik" \
		--experimental.knative=true --providers.knative=true \
		--providers.file.directory="$RUN/traefik" --providers.file.watch=true \
		--entrypoints.frontdoor.address="$NODE_IP:8083" \
		--providers.knative.publicentrypoints=web --providers.knative.privateentrypoints=web-internal \
		--providers.knative.publicservice.name=traefik --providers.knative.publicservice.namespace=traefik \
		--providers.knative.privateservice.name=traefik-internal --providers.knative.privateservice.namespace=traefik \
		--entrypoints.web.address="$NODE_IP:8081" --entrypoints.web-internal.address="$NODE_IP:8082" \
		--ping=true --ping.entrypoint=ping --entrypoints.ping.address=127.0.0.1:8089 \
		--log.level=INFO --global.checknewversion=false --global.sendanonymoususage=false
	wait_for traefik 60 curl -fsS http://127.0.0.1:8089/ping
}

# The stand-ins of knative/infra's Docker Hub images (scripts/cluster/infra-images.sh).
infra_images() {
	step infra-images "PostgreSQL, Redis, PgBouncer stand-ins from Debian packages into $REGISTRY"
	CRANE="$CRANE" scripts/cluster/infra-images.sh >>"$RUN/logs/infra-images.log" 2>&1 ||
		fail "infra images (see $RUN/logs/infra-images.log)"
}

up() {
	mkdir -p "$RUN/logs" "$RUN/pids"
	[ -s "$KUBECONFIG_ADMIN" ] || fail "no cluster: run scripts/cluster/cluster.sh up first"
	registry_up
	images
	infra_images
	serving_up
	local what=Serving
	if [ "${EVENTING:-1}" = 1 ]; then eventing_images; eventing_up; what="Serving and Eventing"; fi
	traefik_up
	printf 'cluster: Knative %s %s ready (ingress: Traefik, http://%s:8081 with Host <service>.<namespace>.example.com)\n' \
		"$what" "$KNATIVE_VERSION" "$NODE_IP" >&2
}

case "${1:-}" in
up) up ;;
images) mkdir -p "$RUN/logs" "$RUN/pids"; registry_up; images; infra_images; [ "${EVENTING:-1}" = 0 ] || eventing_images ;;
*) echo "usage: $0 up|images" >&2; exit 2 ;;
esac
