// Package config reads CarePath's configuration from the environment.
//
// Every address has a default that points at the local stack started by
// `make run`. To use existing servers instead (a Temporal cluster, a managed
// PostgreSQL, a Neo4j server), set the matching variable; no code changes.
//
// The configuration fails closed. Unset, CAREPATH_ENV means a real
// deployment ("production"): no secret has a default, and the API and the
// worker refuse to start until every secret is set to a value of the
// operator's own (Config.RequireSecrets; the list is Secrets, and README's
// "Before going live" says how to make each). The local defaults (the
// public local secrets, the key files generated under .data, codec access
// for loopback callers, the demo sign-in users of `carepath seed`) apply
// only with CAREPATH_ENV=local, which `make run` and `make test` set.
//
//	CAREPATH_ENV          "local" for the local stack; any other value (default "production") is a
//	                      deployment, named so in logs
//	LOG_LEVEL             debug, info, warn or error (default "info")
//	LOG_FORMAT            "text" or "json" (default "text")
//	API_ADDR              listen address of the REST API (default "127.0.0.1:8080")
//	API_SHUTDOWN_TIMEOUT  how long the API drains in-flight requests on shutdown (default "15s")
//	METRICS_ADDR          listen address of the API's Prometheus /metrics, apart from the public API
//	                      port (default "127.0.0.1:9464"; "off" serves none)
//	WORKER_METRICS_ADDR   listen address of the worker's Prometheus /metrics (default "127.0.0.1:9465";
//	                      "off" serves none)
//	OTEL_EXPORTER_OTLP_ENDPOINT  OTLP/HTTP collector traces are sent to, e.g. "http://127.0.0.1:4318"
//	                      (default: none, and tracing is off); the exporter also reads the other
//	                      OTEL_EXPORTER_OTLP_* variables (headers, timeout)
//	DATABASE_URL          PostgreSQL connection string of the application role the API and the worker use (default "postgres://carepath_app:carepath_app@127.0.0.1:5432/carepath?sslmode=disable")
//	DATABASE_OWNER_URL    PostgreSQL connection string of the owner role `carepath migrate` runs as; see config/database.go (default: DATABASE_URL when that is set, else "postgres://carepath:carepath@127.0.0.1:5432/carepath?sslmode=disable")
//	TEMPORAL_ADDRESS      Temporal frontend host:port (default "127.0.0.1:7233")
//	TEMPORAL_NAMESPACE    Temporal namespace (default "default")
//	TEMPORAL_TASK_QUEUE   task queue the journey worker polls (default "carepath-journeys")
//	TEMPORAL_UI_URL       Temporal Web UI, printed for coordinators (default "http://127.0.0.1:8233")
//	REDIS_URL             Redis URL (default "redis://127.0.0.1:6379/0")
//	NEO4J_URI             Neo4j Bolt URI (default "bolt://127.0.0.1:7687")
//	NEO4J_USER            Neo4j user; empty means no authentication (default "")
//	NEO4J_PASSWORD        Neo4j password (default "")
//	STRIPE_API_BASE       Stripe API base URL; stripe-mock locally (default "http://127.0.0.1:12111")
//	STRIPE_SECRET_KEY     Stripe secret key (local default "sk_test_123", which stripe-mock accepts)
//	HEALTH_CHECK_TIMEOUT  time limit for each dependency in the health check (default "3s")
//	PATHWAYS_DIR          a folder of extra pathway definitions (*.yaml) beside the shipped ones (default: none)
//	ONNXRUNTIME_LIB       the ONNX Runtime 1.24 shared library the models run on; `make tools` fetches it
//	                      (default "$CAREPATH_CACHE/lib/libonnxruntime.so.1", CAREPATH_CACHE defaulting to
//	                      ~/.cache/carepath, or $XDG_CACHE_HOME/carepath)
//	STRIPE_WEBHOOK_SECRET signing secret of the Stripe webhook endpoint (local default
//	                      "whsec_carepath_local"; set the endpoint's own secret from Stripe's dashboard)
//	TWILIO_ACCOUNT_SID    Twilio account SID (local default "AC00000000000000000000000000000000", the fake's)
//	TWILIO_AUTH_TOKEN     Twilio auth token: signs API calls and verifies Twilio's webhooks
//	                      (local default "carepathlocaltwiliotoken", the fake's)
//	TWILIO_API_BASE       Twilio REST API base URL (default "http://127.0.0.1:12181", the local fake
//	                      `go run ./cmd/twilio-fake`; https://api.twilio.com in production)
//	TWILIO_FROM_NUMBER    sender: an E.164 number or a Messaging Service SID "MG..." (default "+15005550006")
//	PUBLIC_BASE_URL       the API's URL as the outside world calls it; Twilio signs webhook requests over
//	                      this URL plus the path (default "http://127.0.0.1:8080")
//	PHARMACY_API_BASE     the pharmacy partner network's API (default "http://127.0.0.1:12191", the local
//	                      simulator `go run ./cmd/pharmacy-sim`)
//	PHARMACY_WEBHOOK_SECRET  HMAC-SHA256 secret the partner signs its status webhooks with
//	                      (local default "carepath-local-pharmacy-webhook")
//	PRESCRIPTION_SIGNING_KEY base64 of the 32-byte Ed25519 seed prescriptions are signed with. With
//	                      CAREPATH_ENV=local and this unset, $CAREPATH_DATA_DIR/secrets/prescription-signing-key
//	                      is read, and generated on first use
//
// Rate limits (counted in Redis; each "N/PERIOD" such as "600/1m", or "off"):
//
//	RATE_LIMIT_PER_IP         requests per client IP address (default "600/1m")
//	RATE_LIMIT_PER_USER       requests per signed-in user or integrator client (default "300/1m")
//	RATE_LIMIT_SMS_PER_IP     sign-in code requests (each texts someone) per IP (default "5/1h")
//	RATE_LIMIT_SMS_PER_PHONE  sign-in code requests per phone number (default "3/15m")
//	API_TRUSTED_PROXIES       comma-separated addresses or CIDR ranges of the proxies whose
//	                          X-Forwarded-For names the client (default: none; the client is
//	                          the connection's peer)
//
// Sign-in and identity (issue 12):
//
//	RATE_LIMIT_SMS_PER_PHONE_DAY   sign-in codes per phone number, known or not (default "10/24h")
//	AUTH_BACKOFF_ACCOUNT_FAILURES  failed sign-ins of one account (email or OAuth client) before it is
//	                               locked, whatever the address (default 5; 0 off)
//	AUTH_BACKOFF_ADDRESS_FAILURES  failed sign-ins from one address before it is locked (default 20; 0 off)
//	AUTH_BACKOFF_BASE              the first lock; each further failure doubles it (default "30s")
//	AUTH_BACKOFF_MAX               the longest lock (default "15m")
//	AUTH_BACKOFF_WINDOW            how long failures are remembered (default "24h")
//	CAREPATH_AUTH_SESSION_MAX_AGE  a sign-in's absolute lifetime: no refresh after it (default "720h")
//
// Temporal payloads are encrypted (package codec); a program that talks to
// Temporal refuses to start without keys, in every environment:
//
//	CAREPATH_CODEC_KEYS        the key ring: "ID:base64(32 random bytes)", comma- or
//	                           whitespace-separated; `carepath codec keygen ID` makes one.
//	                           With CAREPATH_ENV=local and this unset, the key file the
//	                           local stack generates is read instead:
//	                           $CAREPATH_DATA_DIR/secrets/codec-keys (default .data/...)
//	CAREPATH_CODEC_ACTIVE_KEY  ID of the key new payloads are encrypted with; may be
//	                           omitted when the ring holds one key. To rotate, add a
//	                           key, make it active, keep the old one for decoding.
//	CAREPATH_AUTH_MASTER_KEY   base64 of 32 random bytes that seal the access-token signing keys
//	                           stored in PostgreSQL (package auth); `openssl rand -base64 32` makes
//	                           one. Unset with CAREPATH_ENV=local: a fixed local-only key. Unset
//	                           elsewhere: the API and the worker refuse to start.
//	CAREPATH_AUTH_ACCESS_TTL   lifetime of access tokens (default "15m")
//	CAREPATH_AUDIT_HEAD_FILE     where the API appends the signed audit chain head (checkpoints, JSON
//	                             lines) at intervals; `carepath audit verify` and the admin endpoint
//	                             check the chain against it (default
//	                             "$CAREPATH_DATA_DIR/audit/checkpoints.jsonl"). Keep it out of the
//	                             database's reach: it is what exposes a rewrite of the whole table.
//	CAREPATH_AUDIT_HEAD_INTERVAL how often the head is exported (default "1m")
//	CAREPATH_AUDIT_SIGNING_KEY   base64 of a 32-byte Ed25519 seed that signs each exported head
//	                             (`openssl rand -base64 32` makes one). Keep it where the database
//	                             cannot reach it. Unset with CAREPATH_ENV=local: the key file
//	                             $CAREPATH_DATA_DIR/secrets/audit-signing-key, generated on first
//	                             use. Unset elsewhere: the API refuses to start. `carepath audit
//	                             verify` fails when a non-empty chain has no checkpoint newer than
//	                             twice CAREPATH_AUDIT_HEAD_INTERVAL or a signature does not verify.
//	CAREPATH_AUDIT_VERIFY_KEY    base64 of the signing key's Ed25519 public key (`carepath audit
//	                             verify-key` prints it): lets `carepath audit verify` run where the
//	                             signing key is not. Unset: derived from CAREPATH_AUDIT_SIGNING_KEY.
//
// Health record documents are sealed under per-record data keys wrapped by
// a master key (package vault); see config/records.go for
// CAREPATH_RECORDS_DIR, CAREPATH_RECORDS_KEYS and CAREPATH_RECORDS_ACTIVE_KEY.
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/carepath/carepath/codec"
)

