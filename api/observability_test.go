package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/knowledge"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/telemetry"
	"github.com/carepath/carepath/workflows"
)

// lockedBuffer is a log sink the API's goroutines may write side by side.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestObservabilityOfAJourney runs a real journey through the API on the
// dev server with telemetry on (spans in memory), then checks what an
// operator sees: one trace from the HTTP request through the Temporal client
// to the workflow's activities and their SQL, the SDK's and the API's
// metrics by route template, the pool's and the journey's, and log lines
// with the trace ID. Nothing PHI-adjacent appears in spans or metrics.
func TestObservabilityOfAJourney(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "carepath-test", SpanExporter: spans, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("telemetry shutdown: %v", err)
		}
	})
	// The harness dials Temporal and opens the pool after Setup, so its
	// client, worker and queries are instrumented.
	base := newHarness(t, nil)
	tel.Registry.MustRegister(telemetry.NewPoolCollector(base.deps.Store.Pool))

	// The same API, logging into logs through the trace-ID handler.
	logs := &lockedBuffer{}
	logger := telemetry.Logger(slog.New(slog.NewJSONHandler(logs, nil)))
	srv := httptest.NewServer(api.NewRouter(api.Options{
		Auth: base.auth, Temporal: base.deps.Temporal, Store: base.store, Health: base.deps, TaskQueue: base.taskQueue,
		HealthTimeout: 2 * time.Second, Logger: logger, Pathways: testCatalog(t), Knowledge: knowledge.New(base.deps.Neo4j),
	}))
	t.Cleanup(srv.Close)
	h := *base
	h.srv = srv

	patient := store.SeedPatientID(4)
	episode := testenv.FreshEpisode(t, h.store, patient, "enrol-check")
	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys", fmt.Sprintf(`{"patient_id":%q,"pathway_id":"enrol-check","episode":%d}`, patient, episode))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: status %d: %s", resp.StatusCode, raw)
	}
	var started struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &started); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, started.ID, "the journey to complete", func(s workflows.JourneyState) bool { return s.Status == workflows.StatusCompleted })
	waitCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.deps.Temporal.GetWorkflow(waitCtx, started.ID, "").Get(waitCtx, nil); err != nil {
		t.Fatalf("journey did not close: %v", err)
	}

	t.Run("one trace from the request to the activities and SQL", func(t *testing.T) {
		all := spans.GetSpans()
		var start *tracetest.SpanStub
		for i := range all {
			if all[i].Name == "POST /api/v1/journeys" && all[i].SpanKind == trace.SpanKindServer {
				start = &all[i]
			}
		}
		if start == nil {
			t.Fatalf("no server span named by the route template among %d spans: %v", len(all), spanNames(all))
		}
		var client, workflowRun, activity, sql bool
		for _, s := range all {
			if s.SpanContext.TraceID() != start.SpanContext.TraceID() {
				continue
			}
			switch {
			case s.SpanKind == trace.SpanKindClient && (strings.HasPrefix(s.Name, "StartWorkflow:") || strings.HasPrefix(s.Name, "UpdateWithStartWorkflow:")):
				client = true
			case strings.HasPrefix(s.Name, "RunWorkflow:"):
				workflowRun = true
			case s.Name == "RunActivity:RecordJourney":
				activity = true
			case s.SpanKind == trace.SpanKindClient && s.InstrumentationScope.Name == "github.com/carepath/carepath/telemetry":
				sql = true
			}
		}
		if !client || !workflowRun || !activity || !sql {
			t.Errorf("trace %s: Temporal client span %v, workflow span %v, RecordJourney activity span %v, SQL span %v; spans: %v",
				start.SpanContext.TraceID(), client, workflowRun, activity, sql, spanNames(all))
		}
		for _, s := range all {
			for _, a := range s.Attributes {
				if v := a.Value.Emit(); strings.Contains(v, "enrol-check") || strings.Contains(strings.ToLower(v), "insert into") {
					t.Errorf("span %q attribute %s = %q names a pathway or carries SQL", s.Name, a.Key, v)
				}
			}
		}
	})

	t.Run("a knowledge graph query is a span of its request", func(t *testing.T) {
		if resp, raw := h.do(t, http.MethodGet, "/api/v1/knowledge/drugs?q=metformin", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("drug search: %d %s", resp.StatusCode, raw)
		}
		all := spans.GetSpans()
		requests := map[trace.TraceID]bool{}
		for _, s := range all {
			if s.Name == "GET /api/v1/knowledge/drugs" {
				requests[s.SpanContext.TraceID()] = true
			}
		}
		var found bool
		for _, s := range all {
			if s.Name == "neo4j" && requests[s.SpanContext.TraceID()] {
				found = true
				for _, a := range s.Attributes {
					if strings.Contains(a.Value.Emit(), "metformin") {
						t.Errorf("neo4j span attribute %s carries the query's parameter", a.Key)
					}
				}
			}
		}
		if len(requests) == 0 || !found {
			t.Errorf("no neo4j span in the drug search's trace; spans: %v", spanNames(all))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body := scrape(t, tel)
		for _, want := range []*regexp.Regexp{
			// The SDK's own, from the worker and the client.
			regexp.MustCompile(`(?m)^temporal_activity_execution_latency_seconds_bucket\{.*activity_type="RecordJourney"`),
			regexp.MustCompile(`(?m)^temporal_workflow_task_schedule_to_start_latency_seconds_bucket\{`),
			regexp.MustCompile(`(?m)^temporal_request_total\{`),
			// HTTP by route template.
			regexp.MustCompile(`(?m)^http_server_request_duration_seconds_count\{.*http_route="/api/v1/journeys/:id".*\} [1-9]`),
			regexp.MustCompile(`(?m)^http_server_request_duration_seconds_count\{.*http_route="/api/v1/journeys".*\} 1$`),
			// The pool.
			regexp.MustCompile(`(?m)^carepath_db_pool_total_conns [1-9]`),
			regexp.MustCompile(`(?m)^carepath_db_pool_acquires_total [1-9]`),
			// The journey's, by pathway.
			regexp.MustCompile(`(?m)^carepath_journeys_started_total\{.*pathway="enrol-check".*\} 1$`),
			regexp.MustCompile(`(?m)^carepath_journey_steps_completed_total\{.*pathway="enrol-check".*step_type="wait".*\} 1$`),
		} {
			if !want.MatchString(body) {
				t.Errorf("/metrics has no line matching %s", want)
			}
		}
		if strings.Contains(body, started.ID) || strings.Contains(body, patient) {
			t.Errorf("/metrics names the journey or the patient")
		}
		// Every series the Grafana dashboard plots is one these programs
		// export: here already, or one only a failure or an alert creates.
		onlyOnFailure := map[string]bool{"temporal_request_failure_total": true, "temporal_activity_execution_failed_total": true,
			"temporal_workflow_task_execution_failed_total": true, "carepath_journey_attention_raised_total": true}
		raw, err := os.ReadFile("../deploy/grafana/carepath.json")
		if err != nil {
			t.Fatal(err)
		}
		var dashboard struct {
			Panels []struct {
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dashboard); err != nil {
			t.Fatalf("dashboard: %v", err)
		}
		series := regexp.MustCompile(`\b(?:temporal|carepath|http_server)_[a-z_]+`)
		var plotted int
		for _, p := range dashboard.Panels {
			for _, target := range p.Targets {
				for _, name := range series.FindAllString(target.Expr, -1) {
					plotted++
					if !onlyOnFailure[name] && !regexp.MustCompile(`(?m)^`+name+`[{ ]`).MatchString(body) {
						t.Errorf("the dashboard plots %s, which /metrics does not export", name)
					}
				}
			}
		}
		if plotted < 10 {
			t.Errorf("the dashboard plots %d series", plotted)
		}
	})

	t.Run("log lines carry the trace ID", func(t *testing.T) {
		var found bool
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var rec struct {
				Msg     string `json:"msg"`
				Route   string `json:"route"`
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			}
			if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "HTTP request" {
				continue
			}
			if len(rec.TraceID) != 32 || len(rec.SpanID) != 16 {
				t.Errorf("request log without trace_id/span_id: %s", line)
			}
			found = true
		}
		if !found {
			t.Fatalf("no request log line in %q", logs.String())
		}
	})
}

