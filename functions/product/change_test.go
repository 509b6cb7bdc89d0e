package product

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"phonebill/shared/config"
	"phonebill/shared/events"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestChangeCompleted(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	tok := r.token(t, "testuser01")
	// The product menu cached the customer; the change must evict it.
	r.do(t, "GET", "/api/v1/products/customer?lineNumber=010-1234-5678", tok, nil).want(t, http.StatusOK, "")
	r.h.Cache.Set(ctx, lineStatusKey(line01), "ACTIVE", time.Hour)
	if n := r.h.Cache.Client().Exists(ctx, r.h.Cache.Key(customerKey(line01))).Val(); n != 1 {
		t.Fatal("customer not cached before the change")
	}

	res, cr := r.change(t, tok, upgrade)
	if !res.Env.Success || res.Env.ResultCode != "0000" || res.Env.ResultMessage != "상품 변경이 완료되었습니다" ||
		res.Env.Message != "상품 변경이 완료되었습니다" || !localTime.MatchString(res.Env.Timestamp) {
		t.Fatalf("envelope %s", res.Raw)
	}
	if !uuidV4.MatchString(cr.RequestID) || cr.ProcessStatus != "COMPLETED" || cr.ResultCode != "0000" ||
		cr.ResultMessage != "상품 변경이 완료되었습니다" || !localTime.MatchString(cr.ProcessedAt) ||
		!reflect.DeepEqual(cr.ChangedProduct, &premium) {
		t.Fatalf("change result %+v", cr)
	}
	for _, k := range []string{customerKey(line01), lineStatusKey(line01)} {
		if n := r.h.Cache.Client().Exists(ctx, r.h.Cache.Key(k)).Val(); n != 0 {
			t.Fatalf("%s still cached after the change", k)
		}
	}
	// The result page re-reads the customer and sees the new product.
	var v CustomerView
	r.do(t, "GET", "/api/v1/products/customer?lineNumber=010-1234-5678", tok, nil).data(t, &v)
	if v.CurrentProduct.ProductCode != "5G-PREMIUM-001" || r.kosProduct(t, line01) != "5G-PREMIUM-001" {
		t.Fatalf("after the change: %+v", v.CurrentProduct)
	}
	if n := r.kosChanges(t, cr.RequestID); n != 1 {
		t.Fatalf("KOS processed %d changes for %s", n, cr.RequestID)
	}

	// The history row went through every status to COMPLETED.
	var (
		status, code, msg, customer, user, kosReqID string
		validated, processed, hasResponse           bool
	)
	if err := r.h.Pool.QueryRow(ctx, `SELECT process_status, result_code, process_message, customer_id, user_id,
		kos_request_data->>'requestId', validated_at IS NOT NULL, processed_at IS NOT NULL, kos_response_data IS NOT NULL
		FROM product_change.pc_product_change_history WHERE request_id = $1`, cr.RequestID).
		Scan(&status, &code, &msg, &customer, &user, &kosReqID, &validated, &processed, &hasResponse); err != nil {
		t.Fatal(err)
	}
	if status != "COMPLETED" || code != "0000" || msg != "상품 변경이 완료되었습니다" || customer != "CUST001" ||
		user != "testuser01" || kosReqID != cr.RequestID || !validated || !processed || !hasResponse {
		t.Fatalf("history row: %s %s %s %s %s %s %v %v %v", status, code, msg, customer, user, kosReqID, validated, processed, hasResponse)
	}

	// product.changed committed with the status and was published at once.
	var (
		id, data  string
		published bool
		attempts  int
	)
	if err := r.h.Pool.QueryRow(ctx, `SELECT id::text, data::text, published_at IS NOT NULL, attempts
		FROM product_change.outbox WHERE type = $1 AND subject = $2`, events.TypeProductChanged, cr.RequestID).
		Scan(&id, &data, &published, &attempts); err != nil {
		t.Fatal(err)
	}
	var cd ChangedData
	if err := json.Unmarshal([]byte(data), &cd); err != nil {
		t.Fatal(err)
	}
	if cd != (ChangedData{LineNumber: line01, RequestID: cr.RequestID, PreviousProductCode: "5G-STANDARD-001",
		ProductCode: "5G-PREMIUM-001"}) || !published || attempts != 1 {
		t.Fatalf("outbox row %s published=%v attempts=%d", data, published, attempts)
	}
	waitFor(t, 5*time.Second, "product.changed delivery", func() bool { return len(r.probe.of(events.TypeProductChanged)) == 1 })
	e := r.probe.of(events.TypeProductChanged)[0]
	var got ChangedData
	if err := e.DataAs(&got); err != nil || e.ID() != id || e.Source() != EventSource || got != cd {
		t.Fatalf("delivered event %s: %+v %v", e, got, err)
	}

	// The status endpoint shows the same data object.
	if st := r.status(t, tok, cr.RequestID); !reflect.DeepEqual(st, cr) {
		t.Fatalf("status %+v\nchange %+v", st, cr)
	}
	if n := testutil.ToFloat64(r.p.metrics.changes.WithLabelValues("completed")); n != 1 {
		t.Fatalf("completed changes metric %v", n)
	}
}

