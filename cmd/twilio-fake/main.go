// Command twilio-fake serves the local stand-in for Twilio's Messages API
// (package internal/twiliofake) on the address of TWILIO_API_BASE, accepting
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, so `make run` can send SMS
// without reaching Twilio. Messages are accepted and logged by SID only:
// never the number or the body.
package main

import (
	"context"
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
	"github.com/carepath/carepath/internal/twiliofake"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "twilio-fake: configuration: %v\n", err)
		os.Exit(2)
	}
	logger := cfg.Logger().With("component", "twilio-fake")
	if err := run(cfg, logger); err != nil {
		logger.Error("twilio-fake failed", "error", err)
		os.Exit(1)
	}
}

func run(cfg config.Config, logger *slog.Logger) error {
	u, err := url.Parse(cfg.TwilioAPIBase)
	if err != nil {
		return fmt.Errorf("TWILIO_API_BASE: %w", err)
	}
	if u.Scheme != "http" || u.Port() == "" {
		return fmt.Errorf("TWILIO_API_BASE %q: the fake serves plain http on an explicit port", cfg.TwilioAPIBase)
	}
	fake := twiliofake.New(cfg.TwilioAccountSID, cfg.TwilioAuthToken)
	srv := &http.Server{
		Addr: u.Host,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			before := len(fake.Messages())
			fake.ServeHTTP(w, r)
			if ms := fake.Messages(); len(ms) > before {
				logger.Info("Message accepted", "sid", ms[len(ms)-1].SID)
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("Fake Twilio listening", "addr", u.Host, "account_sid", cfg.TwilioAccountSID)
	return httpserve.Run(ctx, srv, 5*time.Second)
}