// Config is every setting CarePath's programs read from the environment.
type Config struct {
	Env                string
	LogLevel           slog.Level
	LogFormat          string
	APIAddr            string
	APIShutdownTimeout time.Duration
	DatabaseURL        string
	// DatabaseOwnerURL connects as the role that owns the schema; only
	// migrations (and the demo seed) use it (config/database.go).
	DatabaseOwnerURL   string
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
	PathwaysDir        string
	// ONNXRuntimeLib is the path of libonnxruntime.so.1 (package inference).
	ONNXRuntimeLib string

	StripeWebhookSecret string
	TwilioAccountSID    string
	TwilioAuthToken     string
	TwilioAPIBase       string
	TwilioFromNumber    string
	PublicBaseURL       string

	// CodecKeys is the payload encryption key ring; empty when none is
	// configured (programs that talk to Temporal then refuse to start).
	CodecKeys      []codec.Key
	CodecActiveKey string
	// CodecKeySource says where the keys came from (a variable or a file),
	// for the start-up log; never the keys themselves.
	CodecKeySource string

	// AuthMasterKey seals the token signing keys; nil when unset outside
	// CAREPATH_ENV=local (the API then refuses to start).
	AuthMasterKey []byte
	AuthAccessTTL time.Duration
	// AuthSessionMaxAge is a sign-in's absolute lifetime: no refresh after
	// it, however often the token rotated (CAREPATH_AUTH_SESSION_MAX_AGE).
	AuthSessionMaxAge time.Duration

	// Health record documents (config/records.go): the object store folder
	// and the master keys; RecordsKeys is empty when none is configured.
	RecordsDir       string
	RecordsKeys      []codec.Key
	RecordsActiveKey string

	// AuditHeadFile and AuditHeadInterval: the audit chain head export.
	AuditHeadFile     string
	AuditHeadInterval time.Duration
	// AuditSigningSeed signs the exported heads (config/audit.go).
	AuditSigningSeed      []byte
	AuditSigningKeySource string
	AuditVerifyKey        ed25519.PublicKey
	auditKeyFile          string

	// Pharmacy partner network and prescription signing (config/pharmacy.go).
	PharmacyAPIBase         string
	PharmacyWebhookSecret   string
	PrescriptionSigningSeed []byte // Ed25519 seed; nil when not configured
	PrescriptionKeySource   string // where the key came from, for logs; never the key
	prescriptionKeyFile     string // the local key file to create on first use

	// RateLimits bound requests per IP, per user and, tighter, per SMS sent.
	RateLimits RateLimits

	// MetricsAddr and WorkerMetricsAddr are where the API and the worker
	// serve /metrics ("off": nowhere); OTLPEndpoint, when set, receives
	// traces (package telemetry).
	MetricsAddr, WorkerMetricsAddr, OTLPEndpoint string
}

