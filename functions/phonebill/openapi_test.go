package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"phonebill/functions/routes"
	"phonebill/shared/auth"
	sharedconfig "phonebill/shared/config"
	"phonebill/shared/fn"
	"phonebill/shared/fn/fntest"
	"phonebill/shared/httpx"
)

// apiSpec is the parsed description, built once per test binary: parsing and
// compiling the schemas is the slow part of these tests.
type apiSpec struct {
	doc libopenapi.Document
	// model and strict are built from closedSchemas(openAPIDoc): the same
	// description with every object closed, so a validated body may hold
	// only the properties the description declares.
	model  *v3.Document
	strict validator.Validator
}

// The validator is not documented as safe for concurrent use: tests using
// it do not run in parallel and hold specMu.
var specMu sync.Mutex

var loadSpec = sync.OnceValues(func() (*apiSpec, error) {
	doc, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	closed, err := closedSchemas(openAPIDoc)
	if err != nil {
		return nil, err
	}
	cdoc, err := libopenapi.NewDocument(closed)
	if err != nil {
		return nil, fmt.Errorf("parse closed copy: %w", err)
	}
	m, err := cdoc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build closed model: %w", err)
	}
	v, errs := validator.NewValidator(cdoc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("validator: %v", errs)
	}
	return &apiSpec{doc: doc, model: &m.Model, strict: v}, nil
})

// closedSchemaPrefix names the closed wrappers closedSchemas adds.
const closedSchemaPrefix = "Closed__"

// closedSchemas returns the description with `unevaluatedProperties: false`
// on every schema that declares properties or composes schemas, except where
// that would cut a composition short: allOf members (their siblings add
// properties), component definitions (closed where they are used instead,
// since some are allOf members), and if/then/else/not (they only assert).
// The published description stays open, as clients expect for additions.
func closedSchemas(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var walkDoc func(n *yaml.Node)
	var walkSchema func(n *yaml.Node, open bool)
	walkDoc = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walkDoc(c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				switch k, v := n.Content[i].Value, n.Content[i+1]; k {
				case "example", "examples":
				case "schema":
					walkSchema(v, false)
				case "schemas":
					for j := 1; j < len(v.Content); j += 2 {
						walkSchema(v.Content[j], true)
					}
					// closedSchemaPrefix+Name: the component closed, for
					// bodies no operation describes (componentErrors).
					for j := 0; j+1 < len(v.Content); j += 2 {
						name := v.Content[j].Value
						if strings.HasPrefix(name, closedSchemaPrefix) {
							continue
						}
						var wrapper yaml.Node
						if err := yaml.Unmarshal([]byte("allOf: [{$ref: '#/components/schemas/"+name+"'}]\nunevaluatedProperties: false\n"), &wrapper); err != nil {
							panic(err)
						}
						v.Content = append(v.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: closedSchemaPrefix + name},
							wrapper.Content[0])
					}
				default:
					walkDoc(v)
				}
			}
		}
	}
	walkSchema = func(n *yaml.Node, open bool) {
		if n.Kind != yaml.MappingNode {
			return
		}
		composes, bounded, ref := false, false, false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			switch k {
			case "properties", "$defs":
				composes = composes || k == "properties"
				for j := 1; j < len(v.Content); j += 2 {
					walkSchema(v.Content[j], false)
				}
			case "items", "contains":
				walkSchema(v, false)
			case "allOf":
				composes = true
				for _, c := range v.Content {
					walkSchema(c, true)
				}
			case "oneOf", "anyOf", "prefixItems":
				composes = composes || k != "prefixItems"
				for _, c := range v.Content {
					walkSchema(c, false)
				}
			case "$ref":
				composes, ref = true, true
			case "additionalProperties", "unevaluatedProperties":
				bounded = true
				walkSchema(v, false)
			}
		}
		if !composes || bounded || open {
			return
		}
		if ref {
			// libopenapi turns keywords beside $ref into an allOf of its
			// own; wrap the reference explicitly instead.
			inner := *n
			n.Content = []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "allOf"},
				{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{&inner}},
			}
		}
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "unevaluatedProperties"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
	}
	walkDoc(&root)
	return yaml.Marshal(&root)
}

