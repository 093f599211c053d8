// Command twilio-fake serves the local stand-in for Twilio's Messages API
// (package internal/twiliofake) on the address of TWILIO_API_BASE, accepting
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, so `make run` can send SMS
// without reaching Twilio. Messages are accepted and logged by SID only:
// never the number or the body.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carepath/carepath/config"
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
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("Fake Twilio listening", "addr", u.Host, "account_sid", cfg.TwilioAccountSID)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