// Where the API and the worker serve their metrics by default: loopback
// ports of their own, never the public API port.
const (
	DefaultMetricsAddr       = "127.0.0.1:9464"
	DefaultWorkerMetricsAddr = "127.0.0.1:9465"
)

// localAuthMasterKey is the local stack's master key: public, so it protects
// nothing but demo data.
const localAuthMasterKey = "Y2FyZXBhdGgtbG9jYWwtb25seS1hdXRoLW1hc3Rlcgo="

// Defaults for the local stack. Exported so the stack launcher and the test
// harness agree with the programs about where each service lives.
const (
	DefaultAPIAddr         = "127.0.0.1:8080"
	DefaultDatabaseURL     = "postgres://" + DefaultAppRole + ":" + LocalAppPassword + "@127.0.0.1:5432/carepath?sslmode=disable"
	DefaultTemporalAddress = "127.0.0.1:7233"
	DefaultTemporalUIURL   = "http://127.0.0.1:8233"
	DefaultRedisURL        = "redis://127.0.0.1:6379/0"
	DefaultNeo4jURI        = "bolt://127.0.0.1:7687"
	DefaultStripeAPIBase   = "http://127.0.0.1:12111"
	DefaultTwilioAPIBase   = "http://127.0.0.1:12181"
	DefaultPublicBaseURL   = "http://127.0.0.1:8080"

	// Local-only credentials: the fake Twilio server and the tests accept
	// them. Production sets the real ones.
	DefaultStripeWebhookSecret = "whsec_carepath_local"
	DefaultTwilioAccountSID    = "AC00000000000000000000000000000000"
	DefaultTwilioAuthToken     = "carepathlocaltwiliotoken"
	DefaultTwilioFromNumber    = "+15005550006"

	// DefaultTestDatabaseURL is the database integration tests use, so they
	// never touch the data of a running `make run`.
	DefaultTestDatabaseURL = "postgres://carepath:carepath@127.0.0.1:5432/carepath_test?sslmode=disable"
)

