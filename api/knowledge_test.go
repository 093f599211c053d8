package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/knowledge"
)

var knowledgeLoad sync.Once

// knowledgeServer is the real router with only the knowledge graph behind
// it, on the local Neo4j with the embedded data set loaded (idempotent).
func knowledgeServer(t *testing.T) *httptest.Server {
	t.Helper()
	g := knowledge.New(testenv.Neo4j(t))
	var loadErr error
	knowledgeLoad.Do(func() {
		d, err := knowledge.Embedded()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			_, err = g.Load(ctx, d)
		}
		loadErr = err
	})
	if loadErr != nil {
		t.Fatalf("load knowledge graph: %v", loadErr)
	}
	srv := httptest.NewServer(authedRouter(t, api.Options{Logger: testenv.Logger(t), Knowledge: g}))
	t.Cleanup(srv.Close)
	return srv
}

func kcall(t *testing.T, method, url, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

func TestKnowledgeInteractionsCheck(t *testing.T) {
	srv := knowledgeServer(t)
	url := srv.URL + "/api/v1/knowledge/interactions:check"
	status, _, body := kcall(t, "POST", url, `{"drugs":["Zocor","clarithromycin","Glucophage"],"conditions":["E11.9"],"egfr":25,"age":70,"allergies":["penicillin"],"include_diet":true}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	findings := body["findings"].([]any)
	issues := body["detected_issues"].([]any)
	if len(findings) == 0 || len(findings) != len(issues) {
		t.Fatalf("%d findings, %d detected issues", len(findings), len(issues))
	}
	first := findings[0].(map[string]any)
	if first["severity"] != "contraindicated" {
		t.Errorf("first finding %v, want the most severe first", first)
	}
	di := issues[0].(map[string]any)
	if di["resourceType"] != "DetectedIssue" || di["severity"] != "high" {
		t.Errorf("detected issue %v", di)
	}
	if diet := body["diet"].([]any); len(diet) == 0 || diet[0].(map[string]any)["item"] != "grapefruit" {
		t.Errorf("diet %v, want grapefruit first (simvastatin)", body["diet"])
	}
	if body["complete"] != true || !strings.Contains(body["notice"].(string), "does not replace clinical judgement") {
		t.Errorf("complete %v notice %v", body["complete"], body["notice"])
	}

	status, _, body = kcall(t, "POST", url, `{"drugs":["simvastatin","zzqxv"]}`)
	if status != http.StatusOK || body["complete"] != false {
		t.Errorf("unknown drug: status %d complete %v", status, body["complete"])
	}
	names := body["names"].([]any)
	if names[1].(map[string]any)["status"] != "unknown" {
		t.Errorf("names %v", names)
	}

	for _, bad := range []string{`{"drugs":[]}`, `{"drugs":["x"],"age":200}`, `{"drugs":["x"],"egfr":-1}`, `{"drugs":["x"],"dose":1}`, `{"drugs":[""]}`} {
		status, ctype, body := kcall(t, "POST", url, bad)
		if status != http.StatusUnprocessableEntity || ctype != "application/problem+json" {
			t.Errorf("%s: status %d %s %v, want 422 problem", bad, status, ctype, body)
		}
	}
	if status, _, _ := kcall(t, "POST", url, `not json`); status != http.StatusBadRequest {
		t.Errorf("malformed body: status %d", status)
	}
}

func TestKnowledgeDrugSearch(t *testing.T) {
	srv := knowledgeServer(t)
	status, _, body := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs?q=Zocor", "")
	if status != http.StatusOK || body["status"] != "resolved" {
		t.Fatalf("Zocor: %d %v", status, body)
	}
	if id := body["items"].([]any)[0].(map[string]any)["id"]; id != "simvastatin" || body["next_cursor"] != nil {
		t.Errorf("Zocor is %v", id)
	}
	_, _, all := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs?q=HCT&sort=name", "")
	candidates, _ := all["items"].([]any)
	if all["status"] != "ambiguous" || len(candidates) < 2 {
		t.Fatalf("HCT: %v", all)
	}
	// The candidates page like every list: one at a time, by name.
	var names []any
	next := ""
	for range candidates {
		_, _, page := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs?q=HCT&sort=name&limit=1"+next, "")
		items, _ := page["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("HCT page: %v", page)
		}
		names = append(names, items[0].(map[string]any)["name"])
		cur, _ := page["next_cursor"].(string)
		next = "&cursor=" + cur
	}
	for i, c := range candidates {
		if names[i] != c.(map[string]any)["name"] {
			t.Errorf("paged names %v differ from %v", names, candidates)
		}
	}
	if status, _, body := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs?q=HCT&sort=price", ""); status != http.StatusBadRequest ||
		body["errors"].([]any)[0].(map[string]any)["parameter"] != "sort" {
		t.Errorf("bad sort: %d %v", status, body)
	}
	if _, _, body := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs?q=metfromin", ""); body["status"] != "resolved" || body["match"] != "misspelling" {
		t.Errorf("metfromin: %v", body)
	}
	if status, _, body := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs", ""); status != http.StatusUnprocessableEntity ||
		!strings.HasPrefix(body["detail"].(string), "q: ") {
		t.Errorf("missing q: %d %v", status, body)
	}
}

func TestKnowledgeTreatments(t *testing.T) {
	srv := knowledgeServer(t)
	status, _, body := kcall(t, "GET", srv.URL+"/api/v1/knowledge/conditions/E11.9/treatments?egfr=25&allergies=sulfa", "")
	if status != http.StatusOK {
		t.Fatalf("status %d %v", status, body)
	}
	for _, o := range body["options"].([]any) {
		for _, d := range o.(map[string]any)["drugs"].([]any) {
			if d.(map[string]any)["id"] == "metformin" {
				t.Errorf("metformin offered at eGFR 25")
			}
		}
	}
	if status, ctype, _ := kcall(t, "GET", srv.URL+"/api/v1/knowledge/conditions/Z99.99/treatments", ""); status != http.StatusNotFound || ctype != "application/problem+json" {
		t.Errorf("unknown condition: %d %s", status, ctype)
	}
	if status, _, _ := kcall(t, "GET", srv.URL+"/api/v1/knowledge/conditions/I10/treatments?age=old", ""); status != http.StatusUnprocessableEntity {
		t.Errorf("bad age: %d", status)
	}
}

func TestKnowledgeWithoutGraph(t *testing.T) {
	srv := httptest.NewServer(authedRouter(t, api.Options{Logger: testenv.Logger(t)}))
	defer srv.Close()
	if status, _, _ := kcall(t, "GET", srv.URL+"/api/v1/knowledge/drugs?q=x", ""); status != http.StatusServiceUnavailable {
		t.Errorf("no graph: %d, want 503", status)
	}
}
