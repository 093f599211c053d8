package api_test

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
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/pharmacysim"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workers"
	"github.com/carepath/carepath/workflows"
)

// pharmacyWebhookSecret is the secret the in-process pharmacy partner signs
// its webhooks with in the end-to-end tests.
const pharmacyWebhookSecret = "e2e-pharmacy-secret"

// newHarnessWithPharmacy is newHarness with the pharmacy partner simulated
// in-process: the worker's orders go to sim, and its signed webhooks come
// back through the harness's API. mutate may change more of the config.
func newHarnessWithPharmacy(t *testing.T, mutate func(*config.Config)) (*harness, *pharmacysim.Sim) {
	t.Helper()
	sim := pharmacysim.New(pharmacysim.Options{WebhookSecret: pharmacyWebhookSecret, StepDelay: 200 * time.Millisecond, DefaultStock: 100})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	t.Cleanup(sim.Close)
	h := newHarness(t, func(cfg *config.Config) {
		cfg.PharmacyAPIBase, cfg.PharmacyWebhookSecret = simSrv.URL, pharmacyWebhookSecret
		if mutate != nil {
			mutate(cfg)
		}
	})
	sim.SetWebhookURL(h.srv.URL + "/api/v1/webhooks/pharmacy")
	return h, sim
}

// send makes the request and reads the whole response body.
func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// pollJSON GETs (through get) until the answer is a 200 whose JSON body
// satisfies ok, and returns it; it fails the test after limit.
func pollJSON[T any](t *testing.T, what string, limit time.Duration, get func() (*http.Response, []byte), ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, raw := get()
		var v T
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("waiting for %s: %v in %s", what, err, raw)
			}
			if ok(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %d %s", what, resp.StatusCode, raw)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// harness is the real API in front of the real dev server, a worker on a
// task queue of the test's own, PostgreSQL, Redis, Neo4j and stripe-mock.
type harness struct {
	lastJourney string
	srv         *httptest.Server
	deps        *platform.Deps
	store       *store.Store
	auth        *auth.Service
	taskQueue   string
}

// harnessAdmin is who h.do acts as: an admin passes every access rule, so
// tests of a handler's own behaviour are not about access.
const harnessAdmin = "00000000-0000-4000-8000-00000000ad01"

func newHarness(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	cfg := testenv.Config(t)
	if mutate != nil {
		mutate(&cfg)
	}
	s := testenv.Store(t)
	if _, err := s.Seed(context.Background()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deps, err := platform.Connect(ctx, cfg, testenv.Logger(t))
	if err != nil {
		testenv.Fail(t, "a dependency", "its configured address", err)
	}
	t.Cleanup(func() { deps.Close(context.Background()) })
	if _, err := deps.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	taskQueue := fmt.Sprintf("api-test-%d", time.Now().UnixNano())
	workerDeps, err := workers.DepsFromConfig(cfg, deps.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := workers.NewJourneyWorker(deps.Temporal, taskQueue, workerDeps)
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	t.Cleanup(w.Stop)
	authSvc := testenv.Auth(t, deps.Store)
	srv := httptest.NewServer(api.NewRouter(api.Options{
		Auth:     authSvc,
		Temporal: deps.Temporal, Store: deps.Store, Health: deps, TaskQueue: taskQueue,
		HealthTimeout: 2 * time.Second, Logger: testenv.Logger(t), Pathways: testCatalog(t),
		Webhooks: api.WebhookOptions{StripeSecret: testStripeSecret, TwilioAuthToken: testTwilioToken, PublicBaseURL: testPublicBaseURL,
			PharmacySecret: cfg.PharmacyWebhookSecret},
	}))
	t.Cleanup(srv.Close)
	return &harness{srv: srv, deps: deps, store: deps.Store, auth: authSvc, taskQueue: taskQueue}
}

// enrolPathway is the smallest journey: enrol, wait a moment, finish.
const enrolPathway = `id: enrol-check
version: 1
title: Enrolment check
sources: [{id: test, citation: Test fixture}]
steps:
  - {id: settle, type: wait, time_limit: 200ms, on_timeout: continue, next: end}
`

// testCatalog is the shipped pathways plus the test's own.
func testCatalog(t *testing.T) *pathways.Catalog {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "labs-check.v1.yaml"), []byte(labsPathway), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "followup-check.v1.yaml"), []byte(followUpPathway), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "enrol-check.v1.yaml"), []byte(enrolPathway), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "general-consult.v900.yaml"), []byte(testenv.QuickConsultPathway(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "diet-check.v1.yaml"), []byte(dietCheckPathway), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "type-2-diabetes.v900.yaml"), []byte(testenv.QuickDiabetesPathway(t, quickDoseInterval.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := pathways.LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *harness) do(t *testing.T, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	return h.doAs(t, method, path, body, harnessAdmin, auth.RoleAdmin)
}

func (h *harness) doAs(t *testing.T, method, path, body, actorID, role string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if actorID != "" {
		req.Header.Set("Authorization", "Bearer "+testenv.Token(t, h.auth, role, actorID))
	}
	resp, raw := send(t, req)
	return resp, raw
}

func TestHealthCheckOKWhenEveryDependencyAnswers(t *testing.T) {
	h := newHarness(t, nil)
	// Anyone gets the status alone.
	resp, body := h.doAs(t, http.MethodGet, "/api/system/health/check", "", "", "")
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}` {
		t.Fatalf("anonymous: %d %s, want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
	}
	// An admin also gets every component, up.
	resp, body = h.do(t, http.MethodGet, "/api/system/health/check", "")
	var got struct {
		Status     string                     `json:"status"`
		Components []platform.ComponentHealth `json:"components"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || got.Status != "ok" || len(got.Components) != 5 {
		t.Fatalf("admin: %d %s, want ok with five components", resp.StatusCode, body)
	}
	for _, c := range got.Components {
		if c.State != "up" {
			t.Errorf("%s should be up: %+v", c.Name, c)
		}
	}
}

