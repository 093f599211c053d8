// Command pharmacy-sim serves the local stand-in for the pharmacy partner
// network (package internal/pharmacysim) on the address of PHARMACY_API_BASE.
// It takes FHIR R4 MedicationRequest bundles, keeps stock levels, and calls
// the API's pharmacy webhook (PUBLIC_BASE_URL + /api/v1/webhooks/pharmacy)
// with each order's statuses, signed with PHARMACY_WEBHOOK_SECRET. It logs
// order and event IDs only, never what was prescribed.
//
// Flags: -step-delay (time between statuses, default 5s) and
// -default-stock (units of any drug a pharmacy holds unless set through
// PUT /pharmacies/{id}/stock, default 100).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/httpserve"
	"github.com/carepath/carepath/internal/pharmacysim"
)

func main() {
	stepDelay := flag.Duration("step-delay", 5*time.Second, "time between one order status and the next")
	defaultStock := flag.Int("default-stock", 100, "units of a drug a pharmacy holds unless set through the API")
	flag.Parse()
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pharmacy-sim: configuration: %v\n", err)
		os.Exit(2)
	}
	logger := cfg.Logger().With("component", "pharmacy-sim")
	if err := run(cfg, logger, *stepDelay, *defaultStock); err != nil {
		logger.Error("pharmacy-sim failed", "error", err)
		os.Exit(1)
	}
}

func run(cfg config.Config, logger *slog.Logger, stepDelay time.Duration, defaultStock int) error {
	u, err := url.Parse(cfg.PharmacyAPIBase)
	if err != nil {
		return fmt.Errorf("PHARMACY_API_BASE: %w", err)
	}
	if u.Scheme != "http" || u.Port() == "" {
		return fmt.Errorf("PHARMACY_API_BASE %q: the simulator serves plain http on an explicit port", cfg.PharmacyAPIBase)
	}
	sim := pharmacysim.New(pharmacysim.Options{
		WebhookURL: cfg.PublicBaseURL + "/api/v1/webhooks/pharmacy", WebhookSecret: cfg.PharmacyWebhookSecret,
		StepDelay: stepDelay, DefaultStock: defaultStock, Logger: logger,
	})
	defer sim.Close()
	srv := &http.Server{Addr: u.Host, Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("Pharmacy simulator listening", "addr", u.Host, "webhook", cfg.PublicBaseURL+"/api/v1/webhooks/pharmacy")
	return httpserve.Run(ctx, srv, 5*time.Second)
}
