package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
)

// The model endpoints need only the models: no Temporal, no database.
func modelServer(t *testing.T) (*httptest.Server, *inference.Registry) {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := inference.Open(cfg.ONNXRuntimeLib)
	if err != nil {
		t.Fatalf("%v\n(run `make tools`)", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	srv := httptest.NewServer(authedRouter(t, api.Options{Models: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return srv, reg
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, raw := send(t, req)
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

type problemDoc struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Detail  string `json:"detail"`
	} `json:"errors"`
}

const riskBody = `{"inputs":[{"features":{"age":55,"sex":1,"bmi":36,"mean_arterial_pressure":112,
	"total_cholesterol":{"value":5.4,"unit":"mmol/L"},"ldl":{"value":3.3,"unit":"mmol/L"},"hdl":{"value":1.0,"unit":"mmol/L"},
	"cholesterol_hdl_ratio":5.4,"log_triglycerides":5.6,"glucose":{"value":6.1,"unit":"mmol/L"}}}]}`

func TestListModels(t *testing.T) {
	srv, _ := modelServer(t)
	status, _, raw := call(t, srv, http.MethodGet, "/api/v1/models", "")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	var resp struct {
		Models []struct {
			Name, Version, Kind, Source, Disclaimer, SHA256 string
			Card                                            map[string]any
			Postprocess                                     inference.Postprocess
			Links                                           struct{ Predict string }
		}
		Slots []struct {
			Kind, Purpose, Note string
			Models              []string
		}
		Runtime, Disclaimer string
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Models) != 2 || resp.Models[0].Name != inference.RiskModel || resp.Models[1].Name != inference.AnomalyModel {
		t.Fatalf("models = %+v", resp.Models)
	}
	risk := resp.Models[0]
	for _, key := range []string{"data", "licence", "target", "split", "metrics", "calibration", "intended_use", "limits"} {
		if risk.Card[key] == nil || risk.Card[key] == "" {
			t.Errorf("risk card lacks %s", key)
		}
	}
	if len(risk.Postprocess.Levels) != 3 || risk.Links.Predict != "/api/v1/models/"+inference.RiskModel+":predict" {
		t.Errorf("risk model: levels %+v, links %+v", risk.Postprocess.Levels, risk.Links)
	}
	if len(resp.Slots) != 1 || !strings.Contains(resp.Slots[0].Note, "No diabetic retinopathy model ships") || len(resp.Slots[0].Models) != 0 {
		t.Errorf("slots = %+v; the empty retinopathy slot must be said plainly", resp.Slots)
	}
	if resp.Runtime != "onnxruntime 1.24.3" || !strings.Contains(resp.Disclaimer, "do not replace") {
		t.Errorf("runtime %q, disclaimer %q", resp.Runtime, resp.Disclaimer)
	}
}

func TestPredictRisk(t *testing.T) {
	srv, reg := modelServer(t)
	status, _, raw := call(t, srv, http.MethodPost, "/api/v1/models/"+inference.RiskModel+":predict", riskBody)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	var resp struct {
		Model, Version, Disclaimer string
		Predictions                []inference.Prediction
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	var req struct{ Inputs []inference.Input }
	if err := json.Unmarshal([]byte(riskBody), &req); err != nil {
		t.Fatal(err)
	}
	m, err := reg.Model(inference.RiskModel)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Predict(context.Background(), req.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Predictions) != 1 || resp.Predictions[0].Risk == nil || *resp.Predictions[0].Risk != *want[0].Risk {
		t.Errorf("API predictions %+v, model %+v", resp.Predictions, want[0].Risk)
	}
	if resp.Model != inference.RiskModel || resp.Version != m.Version() || resp.Disclaimer == "" {
		t.Errorf("response = %+v", resp)
	}
}

func TestPredictAnomaly(t *testing.T) {
	srv, _ := modelServer(t)
	body := `{"inputs":[{"channels":{"heart_rate":[72,74,71,73,75,72,70,71,73,74,72,71],"spo2":[97,97,96,97,86,85,84,85,86,84,85,85],
		"glucose":{"values":[6.1,6.2,6.2,6.3,6.4,6.7,6.6,6.5,6.4,6.3,6.2,6.2],"unit":"mmol/L"}}}]}`
	status, _, raw := call(t, srv, http.MethodPost, "/api/v1/models/"+inference.AnomalyModel+":predict", body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	var resp struct{ Predictions []inference.Prediction }
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	if a := resp.Predictions[0].Anomaly; a == nil || !a.Flagged || a.Kind != "desaturation" {
		t.Errorf("anomaly = %+v, want a flagged desaturation", a)
	}
}

func TestPredictRefusals(t *testing.T) {
	srv, _ := modelServer(t)
	riskPath := "/api/v1/models/" + inference.RiskModel + ":predict"
	cases := []struct {
		name, path, body string
		status           int
		pointer          string
	}{
		{"unknown model", "/api/v1/models/retinopathy-grade:predict", riskBody, 404, ""},
		{"invalid model name", "/api/v1/models/Risk%20Model:predict", riskBody, 404, ""},
		{"unknown action", "/api/v1/models/" + inference.RiskModel + ":explain", riskBody, 404, ""},
		{"no action", "/api/v1/models/" + inference.RiskModel, riskBody, 404, ""},
		{"missing feature", riskPath, strings.Replace(riskBody, `"bmi":36,`, "", 1), 422, "/inputs/0/features/bmi"},
		{"implausible value", riskPath, strings.Replace(riskBody, `"bmi":36`, `"bmi":360`, 1), 422, "/inputs/0/features/bmi"},
		{"unit not accepted", riskPath, strings.Replace(riskBody, `"unit":"mmol/L"}}}]}`, `"unit":"mg/L"}}}]}`, 1), 422, "/inputs/0/features/glucose"},
		{"no inputs", riskPath, `{"inputs":[]}`, 422, "/inputs"},
		{"unknown field", riskPath, `{"inputs":[],"explain":true}`, 422, "/explain"},
		{"a string for a number", riskPath, strings.Replace(riskBody, `"age":55`, `"age":"55"`, 1), 400, ""},
		{"not JSON", riskPath, `inputs`, 400, ""},
		{"window sent to the risk model", riskPath, `{"inputs":[{"channels":{"spo2":[97]}}]}`, 422, "/inputs/0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, ctype, raw := call(t, srv, http.MethodPost, c.path, c.body)
			if status != c.status || ctype != "application/problem+json" {
				t.Fatalf("status %d (%s): %s; want %d problem+json", status, ctype, raw, c.status)
			}
			var p problemDoc
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			if c.pointer == "" {
				return
			}
			for _, e := range p.Errors {
				if e.Pointer == c.pointer {
					return
				}
			}
			t.Errorf("problem %+v does not point at %s", p, c.pointer)
		})
	}
}
