package product

import (
	"slices"
	"strings"
	"time"
)

// Process statuses of a change request (SPEC §6.3).
const (
	StatusRequested  = "REQUESTED"
	StatusValidated  = "VALIDATED"
	StatusProcessing = "PROCESSING"
	StatusPending    = "PENDING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
)

// Result codes and messages of a change (SPEC §3.3.4, §5.4, §10.6).
const (
	CodeOK               = "0000"
	CodeValidationFailed = "VALIDATION_FAILED"
	CodePending          = "KOS_PENDING"
	CodeUnresolved       = "KOS_UNRESOLVED"
	// CodeInterrupted ends a request that died before reaching KOS (the
	// relay's recovery; SPEC is silent on it).
	CodeInterrupted = "INTERRUPTED"

	// CodeChangeInProgress refuses a change while another one of the same
	// line is in flight (409; migration 00008 keeps one per line).
	CodeChangeInProgress = "CHANGE_IN_PROGRESS"
	MsgChangeInProgress  = "이 회선의 상품 변경이 이미 처리 중입니다. 완료된 후 다시 시도해주세요"

	MsgCompleted   = "상품 변경이 완료되었습니다"
	MsgPending     = "상품 변경 요청이 접수되어 처리 중입니다. 잠시 후 현재 요금제를 다시 확인해주세요"
	MsgUnresolved  = "KOS 시스템 연동 중 오류가 발생했습니다"
	MsgInterrupted = "요청 처리가 중단되었습니다. 다시 시도해주세요"
)

// Business failure codes of the read endpoints (HTTP 200, success:false).
const (
	CodeCustomerNotFound = "CUSTOMER_NOT_FOUND"
	CodeKOSUnavailable   = "KOS_SERVICE_UNAVAILABLE"

	MsgCustomerNotFound = "고객 정보를 찾을 수 없습니다"
	MsgKOSUnavailable   = "KOS 시스템이 일시적으로 사용할 수 없습니다."
)

// Product statuses and line statuses as KOS holds them.
const (
	ProductActive   = "ACTIVE"
	LineActive      = "ACTIVE"
	LineSuspended   = "SUSPENDED"
	LineTerminated  = "TERMINATED"
	dateLayout      = "2006-01-02"
	kosDateLayout   = "2006-01-02T15:04:05"
	maxProductCode  = 50
	historyMaxYears = 2
)

// ProductInfo is the product object of every product response (SPEC §3.3).
// Allowances are KOS's texts (무제한, 100GB, 기본 제공).
type ProductInfo struct {
	ProductCode    string `json:"productCode"`
	ProductName    string `json:"productName"`
	MonthlyFee     int    `json:"monthlyFee"`
	DataAllowance  string `json:"dataAllowance"`
	VoiceAllowance string `json:"voiceAllowance"`
	SMSAllowance   string `json:"smsAllowance"`
	OperatorCode   string `json:"operatorCode"`
	Description    string `json:"description,omitempty"`
	Available      bool   `json:"available"`
}

// Product is one catalog entry as the Product service caches it
// (`product:catalog`), converted from KOS's snake_case list.
type Product struct {
	Code        string `json:"code"`
	Name        string `json:"name"`
	MonthlyFee  int    `json:"monthlyFee"`
	Data        string `json:"data"`
	Voice       string `json:"voice"`
	SMS         string `json:"sms"`
	Operator    string `json:"operator"`
	Network     string `json:"network"`
	Status      string `json:"status"`
	Description string `json:"description"`
}

// Info is the product as the API shows it; available = on sale.
func (p Product) Info() ProductInfo {
	return ProductInfo{ProductCode: p.Code, ProductName: p.Name, MonthlyFee: p.MonthlyFee,
		DataAllowance: p.Data, VoiceAllowance: p.Voice, SMSAllowance: p.SMS, OperatorCode: p.Operator,
		Description: p.Description, Available: p.Status == ProductActive}
}

// Catalog is KOS's product list (every status).
type Catalog struct {
	Products []Product `json:"products"`
}

// Find returns the product with code.
func (c *Catalog) Find(code string) (Product, bool) {
	if c == nil {
		return Product{}, false
	}
	for _, p := range c.Products {
		if p.Code == code {
			return p, true
		}
	}
	return Product{}, false
}

// Name returns the product name of code ("" when unknown).
func (c *Catalog) Name(code string) string {
	p, _ := c.Find(code)
	return p.Name
}

// Available lists the ACTIVE products of operator other than exclude,
// most expensive first (SPEC §3.3.2).
func (c *Catalog) Available(operator, exclude string) []ProductInfo {
	out := []ProductInfo{}
	for _, p := range c.Products {
		if p.Status == ProductActive && p.Operator == operator && p.Code != exclude {
			out = append(out, p.Info())
		}
	}
	slices.SortStableFunc(out, func(a, b ProductInfo) int {
		if a.MonthlyFee != b.MonthlyFee {
			return b.MonthlyFee - a.MonthlyFee
		}
		return strings.Compare(a.ProductCode, b.ProductCode)
	})
	return out
}

