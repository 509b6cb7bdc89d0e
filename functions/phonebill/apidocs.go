package main

import (
	"context"
	_ "embed"
	"net/http"

	"phonebill/shared/fn"
	"phonebill/shared/httpx"
)

// openAPIDoc is the API description. go:embed cannot reach ../../docs, so the
// served copy lives beside this file; `make openapi` copies docs/openapi.yaml
// here and TestOpenAPICopyInSync fails when the two differ.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// apiDocs serves the OpenAPI description at /api/v1/openapi.yaml. Only the
// all-in-one mounts it: it is not a Knative function, so it stays out of the
// route table in functions/routes.
func apiDocs() fn.Service {
	return fn.Service{
		Name:  "docs",
		Start: func(context.Context, *fn.Env) (any, error) { return nil, nil },
		Routes: []fn.Route{{Name: "api-docs", Method: http.MethodGet, Path: "/api/v1/openapi.yaml", Access: "",
			Handle: func(any) httpx.HandlerFunc { return serveOpenAPI }}},
	}
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPIDoc) // a failed write means the client went away
	return nil
}
