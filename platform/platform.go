// Package platform connects CarePath's programs to the services they depend
// on (Temporal, PostgreSQL, Redis, Neo4j, Stripe) and checks their health.
// Programs call Connect once in main and pass the result down.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/client"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/telemetry"
)

// Deps holds a connection to each dependency. Close releases them all.
type Deps struct {
	Temporal tclient.Client
	Store    *store.Store
	Redis    *redis.Client
	Neo4j    neo4j.DriverWithContext
	Stripe   *client.API
	// Codec is the payload codec the Temporal client uses; the API serves
	// it to the Temporal UI.
	Codec *codec.Codec
}

// Connect opens every dependency. On error it closes what it had opened.
func Connect(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Deps, error) {
	d := &Deps{}
	var err error
	if d.Codec, err = NewCodec(cfg); err != nil {
		return nil, err
	}
	if d.Temporal, err = DialTemporal(cfg, logger); err != nil {
		return nil, err
	}
	if d.Store, err = OpenStore(ctx, cfg.DatabaseURL); err != nil {
		d.Close(ctx)
		return nil, err
	}
	if d.Redis, err = OpenRedis(cfg.RedisURL); err != nil {
		d.Close(ctx)
		return nil, err
	}
	if d.Neo4j, err = OpenNeo4j(cfg); err != nil {
		d.Close(ctx)
		return nil, err
	}
	d.Stripe = NewStripe(cfg)
	return d, nil
}

// Close releases every open connection.
func (d *Deps) Close(ctx context.Context) {
	if d.Temporal != nil {
		d.Temporal.Close()
	}
	if d.Store != nil {
		d.Store.Close()
	}
	if d.Redis != nil {
		_ = d.Redis.Close()
	}
	if d.Neo4j != nil {
		_ = d.Neo4j.Close(ctx)
	}
}

// DialTemporal connects lazily to Temporal: the client is usable at once
// and connects on first use, so a program can start before Temporal does.
// Every payload and failure message the client (and any worker built on
// it) exchanges with Temporal goes through the encrypting codec; without
// codec keys it refuses, so health data never reaches Temporal in the clear.
// The client (and so every worker built on it) reports the SDK's metrics
// and traces its calls, workflows and activities through the OpenTelemetry
// globals (package telemetry; no-ops until telemetry.Setup runs).
func DialTemporal(cfg config.Config, logger *slog.Logger) (tclient.Client, error) {
	pc, err := NewCodec(cfg)
	if err != nil {
		return nil, err
	}
	tracing, err := telemetry.TemporalInterceptor()
	if err != nil {
		return nil, err
	}
	logger.Info("Temporal payloads encrypted", "active_key", pc.ActiveKeyID(), "keys", pc.KeyIDs(), "key_source", cfg.CodecKeySource)
	c, err := tclient.NewLazyClient(tclient.Options{
		HostPort:         cfg.TemporalAddress,
		Namespace:        cfg.TemporalNamespace,
		Logger:           tlog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		DataConverter:    pc.DataConverter(),
		FailureConverter: pc.FailureConverter(),
		Interceptors:     []interceptor.ClientInterceptor{tracing},
		MetricsHandler:   telemetry.TemporalMetricsHandler(logger),
	})
	if err != nil {
		return nil, fmt.Errorf("platform: temporal client for %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// OpenStore connects to PostgreSQL like store.Open, with the pgx tracer
// that makes a span of each query run inside a trace (telemetry.PgxTracer).
func OpenStore(ctx context.Context, databaseURL string) (*store.Store, error) {
	pc, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("platform: database URL: %w", err)
	}
	pc.ConnConfig.Tracer = telemetry.PgxTracer{}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping: %w", err)
	}
	return &store.Store{Pool: pool}, nil
}

// NewCodec builds the payload codec from the configured key ring.
func NewCodec(cfg config.Config) (*codec.Codec, error) {
	if len(cfg.CodecKeys) == 0 {
		return nil, errors.New("platform: no payload encryption keys: set CAREPATH_CODEC_KEYS " +
			"(`carepath codec keygen ID` makes a key; see the README's configuration table); " +
			"locally, `make run` generates one in .data/" + config.LocalCodecKeyFile)
	}
	c, err := codec.New(cfg.CodecKeys, cfg.CodecActiveKey)
	if err != nil {
		return nil, fmt.Errorf("platform: payload codec: %w", err)
	}
	return c, nil
}

// OpenRedis parses the URL and creates a client (connections open on use).
func OpenRedis(rawURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("platform: REDIS_URL: %w", err)
	}
	return redis.NewClient(opts), nil
}

// OpenNeo4j creates a driver; without NEO4J_USER it connects without
// authentication, as the local launcher runs. Sessions opened inside a trace
// are spans (telemetry.TraceNeo4j).
func OpenNeo4j(cfg config.Config) (neo4j.DriverWithContext, error) {
	auth := neo4j.NoAuth()
	if cfg.Neo4jUser != "" {
		auth = neo4j.BasicAuth(cfg.Neo4jUser, cfg.Neo4jPassword, "")
	}
	d, err := neo4j.NewDriverWithContext(cfg.Neo4jURI, auth)
	if err != nil {
		return nil, fmt.Errorf("platform: neo4j driver for %s: %w", cfg.Neo4jURI, err)
	}
	return telemetry.TraceNeo4j(d), nil
}

// NewStripe returns a Stripe client whose API calls go to STRIPE_API_BASE
// (stripe-mock locally, Stripe itself in production).
func NewStripe(cfg config.Config) *client.API {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:           stripe.String(strings.TrimRight(cfg.StripeAPIBase, "/")),
		HTTPClient:    &http.Client{Timeout: 20 * time.Second},
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError},
	})
	sc := &client.API{}
	sc.Init(cfg.StripeSecretKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	return sc
}

// ComponentHealth is one dependency's answer to the health check.
type ComponentHealth struct {
	Name      string  `json:"name"`
	State     string  `json:"state"` // "up" or "down"
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Check asks every dependency, side by side, whether it answers, each within
// timeout. It returns the answers in a stable order and whether all are up.
func (d *Deps) Check(ctx context.Context, timeout time.Duration) ([]ComponentHealth, bool) {
	checks := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"postgres", func(ctx context.Context) error { return d.Store.Ping(ctx) }},
		{"redis", func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() }},
		{"temporal", func(ctx context.Context) error {
			_, err := d.Temporal.CheckHealth(ctx, &tclient.CheckHealthRequest{})
			return err
		}},
		{"neo4j", func(ctx context.Context) error { return d.Neo4j.VerifyConnectivity(ctx) }},
		{"stripe", func(ctx context.Context) error {
			params := &stripe.BalanceParams{}
			params.Context = ctx
			_, err := d.Stripe.Balance.Get(params)
			return err
		}},
	}
	out := make([]ComponentHealth, len(checks))
	done := make(chan struct{}, len(checks))
	for i, c := range checks {
		go func() {
			defer func() { done <- struct{}{} }()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := runWithin(cctx, c.fn)
			h := ComponentHealth{Name: c.name, State: "up", LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				h.State, h.Error = "down", err.Error()
			}
			out[i] = h
		}()
	}
	for range checks {
		<-done
	}
	healthy := true
	for _, h := range out {
		healthy = healthy && h.State == "up"
	}
	return out, healthy
}

// runWithin returns when fn does or when ctx ends, whichever is first, so a
// client that ignores its context cannot stall the health check.
func runWithin(ctx context.Context, fn func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return errors.New("no answer within the time limit")
	}
}
