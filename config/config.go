// Package config reads CarePath's configuration from the environment.
//
// Every variable has a default that points at the local stack started by
// `make run`, so nothing needs to be set for development. To use existing
// servers instead (a Temporal cluster, a managed PostgreSQL, a Neo4j server),
// set the matching variable; no code changes.
//
//	CAREPATH_ENV          deployment name shown in logs (default "local")
//	LOG_LEVEL             debug, info, warn or error (default "info")
//	LOG_FORMAT            "text" or "json" (default "text")
//	API_ADDR              listen address of the REST API (default "127.0.0.1:8080")
//	API_SHUTDOWN_TIMEOUT  how long the API drains in-flight requests on shutdown (default "15s")
//	DATABASE_URL          PostgreSQL connection string (default "postgres://carepath:carepath@127.0.0.1:5432/carepath?sslmode=disable")
//	TEMPORAL_ADDRESS      Temporal frontend host:port (default "127.0.0.1:7233")
//	TEMPORAL_NAMESPACE    Temporal namespace (default "default")
//	TEMPORAL_TASK_QUEUE   task queue the journey worker polls (default "carepath-journeys")
//	TEMPORAL_UI_URL       Temporal Web UI, printed for coordinators (default "http://127.0.0.1:8233")
//	REDIS_URL             Redis URL (default "redis://127.0.0.1:6379/0")
//	NEO4J_URI             Neo4j Bolt URI (default "bolt://127.0.0.1:7687")
//	NEO4J_USER            Neo4j user; empty means no authentication (default "")
//	NEO4J_PASSWORD        Neo4j password (default "")
//	STRIPE_API_BASE       Stripe API base URL; stripe-mock locally (default "http://127.0.0.1:12111")
//	STRIPE_SECRET_KEY     Stripe secret key (default "sk_test_123", which stripe-mock accepts)
//	HEALTH_CHECK_TIMEOUT  time limit for each dependency in the health check (default "3s")
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is every setting CarePath's programs read from the environment.
type Config struct {
	Env                string
	LogLevel           slog.Level
	LogFormat          string
	APIAddr            string
	APIShutdownTimeout time.Duration
	DatabaseURL        string
	TemporalAddress    string
	TemporalNamespace  string
	TemporalTaskQueue  string
	TemporalUIURL      string
	RedisURL           string
	Neo4jURI           string
	Neo4jUser          string
	Neo4jPassword      string
	StripeAPIBase      string
	StripeSecretKey    string
	HealthCheckTimeout time.Duration
}

// Defaults for the local stack. Exported so the stack launcher and the test
// harness agree with the programs about where each service lives.
const (
	DefaultAPIAddr         = "127.0.0.1:8080"
	DefaultDatabaseURL     = "postgres://carepath:carepath@127.0.0.1:5432/carepath?sslmode=disable"
	DefaultTemporalAddress = "127.0.0.1:7233"
	DefaultTemporalUIURL   = "http://127.0.0.1:8233"
	DefaultRedisURL        = "redis://127.0.0.1:6379/0"
	DefaultNeo4jURI        = "bolt://127.0.0.1:7687"
	DefaultStripeAPIBase   = "http://127.0.0.1:12111"

	// DefaultTestDatabaseURL is the database integration tests use, so they
	// never touch the data of a running `make run`.
	DefaultTestDatabaseURL = "postgres://carepath:carepath@127.0.0.1:5432/carepath_test?sslmode=disable"
)

// Load reads the configuration from the process environment.
func Load() (Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup, which has the shape of
// os.LookupEnv; tests pass a map.
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	cfg := Config{
		Env:                r.str("CAREPATH_ENV", "local"),
		LogFormat:          r.str("LOG_FORMAT", "text"),
		APIAddr:            r.str("API_ADDR", DefaultAPIAddr),
		APIShutdownTimeout: r.duration("API_SHUTDOWN_TIMEOUT", 15*time.Second),
		DatabaseURL:        r.str("DATABASE_URL", DefaultDatabaseURL),
		TemporalAddress:    r.str("TEMPORAL_ADDRESS", DefaultTemporalAddress),
		TemporalNamespace:  r.str("TEMPORAL_NAMESPACE", "default"),
		TemporalTaskQueue:  r.str("TEMPORAL_TASK_QUEUE", "carepath-journeys"),
		TemporalUIURL:      r.str("TEMPORAL_UI_URL", DefaultTemporalUIURL),
		RedisURL:           r.str("REDIS_URL", DefaultRedisURL),
		Neo4jURI:           r.str("NEO4J_URI", DefaultNeo4jURI),
		Neo4jUser:          r.str("NEO4J_USER", ""),
		Neo4jPassword:      r.str("NEO4J_PASSWORD", ""),
		StripeAPIBase:      r.str("STRIPE_API_BASE", DefaultStripeAPIBase),
		StripeSecretKey:    r.str("STRIPE_SECRET_KEY", "sk_test_123"),
		HealthCheckTimeout: r.duration("HEALTH_CHECK_TIMEOUT", 3*time.Second),
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(r.str("LOG_LEVEL", "info"))); err != nil {
		r.errs = append(r.errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		r.errs = append(r.errs, fmt.Errorf("LOG_FORMAT: want text or json, got %q", cfg.LogFormat))
	}
	for name, raw := range map[string]string{
		"DATABASE_URL": cfg.DatabaseURL, "REDIS_URL": cfg.RedisURL,
		"NEO4J_URI": cfg.Neo4jURI, "STRIPE_API_BASE": cfg.StripeAPIBase,
	} {
		if u, err := url.Parse(raw); err != nil || u.Scheme == "" || u.Host == "" {
			r.errs = append(r.errs, fmt.Errorf("%s: %q is not an absolute URL", name, raw))
		}
	}
	return cfg, errors.Join(r.errs...)
}

// Logger builds the structured logger every program uses.
func (c Config) Logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	return slog.New(h).With("env", c.Env)
}

type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *reader) str(name, fallback string) string {
	if v, ok := r.lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return fallback
}

func (r *reader) duration(name string, fallback time.Duration) time.Duration {
	raw := r.str(name, "")
	if raw == "" {
		return fallback
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		r.errs = append(r.errs, fmt.Errorf("%s: %q is not a positive duration", name, raw))
		return fallback
	}
	return d
}