// Customer is KOS's customer-info answer for one line (SPEC §3.4.4), cached
// as `product:customer:<line11>`.
type Customer struct {
	CustomerID     string      `json:"customerId"`
	CustomerName   string      `json:"customerName"`
	LineNumber     string      `json:"lineNumber"`
	OperatorCode   string      `json:"operatorCode"`
	LineStatus     string      `json:"lineStatus"`
	ContractDate   string      `json:"contractDate"`
	CurrentProduct *kosProduct `json:"currentProduct,omitempty"`
}

// kosProduct is the currentProduct object of customer-info.
type kosProduct struct {
	ProductCode    string `json:"productCode"`
	ProductName    string `json:"productName"`
	MonthlyFee     int    `json:"monthlyFee"`
	DataAllowance  string `json:"dataAllowance"`
	VoiceAllowance string `json:"voiceAllowance"`
	SMSAllowance   string `json:"smsAllowance"`
	OperatorCode   string `json:"operatorCode"`
	NetworkType    string `json:"networkType"`
	Status         string `json:"status"`
	Description    string `json:"description"`
}

// CurrentCode is the line's current product code at KOS ("" if unknown).
func (c *Customer) CurrentCode() string {
	if c == nil || c.CurrentProduct == nil {
		return ""
	}
	return c.CurrentProduct.ProductCode
}

// CurrentOperator is the operator of the line's current product (the
// line's operator when KOS did not say).
func (c *Customer) CurrentOperator() string {
	if c == nil {
		return ""
	}
	if c.CurrentProduct != nil && c.CurrentProduct.OperatorCode != "" {
		return c.CurrentProduct.OperatorCode
	}
	return c.OperatorCode
}

// ContractInfo is the optional contract block of the customer answer.
type ContractInfo struct {
	ContractDate        string `json:"contractDate"`
	TermEndDate         string `json:"termEndDate"`
	EarlyTerminationFee int    `json:"earlyTerminationFee"`
}

// Mock rules (SPEC §3.3.1, §10.7): KOS knows only the contract date, so the
// term and the fee are invented here, in this one place.
const (
	mockTermMonths          = 24
	mockEarlyTerminationFee = 0
)

// contractInfo derives the contract block from KOS's contract date
// ("2024-03-15T00:00:00" or "2024-03-15"): the term ends 24 months later,
// the day before the anniversary, and early termination costs nothing.
func contractInfo(kosDate string) *ContractInfo {
	if len(kosDate) < len(dateLayout) {
		return nil
	}
	d, err := time.Parse(dateLayout, kosDate[:len(dateLayout)])
	if err != nil {
		return nil
	}
	y, m := d.Year(), d.Month()+mockTermMonths
	// Clamp the day to the target month (31 Jan + 24 months = 31 Jan; 29 Feb
	// of a leap year + 24 months = 28 Feb), then take the day before.
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	end := time.Date(y, m, min(d.Day(), last), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	return &ContractInfo{ContractDate: d.Format(dateLayout), TermEndDate: end.Format(dateLayout),
		EarlyTerminationFee: mockEarlyTerminationFee}
}

// CustomerView is the data of GET /products/customer (SPEC §3.3.1).
type CustomerView struct {
	CustomerID     string        `json:"customerId"`
	LineNumber     string        `json:"lineNumber"`
	CustomerName   string        `json:"customerName"`
	CurrentProduct *ProductInfo  `json:"currentProduct,omitempty"`
	LineStatus     string        `json:"lineStatus"`
	ContractInfo   *ContractInfo `json:"contractInfo,omitempty"`
}

// View converts the KOS answer into the API's customer data.
func (c *Customer) View() CustomerView {
	v := CustomerView{CustomerID: c.CustomerID, LineNumber: c.LineNumber, CustomerName: c.CustomerName,
		LineStatus: c.LineStatus, ContractInfo: contractInfo(c.ContractDate)}
	if p := c.CurrentProduct; p != nil {
		op := p.OperatorCode
		if op == "" {
			op = c.OperatorCode
		}
		v.CurrentProduct = &ProductInfo{ProductCode: p.ProductCode, ProductName: p.ProductName,
			MonthlyFee: p.MonthlyFee, DataAllowance: p.DataAllowance, VoiceAllowance: p.VoiceAllowance,
			SMSAllowance: p.SMSAllowance, OperatorCode: op, Description: p.Description,
			Available: p.Status == ProductActive}
	}
	return v
}

// AvailableView is the data of GET /products/available (SPEC §3.3.2).
type AvailableView struct {
	Products   []ProductInfo `json:"products"`
	TotalCount int           `json:"totalCount"`
}