func mustSpec(t *testing.T) *apiSpec {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return s
}

// TestOpenAPIDocumentValid: the description parses, every $ref resolves and
// it validates against the OpenAPI 3.1 meta-schema.
func TestOpenAPIDocumentValid(t *testing.T) {
	s := mustSpec(t)
	if v := s.doc.GetSpecInfo().Version; !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi version %q, want 3.1.x", v)
	}
	specMu.Lock()
	defer specMu.Unlock()
	v, errs := validator.NewValidator(s.doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	ok, verrs := v.ValidateDocument()
	if !ok {
		t.Fatalf("not a valid OpenAPI 3.1 document:\n%s", specErrors(verrs))
	}
	if ok, errs := s.strict.ValidateDocument(); !ok {
		t.Fatalf("the closed copy the tests validate with is not valid:\n%s", specErrors(errs))
	}
	if s.model.Components == nil || s.model.Components.SecuritySchemes.GetOrZero("bearerAuth") == nil {
		t.Fatal("components.securitySchemes.bearerAuth missing")
	}
}

// TestOpenAPIExamplesMatchSchemas: every example in the description (media
// types of requests and responses, and schema examples) is valid against its
// own schema, so the examples a reader copies are real answers.
func TestOpenAPIExamplesMatchSchemas(t *testing.T) {
	s := mustSpec(t)
	sv := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	checked := 0
	check := func(where string, schema *base.SchemaProxy, value any) {
		t.Helper()
		if schema == nil {
			return
		}
		sch := schema.Schema()
		if sch == nil {
			t.Errorf("%s: schema does not build: %v", where, schema.GetBuildError())
			return
		}
		b, err := json.Marshal(value)
		if err != nil {
			t.Errorf("%s: example is not JSON: %v", where, err)
			return
		}
		checked++
		if ok, errs := sv.ValidateSchemaBytesWithVersion(sch, b, 3.1); !ok {
			t.Errorf("%s: example does not match its schema:\n%s", where, specErrors(errs))
		}
	}
	mediaExamples := func(where string, mt *v3.MediaType) {
		if !strings.Contains(where, "json") {
			return
		}
		if mt.Example != nil {
			var v any
			if err := mt.Example.Decode(&v); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			check(where+" example", mt.Schema, v)
		}
		for name, ex := range mt.Examples.FromOldest() {
			var v any
			if err := ex.Value.Decode(&v); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			check(where+" examples."+name, mt.Schema, v)
		}
	}
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			at := strings.ToUpper(method) + " " + path
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Content.FromOldest() {
					mediaExamples(at+" request "+ct, mt)
				}
			}
			for code, resp := range op.Responses.Codes.FromOldest() {
				for ct, mt := range resp.Content.FromOldest() {
					mediaExamples(at+" "+code+" "+ct, mt)
				}
			}
		}
	}
	for name, proxy := range s.model.Components.Schemas.FromOldest() {
		sch := proxy.Schema()
		if sch == nil {
			t.Errorf("components.schemas.%s does not build: %v", name, proxy.GetBuildError())
			continue
		}
		for i, ex := range sch.Examples {
			var v any
			if err := ex.Decode(&v); err != nil {
				t.Errorf("components.schemas.%s examples[%d]: %v", name, i, err)
			}
			check(fmt.Sprintf("components.schemas.%s examples[%d]", name, i), proxy, v)
		}
	}
	if checked < 40 {
		t.Fatalf("only %d examples checked; the walk over the description is broken", checked)
	}
}

// documentedOp is one operation of the description.
type documentedOp struct {
	operationID, permission string
	security                []*base.SecurityRequirement
}

