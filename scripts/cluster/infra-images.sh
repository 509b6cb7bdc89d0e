#!/usr/bin/env bash
# infra-images.sh — stand-ins for the three Docker Hub images of knative/infra
# (docker.io/library/postgres:16-bookworm, docker.io/library/redis:7.2-alpine,
# docker.io/edoburu/pgbouncer:v1.25.1-p0), which this machine cannot pull.
# Each is assembled from this machine's Debian packages (PostgreSQL 15,
# Redis 7.0, PgBouncer 1.18 from bookworm) plus busybox-static for the shell
# tools the manifests' probes and commands call (sh, sed, grep), and pushed to
# the loopback registry under the same repository and tag:
#
#   127.0.0.1:5050/library/postgres:16-bookworm
#   127.0.0.1:5050/library/redis:7.2-alpine
#   127.0.0.1:5050/edoburu/pgbouncer:v1.25.1-p0
#
# scripts/deploy.sh with CLUSTER=local rewrites `image: docker.io/` to
# `image: 127.0.0.1:5050/` and nothing else, so the infra manifests keep
# their securityContext, users, probes, commands and volumes; the stand-ins
# honour the same contract as the official images where the manifests rely on
# it: postgres's entrypoint initialises PGDATA from POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB (scram-sha-256 over TCP) and takes
# postgres's own arguments; pg_isready, redis-cli, pgbouncer on PATH; users
# 999 and 70 in /etc/passwd. The versions differ (see docs/operations.md).
#
# Cached: an image already in the registry is not rebuilt (FORCE=1 rebuilds).
# Needs: postgresql-15, redis-server, busybox-static (apt); PgBouncer and
# c-ares are taken with `apt-get download` (not installed: no service starts).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
C="$ROOT/bin/cluster"
REGISTRY=${REGISTRY:-127.0.0.1:${REGISTRY_PORT:-5050}}
PLATFORM=linux/amd64
W="$C/infra-images"
CRANE=${CRANE:-$(command -v crane || echo "$(go env GOPATH)/bin/crane")}
PG=/usr/lib/postgresql/15

log() { printf 'infra-images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -x "$CRANE" ] || die "no crane ($CRANE)"
[ -x "$PG/bin/postgres" ] || die "no $PG (apt-get install postgresql-15)"
command -v redis-server >/dev/null || die "no redis-server (apt-get install redis-server)"
[ -x /bin/busybox ] || die "no /bin/busybox (apt-get install busybox-static)"

# put OPT DIR PATH... — cp OPT --parents PATHs into DIR (run from /, with
# relative paths: coreutils' --parents trips over absolute ones here).
put() {
	local opt=$1 dir=$2; shift 2
	local rel=() f
	for f in "$@"; do rel+=("${f#/}"); done
	(cd / && cp "$opt" --parents "${rel[@]}" "$dir")
}
# libs DIR FILE... — copies FILEs and every shared library they load
# (ldd), plus the dynamic loader, into DIR at the same paths.
libs() {
	local dir=$1; shift
	local f
	for f in "$@"; do
		put -L "$dir" "$f"
		ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r l; do
			[ -e "$dir$l" ] || put -L "$dir" "$l"
		done
	done
}
base() { # DIR — busybox, passwd/group, /tmp
	local dir=$1
	mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/usr/bin"
	cp /bin/busybox "$dir/bin/busybox"
	for t in sh sed grep cat printf mkdir chmod rm ls id env sleep head tr cut awk; do ln -sf busybox "$dir/bin/$t"; done
	chmod 1777 "$dir/tmp"
	cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
pgbouncer:x:70:70:pgbouncer:/nonexistent:/bin/sh
postgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh
nonroot:x:65532:65532:nonroot:/nonexistent:/bin/sh
EOF
	printf 'root:x:0:\npgbouncer:x:70:\npostgres:x:999:\nredis:x:1000:\nnonroot:x:65532:\n' >"$dir/etc/group"
	echo "hosts: files dns" >"$dir/etc/nsswitch.conf"
}
push() { # DIR REF DESCRIPTION ENTRYPOINT PATH
	local dir=$1 ref=$2 desc=$3 ep=$4 path=$5
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$dir.tar" .
	"$CRANE" append -f "$dir.tar" -t "$REGISTRY/$ref-layer" >/dev/null 2>&1
	local args=(--set-platform "$PLATFORM" -e "PATH=$path" -l "org.opencontainers.image.description=$desc" -t "$REGISTRY/$ref")
	[ -z "$ep" ] || args+=(--entrypoint "$ep")
	"$CRANE" mutate "$REGISTRY/$ref-layer" "${args[@]}" >/dev/null 2>&1
	log "$REGISTRY/$ref ($(du -m "$dir.tar" | cut -f1) MB): $desc"
	rm -f "$dir.tar"
}
have() { [ "${FORCE:-}" != 1 ] && "$CRANE" manifest "$REGISTRY/$1" >/dev/null 2>&1; }

rm -rf "$W"
mkdir -p "$W"

# PostgreSQL (Debian's 15) with an entrypoint doing what the official image's
# does for these manifests.
if ! have library/postgres:16-bookworm; then
	d="$W/postgres"
	base "$d"
	libs "$d" "$PG"/bin/*
	# The server's modules, without the JIT (it would bring the 100 MB libLLVM).
	put -a "$d" /usr/share/postgresql/15 /usr/share/zoneinfo
	for so in "$PG"/lib/*.so; do case $so in */llvmjit*) ;; *) libs "$d" "$so" ;; esac; done
	mkdir -p "$d/var/lib/postgresql" "$d/var/run/postgresql" "$d/usr/local/bin"
	cat >"$d/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official postgres image's entrypoint: initialise an empty
