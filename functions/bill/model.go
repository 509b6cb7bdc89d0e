package bill

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"phonebill/shared/httpx"
)

// BillInfo is one month's bill as KOS returns it (SPEC §3.2.2). Numbers have
// no omitempty: the client calls toLocaleString() on every fee.
type BillInfo struct {
	LineNumber     string `json:"lineNumber"`
	BillingMonth   string `json:"billingMonth"`
	ProductCode    string `json:"productCode"`
	ProductName    string `json:"productName"`
	MonthlyFee     int64  `json:"monthlyFee"`
	UsageFee       int64  `json:"usageFee"`
	DiscountAmount int64  `json:"discountAmount"`
	TotalFee       int64  `json:"totalFee"`
	DataUsage      string `json:"dataUsage"`
	VoiceUsage     string `json:"voiceUsage"`
	SMSUsage       string `json:"smsUsage"`
	BillStatus     string `json:"billStatus"`
	DueDate        string `json:"dueDate"`
}

// CustomerInfo is the customer part of a bill answer; the client reads
// lineStatus.
type CustomerInfo struct {
	CustomerName string `json:"customerName"`
	CustomerID   string `json:"customerId"`
	OperatorCode string `json:"operatorCode"`
	LineStatus   string `json:"lineStatus"`
}

// InquiryData is the data of a successful inquiry. The cache holds it as KOS
// sent it; a hit answers it with a fresh requestId and cacheHit true.
type InquiryData struct {
	RequestID     string       `json:"requestId"`
	ProcStatus    string       `json:"procStatus"`
	ResultCode    string       `json:"resultCode"`
	ResultMessage string       `json:"resultMessage"`
	CacheHit      bool         `json:"cacheHit"`
	BillInfo      BillInfo     `json:"billInfo"`
	CustomerInfo  CustomerInfo `json:"customerInfo"`
}

// Failure is a business failure the client shows: HTTP 200, success:false,
// no data (SPEC §3.2.2). RequestID is the history row that recorded it.
type Failure struct {
	Code      string
	Message   string
	RequestID string
}

// Business failure codes and messages of SPEC §3.2.2.
const (
	CodeLineNotFound = "1001"
	CodeLineInactive = "1002"
	CodeNoBill       = "1003"
	CodeKOSError     = "KOS_ERROR"

	MsgKOSError = "요금 조회에 실패하였습니다. 잠시 후 다시 시도해주세요"
)

// failureMessages are the messages the client shows for KOS's refusals.
var failureMessages = map[string]string{
	CodeLineNotFound: "존재하지 않는 회선번호입니다",
	CodeLineInactive: "비활성 상태의 회선입니다",
	CodeNoBill:       "해당 월 요금 정보가 없습니다",
}

// Envelope messages of the Bill endpoints.
const (
	MsgMenuOK    = "요금조회 메뉴를 성공적으로 조회했습니다"
	MsgInquiryOK = "요금 조회가 완료되었습니다"
	MsgHistoryOK = "요금조회 이력을 조회했습니다"
)

// Validation messages of SPEC §3.2.2 and §3.2.3.
const (
	MsgBadLine   = "회선번호는 010으로 시작하는 11자리 숫자이거나 010-XXXX-XXXX 형식이어야 합니다"
	MsgBadMonth  = "조회월은 YYYYMM 형식이어야 합니다"
	MsgBadDate   = "날짜 형식이 올바르지 않습니다 (YYYY-MM-DD)"
	MsgBadRange  = "시작일은 종료일보다 늦을 수 없습니다"
	MsgBadStatus = "상태는 COMPLETED, PROCESSING, FAILED 중 하나여야 합니다"
)

// History row statuses.
const (
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
)

// newRequestID returns REQ_<yyyyMMdd>_<16 upper-case hex> (SPEC §2.8): 64
// random bits, because 32 would collide within a busy day.
func newRequestID(now time.Time, loc *time.Location) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "REQ_" + now.In(loc).Format("20060102") + "_" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// parseMonth accepts YYYYMM or YYYY-MM and returns YYYYMM.
func parseMonth(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 7 && s[4] == '-' {
		s = s[:4] + s[5:]
	}
	if len(s) != 6 {
		return "", false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	if m, _ := strconv.Atoi(s[4:]); m < 1 || m > 12 {
		return "", false
	}
	return s, true
}

// dashedMonth turns YYYYMM into the menu's YYYY-MM.
func dashedMonth(m string) string { return m[:4] + "-" + m[4:] }

// monthOf is t's month in loc as YYYYMM.
func monthOf(t time.Time, loc *time.Location) string { return t.In(loc).Format("200601") }

// recentMonths is the n months ending with t's month, newest first, as
// YYYY-MM: the menu's fallback when KOS cannot say.
func recentMonths(t time.Time, loc *time.Location, n int) []string {
	t = t.In(loc)
	first := time.Date(t.Year(), t.Month(), 1, 12, 0, 0, 0, loc)
	out := make([]string, n)
	for i := range n {
		out[i] = first.AddDate(0, -i, 0).Format("2006-01")
	}
	return out
}

// summary is the history's one-line result, e.g. "5G 스탠다드 플랜 202509 총 76,500원".
func summary(b BillInfo) string {
	return fmt.Sprintf("%s %s 총 %s원", b.ProductName, b.BillingMonth, groupThousands(b.TotalFee))
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// HistoryItem is one row of GET /bills/history (SPEC §3.2.3). resultCode,
// cacheHit and errorMessage are additions the client ignores.
type HistoryItem struct {
	RequestID     string           `json:"requestId"`
	LineNumber    string           `json:"lineNumber"`
	InquiryMonth  string           `json:"inquiryMonth"`
	RequestTime   httpx.LocalTime  `json:"requestTime"`
	ProcessTime   *httpx.LocalTime `json:"processTime,omitempty"`
	Status        string           `json:"status"`
	ResultCode    string           `json:"resultCode,omitempty"`
	ResultSummary string           `json:"resultSummary,omitempty"`
	ErrorMessage  string           `json:"errorMessage,omitempty"`
	CacheHit      bool             `json:"cacheHit"`
}

// Pagination is the Bill history's page object (SPEC §3.2.3).
type Pagination struct {
	CurrentPage int  `json:"currentPage"`
	TotalPages  int  `json:"totalPages"`
	TotalItems  int  `json:"totalItems"`
	PageSize    int  `json:"pageSize"`
	HasNext     bool `json:"hasNext"`
	HasPrevious bool `json:"hasPrevious"`
}

// HistoryPage is the data of GET /bills/history.
type HistoryPage struct {
	Items      []HistoryItem `json:"items"`
	Pagination Pagination    `json:"pagination"`
}

// MenuData is the data of GET /bills/menu (SPEC §3.2.1).
type MenuData struct {
	CustomerInfo    MenuCustomer `json:"customerInfo"`
	AvailableMonths []string     `json:"availableMonths"`
	CurrentMonth    string       `json:"currentMonth"`
}

// MenuCustomer is who the menu is for, from the token; lineNumber is dashed
// because the client sends it back unchanged to /bills/inquiry.
type MenuCustomer struct {
	CustomerID string `json:"customerId"`
	LineNumber string `json:"lineNumber"`
}
