package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
)

// The OpenAPI document and the router must name the same operations.
func TestOpenAPIMatchesRouter(t *testing.T) {
	router := NewRouter(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var fromRouter []string
	for _, r := range router.Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		op := strings.ToUpper(r.Method) + " " + path
		if documented, ok := documentedPaths[strings.ToUpper(r.Method)+" "+r.Path]; ok {
			op = documented // a segment the handler parses, such as {name}:predict
		}
		fromRouter = append(fromRouter, op)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	var fromDoc []string
	for path, methods := range doc.Paths {
		for method, op := range methods {
			fromDoc = append(fromDoc, strings.ToUpper(method)+" "+path)
			if _, ok := op["operationId"]; !ok {
				t.Errorf("%s %s has no operationId", method, path)
			}
		}
	}
	sort.Strings(fromRouter)
	sort.Strings(fromDoc)
	if strings.Join(fromRouter, "\n") != strings.Join(fromDoc, "\n") {
		t.Errorf("router and OpenAPI differ\nrouter:\n%s\n\nopenapi.json:\n%s", strings.Join(fromRouter, "\n"), strings.Join(fromDoc, "\n"))
	}
}

// Every route that honours Idempotency-Key documents the header, and no
// other route claims to.
func TestOpenAPIDocumentsIdempotencyKeys(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []map[string]any `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, methods := range doc.Paths {
		for method, op := range methods {
			for _, p := range op.Parameters {
				if p["$ref"] == "#/components/parameters/IdempotencyKey" {
					documented[strings.ToUpper(method)+" "+path] = true
				}
			}
		}
	}
	want := map[string]bool{}
	for route := range idempotentRoutes {
		method, path, _ := strings.Cut(route, " ")
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		want[method+" "+path] = true
		if !documented[method+" "+path] {
			t.Errorf("%s %s honours Idempotency-Key but openapi.json does not say so", method, path)
		}
	}
	for op := range documented {
		if !want[op] {
			t.Errorf("openapi.json documents Idempotency-Key on %s, which does not honour it", op)
		}
	}
}