// TestOpenAPIMatchesRouteTable: every HTTP route of the route table (and the
// endpoints fn.Build adds: health, metrics, service health paths, this
// document) is documented with its method, operationId = route name and
// x-permission = the route's Access; nothing documented is missing from the
// system.
func TestOpenAPIMatchesRouteTable(t *testing.T) {
	s := mustSpec(t)
	documented := map[string]documentedOp{}
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			d := documentedOp{operationID: op.OperationId, security: op.Security}
			if n := op.Extensions.GetOrZero("x-permission"); n != nil {
				d.permission = n.Value
			}
			documented[strings.ToUpper(method)+" "+path] = d
		}
	}

	served := servedRoutes()
	names := map[string]string{}
	for key, w := range served {
		if prev, dup := names[w.name]; dup && w.name != "" {
			t.Errorf("route name %s serves both %s and %s", w.name, prev, key)
		}
		names[w.name] = key
	}
	for key, w := range served {
		d, ok := documented[key]
		if !ok {
			t.Errorf("%s (%s) is served but not documented", key, w.name)
			continue
		}
		if w.name != "" && d.operationID != w.name {
			t.Errorf("%s: operationId %q, want the route name %q", key, d.operationID, w.name)
		}
		if d.permission != w.access {
			t.Errorf("%s: x-permission %q, want %q", key, d.permission, w.access)
		}
		needsToken := w.access != string(auth.AccessPublic)
		if needsToken != requiresBearer(d.security) {
			t.Errorf("%s: security %s does not match access %q", key, describeSecurity(d.security), w.access)
		}
	}
	for key, d := range documented {
		if _, ok := served[key]; !ok {
			t.Errorf("%s (%s) is documented but no route serves it", key, d.operationID)
		}
	}
	if len(served) < 40 {
		t.Fatalf("only %d routes found; the route table walk is broken", len(served))
	}
}

// servedRoute is what the system serves at "METHOD path": the route name
// ("" for the per-service health paths) and the access it needs.
type servedRoute struct{ name, access string }

// servedRoutes lists every HTTP endpoint of the all-in-one: the HTTP routes
// of the route table and of this document's service, the service health
// paths, and what fn.Build adds (health probes, metrics).
func servedRoutes() map[string]servedRoute {
	served := map[string]servedRoute{
		"GET /health":           {"health", "public"},
		"GET /health/readiness": {"health-readiness", "public"},
		"GET /health/liveness":  {"health-liveness", "public"},
		"GET /metrics":          {"metrics", "public"},
	}
	for _, svc := range append(routes.All(), apiDocs()) {
		if svc.HealthPath != "" {
			served["GET "+svc.HealthPath] = servedRoute{"", "public"}
		}
		for _, r := range svc.Routes {
			if r.IsEvent() {
				continue
			}
			access := string(r.Access)
			if access == "" {
				access = string(auth.AccessPublic)
			}
			served[r.Method+" "+r.Path] = servedRoute{r.Name, access}
		}
	}
	return served
}

// requiresBearer reports whether every alternative of the requirement list
// needs the bearer token (an empty list or an empty alternative means the
// token is optional).
func requiresBearer(reqs []*base.SecurityRequirement) bool {
	if len(reqs) == 0 {
		return false
	}
	for _, r := range reqs {
		if r.Requirements == nil {
			return false
		}
		if _, ok := r.Requirements.Get("bearerAuth"); !ok {
			return false
		}
	}
	return true
}

func describeSecurity(reqs []*base.SecurityRequirement) string {
	var parts []string
	for _, r := range reqs {
		var names []string
		if r.Requirements != nil {
			for k := range r.Requirements.KeysFromOldest() {
				names = append(names, k)
			}
		}
		parts = append(parts, "{"+strings.Join(names, ",")+"}")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestOpenAPICopyInSync: the served copy is byte-identical to docs/openapi.yaml.
func TestOpenAPICopyInSync(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, openAPIDoc) {
		t.Fatal("docs/openapi.yaml and functions/phonebill/openapi.yaml differ: edit docs/openapi.yaml, then run `make openapi`")
	}
}

// TestOpenAPIServed: the all-in-one serves the description at
// /api/v1/openapi.yaml as application/yaml.
func TestOpenAPIServed(t *testing.T) {
	env := &fn.Env{Settings: fn.Settings{HTTP: sharedconfig.HTTP{MaxBodyBytes: 65536}},
		Log: fntest.Logger(t), Metrics: httpx.NewMetrics(), Now: time.Now}
	app, err := fn.Build(context.Background(), env, []fn.Service{apiDocs()}, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /api/v1/openapi.yaml: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openAPIDoc) {
		t.Fatal("served body is not the embedded description")
	}
	validateExchanges(t, []exchange{{Method: "GET", Path: "/api/v1/openapi.yaml", Req: resp.Request,
		Status: resp.StatusCode, Header: resp.Header, Body: body}})
}

// TestOpenAPIJourneyResponses validates every answer of the client journey
// (status and body; the request too when it succeeded) against the
// description.
func TestOpenAPIJourneyResponses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	exs := runJourney(t)
	if len(exs) < 12 {
		t.Fatalf("journey produced %d exchanges", len(exs))
	}
	validateExchanges(t, exs)
}

