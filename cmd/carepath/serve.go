package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/internal/httpserve"
	"github.com/carepath/carepath/knowledge"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/telemetry"
	"github.com/carepath/carepath/workers"
)

func runAPI(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	logger = telemetry.Logger(logger)
	tel, err := startTelemetry(ctx, cfg, "carepath-api", logger)
	if err != nil {
		return err
	}
	defer stopTelemetry(ctx, tel, logger)
	models, closeModels, err := openModels(cfg, logger, "api")
	if err != nil {
		return err
	}
	defer closeModels()
	deps, err := platform.Connect(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer deps.Close(context.WithoutCancel(ctx))
	tel.Registry.MustRegister(telemetry.NewPoolCollector(deps.Store.Pool))
	tel.ServeMetrics(ctx, cfg.MetricsAddr, logger)
	catalog, err := pathways.LoadCatalog(cfg.PathwaysDir)
	if err != nil {
		return fmt.Errorf("api: pathways: %w", err)
	}
	authSvc, err := newAuth(cfg, deps, logger)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	audit, err := startAuditCheckpoints(ctx, cfg, deps.Store, logger)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	records := api.RecordsOptions{}
	if ring, objects, err := openRecords(cfg); err == nil {
		records = api.RecordsOptions{Keyring: ring, Objects: objects}
	} else {
		logger.Warn("Document uploads disabled", "reason", err)
	}
	srv := &http.Server{
		Addr: cfg.APIAddr,
		Handler: api.NewRouter(api.Options{
			Temporal: deps.Temporal, Store: deps.Store, Health: deps, TaskQueue: cfg.TemporalTaskQueue,
			HealthTimeout: cfg.HealthCheckTimeout, Logger: logger,
			Codec:         api.CodecOptionsFromConfig(cfg, deps.Codec),
			Pathways:      catalog,
			Models:        models,
			Webhooks:      api.WebhookOptionsFromConfig(cfg),
			Knowledge:     knowledge.New(deps.Neo4j),
			Auth:          authSvc,
			RateLimit:     api.RateLimitOptions{Redis: deps.Redis, Limits: cfg.RateLimits},
			AuditSettings: audit,
			Records:       records,
			Idempotency:   api.IdempotencyOptionsFromConfig(cfg),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
	}
	logger.Info("API listening", "addr", cfg.APIAddr, "rate_per_ip", cfg.RateLimits.PerIP.String(),
		"rate_per_user", cfg.RateLimits.PerUser.String(), "sms_per_ip", cfg.RateLimits.SMSPerIP.String(),
		"audit_head_file", cfg.AuditHeadFile)
	if err := httpserve.Run(ctx, srv, cfg.APIShutdownTimeout); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	logger.Info("API stopped")
	return nil
}

func runWorker(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	logger = telemetry.Logger(logger)
	tel, err := startTelemetry(ctx, cfg, "carepath-worker", logger)
	if err != nil {
		return err
	}
	defer stopTelemetry(ctx, tel, logger)
	models, closeModels, err := openModels(cfg, logger, "worker")
	if err != nil {
		return err
	}
	defer closeModels()
	s, err := platform.OpenStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	tel.Registry.MustRegister(telemetry.NewPoolCollector(s.Pool))
	tel.ServeMetrics(ctx, cfg.WorkerMetricsAddr, logger)
	c, err := platform.DialTemporal(cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	deps, err := workers.DepsFromConfig(cfg, s, models)
	if err != nil {
		return err
	}
	w := workers.NewJourneyWorker(c, cfg.TemporalTaskQueue, deps)
	go workers.KeepSlotsOpen(ctx, s, logger)
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	logger.Info("Worker polling", "task_queue", cfg.TemporalTaskQueue, "namespace", cfg.TemporalNamespace)
	<-ctx.Done()
	// Stop stops polling and waits for running tasks (WorkerStopTimeout).
	logger.Info("Worker stopping: no new tasks, finishing running ones")
	w.Stop()
	logger.Info("Worker stopped")
	return nil
}

// startTelemetry installs the metrics and, with OTEL_EXPORTER_OTLP_ENDPOINT
// set, the tracing of a long-running program, before it dials anything,
// so its Temporal client and database pool are instrumented.
func startTelemetry(ctx context.Context, cfg config.Config, service string, logger *slog.Logger) (*telemetry.Telemetry, error) {
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: service, OTLPEndpoint: cfg.OTLPEndpoint, Logger: logger})
	if err != nil {
		return nil, err
	}
	if tel.Tracing {
		logger.Info("Traces exported over OTLP", "endpoint", cfg.OTLPEndpoint)
	} else {
		logger.Info("Tracing off: OTEL_EXPORTER_OTLP_ENDPOINT is not set")
	}
	return tel, nil
}

// telemetryShutdownTimeout bounds the flush of the last spans on exit, so
// an unreachable collector cannot hold a stopping program.
const telemetryShutdownTimeout = 5 * time.Second

func stopTelemetry(ctx context.Context, tel *telemetry.Telemetry, logger *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryShutdownTimeout)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		logger.Warn("Telemetry shutdown incomplete", "error", err)
	}
}

func runMigrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	s, err := openOwner(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	logger.Info("PostgreSQL migrated", "applied", applied)
	c, err := platform.DialTemporal(cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	added, err := platform.RegisterSearchAttributes(ctx, c, cfg.TemporalNamespace)
	if err != nil {
		return err
	}
	logger.Info("Temporal search attributes registered", "namespace", cfg.TemporalNamespace, "added", added)
	return nil
}

func runSeed(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := requireLocal(cfg, "seed", "the demo data set and its public sign-in passwords"); err != nil {
		return err
	}
	s, err := openOwner(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	counts, err := s.Seed(ctx)
	if err != nil {
		return err
	}
	logger.Info("Demo data loaded", "counts", counts.String())
	foods, err := seedFoods(ctx, s)
	if err != nil {
		return err
	}
	logger.Info("Food composition table loaded", "source", "IFCT 2017", "foods", foods)
	users, err := seedDemoUsers(ctx, cfg, s)
	if err != nil {
		return err
	}
	logger.Info("Demo sign-in credentials loaded", "users", users.Users, "clients", users.Clients)
	return nil
}

// seedFoods loads the Indian Food Composition Tables 2017 from the pinned
// npm package's index.csv (fetched by scripts/ifct.sh; IFCT_CSV overrides
// the path) into PostgreSQL.
func seedFoods(ctx context.Context, s *store.Store) (int, error) {
	foods, err := diet.LoadIFCT(diet.DefaultIFCTPath())
	if err != nil {
		return 0, err
	}
	return s.SeedFoods(ctx, foods)
}
