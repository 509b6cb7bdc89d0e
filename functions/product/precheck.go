package product

import (
	"fmt"
	"strings"
)

// Check types, results and texts of the pre-checks (SPEC §5.3); the client
// shows them as they are.
const (
	CheckProductAvailable = "PRODUCT_AVAILABLE"
	CheckOperatorMatch    = "OPERATOR_MATCH"
	CheckLineStatus       = "LINE_STATUS"

	ResultPass    = "PASS"
	ResultFail    = "FAIL"
	VerdictOK     = "SUCCESS"
	VerdictFailed = "FAILURE"

	msgProductOnSale      = "판매중인 상품입니다"
	msgProductUnknown     = "존재하지 않는 상품코드입니다"
	msgProductStopped     = "판매 중단된 상품입니다"
	msgProductSame        = "현재 이용 중인 상품으로는 변경할 수 없습니다"
	msgOperatorOK         = "사업자가 일치합니다"
	msgOperatorStale      = "현재 상품 정보가 최신이 아닙니다. 다시 조회해주세요"
	msgOperatorNoCurrent  = "현재 상품 정보를 찾을 수 없습니다"
	msgLineOK             = "회선이 정상 상태입니다"
	msgLineNotFound       = "회선 정보를 찾을 수 없습니다"
	msgLineSuspended      = "회선이 정지 상태입니다"
	msgLineTerminated     = "회선이 해지된 상태입니다"
	reasonProduct         = "변경 대상 상품이 판매중이 아닙니다."
	reasonOperator        = "현재 상품과 변경 대상 상품의 사업자가 일치하지 않습니다."
	reasonLine            = "회선 상태가 상품변경이 불가능한 상태입니다."
	reasonSystemError     = "시스템 오류로 인해 사전체크를 완료할 수 없습니다"
	msgCheckSystemFailure = "검증 중 시스템 오류가 발생했습니다"
)

// CheckDetail is one evaluated check.
type CheckDetail struct {
	CheckType string `json:"checkType"`
	Result    string `json:"result"`
	Message   string `json:"message"`
}

// Validation is the verdict of the pre-checks, the data of
// POST /products/change/validation (SPEC §3.3.3).
type Validation struct {
	ValidationResult  string        `json:"validationResult"`
	ValidationDetails []CheckDetail `json:"validationDetails"`
	FailureReason     string        `json:"failureReason,omitempty"`
}

// OK reports whether every check passed.
func (v Validation) OK() bool { return v.ValidationResult == VerdictOK }

// ChangeRequest is the body of validation and change, normalized: the line
// in 11 digits.
type ChangeRequest struct {
	LineNumber         string `json:"lineNumber"`
	CurrentProductCode string `json:"currentProductCode"`
	TargetProductCode  string `json:"targetProductCode"`
}

// evaluate runs the three checks of SPEC §5.3, all of them, in order. cust
// is the line at KOS (nil: KOS has no such line); cat is KOS's catalog.
func evaluate(req ChangeRequest, cust *Customer, cat *Catalog) Validation {
	details := []CheckDetail{
		checkProduct(req, cust, cat),
		checkOperator(req, cust, cat),
		checkLine(cust),
	}
	var reasons []string
	for _, d := range details {
		if d.Result == ResultPass {
			continue
		}
		switch d.CheckType {
		case CheckProductAvailable:
			reasons = append(reasons, reasonProduct)
		case CheckOperatorMatch:
			reasons = append(reasons, reasonOperator)
		case CheckLineStatus:
			reasons = append(reasons, reasonLine)
		}
	}
	if len(reasons) == 0 {
		return Validation{ValidationResult: VerdictOK, ValidationDetails: details}
	}
	return Validation{ValidationResult: VerdictFailed, ValidationDetails: details,
		FailureReason: strings.Join(reasons, " ")}
}

// systemFailure is the verdict when KOS could not be asked (SPEC §3.3.3).
func systemFailure() Validation {
	return Validation{ValidationResult: VerdictFailed, FailureReason: reasonSystemError,
		ValidationDetails: []CheckDetail{{CheckType: CheckProductAvailable, Result: ResultFail, Message: msgCheckSystemFailure}}}
}

func pass(check, msg string) CheckDetail {
	return CheckDetail{CheckType: check, Result: ResultPass, Message: msg}
}
func fail(check, msg string) CheckDetail {
	return CheckDetail{CheckType: check, Result: ResultFail, Message: msg}
}

// checkProduct: the target exists, is on sale and is not the product the line
// already has (by the request's or KOS's account).
func checkProduct(req ChangeRequest, cust *Customer, cat *Catalog) CheckDetail {
	target, ok := cat.Find(req.TargetProductCode)
	switch {
	case !ok:
		return fail(CheckProductAvailable, msgProductUnknown)
	case target.Status != ProductActive:
		return fail(CheckProductAvailable, msgProductStopped)
	case req.TargetProductCode == req.CurrentProductCode || req.TargetProductCode == cust.CurrentCode():
		return fail(CheckProductAvailable, msgProductSame)
	}
	return pass(CheckProductAvailable, msgProductOnSale)
}

// checkOperator compares the operator of the line's current product at KOS
// with the target's (SPEC §10.8). A request whose current product is not
// KOS's is stale. An unknown target is PRODUCT_AVAILABLE's failure alone:
// there is no operator to compare.
func checkOperator(req ChangeRequest, cust *Customer, cat *Catalog) CheckDetail {
	current := cust.CurrentCode()
	if current == "" {
		return fail(CheckOperatorMatch, msgOperatorNoCurrent)
	}
	if req.CurrentProductCode != current {
		return fail(CheckOperatorMatch, msgOperatorStale)
	}
	from := cust.CurrentOperator()
	if p, ok := cat.Find(current); ok && p.Operator != "" {
		from = p.Operator
	}
	target, ok := cat.Find(req.TargetProductCode)
	if ok && target.Operator != from {
		return fail(CheckOperatorMatch, fmt.Sprintf("사업자가 일치하지 않습니다 (현재: %s, 변경: %s)", from, target.Operator))
	}
	return pass(CheckOperatorMatch, msgOperatorOK)
}

// checkLine: only ACTIVE lines may change product.
func checkLine(cust *Customer) CheckDetail {
	if cust == nil {
		return fail(CheckLineStatus, msgLineNotFound)
	}
	switch cust.LineStatus {
	case LineActive:
		return pass(CheckLineStatus, msgLineOK)
	case LineSuspended:
		return fail(CheckLineStatus, msgLineSuspended)
	case LineTerminated:
		return fail(CheckLineStatus, msgLineTerminated)
	}
	return fail(CheckLineStatus, "알 수 없는 회선 상태입니다: "+cust.LineStatus)
}
