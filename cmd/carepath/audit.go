package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/store"
)

// errAuditBroken makes `carepath audit verify` exit non-zero.
var errAuditBroken = errors.New("the audit chain is broken")

// runAudit serves `carepath audit verify` and `carepath audit verify-key`.
//
// verify checks the signed checkpoints in CAREPATH_AUDIT_HEAD_FILE (their
// signatures, with CAREPATH_AUDIT_VERIFY_KEY or else the public half of
// CAREPATH_AUDIT_SIGNING_KEY, and that the newest is less than twice
// CAREPATH_AUDIT_HEAD_INTERVAL old) and the whole chain in DATABASE_URL
// against them, and prints the report as JSON, naming the first broken row
// or what is wrong with the checkpoints.
//
// verify-key prints the signing key's public half, the value of
// CAREPATH_AUDIT_VERIFY_KEY for a verifier that must not hold the key.
func runAudit(ctx context.Context, cfg config.Config, out io.Writer, args []string) error {
	if len(args) != 1 || args[0] != "verify" && args[0] != "verify-key" {
		return fmt.Errorf("usage: carepath audit verify | carepath audit verify-key")
	}
	pub := cfg.AuditVerifyKey
	if pub == nil || args[0] == "verify-key" {
		key, err := cfg.AuditSigningKey()
		if err != nil {
			return fmt.Errorf("audit %s: %w (or set CAREPATH_AUDIT_VERIFY_KEY)", args[0], err)
		}
		pub = key.Public().(ed25519.PublicKey)
	}
	if args[0] == "verify-key" {
		if _, err := fmt.Fprintln(out, base64.StdEncoding.EncodeToString(pub)); err != nil {
			return fmt.Errorf("audit verify-key: %w", err)
		}
		return nil
	}
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	o := auditOptions(cfg, pub)
	return verifyAudit(ctx, s, o, out)
}

// auditOptions is how the API and `carepath audit verify` find and judge
// the checkpoints.
func auditOptions(cfg config.Config, pub ed25519.PublicKey) api.AuditOptions {
	return api.AuditOptions{Checkpoints: store.FileCheckpoints{Path: cfg.AuditHeadFile},
		VerifyKey: pub, MaxAge: 2 * cfg.AuditHeadInterval}
}

// startAuditCheckpoints starts exporting signed checkpoints every
// CAREPATH_AUDIT_HEAD_INTERVAL until ctx ends, so that a rewrite of the
// whole audit table is detectable, and returns the verify endpoint's
// options. Without a signing key the API does not start.
func startAuditCheckpoints(ctx context.Context, cfg config.Config, s *store.Store, logger *slog.Logger) (api.AuditOptions, error) {
	key, err := cfg.AuditSigningKey()
	if err != nil {
		return api.AuditOptions{}, fmt.Errorf("audit checkpoints: %w", err)
	}
	o := auditOptions(cfg, key.Public().(ed25519.PublicKey))
	go store.Checkpointer{Store: s, Out: o.Checkpoints, Key: key}.Run(ctx, cfg.AuditHeadInterval, logger)
	logger.Info("Audit checkpoints exporting", "file", cfg.AuditHeadFile, "interval", cfg.AuditHeadInterval.String(),
		"key_id", store.CheckpointKeyID(o.VerifyKey))
	return o, nil
}

func verifyAudit(ctx context.Context, s *store.Store, o api.AuditOptions, out io.Writer) error {
	report, err := s.VerifyAuditCheckpoints(ctx, o.Checkpoints, store.CheckpointPolicy{Key: o.VerifyKey, MaxAge: o.MaxAge})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return fmt.Errorf("audit verify: write report: %w", err)
	}
	switch {
	case report.FirstBroken != nil:
		return fmt.Errorf("%w at row %d: %s", errAuditBroken, report.FirstBroken.Seq, report.FirstBroken.Problem)
	case !report.Valid:
		return fmt.Errorf("%w: %s", errAuditBroken, report.CheckpointProblem)
	}
	return nil
}
