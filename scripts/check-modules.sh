#!/usr/bin/env bash
# Each module of go.work stands alone: `go mod tidy` would change none of its
# go.mod/go.sum, and its packages and tests compile without the workspace
# (GOWORK=off), as dependency bots, vulnerability scanners and single-module
# tools see it. `go vet` stands for `go build` here: it compiles every
# package and test from the module's own go.mod and is cached, where
# `go build ./...` would link each of the ~30 function binaries again on every
# run (minutes instead of seconds). The modules are checked side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check() { # dir: prints what is wrong, exits non-zero if anything is
  local dir=$1 mod=${1#"$PWD"/} res rc=0
  if ! res=$(cd "$dir" && GOWORK=off $GO mod tidy -diff 2>&1); then
    printf '%s: go mod tidy would change go.mod/go.sum (run it there with GOWORK=off):\n%s\n' "$mod" "$res"
    rc=1
  fi
  if ! res=$(cd "$dir" && GOWORK=off $GO vet ./... 2>&1); then
    printf '%s: does not build alone (GOWORK=off go vet ./...):\n%s\n' "$mod" "$res"
    rc=1
  fi
  return $rc
}

pids=()
for dir in $($GO list -m -f '{{.Dir}}'); do
  check "$dir" >"$out/${#pids[@]}" 2>&1 &
  pids+=($!)
done
fail=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail=1
  cat "$out/$i"
done
exit $fail
