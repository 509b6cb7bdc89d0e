package kosmock

import (
	"context"
	"testing"
)

// BenchmarkBillInquiry measures a bill inquiry with the simulation off:
// the logic against the real database, and the whole HTTP route.
func BenchmarkBillInquiry(b *testing.B) {
	e := newKOS(b, testSettings())
	month := monthAgo(1)
	b.Run("logic", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			a, err := e.s.mock.BillInquiry(ctx, lineHong, month, "REQ_BENCH")
			if err != nil || !a.Success {
				b.Fatalf("%+v %v", a, err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		body := map[string]string{"lineNumber": lineHong, "billingMonth": month, "requestId": "REQ_BENCH"}
		for b.Loop() {
			if r := e.call(b, "POST", "/api/v1/kos/bill/inquiry", body); r.Status != 200 {
				b.Fatalf("%d %s", r.Status, r.Body)
			}
		}
	})
}