// validateExchanges checks each exchange's status and body against the
// operation the description gives for its method and path, reporting every
// undeclared property too. Successful requests are validated as well: the
// description must accept what the client sends.
func validateExchanges(t *testing.T, exs []exchange) {
	t.Helper()
	s := mustSpec(t)
	specMu.Lock()
	defer specMu.Unlock()
	for _, ex := range exs {
		req := exchangeRequest(t, ex)
		resp := &http.Response{StatusCode: ex.Status, Header: ex.Header.Clone(), Request: req,
			Body: io.NopCloser(bytes.NewReader(ex.Body)), ContentLength: int64(len(ex.Body))}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		label := fmt.Sprintf("%s %s → %d", ex.Method, ex.Path, ex.Status)
		if ok, errs := s.strict.ValidateHttpResponse(req, resp); !ok {
			t.Errorf("%s: response does not match the description:\n%s\nbody: %s", label, specErrors(errs),
				specTruncate(ex.Body))
		}
		if ex.Status < 400 && req.Body != nil {
			if ok, errs := s.strict.ValidateHttpRequestSync(req); !ok {
				t.Errorf("%s: request does not match the description:\n%s", label, specErrors(errs))
			}
		}
	}
}

// exchangeRequest rebuilds a readable request for the validator: the
// original's body was consumed when it was sent.
func exchangeRequest(t *testing.T, ex exchange) *http.Request {
	t.Helper()
	if ex.Req == nil {
		return httptest.NewRequest(ex.Method, ex.Path, nil)
	}
	req := ex.Req.Clone(context.Background())
	req.Body = http.NoBody
	if ex.Req.GetBody != nil {
		b, err := ex.Req.GetBody()
		if err != nil {
			t.Fatalf("%s %s: replay body: %v", ex.Method, ex.Path, err)
		}
		req.Body = b
	}
	return req
}

// validateComponent checks a body against a named component schema (closed
// like the rest): for the answers no operation describes (unknown route 404,
// wrong method 405).
func validateComponent(t *testing.T, schemaName string, body []byte) {
	t.Helper()
	if errs := componentErrors(t, schemaName, body); len(errs) > 0 {
		t.Errorf("body does not match %s:\n%s\nbody: %s", schemaName, specErrors(errs), specTruncate(body))
	}
}

func componentErrors(t *testing.T, schemaName string, body []byte) []*liberrors.ValidationError {
	t.Helper()
	s := mustSpec(t)
	proxy := s.model.Components.Schemas.GetOrZero(closedSchemaPrefix + schemaName)
	if proxy == nil || proxy.Schema() == nil {
		t.Fatalf("components.schemas.%s missing", schemaName)
	}
	sv := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	_, errs := sv.ValidateSchemaBytesWithVersion(proxy.Schema(), body, 3.1)
	return errs
}

