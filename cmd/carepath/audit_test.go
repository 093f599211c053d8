package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// `carepath audit verify` passes a sound chain and exits 1 naming the
// first broken row of a tampered one. It runs over a chain of the test's
// own (a schema picked through DATABASE_URL's search_path).
func TestAuditVerifyCommand(t *testing.T) {
	bin := buildBinary(t)
	s := testenv.AuditSchema(t)
	ctx := context.Background()
	var schema string
	if err := s.Pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.AppendAudit(ctx, store.AuditEvent{ActorID: "cli-test", ActorRole: "admin", Action: "read", Route: "GET /x",
			Path: "/x", Outcome: "success", Status: 200, Purpose: "HOPERAT", Reason: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	heads := filepath.Join(t.TempDir(), "heads.jsonl")
	verify := func() (string, error) {
		cmd := exec.Command(bin, "audit", "verify")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+testenv.Config(t).DatabaseURL+"&search_path="+schema+",public",
			"CAREPATH_AUDIT_HEAD_FILE="+heads)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"rows": 3`) {
		t.Fatalf("sound chain: err=%v\n%s", err, out)
	}
	owner := testenv.Owner(t, s) // the application role may not tamper; the owner may
	for _, q := range []string{`ALTER TABLE audit_event DISABLE TRIGGER USER`, `UPDATE audit_event SET reason = 'forged' WHERE seq = 2`} {
		if _, err := owner.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	out, err := verify()
	exitErr, ok := err.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 || !strings.Contains(out, `"seq": 2`) || !strings.Contains(out, "row 2's fields do not match its hash") {
		t.Fatalf("tampered chain: err=%v\n%s", err, out)
	}
}
