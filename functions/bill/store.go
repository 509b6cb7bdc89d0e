package bill

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"phonebill/shared/db"
	"phonebill/shared/httpx"
)

// historyStore keeps the "요청 이력" (bill_inquiry_history) and "처리 이력"
// (kos_inquiry_history) rows of SPEC §6.2.
type historyStore struct {
	pool *pgxpool.Pool
}

// pgTime is t as the Asia/Seoul wall clock a TIMESTAMP column holds.
func pgTime(t time.Time) string { return t.In(db.Seoul).Format("2006-01-02 15:04:05.999999") }

// nullable maps "" to SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// request is the part of a history row known before KOS answers.
type request struct {
	ID     string
	UserID string
	Line   string
	Month  string
	At     time.Time
}

// insertCompleted records a cache hit in ONE statement, already COMPLETED:
// a second round trip per hit would cap the cached path's throughput.
func (s *historyStore) insertCompleted(ctx context.Context, rq request, sum string, billJSON []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO bill_inquiry.bill_inquiry_history
		(request_id, user_id, line_number, inquiry_month, request_time, process_time, status, result_code,
		 result_summary, cache_hit, bill_info_json)
		VALUES ($1, $2, $3, $4, $5::timestamp, $5::timestamp, 'COMPLETED', '0000', $6, true, $7::jsonb)`,
		rq.ID, rq.UserID, rq.Line, rq.Month, pgTime(rq.At), sum, string(billJSON))
	return db.Wrap("record cached inquiry", err)
}

// insertProcessing records a request before KOS is called.
func (s *historyStore) insertProcessing(ctx context.Context, rq request) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO bill_inquiry.bill_inquiry_history
		(request_id, user_id, line_number, inquiry_month, request_time, status, cache_hit)
		VALUES ($1, $2, $3, $4, $5::timestamp, 'PROCESSING', false)`,
		rq.ID, rq.UserID, rq.Line, rq.Month, pgTime(rq.At))
	return db.Wrap("record inquiry", err)
}

// attempt is one exchange with KOS (a kos_inquiry_history row).
type attempt struct {
	Start, End    time.Time
	ResultCode    string
	ResultMessage string
	Raw           []byte // the KOS answer as received, when there was one
	ErrorDetail   string
	Retry         int
}

// outcome is how a PROCESSING row ends.
type outcome struct {
	Status   string // COMPLETED or FAILED
	Code     string
	Summary  string
	BillJSON []byte
	ErrMsg   string
	At       time.Time
}

// finish ends the row and stores its KOS attempts in one transaction, so the
// history never shows attempts of a request that is still PROCESSING or a
// terminal row without its attempts.
func (s *historyStore) finish(ctx context.Context, rq request, o outcome, attempts []attempt) error {
	return db.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		for _, a := range attempts {
			var raw any
			if len(a.Raw) > 0 {
				raw = string(a.Raw)
			}
			_, err := tx.Exec(ctx, `INSERT INTO bill_inquiry.kos_inquiry_history
				(bill_request_id, line_number, inquiry_month, request_time, response_time, result_code,
				 result_message, kos_data_json, error_detail, retry_count)
				VALUES ($1, $2, $3, $4::timestamp, $5::timestamp, $6, $7, $8::jsonb, $9, $10)`,
				rq.ID, rq.Line, rq.Month, pgTime(a.Start), pgTime(a.End), nullable(a.ResultCode),
				nullable(a.ResultMessage), raw, nullable(a.ErrorDetail), a.Retry)
			if err != nil {
				return db.Wrap("record KOS attempt", err)
			}
		}
		var bill any
		if len(o.BillJSON) > 0 {
			bill = string(o.BillJSON)
		}
		_, err := tx.Exec(ctx, `UPDATE bill_inquiry.bill_inquiry_history
			SET status = $2, result_code = $3, result_summary = $4, bill_info_json = $5::jsonb,
			    error_message = $6, process_time = $7::timestamp
			WHERE request_id = $1`,
			rq.ID, o.Status, nullable(o.Code), nullable(o.Summary), bill, nullable(o.ErrMsg), pgTime(o.At))
		return db.Wrap("complete inquiry", err)
	})
}

// historyFilter selects history rows; zero fields do not filter.
type historyFilter struct {
	Line     string // 11 digits; "" = every line (admins)
	From, To string // YYYY-MM-DD, inclusive
	Status   string
	Page     int // 1-based
	Size     int
}

// list returns one page of rows, newest request first, and the total count.
func (s *historyStore) list(ctx context.Context, f historyFilter) ([]HistoryItem, int, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.Line != "" {
		add("line_number = $?", f.Line)
	}
	if f.From != "" {
		add("request_time >= $?::date", f.From)
	}
	if f.To != "" {
		add("request_time < $?::date + 1", f.To)
	}
	if f.Status != "" {
		add("status = $?", f.Status)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM bill_inquiry.bill_inquiry_history`+cond, args...).Scan(&total); err != nil {
		return nil, 0, db.Wrap("count history", err)
	}
	items := []HistoryItem{}
	if total == 0 || (f.Page-1)*f.Size >= total {
		return items, total, nil
	}
	n := len(args)
	q := fmt.Sprintf(`SELECT request_id, line_number, inquiry_month, request_time, process_time, status,
		COALESCE(result_code, ''), COALESCE(result_summary, ''), COALESCE(error_message, ''), COALESCE(cache_hit, false)
		FROM bill_inquiry.bill_inquiry_history%s
		ORDER BY request_time DESC, id DESC LIMIT $%d OFFSET $%d`, cond, n+1, n+2)
	rows, err := s.pool.Query(ctx, q, append(args, f.Size, (f.Page-1)*f.Size)...)
	if err != nil {
		return nil, 0, db.Wrap("list history", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it HistoryItem
		var reqAt time.Time
		var procAt *time.Time
		if err := rows.Scan(&it.RequestID, &it.LineNumber, &it.InquiryMonth, &reqAt, &procAt, &it.Status,
			&it.ResultCode, &it.ResultSummary, &it.ErrorMessage, &it.CacheHit); err != nil {
			return nil, 0, db.Wrap("read history", err)
		}
		it.RequestTime = httpx.LocalTime(db.Local(reqAt))
		if procAt != nil {
			it.ProcessTime = httpx.NewLocalTime(db.Local(*procAt))
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, db.Wrap("read history", err)
	}
	return items, total, nil
}