// TestOpenAPIValidationCanFail: the checks above reject what they must — an
// undeclared property, a missing number, a timestamp with a zone, a success
// envelope carrying error — so their passing means something.
func TestOpenAPIValidationCanFail(t *testing.T) {
	s := mustSpec(t)
	menu := `{"success":true,"resultCode":"0000","resultMessage":"m","message":"m","data":{"customerInfo":{"customerId":"CUST001","lineNumber":"010-1234-5678"},"availableMonths":["2025-09"],"currentMonth":"2025-09"},"timestamp":"2025-09-08T14:30:00"%s}`
	bill := `{"lineNumber":"01012345678","billingMonth":"202509","productCode":"P","productName":"N","monthlyFee":69000,"usageFee":12500,%s"totalFee":76500,"dataUsage":"45GB","voiceUsage":"210분","smsUsage":"35건","billStatus":"CONFIRMED","dueDate":"20251025"}`
	inquiry := `{"success":true,"resultCode":"0000","resultMessage":"m","message":"m","data":{"requestId":"REQ_20250908_1A2B3C4D5E6F7A8B","procStatus":"SUCCESS","resultCode":"0000","resultMessage":"m","cacheHit":false,"billInfo":%s,"customerInfo":{"customerName":"홍길동","customerId":"CUST001","operatorCode":"KT","lineStatus":"ACTIVE"}},"timestamp":"%s"}`
	cases := []struct {
		name, method, path, body string
		valid                    bool
	}{
		{"menu as specified", "GET", "/api/v1/bills/menu", fmt.Sprintf(menu, ""), true},
		{"menu with an undeclared field", "GET", "/api/v1/bills/menu", fmt.Sprintf(menu, `,"extra":1`), false},
		{"menu with error beside data", "GET", "/api/v1/bills/menu", fmt.Sprintf(menu, `,"error":{"code":"X","message":"m","timestamp":"2025-09-08T14:30:00","path":"/"}`), false},
		{"inquiry as specified", "POST", "/api/v1/bills/inquiry", fmt.Sprintf(inquiry, fmt.Sprintf(bill, `"discountAmount":0,`), "2025-09-08T14:30:00"), true},
		{"inquiry without discountAmount", "POST", "/api/v1/bills/inquiry", fmt.Sprintf(inquiry, fmt.Sprintf(bill, ""), "2025-09-08T14:30:00"), false},
		{"inquiry with a zoned timestamp", "POST", "/api/v1/bills/inquiry", fmt.Sprintf(inquiry, fmt.Sprintf(bill, `"discountAmount":0,`), "2025-09-08T14:30:00+09:00"), false},
		{"inquiry failure carrying data", "POST", "/api/v1/bills/inquiry", `{"success":false,"resultCode":"1003","resultMessage":"m","message":"m","error":{"code":"1003","message":"m","timestamp":"2025-09-08T14:30:00","path":"/api/v1/bills/inquiry"},"data":{},"timestamp":"2025-09-08T14:30:00"}`, false},
	}
	specMu.Lock()
	defer specMu.Unlock()
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.path, nil)
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(c.body)), Request: req}
		ok, errs := s.strict.ValidateHttpResponse(req, resp)
		if ok != c.valid {
			t.Errorf("%s: valid = %v, want %v\n%s", c.name, ok, c.valid, specErrors(errs))
		}
	}
	kos := `{"success":false,"resultCode":"9006","resultMessage":"m","timestamp":"2025-09-08T14:30:00"%s}`
	if errs := componentErrors(t, "KosFailure", []byte(fmt.Sprintf(kos, ""))); len(errs) > 0 {
		t.Errorf("KosFailure as specified failed:\n%s", specErrors(errs))
	}
	if errs := componentErrors(t, "KosFailure", []byte(fmt.Sprintf(kos, `,"extra":true`))); len(errs) == 0 {
		t.Error("KosFailure with an undeclared field passed")
	}
}

