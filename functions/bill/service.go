// Package bill is the Bill-Inquiry service: the bill menu, the inquiry of one
// month through KOS with breaker and cache, the history, and the bill-cache
// eviction event function (SPEC §3.2, §5.1, §5.2).
package bill

import (
	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// Service is the Bill route table.
func Service() fn.Service {
	return fn.Service{
		Name: "bill", Style: httpx.StyleStandard,
		Prefixes:   []string{"/api/v1/bills"},
		HealthPath: "/api/v1/bills/health",
		Start:      start,
	}
}
