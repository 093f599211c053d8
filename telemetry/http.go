package telemetry

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// unmatchedRoute labels requests no route matched, so that scanners trying
// paths cannot grow the metrics without bound.
const unmatchedRoute = "unmatched"

// Gin returns middleware that starts the server span of each request and
// records its duration in http.server.request.duration (Prometheus:
// http_server_request_duration_seconds), both named by the route template
// (c.FullPath(): /api/v1/journeys/:id), never the raw path, whose IDs name
// patients. It must come first, so the rest of the chain (and the handlers'
// Temporal, pgx and log calls) runs inside the span.
func Gin() gin.HandlerFunc {
	tracer := otel.GetTracerProvider().Tracer(instrumentation)
	meter := otel.GetMeterProvider().Meter(instrumentation)
	duration, err := meter.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests, by route template."))
	if err != nil {
		otel.Handle(err)
	}
	return func(c *gin.Context) {
		start := time.Now()
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		method := c.Request.Method
		ctx := otel.GetTextMapPropagator().Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		ctx, span := tracer.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route)))
		defer span.End()
		c.Request = c.Request.WithContext(ctx)

		c.Next()

		status := c.Writer.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		if duration != nil {
			duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
				attribute.String("http.request.method", method), attribute.String("http.route", route),
				attribute.Int("http.response.status_code", status)))
		}
	}
}