// Load reads the configuration from the process environment.
func Load() (Config, error) { return FromLookup(os.LookupEnv) }

// LocalEnv is the CAREPATH_ENV of the local stack, the only environment in
// which the local defaults apply; DefaultEnv is CAREPATH_ENV unset.
const (
	LocalEnv   = "local"
	DefaultEnv = "production"
)

// localStripeSecretKey is the key stripe-mock accepts.
const localStripeSecretKey = "sk_test_123"

// FromLookup reads the configuration through lookup, which has the shape of
// os.LookupEnv; tests pass a map.
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	r.local = r.str("CAREPATH_ENV", DefaultEnv) == LocalEnv
	cfg := Config{
		Env:                r.str("CAREPATH_ENV", DefaultEnv),
		LogFormat:          r.str("LOG_FORMAT", "text"),
		APIAddr:            r.str("API_ADDR", DefaultAPIAddr),
		APIShutdownTimeout: r.duration("API_SHUTDOWN_TIMEOUT", 15*time.Second),
		DatabaseURL:        r.str("DATABASE_URL", DefaultDatabaseURL),
		DatabaseOwnerURL:   r.str("DATABASE_OWNER_URL", r.str("DATABASE_URL", DefaultDatabaseOwnerURL)),
		TemporalAddress:    r.str("TEMPORAL_ADDRESS", DefaultTemporalAddress),
		TemporalNamespace:  r.str("TEMPORAL_NAMESPACE", "default"),
		TemporalTaskQueue:  r.str("TEMPORAL_TASK_QUEUE", "carepath-journeys"),
		TemporalUIURL:      r.str("TEMPORAL_UI_URL", DefaultTemporalUIURL),
		RedisURL:           r.str("REDIS_URL", DefaultRedisURL),
		Neo4jURI:           r.str("NEO4J_URI", DefaultNeo4jURI),
		Neo4jUser:          r.str("NEO4J_USER", ""),
		Neo4jPassword:      r.str("NEO4J_PASSWORD", ""),
		StripeAPIBase:      r.str("STRIPE_API_BASE", DefaultStripeAPIBase),
		StripeSecretKey:    r.secret("STRIPE_SECRET_KEY", localStripeSecretKey),
		HealthCheckTimeout: r.duration("HEALTH_CHECK_TIMEOUT", 3*time.Second),
		PathwaysDir:        r.str("PATHWAYS_DIR", ""),
		ONNXRuntimeLib:     r.str("ONNXRUNTIME_LIB", DefaultONNXRuntimeLib(lookup)),

		StripeWebhookSecret: r.secret("STRIPE_WEBHOOK_SECRET", DefaultStripeWebhookSecret),
		TwilioAccountSID:    r.secret("TWILIO_ACCOUNT_SID", DefaultTwilioAccountSID),
		TwilioAuthToken:     r.secret("TWILIO_AUTH_TOKEN", DefaultTwilioAuthToken),
		TwilioAPIBase:       r.str("TWILIO_API_BASE", DefaultTwilioAPIBase),
		TwilioFromNumber:    r.str("TWILIO_FROM_NUMBER", DefaultTwilioFromNumber),
		PublicBaseURL:       strings.TrimRight(r.str("PUBLIC_BASE_URL", DefaultPublicBaseURL), "/"),

		AuditHeadFile:     r.str("CAREPATH_AUDIT_HEAD_FILE", filepath.Join(r.str("CAREPATH_DATA_DIR", ".data"), "audit", "checkpoints.jsonl")),
		AuditHeadInterval: r.duration("CAREPATH_AUDIT_HEAD_INTERVAL", time.Minute),
	}
	cfg.MetricsAddr = r.str("METRICS_ADDR", DefaultMetricsAddr)
	cfg.WorkerMetricsAddr = r.str("WORKER_METRICS_ADDR", DefaultWorkerMetricsAddr)
	cfg.OTLPEndpoint = r.str("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	r.codec(&cfg)
	r.authKeys(&cfg)
	r.pharmacy(&cfg)
	r.rateLimits(&cfg)
	r.records(&cfg)
	r.auditSigning(&cfg)
	if err := cfg.LogLevel.UnmarshalText([]byte(r.str("LOG_LEVEL", "info"))); err != nil {
		r.errs = append(r.errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		r.errs = append(r.errs, fmt.Errorf("LOG_FORMAT: want text or json, got %q", cfg.LogFormat))
	}
	for name, raw := range map[string]string{
		"DATABASE_URL": cfg.DatabaseURL, "DATABASE_OWNER_URL": cfg.DatabaseOwnerURL, "REDIS_URL": cfg.RedisURL,
		"NEO4J_URI": cfg.Neo4jURI, "STRIPE_API_BASE": cfg.StripeAPIBase,
		"TWILIO_API_BASE": cfg.TwilioAPIBase, "PUBLIC_BASE_URL": cfg.PublicBaseURL,
	} {
		if u, err := url.Parse(raw); err != nil || u.Scheme == "" || u.Host == "" {
			r.errs = append(r.errs, fmt.Errorf("%s: %q is not an absolute URL", name, raw))
		}
	}
	r.twilio(cfg)
	return cfg, errors.Join(r.errs...)
}

// authKeys reads CAREPATH_AUTH_MASTER_KEY, CAREPATH_AUTH_ACCESS_TTL and
// CAREPATH_AUTH_SESSION_MAX_AGE.
func (r *reader) authKeys(cfg *Config) {
	cfg.AuthAccessTTL = r.duration("CAREPATH_AUTH_ACCESS_TTL", 15*time.Minute)
	cfg.AuthSessionMaxAge = r.duration("CAREPATH_AUTH_SESSION_MAX_AGE", 30*24*time.Hour)
	raw := r.secret("CAREPATH_AUTH_MASTER_KEY", localAuthMasterKey)
	if raw == "" {
		return
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) != 32 {
		r.errs = append(r.errs, errors.New("CAREPATH_AUTH_MASTER_KEY: want base64 of 32 bytes"))
		return
	}
	cfg.AuthMasterKey = key
}

var (
	twilioSender = regexp.MustCompile(`^(\+[1-9][0-9]{6,14}|MG[0-9a-fA-F]{32})$`)
	alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// twilio checks what twilio-go would otherwise reject at the first SMS.
func (r *reader) twilio(cfg Config) {
	if !twilioSender.MatchString(cfg.TwilioFromNumber) {
		r.errs = append(r.errs, fmt.Errorf("TWILIO_FROM_NUMBER: want an E.164 number (+...) or a Messaging Service SID (MG...), got %q", cfg.TwilioFromNumber))
	}
	// twilio-go refuses credentials with other characters; name the variable
	// now. Unset (outside local) is RequireSecrets' to report.
	if cfg.TwilioAccountSID != "" && !alphanumeric.MatchString(cfg.TwilioAccountSID) {
		r.errs = append(r.errs, errors.New("TWILIO_ACCOUNT_SID: letters and digits only"))
	}
	if cfg.TwilioAuthToken != "" && !alphanumeric.MatchString(cfg.TwilioAuthToken) {
		r.errs = append(r.errs, errors.New("TWILIO_AUTH_TOKEN: letters and digits only"))
	}
}

// LocalCodecKeyFile is where the local stack keeps the key it generates,
// relative to the data folder.
const LocalCodecKeyFile = "secrets/codec-keys"

// codec reads the payload encryption settings. Locally, without
// CAREPATH_CODEC_KEYS, it reads the key file the stack generated, so a
// program started by hand beside `make run` shares its key.
func (r *reader) codec(cfg *Config) {
	raw, source := r.str("CAREPATH_CODEC_KEYS", ""), "CAREPATH_CODEC_KEYS"
	if raw == "" && r.local {
		path := filepath.Join(r.str("CAREPATH_DATA_DIR", ".data"), LocalCodecKeyFile)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			raw, source = strings.TrimSpace(string(b)), path
		case !errors.Is(err, fs.ErrNotExist):
			r.errs = append(r.errs, fmt.Errorf("codec key file %s: %w", path, err))
		}
	}
	if raw != "" {
		keys, err := codec.ParseKeys(raw)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s: %w", source, err))
		} else {
			cfg.CodecKeys, cfg.CodecKeySource = keys, source
		}
	}
	cfg.CodecActiveKey = r.str("CAREPATH_CODEC_ACTIVE_KEY", "")
	switch {
	case len(cfg.CodecKeys) == 0 && cfg.CodecActiveKey != "":
		r.errs = append(r.errs, errors.New("CAREPATH_CODEC_ACTIVE_KEY is set but CAREPATH_CODEC_KEYS holds no keys"))
	case len(cfg.CodecKeys) == 0:
	case cfg.CodecActiveKey == "" && len(cfg.CodecKeys) == 1:
		cfg.CodecActiveKey = cfg.CodecKeys[0].ID()
	case cfg.CodecActiveKey == "":
		r.errs = append(r.errs, fmt.Errorf("CAREPATH_CODEC_ACTIVE_KEY: %s holds %d keys; name the one to encrypt with", source, len(cfg.CodecKeys)))
	default:
		found := false
		for _, k := range cfg.CodecKeys {
			found = found || k.ID() == cfg.CodecActiveKey
		}
		if !found {
			r.errs = append(r.errs, fmt.Errorf("CAREPATH_CODEC_ACTIVE_KEY: %q is not a key in %s", cfg.CodecActiveKey, source))
		}
	}
}

