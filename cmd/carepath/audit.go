package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/store"
)

// errAuditBroken makes `carepath audit verify` exit non-zero.
var errAuditBroken = errors.New("the audit chain is broken")

// runAudit serves `carepath audit verify`: it checks the whole chain in
// DATABASE_URL against the exported heads in CAREPATH_AUDIT_HEAD_FILE and
// prints the report as JSON, naming the first broken row.
func runAudit(ctx context.Context, cfg config.Config, out io.Writer, args []string) error {
	if len(args) != 1 || args[0] != "verify" {
		return fmt.Errorf("usage: carepath audit verify")
	}
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	return verifyAudit(ctx, s, cfg.AuditHeadFile, out)
}

func verifyAudit(ctx context.Context, s *store.Store, headFile string, out io.Writer) error {
	heads, err := store.ReadAuditHeads(headFile)
	if err != nil {
		return err
	}
	report, err := s.VerifyAudit(ctx, heads)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return fmt.Errorf("audit verify: write report: %w", err)
	}
	if !report.Valid {
		return fmt.Errorf("%w at row %d: %s", errAuditBroken, report.FirstBroken.Seq, report.FirstBroken.Problem)
	}
	return nil
}
