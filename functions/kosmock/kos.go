package kosmock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// Mock is the carrier core's business logic over schema kos_mock: every
// answer is an Answer (success or a KOS refusal); errors are failures of the
// mock itself (database down, bugs).
type Mock struct {
	pool *pgxpool.Pool
	now  func() time.Time
	rnd  *lockedRand
	log  *slog.Logger
}

// NewMock builds the logic over pool; now is the clock, seed (0 = random)
// makes the invented data repeatable.
func NewMock(pool *pgxpool.Pool, now func() time.Time, seed int64, lg *slog.Logger) *Mock {
	if lg == nil {
		lg = slog.Default()
	}
	return &Mock{pool: pool, now: now, rnd: newLockedRand(seed), log: lg}
}

func (m *Mock) clock() time.Time { return m.now().In(httpx.Seoul()) }

func (m *Mock) answer(msg string, data any) Answer {
	return Answer{Success: true, ResultCode: codeOK, ResultMessage: msg, Data: data, Timestamp: httpx.LocalTime(m.now())}
}

func (m *Mock) refuse(code, msg string) Answer {
	return Answer{Success: false, ResultCode: code, ResultMessage: msg, Timestamp: httpx.LocalTime(m.now())}
}

// SystemError is the answer of a simulated KOS failure (SPEC §5.5).
func (m *Mock) SystemError() Answer { return m.refuse(codeSystemError, msgSystemError) }

func customerInfo(c *customer) CustomerInfo {
	return CustomerInfo{CustomerName: c.Name, CustomerID: c.CustomerID, OperatorCode: c.Operator, LineStatus: c.Status}
}

// BillInquiry answers one month's bill (month YYYYMM; "" = the current
// month), generating missing recent months first (SPEC §3.4.1, §3.4.2).
func (m *Mock) BillInquiry(ctx context.Context, line, month, requestID string) (Answer, error) {
	c, err := getCustomer(ctx, m.pool, line, false)
	if err != nil {
		return Answer{}, err
	}
	if c == nil {
		return m.refuse(codeBillLineNotFound, msgLineNotFound), nil
	}
	if c.Status != statusActive {
		return m.refuse(codeBillLineInactive, msgLineInactive), nil
	}
	recent := recentMonths(m.clock())
	if month == "" {
		month = recent[0]
	}
	b, err := getBill(ctx, m.pool, line, month)
	if err != nil {
		return Answer{}, err
	}
	if b == nil && slices.Contains(recent, month) {
		if err := m.ensureRecentBills(ctx, c); err != nil {
			return Answer{}, err
		}
		if b, err = getBill(ctx, m.pool, line, month); err != nil {
			return Answer{}, err
		}
	}
	if b == nil {
		return m.refuse(codeBillNotFound, msgBillNotFound), nil
	}
	return m.answer(msgBillInquiryDone, BillInquiryData{
		RequestID: requestID, ProcStatus: procStatusSuccess, ResultCode: codeOK, ResultMessage: msgOK,
		BillInfo: BillInfo{LineNumber: b.Line, BillingMonth: b.Month, ProductCode: b.ProductCode,
			ProductName: b.ProductName, MonthlyFee: b.MonthlyFee, UsageFee: b.UsageFee,
			DiscountAmount: b.DiscountAmount, TotalFee: b.TotalFee, DataUsage: b.DataUsage,
			VoiceUsage: b.VoiceUsage, SMSUsage: b.SMSUsage, BillStatus: b.Status, DueDate: b.DueDate},
		CustomerInfo: customerInfo(c),
	}), nil
}

// AvailableMonths lists the months (YYYY-MM, newest first) the line has
// bills for, after generating missing recent months (SPEC §3.4.2).
func (m *Mock) AvailableMonths(ctx context.Context, line string) (Answer, error) {
	c, err := getCustomer(ctx, m.pool, line, false)
	if err != nil {
		return Answer{}, err
	}
	if c == nil {
		return m.refuse(codeBillLineNotFound, msgLineNotFound), nil
	}
	if c.Status != statusActive {
		return m.refuse(codeBillLineInactive, msgLineInactive), nil
	}
	if err := m.ensureRecentBills(ctx, c); err != nil {
		return Answer{}, err
	}
	months, err := billMonths(ctx, m.pool, line, nil)
	if err != nil {
		return Answer{}, err
	}
	out := make([]string, 0, len(months))
	for _, mo := range months {
		if len(mo) == 6 {
			out = append(out, mo[:4]+"-"+mo[4:])
		}
	}
	return m.answer(msgMonthsDone, MonthsData{ResultCode: codeOK, ResultMessage: msgOK, LineNumber: line,
		AvailableMonths: out}), nil
}