// TestOpenAPIErrorBodies sends failing requests to every envelope family and
// checks the error bodies (400 with fieldErrors, 401, 403, 404, 405, and the
// HTTP-200 business failures) against the description.
func TestOpenAPIErrorBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	h, c := specServe(t)

	admin := h.AccessToken(t, "admin", "CUST900", "010-9000-0001", "ADMIN", "USER_MANAGEMENT", "BILL_INQUIRY", "PRODUCT_CHANGE")
	billOnly := h.AccessToken(t, "testuser02", "CUST002", "010-8765-4321", "BILL_INQUIRY")
	user01 := h.AccessToken(t, "testuser01", "CUST001", "010-1234-5678", "BILL_INQUIRY", "PRODUCT_CHANGE")
	user03 := h.AccessToken(t, "testuser03", "CUST003", "010-3333-4444", "BILL_INQUIRY", "PRODUCT_CHANGE")

	type check struct {
		method, path, token, body string
		status                    int
		field, value              string   // a top-level (or dotted) field the body must hold
		component                 string   // validate against this schema instead of an operation
		header                    []string // request header name, value
	}
	big := `{"lineNumber":"` + strings.Repeat("0", 70000) + `"}`
	change := `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"5G-PREMIUM-001"}`
	checks := []check{
		// Auth, shape B
		{method: "POST", path: "/api/v1/auth/login", body: `{"userId":"a","password":"short"}`, status: 400,
			field: "code", value: "INVALID_REQUEST"},
		{method: "POST", path: "/api/v1/auth/register", body: `{"userId":"newuser9","customerId":"C9","lineNumber":"010-5555-1111","userName":"김","password":"weakpassword","permissions":["BILL_INQUIRY"]}`,
			status: 400, field: "code", value: "INVALID_REQUEST"},
		{method: "POST", path: "/api/v1/auth/logout", status: 401, field: "code", value: "UNAUTHORIZED"},
		{method: "GET", path: "/api/v1/users/testuser01", token: billOnly, status: 403, field: "code", value: "ACCESS_DENIED"},
		{method: "GET", path: "/api/v1/users/nobody", token: admin, status: 404, field: "code", value: "USER_NOT_FOUND"},
		{method: "GET", path: "/api/v1/auth/nowhere", status: 404, field: "code", value: "NOT_FOUND", component: "AuthError"},
		{method: "GET", path: "/api/v1/auth/login", status: 405, field: "code", value: "METHOD_NOT_ALLOWED", component: "AuthError"},
		// Bill and Product, shape C
		{method: "POST", path: "/api/v1/bills/inquiry", token: user01, body: `{"lineNumber":"0101234"}`, status: 400,
			field: "resultCode", value: "INVALID_REQUEST"},
		{method: "GET", path: "/api/v1/bills/menu", status: 401, field: "resultCode", value: "UNAUTHORIZED"},
		{method: "POST", path: "/api/v1/bills/inquiry", token: user01, body: `{"lineNumber":"010-8765-4321"}`, status: 403,
			field: "resultCode", value: "UNAUTHORIZED_LINE_NUMBER"},
		{method: "POST", path: "/api/v1/products/change/validation", token: billOnly,
			body:   `{"lineNumber":"01087654321","currentProductCode":"LTE-BASIC-001","targetProductCode":"5G-PREMIUM-001"}`,
			status: 403, field: "resultCode", value: "ACCESS_DENIED"},
		{method: "GET", path: "/api/v1/products/customer?lineNumber=0101234", token: user01, status: 400,
			field: "resultCode", value: "INVALID_REQUEST"},
		{method: "GET", path: "/api/v1/products/change/00000000-0000-4000-8000-000000000000", token: user01, status: 404,
			field: "resultCode", value: "NOT_FOUND"},
		{method: "GET", path: "/api/v1/bills/nowhere", token: user01, status: 404, field: "resultCode", value: "NOT_FOUND",
			component: "StandardFailure"},
		{method: "POST", path: "/api/v1/bills/menu", token: user01, status: 405, field: "resultCode",
			value: "METHOD_NOT_ALLOWED", component: "StandardFailure"},
		// HTTP-200 business failures
		{method: "POST", path: "/api/v1/bills/inquiry", token: user01,
			body: fmt.Sprintf(`{"lineNumber":"010-1234-5678","inquiryMonth":"%s"}`, specMonthsAgo(12)), status: 200,
			field: "resultCode", value: "1003"},
		{method: "GET", path: "/api/v1/products/customer?lineNumber=01099990000", token: admin, status: 200,
			field: "resultCode", value: "CUSTOMER_NOT_FOUND"},
		{method: "POST", path: "/api/v1/products/change/validation", token: user03,
			body:   `{"lineNumber":"01033334444","currentProductCode":"LTE-PREMIUM-001","targetProductCode":"LTE-BASIC-001"}`,
			status: 200, field: "data.validationResult", value: "FAILURE"},
		{method: "POST", path: "/api/v1/auth/register", body: `{"userId":"testuser01","customerId":"CUSTNEW1","lineNumber":"010-5555-2222","userName":"김","password":"Passw0rd!","permissions":["BILL_INQUIRY"]}`,
			status: 409, field: "code", value: "USER_ALREADY_EXISTS"},
		{method: "POST", path: "/api/v1/auth/refresh", body: `{"refreshToken":"not-a-token"}`, status: 401,
			field: "code", value: "INVALID_TOKEN"},
		{method: "GET", path: "/api/v1/auth/verify?token=not-a-token", status: 200, field: "valid", value: "false"},
		{method: "POST", path: "/api/v1/auth/login", body: big, status: 413},
		{method: "POST", path: "/api/v1/bills/inquiry", token: user01, body: big, status: 413},
		{method: "POST", path: "/api/v1/kos/bill/inquiry", body: big, status: 413},
		{method: "POST", path: "/api/v1/kos/mock-datas", body: big, status: 413},
		// Product change: a FAILED verdict, an idempotent replay, a reused key.
		{method: "POST", path: "/api/v1/products/change", token: user01,
			body:   `{"lineNumber":"01012345678","currentProductCode":"5G-STANDARD-001","targetProductCode":"3G-OLD-001"}`,
			status: 200, field: "data.processStatus", value: "FAILED"},
		{method: "POST", path: "/api/v1/products/change", token: user01, body: change, header: []string{"Idempotency-Key", "spec-key-1"},
			status: 200, field: "data.processStatus", value: "COMPLETED"},
		{method: "POST", path: "/api/v1/products/change", token: user01, body: change, header: []string{"Idempotency-Key", "spec-key-1"},
			status: 200, field: "data.processStatus", value: "COMPLETED"},
		{method: "POST", path: "/api/v1/products/change", token: user01, header: []string{"Idempotency-Key", "spec-key-1"},
			body:   `{"lineNumber":"01012345678","currentProductCode":"5G-PREMIUM-001","targetProductCode":"LTE-BASIC-001"}`,
			status: 422, field: "resultCode", value: "IDEMPOTENCY_KEY_REUSED"},
		// KOS-Mock, KosCommonResponse
		{method: "POST", path: "/api/v1/kos/bill/inquiry", body: `{"lineNumber":"123"}`, status: 400, field: "resultCode", value: "9001"},
		{method: "POST", path: "/api/v1/kos/product/change", body: `{"lineNumber":`, status: 400, field: "resultCode", value: "9003"},
		{method: "POST", path: "/api/v1/kos/bill/inquiry", body: `{"lineNumber":"01099990000"}`, status: 200,
			field: "resultCode", value: "1001"},
		{method: "POST", path: "/api/v1/kos/product/change", status: 200, field: "resultCode", value: "2003",
			body: `{"lineNumber":"01087654321","currentProductCode":"LTE-BASIC-001","targetProductCode":"NO-SUCH-001","requestId":"spec-2003"}`},
		{method: "POST", path: "/api/v1/kos/product/change", status: 400, field: "resultCode", value: "9001",
			body: `{"lineNumber":"01087654321","currentProductCode":"LTE-BASIC-001","targetProductCode":"LTE-PREMIUM-001"}`},
		{method: "GET", path: "/api/v1/customer-info?lineNumber=01099990000", status: 200, field: "resultCode", value: "3001"},
		{method: "GET", path: "/api/v1/kos/customer-info", status: 400, field: "resultCode", value: "9001"},
		{method: "POST", path: "/api/v1/kos/product/inquiry", body: `{"lineNumber":"01033334444"}`, status: 200,
			field: "resultCode", value: "3002"},
		{method: "GET", path: "/api/v1/kos/bill/available-months/01099990000", status: 200, field: "resultCode", value: "1001"},
		{method: "GET", path: "/api/v1/kos/nowhere", status: 404, field: "resultCode", value: "9006", component: "KosFailure"},
		{method: "DELETE", path: "/api/v1/kos/product/list", status: 405, field: "resultCode", value: "9005", component: "KosFailure"},
		// KOS-Mock, ApiResponse
		{method: "POST", path: "/api/v1/kos/mock-datas", body: `{"customerId":"","lineNumber":"12"}`, status: 400,
			field: "errorCode", value: "4000"},
		{method: "GET", path: "/api/v1/kos/mock-datas/customer/product?customerId=NOPE&lineNumber=01099990000", status: 404,
			field: "errorCode", value: "1001"},
		{method: "GET", path: "/api/v1/mock-datas/customer/bill?customerId=NOPE&lineNumber=01099990000", status: 404,
			field: "errorCode", value: "1002"},
	}
	var exs []exchange
	for _, ck := range checks {
		ex := c.do(ck.method, ck.path, ck.token, ck.body, ck.header...)
		if ex.Status != ck.status {
			t.Errorf("%s %s: status %d, want %d; body %s", ck.method, ck.path, ex.Status, ck.status, specTruncate(ex.Body))
			continue
		}
		if got := specField(ex.Body, ck.field); ck.field != "" && got != ck.value {
			t.Errorf("%s %s: %s = %q, want %q; body %s", ck.method, ck.path, ck.field, got, ck.value, specTruncate(ex.Body))
		}
		if ck.component != "" {
			validateComponent(t, ck.component, ex.Body)
			continue
		}
		exs = append(exs, ex)
	}
	if n := countHeader(exs, "Idempotent-Replayed", "true"); n != 1 {
		t.Errorf("%d answers carried Idempotent-Replayed: true, want the one replay", n)
	}

	// Five wrong passwords: four 401s, then 423 with lockedUntil.
	for i := 1; i <= 5; i++ {
		ex := c.do("POST", "/api/v1/auth/login", "", `{"userId":"tester","password":"wrong-password"}`)
		if want := map[bool]int{true: 423, false: 401}[i == 5]; ex.Status != want {
			t.Fatalf("wrong password #%d: %d, want %d", i, ex.Status, want)
		}
		exs = append(exs, ex)
	}
	if specField(exs[len(exs)-1].Body, "lockedUntil") == "" {
		t.Errorf("423 without lockedUntil: %s", exs[len(exs)-1].Body)
	}
	validateExchanges(t, exs)

	// The registration form reads fieldErrors keyed by the camelCase fields.
	ex := c.do("POST", "/api/v1/auth/login", "", `{"userId":"a","password":"short"}`)
	var fe struct {
		FieldErrors map[string]string `json:"fieldErrors"`
	}
	_ = json.Unmarshal(ex.Body, &fe)
	if fe.FieldErrors["userId"] == "" || fe.FieldErrors["password"] == "" {
		t.Errorf("login 400 fieldErrors = %v, want userId and password", fe.FieldErrors)
	}
}

