package main_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/codec"
)

// deploymentSecrets is every variable a deployment must set before the API
// and the worker start (config.Secrets), written out so that a secret
// dropped from the check fails this test.
var deploymentSecrets = []string{
	"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
	"PHARMACY_WEBHOOK_SECRET", "CAREPATH_AUTH_MASTER_KEY", "CAREPATH_RECORDS_KEYS",
	"CAREPATH_CODEC_KEYS", "PRESCRIPTION_SIGNING_KEY", "CAREPATH_AUDIT_SIGNING_KEY",
}

// runClean runs the binary in an environment holding only PATH, HOME and
// env, as a fresh server or container would, and returns its exit code
// and output.
func runClean(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), string(out)
	default:
		t.Fatalf("carepath %v: %v\n%s", args, err, out)
		return 0, ""
	}
}

// A deployment, named or by default, never starts the API or the worker on
// missing secrets, and one message names every one; the local-only
// commands refuse to run at all.
func TestDeploymentWithoutSecretsRefusesToStart(t *testing.T) {
	bin := buildBinary(t)
	for _, env := range [][]string{{"CAREPATH_ENV=production"}, nil} {
		for _, program := range []string{"api", "worker"} {
			code, out := runClean(t, bin, env, program)
			if code == 0 {
				t.Errorf("%v carepath %s: exit 0, want a refusal\n%s", env, program, out)
			}
			if !strings.Contains(out, "CAREPATH_ENV=production: refusing to start") {
				t.Errorf("%v carepath %s: no secrets refusal:\n%s", env, program, out)
			}
			for _, name := range deploymentSecrets {
				if !strings.Contains(out, name) {
					t.Errorf("%v carepath %s: the output does not name %s:\n%s", env, program, name, out)
				}
			}
			// It stopped before touching anything: the models are opened first.
			if strings.Contains(out, "Models loaded") || strings.Contains(out, "models:") {
				t.Errorf("%v carepath %s: went on after the secrets check:\n%s", env, program, out)
			}
		}
	}
	for _, args := range [][]string{{"seed"}, {"stack", "exec", "--", "true"}} {
		code, out := runClean(t, bin, []string{"CAREPATH_ENV=production"}, args...)
		if code == 0 || !strings.Contains(out, "CAREPATH_ENV=local only") {
			t.Errorf("carepath %v outside local: exit %d, want a refusal naming CAREPATH_ENV=local:\n%s", args, code, out)
		}
	}
}

// With every secret of its own, a deployment passes the secrets check and
// goes on to start: here it stops at the next step, the ONNX Runtime
// library, which this test points at a path that does not exist, so that
// nothing is connected to. No secret appears in the output.
func TestDeploymentWithItsOwnSecretsPassesTheCheck(t *testing.T) {
	bin := buildBinary(t)
	key := func(id string) string {
		k, err := codec.GenerateKey(id)
		if err != nil {
			t.Fatal(err)
		}
		return k.Export()
	}
	_, master, _ := strings.Cut(key("m"), ":")
	seed := base64.StdEncoding.EncodeToString([]byte("own-prescription-signing-seed-32"))
	auditSeed := base64.StdEncoding.EncodeToString([]byte("own-audit-checkpoint-signing-32b"))
	secrets := map[string]string{
		"STRIPE_SECRET_KEY":          "sk_live_failclosedtest0123",
		"STRIPE_WEBHOOK_SECRET":      "whsec_failclosedtest0123",
		"TWILIO_ACCOUNT_SID":         "AC0123456789abcdef0123456789abcdef",
		"TWILIO_AUTH_TOKEN":          "failclosedtesttoken0123456789abc",
		"PHARMACY_WEBHOOK_SECRET":    "fail-closed-test-pharmacy-secret",
		"CAREPATH_AUTH_MASTER_KEY":   master,
		"CAREPATH_RECORDS_KEYS":      key("records-1"),
		"CAREPATH_CODEC_KEYS":        key("k1"),
		"PRESCRIPTION_SIGNING_KEY":   seed,
		"CAREPATH_AUDIT_SIGNING_KEY": auditSeed,
	}
	const lib = "/nonexistent-carepath-test/libonnxruntime.so.1"
	env := []string{"CAREPATH_ENV=production", "ONNXRUNTIME_LIB=" + lib,
		"DATABASE_URL=postgres://nobody@127.0.0.1:1/none?sslmode=disable", "API_ADDR=127.0.0.1:0"}
	for name, v := range secrets {
		env = append(env, name+"="+v)
	}
	for _, program := range []string{"api", "worker"} {
		code, out := runClean(t, bin, env, program)
		if code == 0 {
			t.Errorf("carepath %s: exit 0 without an ONNX Runtime library:\n%s", program, out)
		}
		if strings.Contains(out, "refusing to start") {
			t.Errorf("carepath %s: refused although every secret is set:\n%s", program, out)
		}
		if !strings.Contains(out, lib) {
			t.Errorf("carepath %s: did not go on to load the models from %s:\n%s", program, lib, out)
		}
		for name, v := range secrets {
			_, secret, _ := strings.Cut(v, ":")
			if strings.Contains(out, v) || (secret != "" && strings.Contains(out, secret)) {
				t.Errorf("carepath %s: the output holds the value of %s", program, name)
			}
		}
	}
}
