package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// lookupLocal is lookupFrom on the local stack, said explicitly: unset,
// CAREPATH_ENV means production. m may name another environment.
func lookupLocal(m map[string]string) func(string) (string, bool) {
	env := map[string]string{"CAREPATH_ENV": LocalEnv}
	maps.Copy(env, m)
	return lookupFrom(env)
}

func TestDefaultsPointAtTheLocalStack(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(nil))
	if err != nil {
		t.Fatalf("defaults must load: %v", err)
	}
	if cfg.DatabaseURL != DefaultDatabaseURL || cfg.TemporalAddress != DefaultTemporalAddress ||
		cfg.RedisURL != DefaultRedisURL || cfg.Neo4jURI != DefaultNeo4jURI || cfg.StripeAPIBase != DefaultStripeAPIBase {
		t.Errorf("defaults do not match the local stack: %+v", cfg)
	}
	if cfg.APIAddr != "127.0.0.1:8080" {
		t.Errorf("APIAddr = %q", cfg.APIAddr)
	}
}

func TestEnvironmentOverridesDefaults(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(map[string]string{
		"DATABASE_URL":         "postgres://u:p@db.internal:6432/care",
		"TEMPORAL_ADDRESS":     "temporal.prod:7233",
		"HEALTH_CHECK_TIMEOUT": "750ms",
		"LOG_LEVEL":            "debug",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgres://u:p@db.internal:6432/care" || cfg.TemporalAddress != "temporal.prod:7233" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if cfg.HealthCheckTimeout != 750*time.Millisecond {
		t.Errorf("HealthCheckTimeout = %v", cfg.HealthCheckTimeout)
	}
	if cfg.LogLevel.String() != "DEBUG" {
		t.Errorf("LogLevel = %v", cfg.LogLevel)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	_, err := FromLookup(lookupLocal(map[string]string{
		"HEALTH_CHECK_TIMEOUT": "soon",
		"REDIS_URL":            "not a url",
		"LOG_FORMAT":           "xml",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"HEALTH_CHECK_TIMEOUT", "REDIS_URL", "LOG_FORMAT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