// specField returns the string form of a dotted field of a JSON object.
func specField(body []byte, field string) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, k := range strings.Split(field, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// specMonthsAgo is the YYYYMM month n months before the current Asia/Seoul month.
func specMonthsAgo(n int) string {
	now := time.Now().In(specSeoul())
	return time.Date(now.Year(), now.Month()-time.Month(n), 1, 0, 0, 0, 0, now.Location()).Format("200601")
}

func specSeoul() *time.Location {
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		return time.FixedZone("KST", 9*3600)
	}
	return loc
}

// specClient sends requests and records them as exchanges.
type specClient struct {
	t    *testing.T
	base string
}

func (c *specClient) do(method, path, token, body string, hdr ...string) exchange {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return exchange{Method: method, Path: path, Req: req, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func specErrors(errs []*liberrors.ValidationError) string {
	var sb strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&sb, "  - %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			loc := f.FieldPath
			if loc == "" {
				loc = "/" + strings.Join(f.InstancePath, "/")
			}
			fmt.Fprintf(&sb, "\n      %s: %s (%s)", loc, f.Reason, f.KeywordLocation)
		}
		sb.WriteString("\n")
	}
	return strings.TrimRight(sb.String(), "\n")
}

func specTruncate(b []byte) string {
	const limit = 600
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

func countHeader(exs []exchange, name, value string) int {
	n := 0
	for _, ex := range exs {
		if ex.Header.Get(name) == value {
			n++
		}
	}
	return n
}
