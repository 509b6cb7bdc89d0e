// Package kosmock simulates the carrier core (KOS): customers, products,
// bills and changes in PostgreSQL schema kos_mock, with the seed's latency and
// failure mix (SPEC §3.4, §5.5–§5.7). One Knative Service serves all its
// routes; it is public in the dev profile and not deployed in prod.
package kosmock

import (
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Service is the KOS-Mock route table.
func Service() fn.Service {
	return fn.Service{
		Name: "kos-mock", Function: "kos-mock", Style: httpx.StyleKOS,
		Prefixes: []string{"/api/v1/kos", "/api/v1/bill-inquiry", "/api/v1/product-change",
			"/api/v1/customer-info", "/api/v1/mock-datas"},
		HealthPath:     "/api/v1/kos/health",
		AllowAnyOrigin: true,
		Start:          start,
	}
}