// ensureRecentBills generates each missing month among the current month
// and the 5 before it with the line's current product and the §5.6 rules.
// Concurrent callers may both generate; ON CONFLICT keeps the first.
func (m *Mock) ensureRecentBills(ctx context.Context, c *customer) error {
	recent := recentMonths(m.clock())
	have, err := billMonths(ctx, m.pool, c.Line, recent)
	if err != nil {
		return err
	}
	if len(have) == len(recent) {
		return nil
	}
	p, err := getProduct(ctx, m.pool, c.ProductCode)
	if err != nil || p == nil {
		return err // without a product there is nothing to bill: the month answers 1003
	}
	var missing []bill
	for _, mo := range recent {
		if !slices.Contains(have, mo) {
			missing = append(missing, m.inventBill(c.Line, mo, p))
		}
	}
	n, err := insertBills(ctx, m.pool, missing)
	if err != nil {
		return err
	}
	m.log.InfoContext(ctx, "generated missing recent bills", "line", maskLine(c.Line), "months", n)
	return nil
}

// inventBill makes one month's bill for product p by the rules of §5.6.
func (m *Mock) inventBill(line, month string, p *product) bill {
	usage := m.rnd.IntN(mockUsageFeeBound)
	return bill{
		Line: line, Month: month, ProductCode: p.Code, ProductName: p.Name, MonthlyFee: p.MonthlyFee,
		UsageFee: usage, DiscountAmount: 0, TotalFee: p.MonthlyFee + usage,
		DataUsage:  fmt.Sprintf("%dGB", m.rnd.IntN(usageBound(p.Data, mockUnlimitedDataBound))),
		VoiceUsage: fmt.Sprintf("%d분", m.rnd.IntN(usageBound(p.Voice, mockUnlimitedVoiceBound))),
		SMSUsage:   fmt.Sprintf("%d건", m.rnd.IntN(mockSMSBound)),
		Status:     billStatusConfirmed, DueDate: dueDate(month),
	}
}

// usageBound is the exclusive upper bound of invented usage under an
// allowance (unlimited → the mock's stand-in bound).
func usageBound(allowance string, unlimitedBound int) int {
	n := allowanceNumber(allowance)
	if n < 0 {
		return unlimitedBound
	}
	return n
}

// recentMonths are the current month and the 5 before it (YYYYMM), newest first.
func recentMonths(now time.Time) []string {
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	out := make([]string, mockRecentMonths)
	for i := range out {
		out[i] = first.AddDate(0, -i, 0).Format("200601")
	}
	return out
}

// dueDate is the 25th of the month after month (YYYYMM → YYYYMMDD).
func dueDate(month string) string {
	t, err := time.Parse("200601", month)
	if err != nil {
		return ""
	}
	return time.Date(t.Year(), t.Month()+1, mockDueDay, 0, 0, 0, 0, time.UTC).Format("20060102")
}

// ProductInquiry answers the line's current product (SPEC §3.4.3).
func (m *Mock) ProductInquiry(ctx context.Context, line, requestID string) (Answer, error) {
	c, err := getCustomer(ctx, m.pool, line, false)
	if err != nil {
		return Answer{}, err
	}
	if c == nil {
		return m.refuse(codeProductLineNotFound, msgLineNotFound), nil
	}
	if c.Status != statusActive {
		return m.refuse(codeProductLineInactive, msgLineInactive), nil
	}
	p, err := getProduct(ctx, m.pool, c.ProductCode)
	if err != nil {
		return Answer{}, err
	}
	if p == nil {
		return m.refuse(codeProductNotFound, msgProductNotFound), nil
	}
	return m.answer(msgProductInquiryDone, ProductInquiryData{
		RequestID: requestID, ProcStatus: procStatusSuccess, ResultCode: codeOK, ResultMessage: msgOK,
		ProductInfo: ProductInfo{LineNumber: c.Line, CurrentProductCode: p.Code, CurrentProductName: p.Name,
			MonthlyFee: p.MonthlyFee, DataAllowance: p.Data, VoiceAllowance: p.Voice, SMSAllowance: p.SMS,
			ProductStatus: p.Status, ContractDate: c.ContractDate},
		CustomerInfo: customerInfo(c),
	}), nil
}

