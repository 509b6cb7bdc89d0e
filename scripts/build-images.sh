#!/usr/bin/env bash
# build-images.sh — one container image per function with ko, digest-pinned.
#
#   scripts/build-images.sh                 # offline: loopback registry on 127.0.0.1:$REGISTRY_PORT
#   REGISTRY=phonebilldev.azurecr.io/phonebill scripts/build-images.sh   # push to a real registry
#
# Steps: (1) without REGISTRY, serve a registry on loopback (crane registry
# serve, blobs under out/registry); (2) assemble the static base image — CA
# certificates, tzdata, /etc/passwd with the non-root user 65532 — from this
# machine's files and push it; (3) `ko resolve` the profile's manifests
# (knative/<profile>, knative/infra, knative/optional) against that base, by
# digest: every ko://phonebill/functions/... becomes <registry>/...@sha256:...
# Output: out/<profile>/resolved.yaml (what scripts/deploy.sh applies) and
# out/<profile>/images.txt ("<function> <image>@sha256:<digest>").
#
# Env: PROFILE (dev|prod, default dev), REGISTRY, REGISTRY_PORT (5050),
# PLATFORM (linux/amd64), OUT (out), KEEP_REGISTRY=1 keeps the loopback
# registry running after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-dev}
OUT=${OUT:-out}
REGISTRY_PORT=${REGISTRY_PORT:-5050}
PLATFORM=${PLATFORM:-linux/amd64}
KO_VERSION=v0.19.1
CRANE_VERSION=v0.22.1

log() { printf 'build-images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -d "knative/$PROFILE" ] || die "no profile knative/$PROFILE (dev or prod)"

# Tools: on PATH, in GOPATH/bin, or installed at the pinned versions.
GOBIN_DIR=$(go env GOBIN); GOBIN_DIR=${GOBIN_DIR:-$(go env GOPATH)/bin}
tool() {
	local name=$1 pkg=$2
	if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
	if [ -x "$GOBIN_DIR/$name" ]; then echo "$GOBIN_DIR/$name"; return; fi
	log "installing $pkg"
	GOFLAGS= GOWORK=off go install "$pkg" >&2
	echo "$GOBIN_DIR/$name"
}
KO=$(tool ko "github.com/google/ko@$KO_VERSION")
CRANE=$(tool crane "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION")

mkdir -p "$OUT/$PROFILE"
OUT=$(cd "$OUT" && pwd)

# 1. The registry.
if [ -z "${REGISTRY:-}" ]; then
	REGISTRY="127.0.0.1:$REGISTRY_PORT/phonebill"
	if ! curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1; then
		mkdir -p "$OUT/registry"
		"$CRANE" registry serve --address "127.0.0.1:$REGISTRY_PORT" --disk "$OUT/registry" >"$OUT/registry.log" 2>&1 &
		reg_pid=$!
		if [ "${KEEP_REGISTRY:-}" != 1 ]; then
			trap 'kill "$reg_pid" 2>/dev/null || true' EXIT
		else
			log "loopback registry pid $reg_pid stays up (KEEP_REGISTRY=1)"
		fi
		for _ in $(seq 1 50); do
			curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && break
			sleep 0.1
		done
		curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null || die "loopback registry did not start (see $OUT/registry.log)"
		log "loopback registry on 127.0.0.1:$REGISTRY_PORT (blobs in $OUT/registry)"
	else
		log "using the registry already on 127.0.0.1:$REGISTRY_PORT"
	fi
fi

# 2. The static base image, assembled from files (no Docker): fixed mtimes,
# owners and order, so the same inputs give the same digest.
BASE_DIR="$OUT/base"
rm -rf "$BASE_DIR"
mkdir -p "$BASE_DIR/rootfs/etc/ssl/certs" "$BASE_DIR/rootfs/usr/share" "$BASE_DIR/rootfs/home/nonroot" "$BASE_DIR/rootfs/tmp"
CA=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$CA" ] || die "no CA bundle at $CA (set CA_BUNDLE)"
cp "$CA" "$BASE_DIR/rootfs/etc/ssl/certs/ca-certificates.crt"
ZONEINFO=${ZONEINFO:-/usr/share/zoneinfo}
[ -f "$ZONEINFO/Asia/Seoul" ] || die "no tzdata at $ZONEINFO (set ZONEINFO)"
# The binaries embed time/tzdata too; the layer serves other tools and TZ.
cp -RL "$ZONEINFO" "$BASE_DIR/rootfs/usr/share/zoneinfo"
rm -rf "$BASE_DIR/rootfs/usr/share/zoneinfo/right" "$BASE_DIR/rootfs/usr/share/zoneinfo/posix"
cat >"$BASE_DIR/rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$BASE_DIR/rootfs/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
echo "hosts: files dns" >"$BASE_DIR/rootfs/etc/nsswitch.conf"
chmod 1777 "$BASE_DIR/rootfs/tmp"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$BASE_DIR/rootfs" -cf "$BASE_DIR/layer.tar" .
"$CRANE" append -f "$BASE_DIR/layer.tar" -t "$REGISTRY/base:layer" >/dev/null
"$CRANE" mutate "$REGISTRY/base:layer" --set-platform "$PLATFORM" --user 65532:65532 \
	-e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt -e TZ=Asia/Seoul \
	-l org.opencontainers.image.title=phonebill-static-base \
	-t "$REGISTRY/base:static" >/dev/null
BASE="$REGISTRY/base@$("$CRANE" digest "$REGISTRY/base:static")"
log "base image $BASE"

# 3. ko: every ko:// reference of the profile, digest-pinned.
files=(-f "knative/$PROFILE" -f knative/infra)
[ -d knative/optional ] && [ "$PROFILE" = dev ] && files+=(-f knative/optional)
export KO_DOCKER_REPO="$REGISTRY"
export KO_DEFAULTBASEIMAGE="$BASE"
export SOURCE_DATE_EPOCH=0
"$KO" resolve -P -R --sbom=none --platform="$PLATFORM" --image-refs "$OUT/$PROFILE/refs.txt" \
	"${files[@]}" >"$OUT/$PROFILE/resolved.yaml.tmp"
mv "$OUT/$PROFILE/resolved.yaml.tmp" "$OUT/$PROFILE/resolved.yaml"

# The list: function → image by digest (the route table names the functions).
go run ./knative/cmd/gen -list | while read -r fn path; do
	ref=$(grep -F "/$path@sha256:" "$OUT/$PROFILE/refs.txt" | head -n1 || true)
	[ -n "$ref" ] && printf '%s %s\n' "$fn" "$ref"
done >"$OUT/$PROFILE/images.txt"
n=$(wc -l <"$OUT/$PROFILE/images.txt")
grep -q 'ko://' "$OUT/$PROFILE/resolved.yaml" && die "unresolved ko:// references left in resolved.yaml"
log "$n images (digest-pinned) in $OUT/$PROFILE/images.txt; manifests in $OUT/$PROFILE/resolved.yaml"
