package product

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"phonebill/shared/kos"
)

// kosDoer is the part of the KOS client the service uses.
type kosDoer interface {
	Do(ctx context.Context, call kos.Call) (*kos.Response, error)
}

// KOS paths (SPEC §3.4; the Java spellings, which KOS-Mock serves too).
const (
	pathCustomerInfo  = "/api/v1/customer-info"
	pathProductList   = "/api/v1/kos/product/list"
	pathProductChange = "/api/v1/kos/product/change"

	kosLineNotFound = "3001"
	readRetries     = 2
)

// errNoCustomer means KOS has no such line (a definite answer).
var errNoCustomer = errors.New("kos: no such line")

// fetchCustomer asks KOS for a line's customer and current product. Errors
// are errNoCustomer, or an unknown outcome (*kos.Error or other).
func fetchCustomer(ctx context.Context, k kosDoer, line string) (*Customer, error) {
	id := uuid.NewString()
	resp, err := k.Do(ctx, kos.Call{Op: "customer_info", Method: http.MethodGet,
		Path: pathCustomerInfo + "?lineNumber=" + url.QueryEscape(line), RequestID: id, Retries: readRetries})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		if resp.ResultCode == kosLineNotFound {
			return nil, errNoCustomer
		}
		return nil, fmt.Errorf("kos customer-info: unexpected answer %s %s", resp.ResultCode, resp.ResultMessage)
	}
	var c Customer
	if err := resp.Decode(&c); err != nil {
		return nil, fmt.Errorf("kos customer-info: %w", err)
	}
	if c.LineNumber == "" {
		c.LineNumber = line
	}
	return &c, nil
}

// kosProductList is the snake_case payload of GET /kos/product/list; the
// *_text fields and operator_code are the ones to use (SPEC §3.4.6).
type kosProductList struct {
	Products []struct {
		ProductCode string `json:"product_code"`
		ProductName string `json:"product_name"`
		MonthlyFee  int    `json:"monthly_fee"`
		DataText    string `json:"data_allowance_text"`
		VoiceText   string `json:"voice_allowance_text"`
		SMSText     string `json:"sms_allowance_text"`
		Operator    string `json:"operator_code"`
		NetworkType string `json:"network_type"`
		Status      string `json:"status"`
		Description string `json:"description"`
	} `json:"products"`
}

// fetchCatalog asks KOS for every product.
func fetchCatalog(ctx context.Context, k kosDoer) (*Catalog, error) {
	resp, err := k.Do(ctx, kos.Call{Op: "product_list", Method: http.MethodGet, Path: pathProductList,
		RequestID: uuid.NewString(), Retries: readRetries})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, fmt.Errorf("kos product list: unexpected answer %s %s", resp.ResultCode, resp.ResultMessage)
	}
	var pl kosProductList
	if err := resp.Decode(&pl); err != nil {
		return nil, fmt.Errorf("kos product list: %w", err)
	}
	cat := &Catalog{Products: make([]Product, 0, len(pl.Products))}
	for _, p := range pl.Products {
		cat.Products = append(cat.Products, Product{Code: p.ProductCode, Name: p.ProductName,
			MonthlyFee: p.MonthlyFee, Data: p.DataText, Voice: p.VoiceText, SMS: p.SMSText,
			Operator: p.Operator, Network: p.NetworkType, Status: p.Status, Description: p.Description})
	}
	if len(cat.Products) == 0 {
		return nil, errors.New("kos product list: empty catalog")
	}
	return cat, nil
}

// kosChangeBody is the body of POST /kos/product/change; RequestID is the
// history row's request id, KOS's idempotency key (SPEC §3.4.5).
type kosChangeBody struct {
	LineNumber         string `json:"lineNumber"`
	CurrentProductCode string `json:"currentProductCode"`
	TargetProductCode  string `json:"targetProductCode"`
	RequestID          string `json:"requestId"`
}

// changeCall is the KOS call of one change attempt. Scenario is only set on
// the request's own call (SPEC §5.5); the worker never sends one.
func changeCall(b kosChangeBody, scenario string, retries int) kos.Call {
	return kos.Call{Op: "product_change", Method: http.MethodPost, Path: pathProductChange, Body: b,
		RequestID: b.RequestID, Retries: retries, Scenario: scenario}
}

// changeOutcome is KOS's definite answer to a change.
type changeOutcome struct {
	OK      bool
	Code    string
	Message string
	Raw     []byte // the whole answer, stored on the history row
}

// outcomeOf reads a KOS answer: success with 0000 completes the change; any
// other answer (a 2xxx business code, or 9001 for a request KOS refused) is
// a definite failure, since KOS changed nothing.
func outcomeOf(resp *kos.Response) changeOutcome {
	raw := rawResponse(resp)
	if resp.OK() {
		return changeOutcome{OK: true, Code: CodeOK, Message: MsgCompleted, Raw: raw}
	}
	code, msg := resp.ResultCode, resp.ResultMessage
	if code == "" {
		code = "KOS_ERROR"
	}
	if msg == "" {
		msg = MsgUnresolved
	}
	return changeOutcome{Code: code, Message: msg, Raw: raw}
}
