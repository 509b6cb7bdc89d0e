# phonebill — one target list, the same locally and in CI.
SHELL := /bin/bash
GO ?= go
BIN := bin
MODULES := shared sql functions knative
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

## bench: Go benchmarks (figures go to docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m $(PKGS)

## lint: go vet and gofmt
lint:
	$(GO) vet $(PKGS)
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