// CustomerInfo answers the line's customer and product for any line status
// (SPEC §3.4.4).
func (m *Mock) CustomerInfo(ctx context.Context, line string) (Answer, error) {
	c, err := getCustomer(ctx, m.pool, line, false)
	if err != nil {
		return Answer{}, err
	}
	if c == nil {
		return m.refuse(codeProductLineNotFound, msgLineNotFound), nil
	}
	p, err := getProduct(ctx, m.pool, c.ProductCode)
	if err != nil {
		return Answer{}, err
	}
	d := CustomerInfoData{CustomerID: c.CustomerID, CustomerName: c.Name, LineNumber: c.Line,
		OperatorCode: c.Operator, LineStatus: c.Status, ContractDate: c.ContractDate}
	if p != nil {
		d.CurrentProduct = &CurrentProduct{ProductCode: p.Code, ProductName: p.Name, MonthlyFee: p.MonthlyFee,
			DataAllowance: p.Data, VoiceAllowance: p.Voice, SMSAllowance: p.SMS, OperatorCode: p.Operator,
			NetworkType: p.Network, Status: p.Status, Description: p.Description}
	}
	return m.answer(msgCustomerInfoDone, d), nil
}

// ProductList answers every product, any status (SPEC §3.4.6).
func (m *Mock) ProductList(ctx context.Context) (Answer, error) {
	ps, err := listProducts(ctx, m.pool, false, "")
	if err != nil {
		return Answer{}, err
	}
	out := make([]ListedProduct, 0, len(ps))
	for _, p := range ps {
		out = append(out, ListedProduct{ProductCode: p.Code, ProductName: p.Name, ProductType: p.Network,
			MonthlyFee: p.MonthlyFee, DataAllowance: allowanceNumber(p.Data), VoiceAllowance: allowanceNumber(p.Voice),
			SMSAllowance: allowanceNumber(p.SMS), DataAllowanceText: p.Data, VoiceAllowanceText: p.Voice,
			SMSAllowanceText: p.SMS, OperatorCode: p.Operator, NetworkType: p.Network, Status: p.Status,
			Description: p.Description})
	}
	return m.answer(msgProductListDone, ProductListData{ResultCode: codeOK, ResultMessage: msgProductListDone,
		ProductCount: len(out), Products: out}), nil
}

// ChangeRequest is a validated product change.
type ChangeRequest struct {
	Line, CurrentProductCode, TargetProductCode, RequestID string
}

// errUpdateFailed rolls a change back when the customer row vanished
// between the lock and the update.
var errUpdateFailed = errors.New("customer product update affected no row")

// ChangeProduct applies a change once per requestId (SPEC §3.4.5): the
// first request claims the id in processing_results, runs the checks in
// order and, in the same transaction, updates the line's product and stores
// the full answer; any later request with that id (a concurrent one waits for
// the first to commit) gets the stored answer and changes nothing. started
// is when the request arrived (processing_time_ms).
func (m *Mock) ChangeProduct(ctx context.Context, req ChangeRequest, started time.Time) (Answer, error) {
	if a, err := storedAnswer(ctx, m.pool, req.RequestID); err != nil || a != nil {
		if a != nil {
			return *a, nil
		}
		return Answer{}, err
	}
	var ans Answer
	var replay bool
	err := db.InTx(ctx, m.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO kos_mock.processing_results
			(request_id, processing_type, line_number, status, response, requested_at)
			VALUES ($1, $2, $3, 'PROCESSING', '{}'::jsonb, $4::timestamp)
			ON CONFLICT (request_id) DO NOTHING`,
			req.RequestID, processingTypeChange, req.Line, started.In(db.Seoul).Format("2006-01-02 15:04:05.999999"))
		if err != nil {
			return db.Wrap("claim request id", err)
		}
		if tag.RowsAffected() == 0 {
			// Another request holds the id and has committed (ON CONFLICT
			// waited for it): replay what it stored.
			a, err := storedAnswer(ctx, tx, req.RequestID)
			if err != nil {
				return err
			}
			if a == nil {
				return fmt.Errorf("request id %s claimed but not stored", req.RequestID)
			}
			ans, replay = *a, true
			return nil
		}
		ans, err = m.applyChange(ctx, tx, req)
		if err != nil {
			return err
		}
		status := processingStatusSuccess
		if ans.Refused() {
			status = processingStatusRefused
		}
		raw, err := json.Marshal(ans)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE kos_mock.processing_results
			SET status = $2, message = $3, response = $4::jsonb,
			    completed_at = clock_timestamp() AT TIME ZONE 'Asia/Seoul', processing_time_ms = $5
			WHERE request_id = $1`,
			req.RequestID, status, ans.ResultMessage, string(raw), int(time.Since(started).Milliseconds()))
		return db.Wrap("store processing result", err)
	})
	if errors.Is(err, errUpdateFailed) {
		// Nothing changed and nothing stored: a retry is processed anew.
		return m.refuse(codeChangeFailed, msgChangeFailed), nil
	}
	if err != nil {
		return Answer{}, err
	}
	if replay {
		m.log.InfoContext(ctx, "product change replayed", "request_id", req.RequestID)
	}
	return ans, nil
}

