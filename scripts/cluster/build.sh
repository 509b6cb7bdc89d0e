#!/usr/bin/env bash
# build.sh — the cluster's binaries and the pause image, built once and cached
# in bin/cluster/{bin,images} (delete a file to rebuild it). Each wrapper
# module under scripts/cluster/build/ pins one upstream module; none joins
# go.work, so `make test` never compiles them. Builds run with nice -n 19.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN="$ROOT/bin/cluster/bin"
IMG="$ROOT/bin/cluster/images"
K8S_VERSION=v1.35.4
mkdir -p "$BIN" "$IMG"

gobuild() { # dir out pkg [ldflags]
	local dir=$1 out=$2 pkg=$3 ld=${4:-}
	[ -x "$BIN/$out" ] && return 0
	local s=$SECONDS
	(cd "scripts/cluster/build/$dir" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly nice -n 19 \
		go build -trimpath -ldflags "-s -w $ld" -o "$BIN/$out.tmp" "$pkg")
	mv "$BIN/$out.tmp" "$BIN/$out"
	echo "build: $out in $((SECONDS - s)) s"
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
KLD="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
KLD+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
KLD+=" -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
KLD+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
KLD+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
for c in kube-apiserver kubelet kubectl kube-controller-manager kube-scheduler kube-proxy; do
	gobuild kubernetes "$c" "k8s.io/kubernetes/cmd/$c" "$KLD"
done
gobuild coredns coredns github.com/coredns/coredns
[ "${WITH_TRAEFIK:-1}" = 0 ] || gobuild traefik traefik github.com/traefik/traefik/v3/cmd/traefik

# The pause image as an OCI archive (linux/amd64 set explicitly, else the
# runtime's platform match rejects it).
if [ ! -s "$IMG/pause.tar" ]; then
	w=$(mktemp -d)
	trap 'rm -rf "$w"' EXIT
	mkdir -p "$w/root" "$w/oci/blobs/sha256"
	(cd scripts/cluster/pause && CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags "-s -w" -o "$w/root/pause" .)
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$w/root" -cf "$w/layer.tar" pause
	blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$w/oci/blobs/sha256/$d"; echo "$d"; }
	ld=$(blob "$w/layer.tar"); lsz=$(stat -c %s "$w/layer.tar")
	printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ld" >"$w/config.json"
	cd_=$(blob "$w/config.json"); csz=$(stat -c %s "$w/config.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
		"$cd_" "$csz" "$ld" "$lsz" >"$w/manifest.json"
	md=$(blob "$w/manifest.json"); msz=$(stat -c %s "$w/manifest.json")
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"registry.k8s.io/pause:3.10","io.containerd.image.name":"registry.k8s.io/pause:3.10"}}]}' \
		"$md" "$msz" >"$w/oci/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci/oci-layout"
	tar -C "$w/oci" -cf "$IMG/pause.tar.tmp" .
	mv "$IMG/pause.tar.tmp" "$IMG/pause.tar"
	echo "build: pause image"
fi
