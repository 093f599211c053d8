package telemetry

import (
	"context"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TraceNeo4j wraps a Neo4j driver so that each session opened inside a
// trace is a client span, from NewSession to Close: with neo4j.ExecuteQuery
// (one session per query) that is the query. The span is named "neo4j",
// never by the Cypher or its parameters. The driver has no query hook, and ExecuteQuery runs its
// transaction through methods a wrapper cannot reach, so a session is the
// finest grain to be had without changing the callers.
func TraceNeo4j(d neo4j.DriverWithContext) neo4j.DriverWithContext { return tracingDriver{d} }

type tracingDriver struct{ neo4j.DriverWithContext }

func (d tracingDriver) NewSession(ctx context.Context, config neo4j.SessionConfig) neo4j.SessionWithContext {
	s := d.DriverWithContext.NewSession(ctx, config)
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return s
	}
	_, span := otel.GetTracerProvider().Tracer(instrumentation).Start(ctx, "neo4j", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "neo4j")))
	return tracingSession{SessionWithContext: s, span: span}
}

// tracingSession ends its span when the session closes.
type tracingSession struct {
	neo4j.SessionWithContext
	span trace.Span
}

func (s tracingSession) Close(ctx context.Context) error {
	err := s.SessionWithContext.Close(ctx)
	if err != nil {
		s.span.SetStatus(codes.Error, "session close failed")
	}
	s.span.End()
	return err
}
