// Package product is the Product-Change service: customer and current
// product, available products, pre-checks, the change at KOS with its outbox,
// the change worker, the outbox relay and the dead-letter sink (SPEC §3.3,
// §5.3, §5.4, §10.5, §10.6).
package product

import (
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Service is the Product route table.
func Service() fn.Service {
	return fn.Service{
		Name: "product", Style: httpx.StyleStandard,
		Prefixes:   []string{"/api/v1/products"},
		HealthPath: "/api/v1/products/health",
		Start:      start,
	}
}
