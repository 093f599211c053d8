// Package telemetry makes CarePath observable: Prometheus metrics (the
// Temporal SDK's own, HTTP requests by route, the PostgreSQL pool, journeys
// by pathway), OpenTelemetry traces from an HTTP request through Temporal's
// client, workflows and activities to PostgreSQL and Neo4j, and log lines that carry
// the trace ID.
//
// Setup installs one meter provider and, when traces have somewhere to go,
// one tracer provider as the OpenTelemetry globals; the Gin middleware, the
// pgx tracer and the Temporal options (TemporalInterceptor,
// TemporalMetricsHandler) read them there, so every program that calls Setup
// first is instrumented without passing telemetry through each constructor.
// Without Setup the globals are no-ops and nothing is recorded.
//
// No attribute or label carries PHI: routes are templates, SQL spans are
// named by the statement's operation alone, and legacy journey IDs (which
// name a pathway, so a condition) are cut back to the patient's part.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/carepath/carepath/internal/httpserve"
)

// Options configures Setup.
type Options struct {
	// ServiceName names the program in traces (service.name), e.g.
	// "carepath-api".
	ServiceName string
	// OTLPEndpoint is OTEL_EXPORTER_OTLP_ENDPOINT. Set, spans are sent there
	// over OTLP/HTTP (the exporter reads the OTEL_EXPORTER_OTLP_* variables
	// itself); empty, tracing is off.
	OTLPEndpoint string
	// SpanExporter, if set, takes every span synchronously instead of OTLP:
	// tests pass an in-memory exporter.
	SpanExporter sdktrace.SpanExporter
	// Logger reports OpenTelemetry's own errors (an unreachable collector).
	Logger *slog.Logger
}

// Telemetry is what Setup installed. Shutdown flushes and stops it.
type Telemetry struct {
	// Registry holds every metric /metrics serves; add collectors (the
	// PostgreSQL pool's) with Registry.MustRegister.
	Registry *prometheus.Registry
	// Tracing reports whether spans are recorded and exported.
	Tracing bool

	meters *sdkmetric.MeterProvider
	traces *sdktrace.TracerProvider
}

// secondsBuckets suit latencies from a cached read (milliseconds) to a
// long activity; OpenTelemetry's default buckets are for milliseconds.
var secondsBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Setup builds the meter provider (exported through Prometheus to
// Registry) and, if o asks for it, the tracer provider, and makes them and
// the W3C trace-context propagator the OpenTelemetry globals.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("OpenTelemetry error", "error", err)
	}))
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", o.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	t := &Telemetry{Registry: reg}
	t.meters = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "*", Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: secondsBuckets}},
		)),
	)
	otel.SetMeterProvider(t.meters)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	var spans sdktrace.TracerProviderOption
	switch {
	case o.SpanExporter != nil:
		spans = sdktrace.WithSyncer(o.SpanExporter)
	case o.OTLPEndpoint != "":
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("telemetry: OTLP exporter for %s: %w", o.OTLPEndpoint, err), t.meters.Shutdown(ctx))
		}
		spans = sdktrace.WithBatcher(exp)
	}
	if spans != nil {
		t.traces = sdktrace.NewTracerProvider(spans, sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
		otel.SetTracerProvider(t.traces)
		t.Tracing = true
	}
	return t, nil
}

// MetricsHandler serves Registry in Prometheus' text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// ServeMetrics serves /metrics on addr until ctx ends. It never takes the
// program down: a metrics address already in use (a second instance on the
// same host) is logged as an error, and the program goes on serving.
// addr "" or "off" serves nothing.
func (t *Telemetry) ServeMetrics(ctx context.Context, addr string, logger *slog.Logger) {
	if addr == "" || addr == "off" {
		logger.Info("Metrics not served", "reason", "metrics address is off")
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.MetricsHandler())
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	logger.Info("Metrics listening", "addr", addr, "path", "/metrics")
	go func() {
		if err := httpserve.Run(ctx, srv, 2*time.Second); err != nil {
			logger.Error("Metrics server stopped; metrics are not served", "addr", addr, "error", err)
		}
	}()
}

// Shutdown flushes the spans not yet exported and stops both providers,
// within ctx's deadline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.traces != nil {
		if err := t.traces.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry: tracer provider shutdown: %w", err))
		}
	}
	if err := t.meters.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("telemetry: meter provider shutdown: %w", err))
	}
	return errors.Join(errs...)
}
