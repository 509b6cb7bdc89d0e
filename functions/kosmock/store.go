package kosmock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"phonebill/shared/db"
)

// querier is what the store reads through: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// customer is one kos_mock.customers row.
type customer struct {
	Line         string
	CustomerID   string
	Name         string
	Operator     string
	ProductCode  string
	Status       string
	ContractDate string // yyyy-MM-ddTHH:mm:ss, Asia/Seoul wall clock
}

// product is one kos_mock.products row.
type product struct {
	Code        string
	Name        string
	MonthlyFee  int
	Data        string
	Voice       string
	SMS         string
	Operator    string
	Network     string
	Status      string
	Description string
}

// bill is one kos_mock.bills row.
type bill struct {
	Line           string
	Month          string // YYYYMM
	ProductCode    string
	ProductName    string
	MonthlyFee     int
	UsageFee       int
	DiscountAmount int
	TotalFee       int
	DataUsage      string
	VoiceUsage     string
	SMSUsage       string
	Status         string
	DueDate        string // YYYYMMDD
}

// TIMESTAMP columns hold Asia/Seoul wall clock (SPEC §10.2); formatting them
// in SQL avoids pgx's UTC reading.
const customerColumns = `line_number, customer_id, coalesce(customer_name, ''), operator_code,
	current_product_code, line_status, to_char(contract_date, 'YYYY-MM-DD"T"HH24:MI:SS')`

func scanCustomer(row pgx.Row) (*customer, error) {
	var c customer
	err := row.Scan(&c.Line, &c.CustomerID, &c.Name, &c.Operator, &c.ProductCode, &c.Status, &c.ContractDate)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// getCustomer returns the line's customer, nil when the line is unknown;
// forUpdate locks the row for the rest of the transaction.
func getCustomer(ctx context.Context, q querier, line string, forUpdate bool) (*customer, error) {
	sql := `SELECT ` + customerColumns + ` FROM kos_mock.customers WHERE line_number = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	c, err := scanCustomer(q.QueryRow(ctx, sql, line))
	if err != nil {
		return nil, db.Wrap("read customer", err)
	}
	return c, nil
}

// getCustomerOf returns the customer holding line only if it is customerID's.
func getCustomerOf(ctx context.Context, q querier, customerID, line string) (*customer, error) {
	c, err := scanCustomer(q.QueryRow(ctx, `SELECT `+customerColumns+`
		FROM kos_mock.customers WHERE customer_id = $1 AND line_number = $2`, customerID, line))
	if err != nil {
		return nil, db.Wrap("read customer", err)
	}
	return c, nil
}

const productColumns = `product_code, product_name, monthly_fee, coalesce(data_allowance, ''),
	coalesce(voice_allowance, ''), coalesce(sms_allowance, ''), operator_code, network_type, status,
	coalesce(description, '')`

func scanProduct(row pgx.Row) (product, error) {
	var p product
	err := row.Scan(&p.Code, &p.Name, &p.MonthlyFee, &p.Data, &p.Voice, &p.SMS, &p.Operator, &p.Network,
		&p.Status, &p.Description)
	return p, err
}

// getProduct returns the product, nil when the code is unknown.
func getProduct(ctx context.Context, q querier, code string) (*product, error) {
	p, err := scanProduct(q.QueryRow(ctx, `SELECT `+productColumns+` FROM kos_mock.products WHERE product_code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Wrap("read product", err)
	}
	return &p, nil
}

