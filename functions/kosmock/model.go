package kosmock

import (
	"strconv"
	"strings"

	"phonebill/shared/httpx"
)

// Answer is one KOS answer as the KosCommonResponse envelope carries it
// (SPEC §2.4 D) without the per-request traceId. A product change stores it
// whole and replays it for a repeated requestId (SPEC §3.4.5).
type Answer struct {
	Success       bool            `json:"success"`
	ResultCode    string          `json:"resultCode"`
	ResultMessage string          `json:"resultMessage"`
	Data          any             `json:"data,omitempty"`
	Timestamp     httpx.LocalTime `json:"timestamp"`
}

// Refused reports a business failure (HTTP 200, success:false).
func (a Answer) Refused() bool { return !a.Success }

// BillInfo is one month's bill (SPEC §3.4.1). Numbers carry no omitempty.
type BillInfo struct {
	LineNumber     string `json:"lineNumber"`
	BillingMonth   string `json:"billingMonth"`
	ProductCode    string `json:"productCode"`
	ProductName    string `json:"productName"`
	MonthlyFee     int    `json:"monthlyFee"`
	UsageFee       int    `json:"usageFee"`
	DiscountAmount int    `json:"discountAmount"`
	TotalFee       int    `json:"totalFee"`
	DataUsage      string `json:"dataUsage"`
	VoiceUsage     string `json:"voiceUsage"`
	SMSUsage       string `json:"smsUsage"`
	BillStatus     string `json:"billStatus"`
	DueDate        string `json:"dueDate"`
}

// CustomerInfo is the customer part of bill and product inquiries.
type CustomerInfo struct {
	CustomerName string `json:"customerName"`
	CustomerID   string `json:"customerId"`
	OperatorCode string `json:"operatorCode"`
	LineStatus   string `json:"lineStatus"`
}

// BillInquiryData is the data of a bill inquiry.
type BillInquiryData struct {
	RequestID     string       `json:"requestId"`
	ProcStatus    string       `json:"procStatus"`
	ResultCode    string       `json:"resultCode"`
	ResultMessage string       `json:"resultMessage"`
	BillInfo      BillInfo     `json:"billInfo"`
	CustomerInfo  CustomerInfo `json:"customerInfo"`
}

// MonthsData is the data of available-months (months as YYYY-MM).
type MonthsData struct {
	ResultCode      string   `json:"resultCode"`
	ResultMessage   string   `json:"resultMessage"`
	LineNumber      string   `json:"lineNumber"`
	AvailableMonths []string `json:"availableMonths"`
}

// ProductInfo is the line's product in a product inquiry.
type ProductInfo struct {
	LineNumber         string `json:"lineNumber"`
	CurrentProductCode string `json:"currentProductCode"`
	CurrentProductName string `json:"currentProductName"`
	MonthlyFee         int    `json:"monthlyFee"`
	DataAllowance      string `json:"dataAllowance"`
	VoiceAllowance     string `json:"voiceAllowance"`
	SMSAllowance       string `json:"smsAllowance"`
	ProductStatus      string `json:"productStatus"`
	ContractDate       string `json:"contractDate"`
}

// ProductInquiryData is the data of a product inquiry.
type ProductInquiryData struct {
	RequestID     string       `json:"requestId"`
	ProcStatus    string       `json:"procStatus"`
	ResultCode    string       `json:"resultCode"`
	ResultMessage string       `json:"resultMessage"`
	ProductInfo   ProductInfo  `json:"productInfo"`
	CustomerInfo  CustomerInfo `json:"customerInfo"`
}

// CurrentProduct is the product part of customer-info.
type CurrentProduct struct {
	ProductCode    string `json:"productCode"`
	ProductName    string `json:"productName"`
	MonthlyFee     int    `json:"monthlyFee"`
	DataAllowance  string `json:"dataAllowance"`
	VoiceAllowance string `json:"voiceAllowance"`
	SMSAllowance   string `json:"smsAllowance"`
	OperatorCode   string `json:"operatorCode"`
	NetworkType    string `json:"networkType"`
	Status         string `json:"status"`
	Description    string `json:"description,omitempty"`
}

// CustomerInfoData is the data of customer-info (SPEC §3.4.4).
type CustomerInfoData struct {
	CustomerID     string          `json:"customerId"`
	CustomerName   string          `json:"customerName"`
	LineNumber     string          `json:"lineNumber"`
	OperatorCode   string          `json:"operatorCode"`
	LineStatus     string          `json:"lineStatus"`
	ContractDate   string          `json:"contractDate"`
	CurrentProduct *CurrentProduct `json:"currentProduct,omitempty"`
}

