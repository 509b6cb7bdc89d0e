#!/usr/bin/env bash
# cluster.sh up|down — a single-node Kubernetes on this machine, no Docker,
# no kind image: Debian's containerd/runc/CNI plugins and etcd, Kubernetes
# and CoreDNS built from their Go modules (scripts/cluster/build.sh, cached in
# bin/cluster/bin). Everything it creates lives under bin/cluster/run.
#
#   scripts/cluster/cluster.sh up     # make cluster: build (cached), start, wait for the node Ready
#   scripts/cluster/cluster.sh down   # make cluster-down: stop what up started, remove what it created
#
# Both are idempotent. One progress line per stage; a failure names its stage
# and the log to read. Network: every listener binds to loopback or the
# cluster bridge cni0 (10.244.0.1); pods live in 10.244.0.0/24, Services in
# 10.96.0.0/16. kubeconfig: bin/cluster/run/admin.kubeconfig.
#
# Needs root and: apt-get install containerd runc containernetworking-plugins
# etcd-server iptables conntrack openssl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
C="$ROOT/bin/cluster"
BIN="$C/bin"
RUN="$C/run"
K8S_VERSION=v1.35.4
BRIDGE=cni0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/16
API_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
REGISTRY_PORT=${REGISTRY_PORT:-5050}
NODE=$(hostname)
KUBECONFIG_ADMIN="$RUN/admin.kubeconfig"
CTRD_SOCK="$RUN/containerd/containerd.sock"

