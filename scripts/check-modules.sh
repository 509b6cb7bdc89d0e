#!/usr/bin/env bash
# Each module of go.work stands alone: `go mod tidy` would change none of its
# go.mod/go.sum, and its packages and tests compile without the workspace
# (GOWORK=off), as dependency bots, vulnerability scanners and single-module
# tools see it. `go vet` stands for `go build` here: it compiles every
# package and test from the module's own go.mod and is cached, where
# `go build ./...` would link each of the ~30 function binaries again on every
# run (minutes instead of seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fail=0
for dir in $($GO list -m -f '{{.Dir}}'); do
  mod=${dir#"$PWD"/}
  if ! out=$(cd "$dir" && GOWORK=off $GO mod tidy -diff 2>&1); then
    echo "$mod: go mod tidy would change go.mod/go.sum (run it there with GOWORK=off):"
    echo "$out"
    fail=1
  fi
  if ! out=$(cd "$dir" && GOWORK=off $GO vet ./... 2>&1); then
    echo "$mod: does not build alone (GOWORK=off go vet ./...):"
    echo "$out"
    fail=1
  fi
done
exit $fail
