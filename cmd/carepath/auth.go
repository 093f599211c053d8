package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
)

// newAuth builds the token service over the API's dependencies; sign-in
// codes go out through Twilio.
func newAuth(cfg config.Config, deps *platform.Deps, logger *slog.Logger) (*auth.Service, error) {
	if cfg.AuthMasterKey == nil {
		return nil, errors.New("auth: set CAREPATH_AUTH_MASTER_KEY (base64 of 32 random bytes) outside CAREPATH_ENV=local")
	}
	tw, err := platform.NewTwilio(cfg)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	svc, err := auth.New(auth.Options{
		Pool: deps.Store.Pool, Redis: deps.Redis, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL,
		AccessTTL: cfg.AuthAccessTTL, SessionMaxAge: cfg.AuthSessionMaxAge, SMS: &activities.SignInCodeSender{Twilio: tw, From: cfg.TwilioFromNumber}, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return svc, nil
}

// seedDemoUsers writes the demo sign-in credentials (README, "Demo
// sign-in"); idempotent, and local-only: their passwords are public.
func seedDemoUsers(ctx context.Context, cfg config.Config, s *store.Store) (auth.SeedCounts, error) {
	if err := requireLocal(cfg, "seed demo users", "users whose passwords are public"); err != nil {
		return auth.SeedCounts{}, err
	}
	svc, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL})
	if err != nil {
		return auth.SeedCounts{}, fmt.Errorf("seed demo users: %w", err)
	}
	return svc.SeedDemo(ctx)
}

// requireLocal refuses a local-only command (what it would do: what) outside
// CAREPATH_ENV=local.
func requireLocal(cfg config.Config, command, what string) error {
	if cfg.Local() {
		return nil
	}
	return fmt.Errorf("%s: refusing to load %s with CAREPATH_ENV=%s; it runs with CAREPATH_ENV=local only", command, what, cfg.Env)
}