func TestHealthCheckNamesTheComponentThatIsDown(t *testing.T) {
	// A real Redis client pointed at a port where nothing listens.
	h := newHarness(t, func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0" })
	// Anyone learns only that the system is degraded.
	resp, body := h.doAs(t, http.MethodGet, "/api/system/health/check", "", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != `{"status":"degraded"}` {
		t.Fatalf("anonymous: %d %s, want 503 {\"status\":\"degraded\"}", resp.StatusCode, body)
	}
	// An admin is told which component is down.
	resp, body = h.do(t, http.MethodGet, "/api/system/health/check", "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
	var got struct {
		Status     string                     `json:"status"`
		Components []platform.ComponentHealth `json:"components"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	states := map[string]platform.ComponentHealth{}
	for _, c := range got.Components {
		states[c.Name] = c
	}
	if got.Status != "degraded" || states["redis"].State != "down" || states["redis"].Error == "" {
		t.Errorf("redis should be reported down with its error: %s", body)
	}
	for _, name := range []string{"postgres", "temporal", "neo4j", "stripe"} {
		if states[name].State != "up" {
			t.Errorf("%s should be up: %+v", name, states[name])
		}
	}
}

func TestJourneyEndToEnd(t *testing.T) {
	h := newHarness(t, nil)
	patient := store.SeedPatientID(3)
	episode := testenv.FreshEpisode(t, h.store, patient, "enrol-check")
	body := fmt.Sprintf(`{"patient_id":%q,"pathway_id":"enrol-check","episode":%d}`, patient, episode)

	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys", body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: status %d: %s", resp.StatusCode, raw)
	}
	var started struct {
		ID    string `json:"id"`
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(raw, &started); err != nil {
		t.Fatal(err)
	}
	wantID := testenv.JourneyID(t, h.store, patient, "enrol-check", episode)
	if started.ID != wantID || started.RunID == "" || resp.Header.Get("Location") != "/api/v1/journeys/"+wantID {
		t.Fatalf("start answered %s (Location %q)", raw, resp.Header.Get("Location"))
	}

	// The worker records the journey; the API answers from the workflow query.
	state := h.waitFor(t, wantID, "the journey to complete", func(s workflows.JourneyState) bool { return s.Status == workflows.StatusCompleted })
	if !state.Recorded || state.PatientID != patient || state.Episode != episode {
		t.Errorf("state = %+v", state)
	}
	// The state says completed a moment before the workflow writes its final
	// record; wait for the workflow itself to close.
	waitCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.deps.Temporal.GetWorkflow(waitCtx, wantID, "").Get(waitCtx, nil); err != nil {
		t.Fatalf("journey did not close: %v", err)
	}
	row, err := h.store.GetJourney(context.Background(), wantID)
	if err != nil {
		t.Fatalf("journey not in PostgreSQL: %v", err)
	}
	if row.Status != workflows.StatusCompleted || row.PatientID != patient || row.PathwayID != "enrol-check" {
		t.Errorf("row = %+v", row)
	}

	// Coordinators filter on search attributes: the journey carries them.
	desc, err := h.deps.Temporal.DescribeWorkflow(context.Background(), wantID, "")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := desc.TypedSearchAttributes.GetKeyword(workflows.PatientIDKey); !ok || v != patient {
		t.Errorf("PatientID search attribute = %q, %v", v, ok)
	}
	if v, ok := desc.TypedSearchAttributes.GetKeyword(workflows.PathwayVersionKey); !ok || v != "1" {
		t.Errorf("PathwayVersion search attribute = %q, %v", v, ok)
	}
	if v, ok := desc.TypedSearchAttributes.GetKeyword(workflows.JourneyStageKey); !ok || v != workflows.StatusCompleted {
		t.Errorf("JourneyStage search attribute = %q, %v", v, ok)
	}

	// Starting the same journey again is a conflict, not a second journey.
	resp, raw = h.do(t, http.MethodPost, "/api/v1/journeys", body)
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("second start: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	again, err := h.deps.Temporal.DescribeWorkflow(context.Background(), wantID, "")
	if err != nil {
		t.Fatal(err)
	}
	if again.WorkflowExecution.RunID != started.RunID {
		t.Errorf("a second run was started: %s != %s", again.WorkflowExecution.RunID, started.RunID)
	}
}

func TestBadRequestsGetProblemsNamingTheField(t *testing.T) {
	h := newHarness(t, nil)
	unknownPatient := "00000000-0000-4000-8000-000000000000"
	cases := []struct {
		name, method, path, body string
		status                   int
		pointer                  string
	}{
		{"unknown field", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"enrol-check","diagnosis":"x"}`, 422, "/diagnosis"},
		{"bad patient id", "POST", "/api/v1/journeys", `{"patient_id":"alice","pathway_id":"enrol-check"}`, 422, "/patient_id"},
		{"unregistered patient", "POST", "/api/v1/journeys", `{"patient_id":"` + unknownPatient + `","pathway_id":"enrol-check"}`, 422, "/patient_id"},
		{"bad pathway", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"General Consult"}`, 422, "/pathway_id"},
		{"unknown pathway", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"astrology"}`, 422, "/pathway_id"},
		{"unknown version", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"general-consult","pathway_version":99,"slot_id":"` + unknownPatient + `"}`, 422, "/pathway_version"},
		{"booking pathway without a slot", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"general-consult"}`, 422, "/slot_id"},
		{"bad slot id", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"general-consult","slot_id":"tuesday"}`, 422, "/slot_id"},
		{"wrong type", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"enrol-check","episode":"two"}`, 422, "/episode"},
		{"episode out of range", "POST", "/api/v1/journeys", `{"patient_id":"` + store.SeedPatientID(1) + `","pathway_id":"enrol-check","episode":0}`, 422, "/episode"},
		{"not json", "POST", "/api/v1/journeys", `{"patient_id":`, 400, ""},
		{"empty body", "POST", "/api/v1/journeys", ``, 400, ""},
		{"two values", "POST", "/api/v1/journeys", `{} {}`, 400, ""},
		{"too large", "POST", "/api/v1/journeys", `{"patient_id":"` + strings.Repeat("a", 70<<10) + `"}`, 400, ""},
		{"malformed journey id", "GET", "/api/v1/journeys/not-a-journey", "", 404, ""},
		{"journey that was never started", "GET", "/api/v1/journeys/" + workflows.NewJourneyWorkflowID(unknownPatient), "", 404, ""},
		{"no such route", "GET", "/api/v1/nothing-here", "", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := h.do(t, tc.method, tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p api.Problem
			if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.status || p.Title == "" || !strings.HasPrefix(p.Type, "https://") {
				t.Errorf("problem = %+v", p)
			}
			if tc.pointer != "" {
				found := false
				for _, f := range p.Errors {
					found = found || f.Pointer == tc.pointer
				}
				if !found {
					t.Errorf("no error names %s: %s", tc.pointer, raw)
				}
			}
		})
	}
	t.Run("decision without a token", func(t *testing.T) {
		path := "/api/v1/journeys/" + workflows.NewJourneyWorkflowID(unknownPatient) + "/decisions"
		resp, raw := h.doAs(t, "POST", path, `{"step_id":"doctor_review","outcome":"accepted"}`, "", "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d, want 401 with WWW-Authenticate: %s", resp.StatusCode, raw)
		}
	})
}

func TestDocsAndOpenAPIAreServed(t *testing.T) {
	h := newHarness(t, nil)
	resp, raw := h.do(t, http.MethodGet, "/openapi.json", "")
	if resp.StatusCode != 200 || !json.Valid(raw) || !bytes.Contains(raw, []byte(`"openapi": "3.1.0"`)) {
		t.Fatalf("openapi.json: %d", resp.StatusCode)
	}
	resp, raw = h.do(t, http.MethodGet, "/docs", "")
	if resp.StatusCode != 200 || !bytes.Contains(raw, []byte("/api/v1/journeys/{id}")) || !bytes.Contains(raw, []byte("does not replace")) {
		t.Fatalf("docs: %d %s", resp.StatusCode, raw)
	}
}
