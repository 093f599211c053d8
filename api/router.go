// Package api is CarePath's REST API: the Gin router, its handlers, the
// mapping from errors to RFC 9457 problems, and the OpenAPI contract. The
// API starts journey workflows and asks them for their state; domain data
// comes from PostgreSQL.
package api

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/knowledge"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/telemetry"
)

// HealthChecker answers whether every dependency is up.
type HealthChecker interface {
	Check(ctx context.Context, timeout time.Duration) ([]platform.ComponentHealth, bool)
}

// Options is everything the API needs.
type Options struct {
	Temporal      client.Client
	Store         *store.Store
	Health        HealthChecker
	TaskQueue     string
	HealthTimeout time.Duration
	Logger        *slog.Logger
	// Codec configures the codec endpoints the Temporal UI calls.
	Codec CodecOptions
	// Pathways is the catalog new journeys take their plan from.
	Pathways *pathways.Catalog
	// Models holds the clinical models (inference.Open) served at
	// /api/v1/models.
	Models *inference.Registry
	// Webhooks holds the secrets the Stripe and Twilio webhooks verify with.
	Webhooks WebhookOptions
	// Knowledge is the treatment and interaction knowledge graph served at
	// /api/v1/knowledge (knowledge.New over the Neo4j driver).
	Knowledge *knowledge.Graph
	// Auth verifies access tokens and signs users in (auth.New). Without
	// it every route but the public ones answers 503: closed by default.
	Auth *auth.Service
	// RateLimit holds the Redis client and limits (api/ratelimit.go);
	// without a client nothing is limited.
	RateLimit RateLimitOptions
	// AuditSettings holds the signed checkpoints of the audit chain that the
	// verify endpoint checks against (api/audit.go).
	AuditSettings AuditOptions
	// Records holds the document object store and the master keys that
	// seal documents (package vault).
	Records RecordsOptions
	// Idempotency holds the keys stored responses are sealed with
	// (idempotency.go).
	Idempotency IdempotencyOptions
}

// Server holds the handlers' dependencies.
type Server struct {
	journeys      *journeys.Client
	store         *store.Store
	health        HealthChecker
	healthTimeout time.Duration
	logger        *slog.Logger
	codec         CodecOptions
	pathways      *pathways.Catalog
	models        *inference.Registry
	webhooks      WebhookOptions
	knowledge     *knowledge.Graph
	auth          *auth.Service
	limiter       *limiter
	rateLimits    config.RateLimits
	audit         AuditOptions
	records       RecordsOptions
	replies       *replySealer
}

// maxBodyBytes bounds every request body; journey requests are tiny.
const maxBodyBytes = 64 << 10

