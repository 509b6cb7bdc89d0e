# phonebill — one target list, the same locally and in CI.
SHELL := /bin/bash
GO ?= go
BIN := bin
MODULES := shared sql functions knative bench
# Packages of every workspace module (go.work).
PKGS = $(shell $(GO) list -f '{{.Dir}}/...' -m)

.PHONY: run test bench lint build deploy deploy-fn openapi manifests

## run: build and start the all-in-one on :8080 with config/local.env
run:
	$(GO) build -o $(BIN)/phonebill ./functions/phonebill
	set -a && source config/local.env && set +a && exec ./$(BIN)/phonebill

## test: every module's tests against the real PostgreSQL and Redis
test: lint
	$(GO) test -count=1 -shuffle=on -race -timeout 15m $$($(GO) list -f '{{.Dir}}/...' -m | grep -v '/knative/')
	$(GO) test -count=1 -timeout 15m ./knative/...
	cd knative/alerttest && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 -timeout 10m ./...

# Packages holding Go benchmarks (only these are compiled and run by bench).
BENCH_PKGS = $(shell grep -rl --include='*_test.go' '^func Benchmark' $(MODULES) | xargs -n1 dirname | sort -u | sed 's|^|./|')
# Per-benchmark time of the Go benchmarks; the whole of bench stays under 10 minutes on 2 cores.
BENCHTIME ?= 1s
BENCHLOAD = $(GO) run ./bench/benchload

.PHONY: bench-load coldstart

## bench: Go benchmarks, then load (endpoints vs baselines) and cold starts of every function, then the fault
## runs, all in one run (about 5½ minutes on 2 cores); prints the reports and writes them between the bench and
## faults markers of docs/benchmarks.md
bench:
	@mkdir -p $(BIN)/bench
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count=1 -p 1 -timeout 8m \
		$(BENCH_PKGS) 2>&1 | tee $(BIN)/bench/go-bench.txt
	$(BENCHLOAD) -gobench $(BIN)/bench/go-bench.txt -doc docs/benchmarks.md $(BENCH_ARGS)
	$(MAKE) bench-faults

## bench-load: only the load run (endpoints vs baselines), report printed; BENCH_ARGS=-pprof saves a CPU
## profile of each step in bin/bench/profiles
bench-load:
	$(BENCHLOAD) -skip-coldstart $(BENCH_ARGS)

## coldstart: only the cold starts of every function binary, report printed
coldstart:
	$(BENCHLOAD) -skip-load $(BENCH_ARGS)

.PHONY: bench-faults

## bench-faults: the all-in-one under faults, on a private PostgreSQL and Redis it starts and breaks itself
## (KOS 80/15/5 mix for 60 s, Redis stopped, PostgreSQL restarted, SIGKILL and duplicate events; about 3
## minutes); writes the report between the faults markers of docs/benchmarks.md and the latency PNGs to docs/
bench-faults:
	$(GO) run ./bench/faultbench -doc docs/benchmarks.md $(FAULTS_ARGS)

## lint: go vet, gofmt, and each module tidy and building alone (GOWORK=off; scripts/check-modules.sh)
lint:
	$(GO) vet $(PKGS)
	GO=$(GO) ./scripts/check-modules.sh
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Cluster profile of build/deploy: dev or prod (knative/<profile>, config/<profile>.env).
PROFILE ?= dev

## manifests: regenerate knative/{dev,prod,optional} from the route table and config/*.env
manifests:
	$(GO) run ./knative/cmd/gen

## build: one image per function with ko (see docs/operations.md)
build:
	PROFILE=$(PROFILE) ./scripts/build-images.sh

## deploy: apply knative/ to the current kube context (images from `make build`)
deploy:
	PROFILE=$(PROFILE) ./scripts/deploy.sh

## deploy-fn FN=<function>: deploy one function's Knative Service
deploy-fn:
	@test -n "$(FN)" || { echo "usage: make deploy-fn FN=auth-login"; exit 2; }
	PROFILE=$(PROFILE) ./scripts/deploy.sh $(FN)

## openapi: copy docs/openapi.yaml to the all-in-one's embedded copy (served at /api/v1/openapi.yaml)
openapi:
	cp docs/openapi.yaml functions/phonebill/openapi.yaml

.PHONY: cluster cluster-down e2e

## cluster: build (cached in bin/cluster) and start a single-node Kubernetes on this machine (root; see
## docs/operations.md); kubeconfig bin/cluster/run/admin.kubeconfig
cluster:
	./scripts/cluster/cluster.sh up

## cluster-down: stop everything `make cluster` started and remove what it created (binaries stay cached)
cluster-down:
	./scripts/cluster/cluster.sh down

## e2e: the whole system on that cluster, end to end, each check with its figure (after
## `make build && CLUSTER=local make deploy`; about 20 minutes; not part of make test)
e2e:
	./scripts/cluster/e2e.sh
