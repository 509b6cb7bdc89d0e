package kosmock

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// CreateMockData creates the KOS customer of a new sign-up and six months
// of bills (SPEC §3.4.7, §5.6). The same customer and line again returns
// what exists (bill_count_created 0) so a retried click succeeds; a line of
// another customer is a 400 (errorCode 4000).
func (m *Mock) CreateMockData(ctx context.Context, customerID, line string) (MockCreated, error) {
	var out MockCreated
	err := db.InTx(ctx, m.pool, func(tx pgx.Tx) error {
		existing, err := getCustomer(ctx, tx, line, false)
		if err != nil {
			return err
		}
		if existing != nil {
			out, err = m.existingMockData(ctx, tx, existing, customerID)
			return err
		}
		ps, err := listProducts(ctx, tx, true, mockOperator)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return &httpx.Error{Kind: httpx.KindInternal, Code: codeMockServerError, Message: msgMockNoActiveProduct}
		}
		p := m.chooseProduct(ps)
		now := m.clock()
		contract := minusMonths(now, 1+m.rnd.IntN(mockContractMaxMonthsAgo))
		tag, err := tx.Exec(ctx, `INSERT INTO kos_mock.customers (line_number, customer_id, customer_name,
			operator_code, current_product_code, line_status, contract_date)
			VALUES ($1, $2, $3, $4, $5, 'ACTIVE', $6::timestamp)
			ON CONFLICT DO NOTHING`,
			line, customerID, mockCustomerName, mockOperator, p.Code, contract.Format("2006-01-02 15:04:05"))
		if err != nil {
			return db.Wrap("insert mock customer", err)
		}
		if tag.RowsAffected() == 0 {
			// A concurrent creation committed first (ON CONFLICT waited).
			if existing, err = getCustomer(ctx, tx, line, false); err != nil {
				return err
			}
			if existing == nil {
				return &httpx.Error{Kind: httpx.KindInvalid, Code: codeMockBadRequest, Message: msgMockLineTaken + line}
			}
			out, err = m.existingMockData(ctx, tx, existing, customerID)
			return err
		}
		var bills []bill
		for _, mo := range recentMonths(now) {
			bills = append(bills, m.inventBill(line, mo, &p))
		}
		n, err := insertBills(ctx, tx, bills)
		if err != nil {
			return err
		}
		out = MockCreated{CustomerID: customerID, LineNumber: line, CurrentProductCode: p.Code,
			CurrentProductName: p.Name, BillCountCreated: n, Message: msgMockCreated}
		return nil
	})
	if err != nil {
		return MockCreated{}, mockError(err)
	}
	return out, nil
}

// existingMockData answers a repeated creation: the same customer gets what
// exists, another customer is refused.
func (m *Mock) existingMockData(ctx context.Context, q querier, c *customer, customerID string) (MockCreated, error) {
	if c.CustomerID != customerID {
		return MockCreated{}, &httpx.Error{Kind: httpx.KindInvalid, Code: codeMockBadRequest, Message: msgMockLineTaken + c.Line}
	}
	out := MockCreated{CustomerID: c.CustomerID, LineNumber: c.Line, CurrentProductCode: c.ProductCode,
		BillCountCreated: 0, Message: msgMockExists}
	p, err := getProduct(ctx, q, c.ProductCode)
	if err != nil {
		return MockCreated{}, err
	}
	if p != nil {
		out.CurrentProductName = p.Name
	}
	return out, nil
}

// chooseProduct is the Java rule of §5.6 over ACTIVE products of the
// operator, most expensive first: usually the first 베이직/스탠다드 plan,
// otherwise a uniformly random one.
func (m *Mock) chooseProduct(ps []product) product {
	if m.rnd.Float64() < mockPreferredProductChance {
		for _, p := range ps {
			if strings.Contains(p.Name, "베이직") || strings.Contains(p.Name, "스탠다드") {
				return p
			}
		}
	}
	return ps[m.rnd.IntN(len(ps))]
}

// mockError keeps the SPEC's errors and 503s and hides anything else behind
// the creation failure message (errorCode 5000).
func mockError(err error) error {
	e := httpx.AsError(err)
	if e.Kind != httpx.KindInternal || e.Code == codeMockServerError {
		return e
	}
	return &httpx.Error{Kind: httpx.KindInternal, Code: codeMockServerError, Message: msgMockCreateFailed, Err: err}
}

// CustomerProduct answers the mock-datas product look-up (SPEC §3.4.8).
func (m *Mock) CustomerProduct(ctx context.Context, customerID, line string) (MockProduct, error) {
	c, err := getCustomerOf(ctx, m.pool, customerID, line)
	if err != nil {
		return MockProduct{}, err
	}
	var p *product
	if c != nil {
		if p, err = getProduct(ctx, m.pool, c.ProductCode); err != nil {
			return MockProduct{}, err
		}
	}
	if c == nil || p == nil {
		return MockProduct{}, httpx.NotFound(codeMockProductNotFound, msgMockProductNotFound)
	}
	return MockProduct{CustomerID: c.CustomerID, LineNumber: c.Line, OperatorCode: c.Operator,
		LineStatus: c.Status, ContractDate: c.ContractDate, CurrentProductCode: p.Code, CurrentProductName: p.Name,
		MonthlyFee: p.MonthlyFee, DataAllowance: p.Data, VoiceAllowance: p.Voice, SMSAllowance: p.SMS,
		ProductStatus: p.Status}, nil
}

// CustomerBills answers the mock-datas bill look-up (SPEC §3.4.9).
func (m *Mock) CustomerBills(ctx context.Context, customerID, line string) (MockBills, error) {
	c, err := getCustomerOf(ctx, m.pool, customerID, line)
	if err != nil {
		return MockBills{}, err
	}
	var bs []bill
	if c != nil {
		if bs, err = listBills(ctx, m.pool, line); err != nil {
			return MockBills{}, err
		}
	}
	if len(bs) == 0 {
		return MockBills{}, httpx.NotFound(codeMockBillsNotFound, msgMockBillsNotFound)
	}
	out := MockBills{CustomerID: customerID, LineNumber: line, BillCount: len(bs), Bills: make([]MockBill, 0, len(bs))}
	for _, b := range bs {
		out.Bills = append(out.Bills, MockBill{BillingMonth: b.Month, ProductCode: b.ProductCode,
			ProductName: b.ProductName, MonthlyFee: b.MonthlyFee, UsageFee: b.UsageFee,
			DiscountAmount: b.DiscountAmount, TotalFee: b.TotalFee, DataUsage: b.DataUsage,
			VoiceUsage: b.VoiceUsage, SMSUsage: b.SMSUsage, BillStatus: b.Status, DueDate: b.DueDate})
	}
	return out, nil
}

// minusMonths goes back n calendar months, clamping the day to the target
// month's last day (Mar 31 − 1 month = Feb 28/29, not Mar 3).
func minusMonths(t time.Time, n int) time.Time {
	first := time.Date(t.Year(), t.Month(), 1, t.Hour(), t.Minute(), t.Second(), 0, t.Location()).AddDate(0, -n, 0)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(t.Day(), last)-1)
}
