package telemetry

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer makes a client span of each query run inside a traced request
// or activity, named by the statement's operation (SELECT, INSERT, ...).
// Never the statement's text past its first word, never its arguments:
// they hold patients' data. Queries outside a trace (background jobs,
// health probes) make no span. Set it as pgx.ConnConfig.Tracer.
type PgxTracer struct{}

var _ pgx.QueryTracer = PgxTracer{}

// TraceQueryStart starts the query's span.
func (PgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	op := sqlOperation(data.SQL)
	ctx, _ = otel.GetTracerProvider().Tracer(instrumentation).Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", op)))
	return ctx
}

// TraceQueryEnd ends the span TraceQueryStart started, if any. A failed
// query's span records the error's kind only: pgx errors can quote values.
func (PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		span.SetStatus(codes.Error, "query failed")
	}
	span.End()
}

// sqlOperations are the first words a span may be named by; any other
// statement is "SQL".
var sqlOperations = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "WITH": true, "COPY": true,
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
	"LOCK": true, "SET": true, "CREATE": true, "ALTER": true, "DROP": true, "GRANT": true,
	"REVOKE": true, "TRUNCATE": true, "DO": true, "CALL": true, "VALUES": true, "SHOW": true,
}

// sqlOperation is the first keyword of sql, past blanks, comments and
// opening parentheses.
func sqlOperation(sql string) string {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return "SQL"
			}
			s = s[i+1:]
			continue
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return "SQL"
			}
			s = s[i+2:]
			continue
		}
		break
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end < 0 {
		end = len(s)
	}
	if op := strings.ToUpper(s[:end]); sqlOperations[op] {
		return op
	}
	return "SQL"
}

// PoolCollector exposes a pgx pool's statistics (pool.Stat()) as
// Prometheus metrics: carepath_db_pool_*.
type PoolCollector struct {
	pool *pgxpool.Pool

	acquired, idle, total, max, constructing   *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires  *prometheus.Desc
	acquireSeconds, emptyAcquireWaitSeconds    *prometheus.Desc
	newConns, maxLifetimeDestroys, idleDestroy *prometheus.Desc
}

// NewPoolCollector reads pool's statistics at every scrape.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("carepath_db_pool_"+name, help, nil, nil)
	}
	return &PoolCollector{
		pool:                    pool,
		acquired:                d("acquired_conns", "Connections currently in use."),
		idle:                    d("idle_conns", "Idle connections."),
		total:                   d("total_conns", "Open connections (acquired, idle and being opened)."),
		max:                     d("max_conns", "The pool's size limit."),
		constructing:            d("constructing_conns", "Connections being opened."),
		acquires:                d("acquires_total", "Connections acquired from the pool."),
		emptyAcquires:           d("empty_acquires_total", "Acquires that had to wait or open a connection: the pool had none idle."),
		canceledAcquires:        d("canceled_acquires_total", "Acquires cancelled by their context while waiting."),
		acquireSeconds:          d("acquire_seconds_total", "Time spent acquiring connections."),
		emptyAcquireWaitSeconds: d("empty_acquire_wait_seconds_total", "Time spent waiting for a connection when none was idle."),
		newConns:                d("new_conns_total", "Connections opened."),
		maxLifetimeDestroys:     d("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroy:             d("max_idle_destroys_total", "Connections closed for idling too long."),
	}
}

// Describe implements prometheus.Collector.
func (p *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.acquired, p.idle, p.total, p.max, p.constructing, p.acquires, p.emptyAcquires,
		p.canceledAcquires, p.acquireSeconds, p.emptyAcquireWaitSeconds, p.newConns, p.maxLifetimeDestroys, p.idleDestroy} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.pool.Stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	c := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(p.acquired, float64(s.AcquiredConns()))
	g(p.idle, float64(s.IdleConns()))
	g(p.total, float64(s.TotalConns()))
	g(p.max, float64(s.MaxConns()))
	g(p.constructing, float64(s.ConstructingConns()))
	c(p.acquires, float64(s.AcquireCount()))
	c(p.emptyAcquires, float64(s.EmptyAcquireCount()))
	c(p.canceledAcquires, float64(s.CanceledAcquireCount()))
	c(p.acquireSeconds, s.AcquireDuration().Seconds())
	c(p.emptyAcquireWaitSeconds, s.EmptyAcquireWaitTime().Seconds())
	c(p.newConns, float64(s.NewConnsCount()))
	c(p.maxLifetimeDestroys, float64(s.MaxLifetimeDestroyCount()))
	c(p.idleDestroy, float64(s.MaxIdleDestroyCount()))
}
