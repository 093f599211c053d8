package main_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// `carepath audit verify` passes a sound chain with a fresh signed
// checkpoint, and exits 1 naming what is wrong: no checkpoint, a stale or
// forged one, or the first broken row of a tampered chain. It runs over a
// chain of the test's own (a schema picked through DATABASE_URL's
// search_path); the tampering uses the owner's connection.
func TestAuditVerifyCommand(t *testing.T) {
	bin := buildBinary(t)
	s := testenv.AuditSchema(t)
	owner := testenv.Owner(t, s).Pool // the application role may not tamper; the owner may
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
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	checkpoints := store.FileCheckpoints{Path: filepath.Join(t.TempDir(), "checkpoints.jsonl")}
	env := append(os.Environ(), "DATABASE_URL="+testenv.Config(t).DatabaseURL+"&search_path="+schema+",public",
		"CAREPATH_AUDIT_HEAD_FILE="+checkpoints.Path, "CAREPATH_AUDIT_HEAD_INTERVAL=1m", "CAREPATH_DATA_DIR="+t.TempDir())
	env = slices.Clip(env) // each append below gets its own copy
	signer := append(env, "CAREPATH_AUDIT_SIGNING_KEY="+base64.StdEncoding.EncodeToString(seed))
	run := func(env []string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if exitErr, ok := err.(*exec.ExitError); ok {
			return string(out), exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	verify := func() (string, int) { t.Helper(); return run(signer, "audit", "verify") }
	export := func(k ed25519.PrivateKey, at time.Time) {
		t.Helper()
		if _, err := (store.Checkpointer{Store: s, Out: checkpoints, Key: k, Now: func() time.Time { return at }}).Export(ctx); err != nil {
			t.Fatal(err)
		}
	}

	if out, code := verify(); code != 1 || !strings.Contains(out, "no checkpoint") {
		t.Fatalf("no checkpoint: exit %d\n%s", code, out)
	}
	export(key, time.Now().Add(-5*time.Minute))
	if out, code := verify(); code != 1 || !strings.Contains(out, "more than twice the export interval") {
		t.Fatalf("stale checkpoint: exit %d\n%s", code, out)
	}
	export(key, time.Now())
	if out, code := verify(); code != 0 || !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"rows": 3`) ||
		!strings.Contains(out, `"checkpoints": 2`) {
		t.Fatalf("sound chain: exit %d\n%s", code, out)
	}
	// An auditor without the signing key verifies with its public half.
	pub, code := run(signer, "audit", "verify-key")
	if want := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)); code != 0 || strings.TrimSpace(pub) != want {
		t.Fatalf("verify-key: exit %d %q, want %q", code, pub, want)
	}
	if out, code := run(append(env, "CAREPATH_AUDIT_VERIFY_KEY="+strings.TrimSpace(pub)), "audit", "verify"); code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Fatalf("verify with the public key only: exit %d\n%s", code, out)
	}
	_, otherPub := mustKey(t)
	if out, code := run(append(env, "CAREPATH_AUDIT_VERIFY_KEY="+base64.StdEncoding.EncodeToString(otherPub)), "audit", "verify"); code != 1 ||
		!strings.Contains(out, "signature does not verify") {
		t.Fatalf("verify with another public key: exit %d\n%s", code, out)
	}
	for _, q := range []string{`ALTER TABLE audit_event DISABLE TRIGGER USER`, `UPDATE audit_event SET reason = 'forged' WHERE seq = 2`} {
		if _, err := owner.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := verify(); code != 1 || !strings.Contains(out, `"seq": 2`) || !strings.Contains(out, "row 2's fields do not match its hash") {
		t.Fatalf("tampered chain: exit %d\n%s", code, out)
	}
	// A checkpoint signed by any other key is a forgery.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	export(other, time.Now().Add(time.Second))
	if out, code := verify(); code != 1 || !strings.Contains(out, "signature does not verify") {
		t.Fatalf("forged checkpoint: exit %d\n%s", code, out)
	}
}

func mustKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