// NewRouter builds the HTTP handler with every route.
func NewRouter(o Options) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		journeys: journeys.New(o.Temporal, o.TaskQueue, o.Store), store: o.Store, health: cacheHealth(o.Health, healthCacheTTL),
		healthTimeout: o.HealthTimeout, logger: o.Logger, codec: o.Codec, pathways: o.Pathways,
		models: o.Models, webhooks: o.Webhooks,
	}
	s.knowledge = o.Knowledge
	s.auth = o.Auth
	if o.RateLimit.Redis != nil {
		s.limiter = &limiter{redis: o.RateLimit.Redis, prefix: cmp.Or(o.RateLimit.KeyPrefix, "ratelimit:")}
		s.rateLimits = o.RateLimit.Limits
	}
	s.audit = o.AuditSettings
	s.records = o.Records
	s.replies = newReplySealer(o.Idempotency, o.Logger)
	r := gin.New()
	r.ContextWithFallback = true
	// The client address is the peer's unless a trusted proxy forwards it.
	if err := r.SetTrustedProxies(o.RateLimit.Limits.TrustedProxies); err != nil {
		s.logger.Error("API_TRUSTED_PROXIES refused; trusting no proxy", "error", err)
		_ = r.SetTrustedProxies(nil)
	}
	// telemetry.Gin first: the rest of the chain runs inside the request's span.
	r.Use(telemetry.Gin(), s.recoverPanics, s.logRequests, s.checkQuery, s.limitByIP, s.parseRequest, s.authorize, s.limitByUser, s.idempotency)
	r.NoRoute(func(c *gin.Context) {
		writeProblem(c, Problem{Type: problemBase + "not-found", Title: "Not found", Status: http.StatusNotFound,
			Detail: "no route " + c.Request.Method + " " + c.Request.URL.Path, Instance: c.Request.URL.Path})
	})

	r.GET("/api/system/health/check", s.healthCheck)
	r.GET("/livez", s.live)
	r.GET("/readyz", s.ready)
	r.POST("/api/v1/journeys", s.startJourney)
	r.GET("/api/v1/journeys/:id", s.getJourney)
	r.POST("/api/v1/journeys/:id/decisions", s.decide)
	r.POST("/api/v1/journeys/:id/cancel", s.cancelJourney)
	r.POST("/api/v1/journeys/:id/reschedule", s.rescheduleJourney)
	r.POST("/api/v1/journeys/:id/consult/start", s.startConsult)
	r.POST("/api/v1/journeys/:id/consult/close", s.closeConsult)
	r.GET(prescriptionRoute, s.getPrescription)
	r.POST(prescriptionReviewRoute, s.reviewPrescription)
	r.POST(labResultsRoute, s.recordLabResult)
	s.adherenceRoutes(r)
	s.dietRoutes(r)
	r.GET("/api/v1/patients/:id/journeys", s.listPatientJourneys)
	r.GET("/api/v1/models", s.listModels)
	r.POST(modelCallRoute, s.modelCall) // POST /api/v1/models/{name}:predict
	r.POST(interactionsCheckRoute, s.checkInteractions)
	r.GET("/api/v1/knowledge/drugs", s.searchDrugs)
	r.GET("/api/v1/knowledge/conditions/:code/treatments", s.conditionTreatments)
	r.GET("/api/v1/doctors", s.listDoctors)
	r.GET("/api/v1/doctors/suggest", s.suggestDoctors)
	s.healthLinkSearchRoutes(r)
	r.GET(accessLogRoute, s.patientAccessLog)
	r.GET(auditVerifyRoute, s.verifyAudit)
	r.GET(recordsRoute, s.listRecords)
	r.POST(recordsRoute, s.createRecord)
	r.GET(recordRoute, s.getRecord)
	r.PUT(recordRoute, s.updateRecord)
	r.DELETE(recordRoute, s.deleteRecord)
	r.POST(documentsRoute, s.uploadDocument)
	r.GET(documentContentRoute, s.documentContent)
	r.GET(fhirExportRoute, s.exportFHIR)
	r.POST(keysRoute, s.registerKey)
	r.DELETE(keyRoute, s.revokeKey)
	r.GET(recordVerifyRoute, s.verifyRecord)
	r.GET(consentsRoute, s.listConsents)
	r.POST(consentsRoute, s.grantConsent)
	r.DELETE(consentRoute, s.revokeConsent)
	r.POST(breakGlassRoute, s.breakGlass)
	r.GET(notificationsRoute, s.listNotifications)
	r.GET(healthLinkRecordsRoute, s.healthLinkRecords)
	r.GET(healthLinkClinicalRoute, s.healthLinkClinicalRecords)
	s.codecRoutes(r)
	s.webhookRoutes(r)
	r.POST(pharmacyWebhookPath, s.pharmacyWebhook)
	s.authRoutes(r)
	r.POST(bookLabTestRoute, s.bookLabTest)
	s.healthLinkRoutes(r)
	r.GET(shortLinkRoute, s.followShortLink)
	r.GET("/openapi.json", s.openAPI)
	r.GET("/docs", s.docs)
	return r
}

// logRequests logs one line per request: route, status and latency. Never
// bodies or query strings, which may carry health data.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, bodyLimit(c.Request.URL.Path))
	c.Next()
	attrs := []any{"method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
		"latency_ms", time.Since(start).Milliseconds()}
	if len(c.Errors) > 0 {
		// Errors gin recorded, such as a failure to write the response.
		s.logger.WarnContext(c.Request.Context(), "HTTP request", append(attrs, "error", c.Errors.String())...)
		return
	}
	s.logger.InfoContext(c.Request.Context(), "HTTP request", attrs...)
}

func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.logger.ErrorContext(c.Request.Context(), "Handler panicked", "route", c.FullPath(), "panic", v)
			writeProblem(c, Problem{Type: problemBase + "internal", Title: "Internal error",
				Status: http.StatusInternalServerError, Detail: "the error has been logged", Instance: c.Request.URL.Path})
		}
	}()
	c.Next()
}

// checkQuery refuses a query string no handler could use: a parameter
// whose name or value holds a NUL byte or is not UTF-8 (400, naming it).
// Such text can never be stored or searched, and PostgreSQL refuses it.
func (s *Server) checkQuery(c *gin.Context) {
	for name, values := range c.Request.URL.Query() {
		for _, v := range append([]string{name}, values...) {
			if !usableText(v) {
				s.writeError(c, &parameterError{name: strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", ""), ""),
					detail: "holds a NUL byte or is not UTF-8"})
				return
			}
		}
	}
	c.Next()
}

// usableText is text CarePath can store: UTF-8 without NUL bytes.
func usableText(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }
