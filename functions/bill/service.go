// Package bill is the Bill-Inquiry service: the bill menu, the inquiry of one
// month through KOS with breaker and cache, the history, and the bill-cache
// eviction event function (SPEC §3.2, §5.1, §5.2).
package bill

import (
	"phonebill/shared/auth"
	"phonebill/shared/events"
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// ServiceName is sent to KOS as X-Service-Name (SPEC §2.8).
const ServiceName = "MVNO-BILL-INQUIRY"

// Service is the Bill route table.
func Service() fn.Service {
	return fn.Service{
		Name: "bill", Style: httpx.StyleStandard,
		Prefixes:   []string{"/api/v1/bills"},
		HealthPath: "/api/v1/bills/health",
		Start:      start,
		Routes: []fn.Route{
			{Name: "bill-menu", Method: "GET", Path: "/api/v1/bills/menu",
				Access: auth.AccessBillInquiry, Handle: fn.Bind((*Handlers).Menu)},
			{Name: "bill-inquiry", Method: "POST", Path: "/api/v1/bills/inquiry",
				Access: auth.AccessBillInquiry, Handle: fn.Bind((*Handlers).Inquiry)},
			{Name: "bill-history", Method: "GET", Path: "/api/v1/bills/history",
				Access: auth.AccessBillInquiry, Handle: fn.Bind((*Handlers).History)},
			// Drops a line's cached bills and months after a successful
			// product change (SPEC §5.2 step 7); idempotent by nature.
			{Name: "bill-cache-evict", EventType: events.TypeProductChanged,
				Handle: fn.Bind((*Handlers).Evict)},
		},
	}
}