// DefaultONNXRuntimeLib is where `make tools` (scripts/tools.sh) puts the
// ONNX Runtime library: $CAREPATH_CACHE/lib, the cache defaulting to the
// user's cache folder.
func DefaultONNXRuntimeLib(lookup func(string) (string, bool)) string {
	cache, ok := lookup("CAREPATH_CACHE")
	if !ok || strings.TrimSpace(cache) == "" {
		base, ok := lookup("XDG_CACHE_HOME")
		if !ok || strings.TrimSpace(base) == "" {
			home, _ := lookup("HOME")
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "carepath")
	}
	return filepath.Join(strings.TrimSpace(cache), "lib", "libonnxruntime.so.1")
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
	local  bool // CAREPATH_ENV=local: the local defaults apply
}

// secret reads a secret whose local default is localValue. Outside the
// local stack a secret has no default: unset, it stays empty, and
// RequireSecrets names it.
func (r *reader) secret(name, localValue string) string {
	if r.local {
		return r.str(name, localValue)
	}
	return r.str(name, "")
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

// RedactURL hides the credentials of a connection URL, for messages and logs.
func RedactURL(raw string) string {
	if i, j := strings.Index(raw, "://"), strings.LastIndex(raw, "@"); i >= 0 && j > i {
		return raw[:i+3] + "***" + raw[j:]
	}
	return raw
}
