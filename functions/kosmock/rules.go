package kosmock

import "time"

// KOS result codes (SPEC §5.7).
const (
	codeOK                  = "0000"
	codeBillLineNotFound    = "1001"
	codeBillLineInactive    = "1002"
	codeBillNotFound        = "1003"
	codeChangeLineNotFound  = "2001"
	codeChangeLineInactive  = "2002"
	codeChangeNoProduct     = "2003"
	codeChangeDiscontinued  = "2004"
	codeChangeOtherOperator = "2005"
	codeChangeNotCurrent    = "2006"
	codeChangeFailed        = "2099"
	codeProductLineNotFound = "3001"
	codeProductLineInactive = "3002"
	codeProductNotFound     = "3003"
	codeInvalid             = "9001"
	codeSystemError         = "9999"
)

// ApiResponse errorCodes of the mock-datas routes (SPEC §3.4.7–§3.4.9).
const (
	codeMockBadRequest      = "4000"
	codeMockServerError     = "5000"
	codeMockProductNotFound = "1001"
	codeMockBillsNotFound   = "1002"
)

// Stored values and limits (schema kos_mock, SPEC §6.4).
const (
	processingTypeChange    = "PRODUCT_CHANGE"
	processingStatusSuccess = "SUCCESS"
	processingStatusRefused = "FAILED"
	statusActive            = "ACTIVE"
	billStatusConfirmed     = "CONFIRMED"
	procStatusSuccess       = "SUCCESS"
	changeStatusSuccess     = "SUCCESS"
	unlimited               = "무제한"
	maxRequestIDLength      = 64 // processing_results.request_id
	maxCustomerIDLength     = 50 // customers.customer_id
	maxProductCodeLength    = 50 // products.product_code
)

// Result messages (SPEC §3.4, §5.7).
const (
	msgOK              = "정상 처리되었습니다"
	msgLineNotFound    = "존재하지 않는 회선번호입니다"
	msgLineInactive    = "비활성 상태의 회선입니다"
	msgBillNotFound    = "해당 월 요금 정보가 없습니다"
	msgNoProduct       = "존재하지 않는 상품 코드입니다"
	msgDiscontinued    = "판매가 중단된 상품입니다"
	msgOtherOperator   = "다른 통신사업자 상품으로는 변경할 수 없습니다"
	msgNotCurrent      = "현재 가입된 상품과 요청의 현재 상품이 다릅니다"
	msgChangeFailed    = "상품 변경 처리 중 오류가 발생했습니다"
	msgProductNotFound = "상품 정보를 찾을 수 없습니다"
	msgSystemError     = "시스템 오류가 발생했습니다"

	msgBillInquiryDone    = "요금 조회가 완료되었습니다"
	msgMonthsDone         = "데이터 보유 월 목록 조회가 완료되었습니다"
	msgProductInquiryDone = "가입상품 조회가 완료되었습니다"
	msgCustomerInfoDone   = "고객 정보 조회가 완료되었습니다"
	msgChangeDone         = "상품 변경이 완료되었습니다"
	msgProductListDone    = "상품 목록 조회가 완료되었습니다"

	msgMockCreated         = "Mock 데이터가 성공적으로 생성되었습니다"
	msgMockExists          = "Mock 데이터가 이미 생성되어 있습니다"
	msgMockLineTaken       = "이미 다른 고객에 등록된 회선번호입니다: "
	msgMockNoActiveProduct = "활성화된 상품이 없습니다"
	msgMockCreateFailed    = "Mock 데이터 생성 중 오류가 발생했습니다"
	msgMockProductDone     = "가입상품정보 조회가 완료되었습니다"
	msgMockProductNotFound = "해당 고객의 상품정보를 찾을 수 없습니다"
	msgMockBillsDone       = "요금정보 조회가 완료되었습니다"
	msgMockBillsNotFound   = "해당 고객의 요금정보를 찾을 수 없습니다"
)

// Validation messages; KOS routes prefix the joined list with
// invalidMessagePrefix (9001), mock-datas routes send it as is (4000).
const (
	invalidMessagePrefix     = "입력값이 올바르지 않습니다: "
	msgLineRequired          = "회선번호는 필수입니다"
	msgLineFormat            = "회선번호 형식이 올바르지 않습니다 (예: 01012345678)"
	msgMonthFormat           = "청구월 형식이 올바르지 않습니다 (예: 202509)"
	msgRequestIDRequired     = "요청 ID는 필수입니다"
	msgRequestIDTooLong      = "요청 ID는 64자 이하여야 합니다"
	msgRequestIDInvalid      = "요청 ID 형식이 올바르지 않습니다"
	msgCurrentCodeRequired   = "현재 상품 코드는 필수입니다"
	msgTargetCodeRequired    = "변경할 상품 코드는 필수입니다"
	msgProductCodeTooLong    = "상품 코드는 50자 이하여야 합니다"
	msgProductCodeInvalid    = "상품 코드 형식이 올바르지 않습니다"
	msgCustomerIDRequired    = "고객 ID는 필수입니다"
	msgCustomerIDTooLong     = "고객 ID는 50자 이하여야 합니다"
	msgMockCustomerIDInvalid = "고객 ID 형식이 올바르지 않습니다"
)

// Mock rules: values the mock invents because a real KOS would know them and
// the SPEC fixes them (§3.4.5, §5.5, §5.6, §10.7). They live here, in one
// place, so nothing else hard-codes them.
const (
	// mockCustomerName is the name of customers created by mock-datas: KOS
	// is not told real names.
	mockCustomerName = "Mock_Customer"
	// mockOperator is the operator of every customer the mock creates.
	mockOperator = "KT"
	// mockPreferredProductChance is the probability of picking the first
	// "베이직"/"스탠다드" product (Java rule) rather than a random one.
	mockPreferredProductChance = 0.7
	// mockContractMaxMonthsAgo bounds the invented contract date (1..24 months ago).
	mockContractMaxMonthsAgo = 24
	// mockUsageFeeBound: usage_fee is random in [0, bound).
	mockUsageFeeBound = 30000
	// mockUnlimitedDataBound / mockUnlimitedVoiceBound replace an unlimited
	// allowance when inventing usage (GB, minutes).
	mockUnlimitedDataBound  = 200
	mockUnlimitedVoiceBound = 500
	// mockSMSBound: sms_usage is random in [0, bound).
	mockSMSBound = 100
	// mockDueDay is the due day of the month after the billing month.
	mockDueDay = 25
	// mockRecentMonths is how many months (the current one included) every
	// line must have bills for; older months are never generated.
	mockRecentMonths = 6
	// mockOrderPrefix starts kosOrderNumber (KOS + yyyyMMddHHmm + 3 digits).
	mockOrderPrefix = "KOS"
	// mockCompletionDelay is added to now for estimatedCompletionTime.
	mockCompletionDelay = 30 * time.Minute
	// mockErrorLatency is how long a simulated error takes (before scaling).
	mockErrorLatency = 100 * time.Millisecond
)