// ChangeInfo is the outcome of an applied product change.
type ChangeInfo struct {
	LineNumber              string `json:"lineNumber"`
	PreviousProductCode     string `json:"previousProductCode"`
	PreviousProductName     string `json:"previousProductName"`
	NewProductCode          string `json:"newProductCode"`
	NewProductName          string `json:"newProductName"`
	EffectiveDate           string `json:"effectiveDate"`
	ChangeStatus            string `json:"changeStatus"`
	KOSOrderNumber          string `json:"kosOrderNumber"`
	EstimatedCompletionTime string `json:"estimatedCompletionTime"`
}

// ChangeData is the data of a product change.
type ChangeData struct {
	RequestID     string     `json:"requestId"`
	ResultCode    string     `json:"resultCode"`
	ResultMessage string     `json:"resultMessage"`
	ChangeInfo    ChangeInfo `json:"changeInfo"`
}

// ListedProduct is one product of the product list: snake_case as in Java,
// with integer allowances plus the text the consumers use (SPEC §3.4.6).
type ListedProduct struct {
	ProductCode        string `json:"product_code"`
	ProductName        string `json:"product_name"`
	ProductType        string `json:"product_type"`
	MonthlyFee         int    `json:"monthly_fee"`
	DataAllowance      int    `json:"data_allowance"`
	VoiceAllowance     int    `json:"voice_allowance"`
	SMSAllowance       int    `json:"sms_allowance"`
	DataAllowanceText  string `json:"data_allowance_text"`
	VoiceAllowanceText string `json:"voice_allowance_text"`
	SMSAllowanceText   string `json:"sms_allowance_text"`
	OperatorCode       string `json:"operator_code"`
	NetworkType        string `json:"network_type"`
	Status             string `json:"status"`
	Description        string `json:"description,omitempty"`
}

// ProductListData is the data of the product list.
type ProductListData struct {
	ResultCode    string          `json:"result_code"`
	ResultMessage string          `json:"result_message"`
	ProductCount  int             `json:"product_count"`
	Products      []ListedProduct `json:"products"`
}

// MockCreated is the data of mock-datas creation (snake_case).
type MockCreated struct {
	CustomerID         string `json:"customer_id"`
	LineNumber         string `json:"line_number"`
	CurrentProductCode string `json:"current_product_code"`
	CurrentProductName string `json:"current_product_name"`
	BillCountCreated   int    `json:"bill_count_created"`
	Message            string `json:"message"`
}

// MockProduct is the data of the mock-datas product look-up.
type MockProduct struct {
	CustomerID         string `json:"customerId"`
	LineNumber         string `json:"lineNumber"`
	OperatorCode       string `json:"operatorCode"`
	LineStatus         string `json:"lineStatus"`
	ContractDate       string `json:"contractDate"`
	CurrentProductCode string `json:"currentProductCode"`
	CurrentProductName string `json:"currentProductName"`
	MonthlyFee         int    `json:"monthlyFee"`
	DataAllowance      string `json:"dataAllowance"`
	VoiceAllowance     string `json:"voiceAllowance"`
	SMSAllowance       string `json:"smsAllowance"`
	ProductStatus      string `json:"productStatus"`
}

// MockBill is one bill of the mock-datas bill look-up.
type MockBill struct {
	BillingMonth   string `json:"billingMonth"`
	ProductCode    string `json:"productCode"`
	ProductName    string `json:"productName"`
	MonthlyFee     int    `json:"monthlyFee"`
	UsageFee       int    `json:"usageFee"`
	DiscountAmount int    `json:"discountAmount"`
	TotalFee       int    `json:"totalFee"`
	DataUsage      string `json:"dataUsage"`
	VoiceUsage     string `json:"voiceUsage"`
	SMSUsage       string `json:"smsUsage"`
	BillStatus     string `json:"billStatus"`
	DueDate        string `json:"dueDate"`
}

// MockBills is the data of the mock-datas bill look-up, newest first.
type MockBills struct {
	CustomerID string     `json:"customerId"`
	LineNumber string     `json:"lineNumber"`
	BillCount  int        `json:"billCount"`
	Bills      []MockBill `json:"bills"`
}

// allowanceNumber is the Java-compatible integer form of an allowance text:
// 무제한 → −1, otherwise its digits (100GB → 100, 기본 제공 → 0).
func allowanceNumber(text string) int {
	if strings.TrimSpace(text) == unlimited {
		return -1
	}
	var b strings.Builder
	for _, r := range text {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	n, err := strconv.Atoi(b.String())
	if err != nil {
		return 0
	}
	return n
}