// applyChange runs the checks of §3.4.5 in order and applies the change;
// refusals are answers, errUpdateFailed rolls back.
func (m *Mock) applyChange(ctx context.Context, tx pgx.Tx, req ChangeRequest) (Answer, error) {
	c, err := getCustomer(ctx, tx, req.Line, true)
	if err != nil {
		return Answer{}, err
	}
	if c == nil {
		return m.refuse(codeChangeLineNotFound, msgLineNotFound), nil
	}
	if c.Status != statusActive {
		return m.refuse(codeChangeLineInactive, msgLineInactive), nil
	}
	cur, err := getProduct(ctx, tx, req.CurrentProductCode)
	if err != nil {
		return Answer{}, err
	}
	tgt, err := getProduct(ctx, tx, req.TargetProductCode)
	if err != nil {
		return Answer{}, err
	}
	if cur == nil || tgt == nil {
		return m.refuse(codeChangeNoProduct, msgNoProduct), nil
	}
	if tgt.Status != statusActive {
		return m.refuse(codeChangeDiscontinued, msgDiscontinued), nil
	}
	// The request's current product (Java's check) and the line itself must
	// both be of the target's operator.
	if cur.Operator != tgt.Operator || c.Operator != tgt.Operator {
		return m.refuse(codeChangeOtherOperator, msgOtherOperator), nil
	}
	// A change is made from the product the line has, as a carrier core
	// does: a request built on a stale view (or a second, concurrent change)
	// is refused rather than applied over what it did not see.
	if c.ProductCode != cur.Code {
		return m.refuse(codeChangeNotCurrent, msgNotCurrent), nil
	}
	prev := cur
	tag, err := tx.Exec(ctx, `UPDATE kos_mock.customers SET current_product_code = $2, updated_at = now() AT TIME ZONE 'Asia/Seoul'
		WHERE line_number = $1`, req.Line, tgt.Code)
	if err != nil {
		return Answer{}, db.Wrap("update customer product", err)
	}
	if tag.RowsAffected() != 1 {
		return Answer{}, errUpdateFailed
	}
	now := m.clock()
	return m.answer(msgChangeDone, ChangeData{
		RequestID: req.RequestID, ResultCode: codeOK, ResultMessage: msgOK,
		ChangeInfo: ChangeInfo{LineNumber: c.Line, PreviousProductCode: prev.Code, PreviousProductName: prev.Name,
			NewProductCode: tgt.Code, NewProductName: tgt.Name, EffectiveDate: now.Format("20060102"),
			ChangeStatus:            changeStatusSuccess,
			KOSOrderNumber:          fmt.Sprintf("%s%s%03d", mockOrderPrefix, now.Format("200601021504"), m.rnd.IntN(1000)),
			EstimatedCompletionTime: httpx.FormatLocal(now.Add(mockCompletionDelay))},
	}), nil
}

// maskLine hides the middle digits of a line in logs.
func maskLine(line string) string {
	if len(line) != 11 {
		return strings.Repeat("*", len(line))
	}
	return line[:3] + "****" + line[7:]
}