func TestChangeFailures(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	tok := r.token(t, "testuser01")

	// The re-run pre-check fails: FAILED VALIDATION_FAILED, KOS never asked.
	res, cr := r.change(t, tok, ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-STANDARD-001", TargetProductCode: "3G-OLD-001"})
	if !res.Env.Success || res.Env.ResultCode != "VALIDATION_FAILED" || res.Env.Message != "변경 대상 상품이 판매중이 아닙니다." ||
		cr.ProcessStatus != "FAILED" || cr.ResultCode != "VALIDATION_FAILED" || cr.ResultMessage != "변경 대상 상품이 판매중이 아닙니다." ||
		cr.ChangedProduct != nil || !localTime.MatchString(cr.ProcessedAt) {
		t.Fatalf("validation failure: %s", res.Raw)
	}
	if n := r.kosChanges(t, cr.RequestID); n != 0 {
		t.Fatalf("KOS asked %d times after a failed pre-check", n)
	}
	var verdict string
	if err := r.h.Pool.QueryRow(ctx, `SELECT validation_result->>'validationResult' FROM product_change.pc_product_change_history
		WHERE request_id = $1 AND process_status = 'FAILED' AND result_code = 'VALIDATION_FAILED'`, cr.RequestID).Scan(&verdict); err != nil || verdict != "FAILURE" {
		t.Fatalf("failed row: %q %v", verdict, err)
	}

	// KOS refuses (the cached catalog still had the product on sale): the
	// KOS code and message, FAILED, nothing changed, no event.
	r.do(t, "GET", "/api/v1/products/available?currentProductCode=5G-STANDARD-001", tok, nil).want(t, http.StatusOK, "")
	if _, err := r.h.Pool.Exec(ctx, `UPDATE kos_mock.products SET status = 'DISCONTINUED' WHERE product_code = 'LTE-BASIC-001'`); err != nil {
		t.Fatal(err)
	}
	res, cr = r.change(t, tok, ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-STANDARD-001", TargetProductCode: "LTE-BASIC-001"})
	if !res.Env.Success || res.Env.ResultCode != "2004" || res.Env.Message != "판매가 중단된 상품입니다" ||
		cr.ProcessStatus != "FAILED" || cr.ResultCode != "2004" || cr.ResultMessage != "판매가 중단된 상품입니다" ||
		cr.ChangedProduct != nil || !localTime.MatchString(cr.ProcessedAt) {
		t.Fatalf("KOS refusal: %s", res.Raw)
	}
	if r.kosProduct(t, line01) != "5G-STANDARD-001" {
		t.Fatal("KOS changed the product after refusing")
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.outbox`); n != 0 {
		t.Fatalf("%d outbox rows after failures", n)
	}
	if st := r.status(t, tok, cr.RequestID); !reflect.DeepEqual(st, cr) {
		t.Fatalf("status %+v\nchange %+v", st, cr)
	}

	// Request-level problems.
	r.do(t, "POST", "/api/v1/products/change", tok, `{"lineNumber":"01012345678"}`).want(t, http.StatusBadRequest, "INVALID_REQUEST")
	r.do(t, "POST", "/api/v1/products/change", tok, `not json`).want(t, http.StatusBadRequest, "INVALID_REQUEST")
	r.do(t, "POST", "/api/v1/products/change", tok, ChangeRequest{LineNumber: line02, CurrentProductCode: "LTE-BASIC-001",
		TargetProductCode: "LTE-PREMIUM-001"}).want(t, http.StatusForbidden, "UNAUTHORIZED_LINE_NUMBER")
	r.do(t, "POST", "/api/v1/products/change", r.token(t, "testuser02"), ChangeRequest{LineNumber: line02,
		CurrentProductCode: "LTE-BASIC-001", TargetProductCode: "LTE-PREMIUM-001"}).want(t, http.StatusForbidden, "ACCESS_DENIED")
	r.do(t, "POST", "/api/v1/products/change", "", upgrade).want(t, http.StatusUnauthorized, "UNAUTHORIZED")
	r.do(t, "POST", "/api/v1/products/change", tok, `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"`+
		strings.Repeat("X", 70000)+`"}`).want(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	if n := r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history`); n != 2 {
		t.Fatalf("%d history rows, want the 2 processed requests only", n)
	}
}

func TestChangeStatusAccess(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	tok := r.token(t, "testuser01")
	_, cr := r.change(t, tok, upgrade)

	res := r.do(t, "GET", "/api/v1/products/change/"+uuid.NewString(), tok, nil)
	res.want(t, http.StatusNotFound, "NOT_FOUND")
	r.do(t, "GET", "/api/v1/products/change/"+strings.Repeat("a", 200), tok, nil).want(t, http.StatusNotFound, "NOT_FOUND")
	r.do(t, "GET", "/api/v1/products/change/"+cr.RequestID, r.token(t, "testuser03"), nil).want(t, http.StatusForbidden, "ACCESS_DENIED")
	r.do(t, "GET", "/api/v1/products/change/"+cr.RequestID, r.token(t, "testuser02"), nil).want(t, http.StatusForbidden, "ACCESS_DENIED")
	if st := r.status(t, r.token(t, "admin"), cr.RequestID); st.ProcessStatus != "COMPLETED" {
		t.Fatalf("admin status %+v", st)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	tok := r.token(t, "testuser01")

	first, cr := r.change(t, tok, upgrade, "Idempotency-Key", "order-1")
	if first.Header.Get("Idempotent-Replayed") != "" || cr.ProcessStatus != "COMPLETED" {
		t.Fatalf("first answer %s", first.Raw)
	}
	// Same key, same request (either line spelling): the first answer again.
	dashed := upgrade
	dashed.LineNumber = "010-1234-5678"
	for _, body := range []ChangeRequest{upgrade, dashed} {
		again, cr2 := r.change(t, tok, body, "Idempotency-Key", "order-1")
		if again.Header.Get("Idempotent-Replayed") != "true" || !reflect.DeepEqual(cr2, cr) ||
			again.Env.Timestamp != first.Env.Timestamp || again.Env.ResultCode != "0000" {
			t.Fatalf("replay %s\nfirst %s", again.Raw, first.Raw)
		}
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history`); n != 1 {
		t.Fatalf("%d history rows after a replayed request", n)
	}
	if n := r.count(t, `SELECT count(*) FROM kos_mock.processing_results`); n != 1 {
		t.Fatalf("KOS processed %d changes", n)
	}
	// Same key, another request: 422.
	other := ChangeRequest{LineNumber: line01, CurrentProductCode: "5G-PREMIUM-001", TargetProductCode: "LTE-BASIC-001"}
	res := r.do(t, "POST", "/api/v1/products/change", tok, other, "Idempotency-Key", "order-1")
	res.want(t, http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	if res.Env.Error.Message != "같은 Idempotency-Key가 다른 요청에 이미 사용되었습니다" {
		t.Fatalf("422 message %q", res.Env.Error.Message)
	}
	// Keys are per user.
	res3, cr3 := r.change(t, r.token(t, "testuser03"), ChangeRequest{LineNumber: line03, CurrentProductCode: "LTE-PREMIUM-001",
		TargetProductCode: "LTE-BASIC-001"}, "Idempotency-Key", "order-1")
	if res3.Header.Get("Idempotent-Replayed") != "" || cr3.ResultCode != "VALIDATION_FAILED" {
		t.Fatalf("another user's key: %s", res3.Raw)
	}
	for _, bad := range []string{"has space", "slash/no", strings.Repeat("k", 65), "키"} {
		r.do(t, "POST", "/api/v1/products/change", tok, other, "Idempotency-Key", bad).want(t, http.StatusBadRequest, "INVALID_REQUEST")
	}

	// Concurrent first uses of one key: one change, the others wait (409) or
	// replay.
	var wg sync.WaitGroup
	results := make([]response, 6)
	for i := range results {
		wg.Go(func() {
			results[i] = r.do(t, "POST", "/api/v1/products/change", tok, other, "Idempotency-Key", "order-2")
		})
	}
	wg.Wait()
	fresh, ids := 0, map[string]bool{}
	for _, res := range results {
		switch res.Status {
		case http.StatusOK:
			var c ChangeResult
			res.data(t, &c)
			ids[c.RequestID] = true
			if res.Header.Get("Idempotent-Replayed") == "" {
				fresh++
			}
		case http.StatusConflict:
			res.want(t, http.StatusConflict, "REQUEST_IN_PROGRESS")
		default:
			t.Fatalf("concurrent use: %d %s", res.Status, res.Raw)
		}
	}
	if fresh != 1 || len(ids) != 1 {
		t.Fatalf("%d fresh answers with %d request ids", fresh, len(ids))
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history WHERE line_number = $1 AND target_product_code = 'LTE-BASIC-001'`, line01); n != 1 {
		t.Fatalf("%d history rows for one keyed request", n)
	}
}

func TestIdempotencyKeyLifetime(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	h := requestHash(upgrade)
	if st, _, err := r.p.reserveKey(ctx, "u1", "k", h); err != nil || st != keyNew {
		t.Fatalf("first reservation: %v %v", st, err)
	}
	if st, _, err := r.p.reserveKey(ctx, "u1", "k", h); err != nil || st != keyInProgress {
		t.Fatalf("while running: %v %v", st, err)
	}
	if err := r.p.completeKey(ctx, "u1", "k", storedAnswer{Status: 200, Body: []byte(`{"success":true}`)}); err != nil {
		t.Fatal(err)
	}
	if st, a, err := r.p.reserveKey(ctx, "u1", "k", h); err != nil || st != keyReplay || a.Status != 200 || string(a.Body) != `{"success": true}` {
		t.Fatalf("finished: %v %+v %v", st, a, err)
	}
	// An unanswered reservation outlives no request: taken over after it.
	if st, _, _ := r.p.reserveKey(ctx, "u1", "stuck", h); st != keyNew {
		t.Fatal("stuck reservation not made")
	}
	r.clock.Advance(r.p.abandonedAfter() + time.Second)
	if st, _, err := r.p.reserveKey(ctx, "u1", "stuck", h); err != nil || st != keyNew {
		t.Fatalf("abandoned reservation: %v %v", st, err)
	}
	// After 24 h a key is forgotten.
	r.clock.Advance(24 * time.Hour)
	if st, _, err := r.p.reserveKey(ctx, "u1", "k", requestHash(ChangeRequest{LineNumber: line01})); err != nil || st != keyNew {
		t.Fatalf("expired key: %v %v", st, err)
	}
}

// TestChangeWithKOSDownIsASystemFailure: with KOS unreachable and nothing
// cached for the pre-checks, the change ends FAILED with KOS's system code
// and message — VALIDATION_FAILED is kept for business refusals — and the
// result page's fields are all there.
func TestChangeWithKOSDownIsASystemFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	r := newRig(t, rigOptions{kos: func(k *config.KOS) { k.BaseURL = dead; k.TimeoutMS = 500 }})
	res, cr := r.change(t, r.token(t, "testuser01"), upgrade)
	if !res.Env.Success || res.Env.ResultCode != CodeKOSUnavailable || res.Env.Message != MsgKOSUnavailable ||
		cr.ProcessStatus != StatusFailed || cr.ResultCode != CodeKOSUnavailable || cr.ResultMessage != MsgKOSUnavailable ||
		cr.RequestID == "" || !localTime.MatchString(cr.ProcessedAt) {
		t.Fatalf("change with KOS down: %s", res.Raw)
	}
	if n := r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history
		WHERE process_status = 'FAILED' AND result_code = 'KOS_SERVICE_UNAVAILABLE'`); n != 1 {
		t.Fatalf("%d FAILED KOS_SERVICE_UNAVAILABLE rows, want 1", n)
	}
}

// TestParallelChangesOfOneLineSerialise: ten identical changes of one line
// sent at once, without an Idempotency-Key, make exactly one change at KOS,
// one COMPLETED row and one product.changed; the others are refused with
// 409 CHANGE_IN_PROGRESS (or, arriving after the first finished, refused by
// KOS because the line no longer has their current product).
func TestParallelChangesOfOneLineSerialise(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	tok := r.token(t, "testuser01")
	r.do(t, "GET", "/api/v1/products/customer?lineNumber="+line01, tok, nil).want(t, http.StatusOK, "")
	const n = 10
	answers := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = r.do(t, "POST", "/api/v1/products/change", tok, upgrade, "X-Mock-Scenario", "success")
		})
	}
	close(start)
	wg.Wait()
	completed, refused := 0, 0
	for _, a := range answers {
		var cr ChangeResult
		if a.Status == http.StatusOK {
			a.data(t, &cr)
		}
		switch {
		case a.Status == http.StatusConflict && a.Env.ResultCode == CodeChangeInProgress && a.Env.Message == MsgChangeInProgress:
			refused++
		case cr.ProcessStatus == StatusCompleted:
			completed++
		case cr.ProcessStatus == StatusFailed:
			refused++ // after the first completed: KOS 2006, or the pre-check on the fresh cache
		default:
			t.Fatalf("unexpected answer %d %s", a.Status, a.Raw)
		}
	}
	if completed != 1 || refused != n-1 {
		t.Fatalf("%d completed, %d refused, want 1 and %d", completed, refused, n-1)
	}
	if k := r.count(t, `SELECT count(*) FROM kos_mock.processing_results WHERE status = 'SUCCESS'`); k != 1 {
		t.Fatalf("%d changes applied at KOS, want 1", k)
	}
	if c := r.count(t, `SELECT count(*) FROM product_change.pc_product_change_history WHERE process_status = 'COMPLETED'`); c != 1 {
		t.Fatalf("%d COMPLETED rows, want 1", c)
	}
	r.h.Broker.Wait(context.Background())
	if e := len(r.probe.of(events.TypeProductChanged)); e != 1 {
		t.Fatalf("%d product.changed events, want 1", e)
	}
}
