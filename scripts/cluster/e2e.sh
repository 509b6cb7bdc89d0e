#!/usr/bin/env bash
# e2e.sh — `make e2e`: the whole system, as `CLUSTER=local make deploy` put it
# on the cluster of `make cluster`, checked end to end. Each check prints one
# line `e2e: [check] PASS|FAIL|SKIP figure`; the summary counts them, and the
# script exits non-zero if any check failed. Not part of `make test` or
# .ci/run (it needs the cluster and takes about 20 minutes).
#
#   make cluster && make build && CLUSTER=local make deploy && make e2e
#
# Checks, in this order:
#   ready       every Knative Service, Trigger, PingSource, SinkBinding and the Broker Ready
#   journey     the SPEC §7 client journey (functions/phonebill TestClientJourneyAt)
#               over HTTP through the front door http://10.244.0.1:8083, and its row
#   pending     a forced KOS error (X-Mock-Scenario: error) answers PENDING, and
#               the worker completes it via change.requested
#   poison      a change.requested without a request id, sent to the Broker,
#               lands in product-deadletter (product_change.dead_letters)
#   relay       an outbox row is published by product-outbox-relay, which only
#               the PingSource calls
#   kill        a product-change pod deleted in the middle of a run of plan
#               changes: zero lost or doubled changes, counted in the database
#   zero        every function at 0 pods after the idle window (time measured),
#               and what else runs in the namespace
#   from-zero   scale from zero, RUNS (10) runs each of bill-menu (through the
#               front door), bill-cache-evict (an event function, cluster-local)
#               and kos-mock (scripts/cluster/scale-from-zero.sh)
#   kn          kn service list / describe / revision list, if a kn is on PATH
#               (KN=...): knative.dev/client cannot be built from the module proxy
#   func        func deploy: knative.dev/func is not served by the module proxy
#
# For determinism the run sets kos-mock-config's simulation mix to zero
# errors and delays and turns the X-Mock-Scenario hook on (the dev seed's
# 5 % errors would fail the journey at random); `make deploy` restores it.
# The journey resets testuser01's line (product, change history), removes
# newuser1 and flushes the bill cache first, so the run can be repeated.
# Env: RUNS (10), ONLY="ready journey ..." (a subset), IDLE_MAX (300 s).
# Traffic: only 10.244.0.1 (Traefik's entry points on the cluster bridge) and
# the cluster's own Service addresses.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
C="$ROOT/bin/cluster"
export KUBECONFIG="$C/run/admin.kubeconfig"
NS=phonebill
NODE_IP=10.244.0.1
FD="http://$NODE_IP:8083"
RUNS=${RUNS:-10}
IDLE_MAX=${IDLE_MAX:-300}
ONLY=${ONLY:-ready journey pending poison relay kill zero from-zero kn func}
kc() { "$C/bin/kubectl" "$@"; }
log() { printf 'e2e: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
pass=0 fail=0 skip=0 CODE=000
results=()
report() { # CHECK PASS|FAIL|SKIP FIGURE
	local line
	line=$(printf 'e2e: [%s] %s %s' "$1" "$2" "$3")
	echo "$line"
	results+=("$line")
	case $2 in PASS) pass=$((pass + 1)) ;; FAIL) fail=$((fail + 1)) ;; *) skip=$((skip + 1)) ;; esac
}
want() { [[ " $ONLY " == *" $1 "* ]]; }
sql() { kc -n "$NS" exec postgresql-0 -c postgresql -- sh -c 'psql -X -q -t -A -U "$POSTGRES_USER" -d phonebill -v ON_ERROR_STOP=1 -c "$1"' sh "$1"; }
fnpods() { # [SERVICE] — function pods (any phase), all or one Service's
	local sel=serving.knative.dev/service
	[ -z "${1:-}" ] || sel="$sel=$1"
	kc -n "$NS" get pods -l "$sel" --no-headers 2>/dev/null | wc -l
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# api METHOD PATH [BODY [HEADER...]] — through the front door with $TOKEN;
# prints the body, sets CODE.
api() {
	local m=$1 p=$2 body=${3:-}
	local args=(-sS -m 30 -o "$work/body" -w '%{http_code}' -X "$m" -H 'Origin: http://localhost:3000')
	shift 3 2>/dev/null || shift $#
	[ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data "$body")
	[ -z "${TOKEN:-}" ] || args+=(-H "Authorization: Bearer $TOKEN")
	local h
	for h in "$@"; do args+=(-H "$h"); done
	CODE=$(curl "${args[@]}" "$FD/api/v1$p" 2>"$work/curl.err") || CODE=000
	echo "$CODE" >"$work/code" # callers run api in $(...): they read it back with lastcode
	cat "$work/body" 2>/dev/null
}
lastcode() { CODE=$(cat "$work/code" 2>/dev/null || echo 000); }
login() { # USER PASSWORD — sets TOKEN
	TOKEN=
	TOKEN=$(api POST /auth/login "{\"userId\":\"$1\",\"password\":\"$2\"}" | jq -r '.access_token // empty')
	lastcode
	[ -n "$TOKEN" ]
}
LINE=01012345678
STD=5G-STANDARD-001
PREM=5G-PREMIUM-001
current_product() { sql "SELECT current_product_code FROM kos_mock.customers WHERE line_number = '$LINE'"; }
# change TARGET [HEADER...] — one plan change of testuser01's line to TARGET
# from its current product; prints the answer.
change() {
	local target=$1; shift
	local cur
	cur=$(current_product)
	api POST /products/change "{\"lineNumber\":\"$LINE\",\"currentProductCode\":\"$cur\",\"targetProductCode\":\"$target\"}" "$@"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -s "$KUBECONFIG" ] || die "no cluster: make cluster first"
kc -n "$NS" get ksvc >/dev/null 2>&1 || die "nothing deployed: CLUSTER=local make deploy first"
curl -fsS -o /dev/null -m 5 http://127.0.0.1:8089/ping || die "Traefik is not running (make cluster)"
[ -s "$C/run/traefik/frontdoor.yaml" ] || die "no front door: CLUSTER=local make deploy writes it"

# Deterministic KOS-Mock for the run; function pods restart to read it.
kc -n "$NS" patch configmap kos-mock-config --type merge \
	-p '{"data":{"KOS_MOCK_ERROR_RATE":"0","KOS_MOCK_DELAY_RATE":"0","KOS_MOCK_SCENARIO_HEADER":"true"}}' >/dev/null
kc -n "$NS" delete pods -l serving.knative.dev/service --wait=false >/dev/null 2>&1 || true

# --- ready -------------------------------------------------------------------
if want ready; then
	s=$(now)
	kc -n "$NS" wait ksvc,trigger,pingsource,sinkbinding,broker --all --for=condition=Ready --timeout=300s >/dev/null 2>&1
	fig=""
	ok=1
	for kind in ksvc trigger pingsource sinkbinding broker; do
		total=$(kc -n "$NS" get "$kind" --no-headers 2>/dev/null | wc -l)
		ready=$(kc -n "$NS" get "$kind" -o json | jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')
		fig+="$kind $ready/$total, "
		[ "$total" -gt 0 ] && [ "$ready" = "$total" ] || ok=0
	done
	report ready "$([ $ok = 1 ] && echo PASS || echo FAIL)" "${fig%, } (waited $(since "$s") s)"
fi

# --- journey -----------------------------------------------------------------
if want journey; then
	# The seed's state of testuser01's line, no newuser1, an empty bill cache.
	sql "UPDATE kos_mock.customers SET current_product_code = '$STD' WHERE line_number = '$LINE';
		DELETE FROM product_change.pc_product_change_history WHERE line_number = '$LINE';
		DELETE FROM auth.auth_users WHERE lower(user_id) = 'newuser1';
		DELETE FROM kos_mock.bills WHERE line_number = '01055556666';
		DELETE FROM kos_mock.customers WHERE line_number = '01055556666'" >/dev/null
	kc -n "$NS" exec deploy/redis -c redis -- sh -c 'redis-cli -a "$REDIS_PASSWORD" --no-auth-warning FLUSHALL' >/dev/null
	s=$(now)
	JOURNEY_BASE_URL="$FD" go test -count=1 -run '^TestClientJourneyAt$' -v ./functions/phonebill/ >"$work/journey.log" 2>&1
	rc=$?
	t=$(since "$s")
	completed=$(sql "SELECT count(*) FROM product_change.pc_product_change_history WHERE line_number = '$LINE' AND process_status = 'COMPLETED'")
	evict=$(grep -oE 'bill cache evicted [0-9.a-zµ]+' "$work/journey.log" | awk '{print $4}')
	if [ $rc = 0 ] && [ "$completed" = 1 ]; then
		report journey PASS "client journey through the front door in $t s (cold functions), bill cache evicted ${evict:-?} after the change (product.changed via the Broker), 1 COMPLETED change row"
	else
		grep -E -- '--- FAIL|journey_test.go' "$work/journey.log" | head -20 >&2
		report journey FAIL "go test rc=$rc, COMPLETED rows $completed (log above)"
	fi
fi

# --- pending: forced KOS error → PENDING → worker ------------------------------
if want pending; then
	if login testuser01 test1234; then
		cur=$(current_product)
		target=$([ "$cur" = "$PREM" ] && echo "$STD" || echo "$PREM")
		s=$(now)
		ans=$(change "$target" 'X-Mock-Scenario: error')
		lastcode
		status=$(jq -r '.data.processStatus // empty' <<<"$ans")
		rid=$(jq -r '.data.requestId // empty' <<<"$ans")
		final=$status
		if [ "$status" = PENDING ] && [ -n "$rid" ]; then
			for _ in $(seq 1 90); do
				final=$(sql "SELECT process_status FROM product_change.pc_product_change_history WHERE request_id = '$rid'")
				[ "$final" = PENDING ] || break
				sleep 2
			done
		fi
		if [ "$status" = PENDING ] && [ "$final" = COMPLETED ] && [ "$(current_product)" = "$target" ]; then
			report pending PASS "HTTP $CODE PENDING, COMPLETED by product-change-worker after $(since "$s") s, the line is on $target"
		else
			report pending FAIL "HTTP $CODE answer ${status:-none} ($(head -c 300 <<<"$ans")), then ${final:-none}"
		fi
	else
		report pending FAIL "testuser01 could not log in through the front door (HTTP $CODE)"
	fi
fi

# --- poison → dead letter --------------------------------------------------------
if want poison; then
	bi=$(kc -n knative-eventing get svc broker-ingress -o jsonpath='{.spec.clusterIP}')
	before=$(sql "SELECT count(*) FROM product_change.dead_letters")
	id="e2e-poison-$(date +%s)"
	code=$(curl -sS -m 30 -o /dev/null -w '%{http_code}' -X POST "http://$bi/$NS/default" \
		-H 'Content-Type: application/json' -H 'Ce-Specversion: 1.0' -H "Ce-Id: $id" -H 'Ce-Source: e2e' \
		-H 'Ce-Type: phonebill.product.change.requested.v1' --data '{"lineNumber":"01012345678"}') || code=000
	s=$(now)
	got=0
	for _ in $(seq 1 60); do
		got=$(sql "SELECT count(*) FROM product_change.dead_letters WHERE event::text LIKE '%$id%' OR error LIKE '%$id%'")
		[ "$got" = 0 ] || break
		sleep 2
	done
	after=$(sql "SELECT count(*) FROM product_change.dead_letters")
	if [ "$got" -ge 1 ]; then
		report poison PASS "Broker took it (HTTP $code); in product_change.dead_letters after $(since "$s") s (rows $before → $after)"
	else
		report poison FAIL "Broker HTTP $code; no dead letter for $id after 120 s (rows $before → $after)"
	fi
fi

# --- relay: the PingSource drives product-outbox-relay ------------------------------
if want relay; then
	oid=$(cat /proc/sys/kernel/random/uuid)
	sql "INSERT INTO product_change.outbox (id, type, source, subject, data)
		VALUES ('$oid', 'phonebill.product.changed.v1', 'e2e', '01090000003',
		'{\"lineNumber\":\"01090000003\",\"requestId\":\"e2e-$oid\",\"previousProductCode\":\"LTE-BASIC-001\",\"productCode\":\"LTE-BASIC-001\"}')" >/dev/null
	s=$(now)
	pub=""
	for _ in $(seq 1 75); do
		pub=$(sql "SELECT published_at IS NOT NULL FROM product_change.outbox WHERE id = '$oid'")
		[ "$pub" = t ] && break
		sleep 2
	done
	runs=$(kc -n "$NS" logs -l serving.knative.dev/service=product-outbox-relay -c function --tail=-1 2>/dev/null | grep -c 'outbox relay run')
	if [ "$pub" = t ]; then
		report relay PASS "an unpublished outbox row was published $(since "$s") s later (schedule: every minute; relay runs logged by the warm pod: $runs)"
	else
		report relay FAIL "outbox row $oid still unpublished after 150 s"
	fi
	sql "DELETE FROM product_change.outbox WHERE id = '$oid'" >/dev/null
fi

# --- kill: a product-change pod deleted mid-run --------------------------------------
if want kill; then
	N=${KILL_CHANGES:-12}
	if login testuser01 test1234; then
		start_ts=$(sql "SELECT now()")
		run="k$(date +%s)"
		answered=0 retries=0 killed=""
		for i in $(seq 1 "$N"); do
			cur=$(current_product)
			target=$([ "$cur" = "$PREM" ] && echo "$STD" || echo "$PREM")
			if [ "$i" = 4 ]; then
				pod=$(kc -n "$NS" get pods -l serving.knative.dev/service=product-change -o name | head -1)
				if [ -n "$pod" ]; then
					(sleep 0.2; kc -n "$NS" delete "$pod" --wait=false >/dev/null 2>&1) &
					killed=${pod#pod/}
				fi
			fi
			for a in 1 2 3 4 5 6; do
				ans=$(api POST /products/change "{\"lineNumber\":\"$LINE\",\"currentProductCode\":\"$cur\",\"targetProductCode\":\"$target\"}" "Idempotency-Key: $run-$i")
				lastcode
				st=$(jq -r '.data.processStatus // empty' <<<"$ans" 2>/dev/null)
				if [ "$CODE" = 200 ] && [ "$st" = COMPLETED ]; then answered=$((answered + 1)); break; fi
				retries=$((retries + 1))
				log "kill: change $i attempt $a: HTTP $CODE ${st:-} $(head -c 160 <<<"$ans")"
				sleep 1
			done
		done
		wait
		rows=$(sql "SELECT count(*) FROM product_change.pc_product_change_history WHERE line_number = '$LINE' AND process_status = 'COMPLETED' AND requested_at >= '$start_ts'")
		other=$(sql "SELECT count(*) FROM product_change.pc_product_change_history WHERE line_number = '$LINE' AND process_status <> 'COMPLETED' AND requested_at >= '$start_ts'")
		lost=$((N - rows)); [ $lost -lt 0 ] && lost=0
		doubled=$((rows - N)); [ $doubled -lt 0 ] && doubled=0
		if [ "$answered" = "$N" ] && [ "$rows" = "$N" ] && [ "$other" = 0 ]; then
			report kill PASS "$N changes, pod ${killed:-none} deleted at change 4: $answered answered COMPLETED, $rows COMPLETED rows, 0 lost, 0 doubled, $other other rows, $retries client retries (same Idempotency-Key)"
		else
			report kill FAIL "$N changes, pod ${killed:-none} deleted: $answered answered, $rows COMPLETED rows ($lost lost, $doubled doubled), $other other rows, $retries retries"
		fi
	else
		report kill FAIL "testuser01 could not log in (HTTP $CODE)"
	fi
fi

# --- zero: scale to zero after the idle window ----------------------------------------
if want zero; then
	s=$(now)
	zero_at="" relay_warm=0 samples=0
	while :; do
		n=$(fnpods)
		r=$(fnpods product-outbox-relay)
		samples=$((samples + 1))
		[ "$r" = 0 ] || relay_warm=$((relay_warm + 1))
		if [ $((n - r)) = 0 ] && [ -z "$zero_at" ]; then zero_at=$(since "$s"); fi
		[ "$n" = 0 ] && break
		[ -n "$zero_at" ] && awk -v z="$zero_at" -v t="$(since "$s")" 'BEGIN { exit !(t - z > 70) }' && break
		awk -v t="$(since "$s")" -v m="$IDLE_MAX" 'BEGIN { exit !(t > m) }' && break
		sleep 5
	done
	others=$(kc -n "$NS" get pods --field-selector=status.phase=Running --no-headers -o custom-columns=N:.metadata.name,S:.metadata.labels.serving\\.knative\\.dev/service |
		awk '$2 == "<none>" { sub(/-[a-z0-9]+-[a-z0-9]+$/, "", $1); sub(/-0$/, "", $1); print $1 }' | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}')
	knpods=$(kc get pods -n knative-serving --no-headers | wc -l)/$(kc get pods -n knative-eventing --no-headers | wc -l)
	if [ -n "$zero_at" ]; then
		report zero PASS "every function but the relay at 0 pods ${zero_at} s after the last request; product-outbox-relay warm in $relay_warm of $samples samples (its PingSource calls it every minute), $(fnpods) function pods at the end; also running in $NS: $others; Knative pods serving/eventing $knpods"
	else
		report zero FAIL "$(fnpods) function pods still up after $IDLE_MAX s ($(kc -n "$NS" get pods -l serving.knative.dev/service --no-headers -o custom-columns=S:.metadata.labels.serving\\.knative\\.dev/service | sort | uniq -c | tr -s ' \n' ' '))"
	fi
fi

# --- from-zero --------------------------------------------------------------------------
if want from-zero; then
	for spec in "bill-menu frontdoor /api/v1/bills/menu 401" "bill-cache-evict local /health/readiness 200" "kos-mock local /health/readiness 200"; do
		set -- $spec
		if out=$(SKIP_APPLY=1 VIA=$2 ROUTE=$3 EXPECT=$4 scripts/cluster/scale-from-zero.sh "$1" "$RUNS" 2>"$work/sfz.err"); then
			report from-zero PASS "${out#scale-from-zero: }"
		else
			tail -3 "$work/sfz.err" >&2
			report from-zero FAIL "$1: $(tail -1 "$work/sfz.err")"
		fi
	done
fi

# --- kn and func --------------------------------------------------------------------------
if want kn; then
	KN=${KN:-$(command -v kn || true)}
	if [ -n "$KN" ] && [ -x "$KN" ]; then
		nl=$("$KN" service list -n "$NS" 2>"$work/kn.err" | tail -n +2 | wc -l)
		d=$("$KN" service describe bill-menu -n "$NS" 2>>"$work/kn.err" | grep -c 'bill-menu')
		rv=$("$KN" revision list -n "$NS" -s bill-menu 2>>"$work/kn.err" | tail -n +2 | wc -l)
		if [ "$nl" -gt 0 ] && [ "$d" -gt 0 ] && [ "$rv" -gt 0 ]; then
			report kn PASS "kn service list: $nl Services; describe bill-menu; revision list: $rv revision(s) ($("$KN" version 2>/dev/null | head -1))"
		else
			report kn FAIL "kn: list $nl, describe $d, revisions $rv: $(head -c 200 "$work/kn.err")"
		fi
	else
		report kn SKIP "no kn: knative.dev/client v0.50.0 needs its nested knative.dev/client/pkg module, which the module proxy here does not serve (KN=/path/to/kn to run it)"
	fi
fi
if want func; then
	if command -v func >/dev/null; then
		report func SKIP "func found but not exercised: func deploy --build=false of an existing Service (docs/operations.md) is not scripted here"
	else
		report func SKIP "no func: knative.dev/func is not served by the module proxy at any version"
	fi
fi

echo "e2e: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
