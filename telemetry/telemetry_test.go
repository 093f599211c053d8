package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestSQLOperationNamesTheStatementOnly(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT id FROM patient WHERE email = $1":    "SELECT",
		"  insert into journey_ref (id) values ($1)": "INSERT",
		"-- ping": "SQL",
		"/* by name */ UPDATE slot SET status = 'held'": "UPDATE",
		"-- find\nWITH x AS (SELECT 1) SELECT * FROM x": "WITH",
		"(SELECT 1) UNION (SELECT 2)":                   "SELECT",
		"Jane Doe has type 2 diabetes":                  "SQL",
		"":                                              "SQL",
		"selectivity":                                   "SQL",
		"DELETE FROM consent WHERE patient_id = 'a-patient'": "DELETE",
	} {
		if got := sqlOperation(sql); got != want {
			t.Errorf("sqlOperation(%q) = %q, want %q", sql, got, want)
		}
	}
}

func TestLegacyJourneyIDsLoseTheirPathway(t *testing.T) {
	for in, want := range map[string]string{
		"journey:0b6f7c1e-0000-4000-8000-000000000001:type-2-diabetes:2": "journey:0b6f7c1e-0000-4000-8000-000000000001:legacy",
		"journey:0b6f7c1e-0000-4000-8000-000000000001:Zq3xTk9":           "journey:0b6f7c1e-0000-4000-8000-000000000001:Zq3xTk9",
		"adherence:p:rx:1": "adherence:p:rx:1",
	} {
		if got := safeTemporalAttribute(attribute.String("temporalWorkflowID", in)).Value.AsString(); got != want {
			t.Errorf("%q became %q, want %q", in, got, want)
		}
	}
	// Through the span the interceptor writes to.
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	span := startTemporalSpan(context.Background(), tp.Tracer("test"), "StartWorkflow:Journey")
	span.SetAttributes(attribute.String("temporalWorkflowID", "journey:p:asthma:1"))
	span.End()
	got := spans.GetSpans()
	if len(got) != 1 || len(got[0].Attributes) != 1 || got[0].Attributes[0].Value.AsString() != "journey:p:legacy" {
		t.Fatalf("span attributes = %+v", got)
	}
}

func TestLoggerAddsTheTraceIDInsideASpan(t *testing.T) {
	var buf bytes.Buffer
	logger := Logger(slog.New(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	logger.InfoContext(ctx, "inside")
	span.End()
	logger.InfoContext(context.Background(), "outside")

	dec := json.NewDecoder(&buf)
	var inside, outside map[string]any
	if err := dec.Decode(&inside); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&outside); err != nil {
		t.Fatal(err)
	}
	if inside["trace_id"] != span.SpanContext().TraceID().String() || inside["span_id"] != span.SpanContext().SpanID().String() || inside["component"] != "test" {
		t.Errorf("inside a span: %v", inside)
	}
	if _, ok := outside["trace_id"]; ok {
		t.Errorf("outside a span: %v", outside)
	}
}
