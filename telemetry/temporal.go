package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// instrumentation is the name the spans and meters of CarePath's own
// instrumentation carry (otel_scope_name).
const instrumentation = "github.com/carepath/carepath/telemetry"

// TemporalMetricsHandler sends the Temporal SDK's metrics (and the
// workflows' own, through workflow.GetMetricsHandler) to the global meter
// provider. Counters are monotonic, so Prometheus sees them as counters; a
// meter error is logged instead of the SDK's default panic.
func TemporalMetricsHandler(logger *slog.Logger) client.MetricsHandler {
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                otel.GetMeterProvider().Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		OnError: func(err error) {
			logger.Warn("Temporal SDK metric not recorded", "error", err)
		},
	})
}

// TemporalInterceptor traces every Temporal call a client makes (start,
// update, signal, query) and every workflow and activity a worker built on
// that client runs, through the global tracer provider. The trace travels
// in Temporal headers with the interceptor's own propagator, so one trace
// runs from the HTTP request to the activities. Workflow and activity
// loggers gain TraceID and SpanID.
func TemporalInterceptor() (interceptor.ClientInterceptor, error) {
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:      otel.GetTracerProvider().Tracer("temporal-sdk-go"),
		SpanStarter: startTemporalSpan,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: temporal tracing interceptor: %w", err)
	}
	return i, nil
}

// startTemporalSpan starts the interceptor's spans with attributes that
// pass through safeTemporalAttribute: the interceptor sets the workflow ID
// after the span starts, so the span is wrapped to filter later attributes.
func startTemporalSpan(ctx context.Context, t trace.Tracer, name string, opts ...trace.SpanStartOption) trace.Span {
	_, span := t.Start(ctx, name, opts...)
	return redactingSpan{span}
}

// redactingSpan is a span whose attributes pass through
// safeTemporalAttribute.
type redactingSpan struct{ trace.Span }

func (s redactingSpan) SetAttributes(kv ...attribute.KeyValue) {
	out := make([]attribute.KeyValue, len(kv))
	for i, a := range kv {
		out[i] = safeTemporalAttribute(a)
	}
	s.Span.SetAttributes(out...)
}

// safeTemporalAttribute cuts a legacy journey ID
// (journey:PATIENT:PATHWAY:EPISODE, whose pathway names a condition) back
// to journey:PATIENT:legacy. Opaque journey IDs (journey:PATIENT:TOKEN)
// and the other workflow IDs name no condition and pass as they are, so an
// operator can find a journey's trace by its ID.
func safeTemporalAttribute(a attribute.KeyValue) attribute.KeyValue {
	if a.Value.Type() != attribute.STRING {
		return a
	}
	v := a.Value.AsString()
	if parts := strings.Split(v, ":"); len(parts) > 3 && parts[0] == "journey" {
		return attribute.String(string(a.Key), parts[0]+":"+parts[1]+":legacy")
	}
	return a
}
