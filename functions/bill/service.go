// Package bill is the Bill-Inquiry service: the bill menu, the inquiry of one
// month through KOS with breaker and cache, the history, and the bill-cache
// eviction event function (SPEC §3.2, §5.1, §5.2).
package bill

import (
	"time"

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
			// product change (SPEC §5.2 step 7); idempotent by nature. It
			// answers 5xx while Redis is away, and EvictDelivery redelivers
			// for longer than a cached bill lives, so no eviction is lost:
			// it lands, or the entry it targets has expired.
			{Name: "bill-cache-evict", EventType: events.TypeProductChanged,
				Delivery: &EvictDelivery, Handle: fn.Bind((*Handlers).Evict)},
		},
	}
}

// EvictDelivery is bill-cache-evict's retry policy: 11 redeliveries
// exponential from 1 s, 2047 s in all, past the 30 min (BILL_CACHE_TTL_SECONDS
// 1800) a cached bill lives; knative.TestDeliveryFitsTheConsumers checks it
// against the profiles' TTL.
var EvictDelivery = fn.Delivery{Retries: 11, Backoff: time.Second}