stage=start
step() { stage=$1; printf 'cluster: [%s] %s\n' "$1" "$2" >&2; }
fail() { printf 'cluster: FAILED at stage %s: %s\n' "$stage" "$*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || printf "cluster: FAILED at stage %s (exit %s); logs in %s/logs\n" "$stage" "$rc" "$RUN" >&2' EXIT

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# start NAME CMD... — runs CMD in the background, logs to logs/NAME.log and
# records its pid; does nothing if NAME already runs.
start() {
	local name=$1; shift
	if running "$name"; then return 0; fi
	"$@" >"$RUN/logs/$name.log" 2>&1 &
	echo $! >"$RUN/pids/$name"
}
running() { [ -f "$RUN/pids/$1" ] && kill -0 "$(cat "$RUN/pids/$1")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD... — polls CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "$what not ready after ${secs}s"
		sleep 1
	done
}

# --- up ---------------------------------------------------------------------

need_tools() {
	step tools "checking containerd, runc, CNI plugins, etcd, iptables, openssl"
	[ "$(id -u)" = 0 ] || fail "needs root (containerd, kubelet and iptables)"
	local missing=()
	for t in containerd runc etcd iptables openssl conntrack; do command -v "$t" >/dev/null || missing+=("$t"); done
	[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
	[ ${#missing[@]} -eq 0 ] || fail "missing ${missing[*]}: apt-get install containerd runc containernetworking-plugins etcd-server iptables conntrack openssl"
}

build() {
	step build "Kubernetes $K8S_VERSION, CoreDNS, Traefik (cached in $BIN)"
	WITH_TRAEFIK=${KNATIVE:-1} scripts/cluster/build.sh >"$RUN/logs/build.log" 2>&1 || fail "build (see $RUN/logs/build.log)"
}

pki() {
	step pki "CA, API server, kubelet, admin and service-account keys"
	local d="$RUN/pki"
	mkdir -p "$d"
	[ -f "$d/done" ] && return 0
	cd "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.crt -subj /CN=phonebill-cluster-ca 2>/dev/null
	cert() { # name subject [san]
		openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
		else printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"; fi
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
	}
	cert apiserver /CN=kube-apiserver "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$API_SVC_IP"
	cert admin "/O=system:masters/CN=admin"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE"
	cert kubelet-serving "/CN=$NODE" "DNS:$NODE,IP:127.0.0.1,IP:$NODE_IP"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert controller-manager /CN=system:kube-controller-manager
	cert scheduler /CN=system:kube-scheduler
	cert kube-proxy /CN=system:kube-proxy
	cert coredns "/O=system:masters/CN=coredns"
	cert traefik /CN=traefik
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	cd "$ROOT"
	for u in admin kubelet controller-manager scheduler kube-proxy coredns traefik; do
		local k="$RUN/$u.kubeconfig"
		"$BIN/kubectl" config --kubeconfig "$k" set-cluster phonebill --server "https://$NODE_IP:6443" --certificate-authority "$d/ca.crt" --embed-certs >/dev/null
		"$BIN/kubectl" config --kubeconfig "$k" set-credentials "$u" --client-certificate "$d/$u.crt" --client-key "$d/$u.key" --embed-certs >/dev/null
		"$BIN/kubectl" config --kubeconfig "$k" set-context phonebill --cluster phonebill --user "$u" >/dev/null
		"$BIN/kubectl" config --kubeconfig "$k" use-context phonebill >/dev/null
	done
	touch "$d/done"
}

# The bridge exists before the first pod so that the API server can advertise
# its address (pods reach 10.96.0.1 through it; loopback would not do).
bridge() {
	step bridge "$BRIDGE $NODE_IP/24"
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
	fi
	ip addr show dev "$BRIDGE" | grep -q "inet $NODE_IP/" || ip addr add "$NODE_IP/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	sysctl -qw net.ipv4.ip_forward=1
	modprobe br_netfilter 2>/dev/null || true
	[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1 || true
	mkdir -p "$RUN/cni/net.d"
	cat >"$RUN/cni/net.d/10-phonebill.conflist" <<EOF
{"cniVersion":"1.0.0","name":"phonebill","plugins":[
 {"type":"bridge","bridge":"$BRIDGE","isGateway":true,"ipMasq":false,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"$POD_CIDR","gateway":"$NODE_IP"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$RUN/cni/ipam"}},
 {"type":"portmap","capabilities":{"portMappings":true}},
 {"type":"loopback"}]}
EOF
}

containerd_up() {
	step containerd "runtime on $CTRD_SOCK"
	mkdir -p "$RUN/containerd"
	# restrict_oom_score_adj: this VM grants no CAP_SYS_RESOURCE.
	cat >"$RUN/containerd/config.toml" <<EOF
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
  # The loopback registry (scripts/cluster/knative.sh, make build) speaks plain HTTP.
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."127.0.0.1:$REGISTRY_PORT"]
    endpoint = ["http://127.0.0.1:$REGISTRY_PORT"]
EOF
	start containerd containerd --config "$RUN/containerd/config.toml"
	wait_for containerd 60 ctr --address "$CTRD_SOCK" version
	# The pod sandbox image, made here from a static binary (no registry to pull it from).
	ctr --address "$CTRD_SOCK" -n k8s.io images import --all-platforms "$C/images/pause.tar" >/dev/null ||
		fail "importing $C/images/pause.tar"
}

etcd_up() {
	step etcd "127.0.0.1:2379"
	start etcd etcd --name phonebill --data-dir "$RUN/etcd" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster phonebill=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
	wait_for etcd 60 curl -fsS http://127.0.0.1:2379/health
}

apiserver_up() {
	step apiserver "https://$NODE_IP:6443"
	local p="$RUN/pki"
	start kube-apiserver "$BIN/kube-apiserver" --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
		--etcd-servers http://127.0.0.1:2379 --service-cluster-ip-range "$SVC_CIDR" \
		--client-ca-file "$p/ca.crt" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
		--kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$p/ca.crt" --kubelet-preferred-address-types Hostname \
		--service-account-issuer https://kubernetes.default.svc.cluster.local --service-account-key-file "$p/sa.pub" \
		--service-account-signing-key-file "$p/sa.key" --authorization-mode Node,RBAC \
		--enable-admission-plugins NodeRestriction --allow-privileged=true --profiling=false
	wait_for apiserver 180 kc get --raw /readyz
}

controllers_up() {
	step controllers "kube-controller-manager, kube-scheduler"
	local p="$RUN/pki"
	start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$RUN/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
		--service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
		--cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
		--allocate-node-cidrs=false --service-cluster-ip-range "$SVC_CIDR" --controllers '*,-nodeipam'
	start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$RUN/scheduler.kubeconfig" --bind-address 127.0.0.1 --leader-elect=false
	wait_for kube-controller-manager 120 curl -fsSk https://127.0.0.1:10257/healthz
	wait_for kube-scheduler 120 curl -fsSk https://127.0.0.1:10259/healthz
}

kubelet_up() {
	step kubelet "node $NODE ($NODE_IP)"
	local p="$RUN/pki"
	mkdir -p "$RUN/kubelet"
	# failCgroupV1: false — this machine mounts cgroup v1 hierarchies (hybrid);
	# Kubernetes 1.35 refuses them unless told otherwise.
	cat >"$RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
port: 10250
readOnlyPort: 0
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CTRD_SOCK
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
podCIDR: $POD_CIDR
resolvConf: $RUN/kubelet/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $p/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $p/kubelet-serving.crt
tlsPrivateKeyFile: $p/kubelet-serving.key
failSwapOn: false
protectKernelDefaults: false
makeIPTablesUtilChains: true
localStorageCapacityIsolation: true
evictionHard: {memory.available: 200Mi, nodefs.available: 5%, imagefs.available: 5%}
EOF
	# Pods resolve through the cluster DNS only; nothing upstream.
	echo "nameserver $DNS_IP" >"$RUN/kubelet/resolv.conf"
	start kubelet "$BIN/kubelet" --config "$RUN/kubelet/config.yaml" --kubeconfig "$RUN/kubelet.kubeconfig" \
		--root-dir "$RUN/kubelet/root" --node-ip "$NODE_IP" --hostname-override "$NODE" --v 1
	wait_for "node $NODE registered" 180 kc get node "$NODE"
}

proxy_up() {
	step kube-proxy "iptables mode, node ports on $NODE_IP only"
	# Written only when it changes: kube-proxy exits when its config file is
	# written to, even with the same content (a second `up` would stop it).
	cat >"$RUN/kube-proxy.yaml.new" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
clientConnection: {kubeconfig: $RUN/kube-proxy.kubeconfig}
conntrack: {maxPerCore: 0}
EOF
	if cmp -s "$RUN/kube-proxy.yaml.new" "$RUN/kube-proxy.yaml"; then rm "$RUN/kube-proxy.yaml.new"
	else mv "$RUN/kube-proxy.yaml.new" "$RUN/kube-proxy.yaml"; fi
	start kube-proxy "$BIN/kube-proxy" --config "$RUN/kube-proxy.yaml" --hostname-override "$NODE"
	wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
}

# CoreDNS runs on the host, on the bridge address; the kube-dns Service points
# at it through a hand-made EndpointSlice. Knative's activator reaches its
# autoscaler by DNS name, so the cluster DNS is not optional.
dns_up() {
	step dns "CoreDNS on $NODE_IP:53, Service kube-dns $DNS_IP"
	cat >"$RUN/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18053
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $RUN/coredns.kubeconfig phonebill
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 10
}
EOF
	start coredns "$BIN/coredns" -conf "$RUN/Corefile"
	wait_for coredns 60 curl -fsS http://127.0.0.1:18053/health
	kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: phonebill-cluster}
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

node_ready() {
	step ready "waiting for node $NODE Ready"
	wait_for "node $NODE Ready" 180 kc wait node "$NODE" --for=condition=Ready --timeout=5s
	printf 'cluster: up — export KUBECONFIG=%s\n' "$KUBECONFIG_ADMIN" >&2
}

up() {
	mkdir -p "$RUN/logs" "$RUN/pids"
	need_tools
	build
	pki
	bridge
	containerd_up
	etcd_up
	apiserver_up
	controllers_up
	kubelet_up
	proxy_up
	dns_up
	node_ready
	[ "${KNATIVE:-1}" = 0 ] || scripts/cluster/knative.sh up
}

# --- down -------------------------------------------------------------------

stop() {
	local name=$1 pid
	[ -f "$RUN/pids/$name" ] || return 0
	pid=$(cat "$RUN/pids/$name")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$RUN/pids/$name"
}

down() {
	[ -d "$RUN" ] || { echo "cluster: nothing to stop" >&2; return 0; }
	step down "kubelet, pods, Traefik, registry, control plane, containerd"
	stop kubelet
	# The pods: every task of this containerd, then its shims (found by this
	# containerd's own socket path in their command line, killed by pid).
	if [ -S "$CTRD_SOCK" ]; then
		for t in $(ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr --address "$CTRD_SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
		done
	fi
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "-address $CTRD_SOCK"; then
			kill -9 "${p#/proc/}" 2>/dev/null || true
		fi
	done
	for n in traefik registry coredns kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do stop "$n"; done
	step cleanup "mounts, network namespaces, iptables rules, $BRIDGE"
	# Mounts under this cluster's own directories only, deepest first.
	for m in $(awk -v r="$RUN/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do ip netns delete "$ns" 2>/dev/null || true; done
	[ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
	for tbl in filter nat mangle; do
		iptables -t "$tbl" -S 2>/dev/null | { grep -E '^-A .*(KUBE-|CNI-)' || true; } | sed 's/^-A/-D/' | while read -r r; do
			eval "iptables -t $tbl $r" 2>/dev/null || true
		done
		for ch in $(iptables -t "$tbl" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do iptables -t "$tbl" -F "$ch" 2>/dev/null || true; done
		for ch in $(iptables -t "$tbl" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do iptables -t "$tbl" -X "$ch" 2>/dev/null || true; done
	done
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" || true
	rm -rf "$RUN"
	stage=done
	echo "cluster: down (binaries stay cached in $BIN)" >&2
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