func spanNames(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func scrape(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, raw)
	}
	return string(raw)
}

// downChecker reports one dependency down.
type downChecker struct{}

func (downChecker) Check(context.Context, time.Duration) ([]platform.ComponentHealth, bool) {
	return []platform.ComponentHealth{{Name: "postgres", State: "down", Error: "no answer"}}, false
}

// TestLivenessAndReadiness: liveness answers while the process serves,
// whatever the dependencies; readiness follows them.
func TestLivenessAndReadiness(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/livez", "/readyz"} {
		resp, raw := h.doAs(t, http.MethodGet, path, "", "", "")
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(raw)) != `{"status":"ok"}` {
			t.Errorf("%s with every dependency up: %d %s", path, resp.StatusCode, raw)
		}
	}

	down := httptest.NewServer(api.NewRouter(api.Options{Health: downChecker{}, HealthTimeout: time.Second, Logger: testenv.Logger(t)}))
	t.Cleanup(down.Close)
	for path, want := range map[string]struct {
		status int
		body   string
	}{
		"/livez":  {http.StatusOK, `{"status":"ok"}`},
		"/readyz": {http.StatusServiceUnavailable, `{"status":"degraded"}`},
	} {
		resp, err := http.Get(down.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want.status || strings.TrimSpace(string(raw)) != want.body {
			t.Errorf("%s with PostgreSQL down: %d %s, want %d %s", path, resp.StatusCode, raw, want.status, want.body)
		}
		if strings.Contains(string(raw), "postgres") {
			t.Errorf("%s names a component: %s", path, raw)
		}
	}
}
