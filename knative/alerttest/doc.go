// Package alerttest unit-tests the alerts of knative/ops/alerts.yaml with
// Prometheus's own rule evaluation: every alert fires on the series it is
// meant for and stays quiet on a near miss. It is a module of its own, not
// in go.work, so that Prometheus's dependencies never touch the modules
// that ship; `make test` runs it with GOWORK=off.
package alerttest
