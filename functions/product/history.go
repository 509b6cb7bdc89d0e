package product

import (
	"context"
	"time"

	"phonebill/shared/httpx"
)

// HistoryQuery selects a page of change history; an empty Line means every
// line (admins only).
type HistoryQuery struct {
	Line         string
	From, Before time.Time
	Page, Size   int
}

// HistoryItem is one change request in the history (SPEC §3.3.5). Product
// names come from the cached catalog and are omitted when unknown.
type HistoryItem struct {
	RequestID          string `json:"requestId"`
	LineNumber         string `json:"lineNumber"`
	ProcessStatus      string `json:"processStatus"`
	CurrentProductCode string `json:"currentProductCode"`
	CurrentProductName string `json:"currentProductName,omitempty"`
	TargetProductCode  string `json:"targetProductCode"`
	TargetProductName  string `json:"targetProductName,omitempty"`
	RequestedAt        string `json:"requestedAt"`
	ProcessedAt        string `json:"processedAt,omitempty"`
	ResultMessage      string `json:"resultMessage,omitempty"`
}

// Pagination is the Product history's page object.
type Pagination struct {
	Page          int  `json:"page"`
	Size          int  `json:"size"`
	TotalElements int  `json:"totalElements"`
	TotalPages    int  `json:"totalPages"`
	HasNext       bool `json:"hasNext"`
	HasPrevious   bool `json:"hasPrevious"`
}

// HistoryView is the data of GET /products/history.
type HistoryView struct {
	History    []HistoryItem `json:"history"`
	Pagination Pagination    `json:"pagination"`
}

// History returns one page of change requests, newest first.
func (s *Products) History(ctx context.Context, q HistoryQuery) (*HistoryView, error) {
	rows, total, err := s.store.history(ctx, historyFilter{Line: q.Line, From: q.From, Before: q.Before,
		Limit: q.Size, Offset: (q.Page - 1) * q.Size})
	if err != nil {
		return nil, err
	}
	var cat *Catalog
	if len(rows) > 0 {
		if cat, err = s.catalog(ctx); err != nil {
			// Names are a courtesy: the history answers without them.
			s.log.WarnContext(ctx, "history without product names", "err", err.Error())
			cat = nil
		}
	}
	items := make([]HistoryItem, 0, len(rows))
	for _, r := range rows {
		it := HistoryItem{RequestID: r.RequestID, LineNumber: r.LineNumber, ProcessStatus: r.Status,
			CurrentProductCode: r.CurrentCode, CurrentProductName: cat.Name(r.CurrentCode),
			TargetProductCode: r.TargetCode, TargetProductName: cat.Name(r.TargetCode),
			RequestedAt: httpx.FormatLocal(r.RequestedAt), ResultMessage: r.Message}
		if !r.ProcessedAt.IsZero() {
			it.ProcessedAt = httpx.FormatLocal(r.ProcessedAt)
		}
		items = append(items, it)
	}
	pages := (total + q.Size - 1) / q.Size
	return &HistoryView{History: items, Pagination: Pagination{Page: q.Page, Size: q.Size, TotalElements: total,
		TotalPages: pages, HasNext: q.Page < pages, HasPrevious: q.Page > 1}}, nil
}
