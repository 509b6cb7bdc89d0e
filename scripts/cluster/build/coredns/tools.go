//go:build tools

// Package tools pins CoreDNS, the cluster DNS (kubernetes plugin).
package tools

import _ "github.com/coredns/coredns"
