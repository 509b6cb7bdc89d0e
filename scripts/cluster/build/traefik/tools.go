//go:build tools

// Package tools pins Traefik, the cluster's networking layer (its Knative
// provider implements KIngress; its ingress-nginx provider serves the
// project's NGINX-style Ingress).
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