# PGDATA from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, then exec
# postgres with the container's arguments.
set -eu
case "${1:-}" in ''|-*) set -- postgres "$@" ;; esac
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	pw=/tmp/.pwfile
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
	initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C >/dev/null
	rm -f "$pw"
	printf "host all all all scram-sha-256\n" >>"$PGDATA/pg_hba.conf"
	printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
	if [ "${POSTGRES_DB:-postgres}" != postgres ]; then
		psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres -q \
			-c "CREATE DATABASE \"$POSTGRES_DB\""
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "stand-in entrypoint: initialised $PGDATA"
fi
exec "$@"
EOF
	chmod 755 "$d/usr/local/bin/docker-entrypoint.sh"
	push "$d" library/postgres:16-bookworm "stand-in built from Debian bookworm postgresql-15 $(dpkg-query -W -f '${Version}' postgresql-15)" \
		/usr/local/bin/docker-entrypoint.sh "$PG/bin:/usr/local/bin:/bin:/usr/bin"
fi

# Redis (Debian's 7.0).
if ! have library/redis:7.2-alpine; then
	d="$W/redis"
	base "$d"
	libs "$d" /usr/bin/redis-server /usr/bin/redis-cli
	mkdir -p "$d/data"
	push "$d" library/redis:7.2-alpine "stand-in built from Debian bookworm redis-server $(dpkg-query -W -f '${Version}' redis-server)" \
		"" "/bin:/usr/bin"
fi

# PgBouncer (Debian's 1.18), unpacked from its .deb with c-ares.
if ! have edoburu/pgbouncer:v1.25.1-p0; then
	d="$W/pgbouncer"
	base "$d"
	debs="$C/debs"
	mkdir -p "$debs"
	(cd "$debs" && { ls pgbouncer_*.deb >/dev/null 2>&1 || apt-get download pgbouncer >/dev/null 2>&1; } &&
		{ ls libc-ares2_*.deb >/dev/null 2>&1 || apt-get download libc-ares2 >/dev/null 2>&1; }) ||
		die "apt-get download pgbouncer libc-ares2 failed"
	x="$W/debs"
	for deb in "$debs"/pgbouncer_*.deb "$debs"/libc-ares2_*.deb; do dpkg -x "$deb" "$x"; done
	mkdir -p "$d/usr/sbin" "$d/usr/lib/x86_64-linux-gnu"
	cp "$x/usr/sbin/pgbouncer" "$d/usr/sbin/"
	cp -a "$x"/usr/lib/x86_64-linux-gnu/libcares.so* "$d/usr/lib/x86_64-linux-gnu/"
	LD_LIBRARY_PATH="$x/usr/lib/x86_64-linux-gnu" ldd "$x/usr/sbin/pgbouncer" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' |
		grep -v "^$x" | while read -r l; do [ -e "$d$l" ] || put -L "$d" "$l"; done
	mkdir -p "$d/etc/pgbouncer" "$d/run/pgbouncer"
	push "$d" edoburu/pgbouncer:v1.25.1-p0 "stand-in built from Debian bookworm pgbouncer $(dpkg-deb -f "$debs"/pgbouncer_*.deb Version)" \
		"" "/usr/sbin:/bin:/usr/bin"
fi
rm -rf "$W"
log "stand-ins in $REGISTRY: library/postgres:16-bookworm, library/redis:7.2-alpine, edoburu/pgbouncer:v1.25.1-p0"