// listProducts returns products, the most expensive first; onlyActive and
// operator ("" = any) filter them.
func listProducts(ctx context.Context, q querier, onlyActive bool, operator string) ([]product, error) {
	rows, err := q.Query(ctx, `SELECT `+productColumns+` FROM kos_mock.products
		WHERE (NOT $1 OR status = 'ACTIVE') AND ($2 = '' OR operator_code = $2)
		ORDER BY monthly_fee DESC, product_code`, onlyActive, operator)
	if err != nil {
		return nil, db.Wrap("list products", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (product, error) { return scanProduct(r) })
	if err != nil {
		return nil, db.Wrap("list products", err)
	}
	return ps, nil
}

const billColumns = `line_number, billing_month, coalesce(product_code, ''), coalesce(product_name, ''),
	coalesce(monthly_fee, 0), coalesce(usage_fee, 0), discount_amount, coalesce(total_fee, 0),
	coalesce(data_usage, ''), coalesce(voice_usage, ''), coalesce(sms_usage, ''), bill_status,
	coalesce(due_date, '')`

func scanBill(row pgx.Row) (bill, error) {
	var b bill
	err := row.Scan(&b.Line, &b.Month, &b.ProductCode, &b.ProductName, &b.MonthlyFee, &b.UsageFee,
		&b.DiscountAmount, &b.TotalFee, &b.DataUsage, &b.VoiceUsage, &b.SMSUsage, &b.Status, &b.DueDate)
	return b, err
}

// getBill returns the line's bill of month (YYYYMM), nil when there is none.
func getBill(ctx context.Context, q querier, line, month string) (*bill, error) {
	b, err := scanBill(q.QueryRow(ctx, `SELECT `+billColumns+` FROM kos_mock.bills
		WHERE line_number = $1 AND billing_month = $2`, line, month))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Wrap("read bill", err)
	}
	return &b, nil
}

// listBills returns the line's bills, newest first.
func listBills(ctx context.Context, q querier, line string) ([]bill, error) {
	rows, err := q.Query(ctx, `SELECT `+billColumns+` FROM kos_mock.bills
		WHERE line_number = $1 ORDER BY billing_month DESC`, line)
	if err != nil {
		return nil, db.Wrap("list bills", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bill, error) { return scanBill(r) })
	if err != nil {
		return nil, db.Wrap("list bills", err)
	}
	return bs, nil
}

// billMonths returns the distinct months (YYYYMM) the line has bills for,
// newest first; within, when not nil, restricts them.
func billMonths(ctx context.Context, q querier, line string, within []string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT billing_month::text FROM kos_mock.bills
		WHERE line_number = $1 AND ($2::text[] IS NULL OR billing_month::text = ANY($2::text[]))
		ORDER BY 1 DESC`, line, within)
	if err != nil {
		return nil, db.Wrap("list bill months", err)
	}
	ms, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, db.Wrap("list bill months", err)
	}
	return ms, nil
}

// execer is what inserts need: the pool or a transaction.
type execer interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// insertBills adds bills, skipping months that exist (a concurrent
// generator may have won), and returns how many it inserted.
func insertBills(ctx context.Context, x execer, bills []bill) (int, error) {
	if len(bills) == 0 {
		return 0, nil
	}
	batch := &pgx.Batch{}
	for _, b := range bills {
		batch.Queue(`INSERT INTO kos_mock.bills (line_number, billing_month, product_code, product_name,
			monthly_fee, usage_fee, discount_amount, total_fee, data_usage, voice_usage, sms_usage, bill_status, due_date)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (line_number, billing_month) DO NOTHING`,
			b.Line, b.Month, b.ProductCode, b.ProductName, b.MonthlyFee, b.UsageFee, b.DiscountAmount,
			b.TotalFee, b.DataUsage, b.VoiceUsage, b.SMSUsage, b.Status, b.DueDate)
	}
	br := x.SendBatch(ctx, batch)
	defer br.Close()
	n := 0
	for range bills {
		tag, err := br.Exec()
		if err != nil {
			return n, db.Wrap("insert bills", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, db.Wrap("insert bills", br.Close())
}

// storedAnswer returns the answer stored for a product-change requestId
// (processing_results holds only product changes).
func storedAnswer(ctx context.Context, q querier, requestID string) (*Answer, error) {
	var raw []byte
	err := q.QueryRow(ctx, `SELECT response FROM kos_mock.processing_results WHERE request_id = $1`, requestID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Wrap("read processing result", err)
	}
	// JSONB reorders keys: decoding into the answer's own types makes the
	// replay byte-identical to the first answer (traceId aside).
	var a struct {
		Answer
		Data *ChangeData `json:"data,omitempty"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decode stored answer %s: %w", requestID, err)
	}
	ans := a.Answer
	ans.Data = nil
	if a.Data != nil {
		ans.Data = a.Data
	}
	return &ans, nil
}
