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
