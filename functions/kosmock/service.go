// Package kosmock simulates the carrier core (KOS): customers, products,
// bills and changes in PostgreSQL schema kos_mock, with the seed's latency and
// failure mix (SPEC §3.4, §5.5–§5.7). One Knative Service serves all its
// routes; it is public in the dev profile and not deployed in prod.
package kosmock

import (
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Service is the KOS-Mock route table. Both path families (the seed
// document's and the reference implementation's) are served by the same
// handlers; routes have no Access, so no auth layer at all (SPEC §1.2).
func Service() fn.Service {
	api := fn.StylePtr(httpx.StyleKOSAPI)
	return fn.Service{
		Name: "kos-mock", Function: "kos-mock", Style: httpx.StyleKOS, NoDeadline: true,
		Prefixes: []string{"/api/v1/kos", "/api/v1/bill-inquiry", "/api/v1/product-change",
			"/api/v1/customer-info", "/api/v1/mock-datas"},
		HealthPath: "/api/v1/kos/health",
		Start:      start,
		Routes: []fn.Route{
			{Name: "kos-bill-inquiry", Method: "POST", Path: "/api/v1/kos/bill/inquiry", Handle: fn.Bind((*Server).BillInquiry)},
			{Name: "kos-bill-inquiry-seed", Method: "POST", Path: "/api/v1/bill-inquiry", Handle: fn.Bind((*Server).BillInquiry)},
			{Name: "kos-available-months", Method: "GET", Path: "/api/v1/kos/bill/available-months/{lineNumber}", Handle: fn.Bind((*Server).AvailableMonths)},
			{Name: "kos-product-inquiry", Method: "POST", Path: "/api/v1/kos/product/inquiry", Handle: fn.Bind((*Server).ProductInquiry)},
			{Name: "kos-customer-info", Method: "GET", Path: "/api/v1/customer-info", Handle: fn.Bind((*Server).CustomerInfo)},
			{Name: "kos-customer-info-ref", Method: "GET", Path: "/api/v1/kos/customer-info", Handle: fn.Bind((*Server).CustomerInfo)},
			{Name: "kos-product-change", Method: "POST", Path: "/api/v1/kos/product/change", Handle: fn.Bind((*Server).ProductChange)},
			{Name: "kos-product-change-seed", Method: "POST", Path: "/api/v1/product-change", Handle: fn.Bind((*Server).ProductChange)},
			{Name: "kos-product-list", Method: "GET", Path: "/api/v1/kos/product/list", Handle: fn.Bind((*Server).ProductList)},
			{Name: "kos-mock-datas", Method: "POST", Path: "/api/v1/kos/mock-datas", Style: api, Handle: fn.Bind((*Server).CreateMockData)},
			{Name: "kos-mock-datas-seed", Method: "POST", Path: "/api/v1/mock-datas", Style: api, Handle: fn.Bind((*Server).CreateMockData)},
			{Name: "kos-mock-customer-product", Method: "GET", Path: "/api/v1/kos/mock-datas/customer/product", Style: api, Handle: fn.Bind((*Server).CustomerProduct)},
			{Name: "kos-mock-customer-product-seed", Method: "GET", Path: "/api/v1/mock-datas/customer/product", Style: api, Handle: fn.Bind((*Server).CustomerProduct)},
			{Name: "kos-mock-customer-bill", Method: "GET", Path: "/api/v1/kos/mock-datas/customer/bill", Style: api, Handle: fn.Bind((*Server).CustomerBills)},
			{Name: "kos-mock-customer-bill-seed", Method: "GET", Path: "/api/v1/mock-datas/customer/bill", Style: api, Handle: fn.Bind((*Server).CustomerBills)},
		},
	}
}
