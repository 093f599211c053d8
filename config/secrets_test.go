package config

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/carepath/carepath/codec"
)

// allSecrets is every variable a deployment must set, written out here so
// that dropping one from Secrets fails a test.
var allSecrets = []string{
	"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
	"PHARMACY_WEBHOOK_SECRET", "CAREPATH_AUTH_MASTER_KEY", "CAREPATH_RECORDS_KEYS",
	"CAREPATH_CODEC_KEYS", "PRESCRIPTION_SIGNING_KEY", "CAREPATH_AUDIT_SIGNING_KEY",
}

func missingSecrets(t *testing.T, cfg Config) []string {
	t.Helper()
	err := cfg.RequireSecrets()
	if err == nil {
		return nil
	}
	var se *SecretsError
	if !errors.As(err, &se) {
		t.Fatalf("RequireSecrets: %v is not a *SecretsError", err)
	}
	for _, name := range se.Missing {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
	return se.Missing
}

// ownSecrets is a deployment's environment with every secret set to a
// fresh value of its own.
func ownSecrets(t *testing.T) map[string]string {
	t.Helper()
	key := func(id string) string {
		k, err := codec.GenerateKey(id)
		if err != nil {
			t.Fatal(err)
		}
		return k.Export()
	}
	_, master, _ := strings.Cut(key("m"), ":")
	_, seed, _ := strings.Cut(key("p"), ":")
	_, auditSeed, _ := strings.Cut(key("a"), ":")
	return map[string]string{
		"CAREPATH_ENV":               "production",
		"STRIPE_SECRET_KEY":          "sk_live_own0123456789",
		"STRIPE_WEBHOOK_SECRET":      "whsec_own0123456789",
		"TWILIO_ACCOUNT_SID":         "AC0123456789abcdef0123456789abcdef",
		"TWILIO_AUTH_TOKEN":          "0123456789abcdef0123456789abcdef",
		"PHARMACY_WEBHOOK_SECRET":    "own-pharmacy-webhook-secret",
		"CAREPATH_AUTH_MASTER_KEY":   master,
		"CAREPATH_RECORDS_KEYS":      key("records-1"),
		"CAREPATH_CODEC_KEYS":        key("k1"),
		"PRESCRIPTION_SIGNING_KEY":   seed,
		"CAREPATH_AUDIT_SIGNING_KEY": auditSeed,
	}
}

func TestSecretsListsEveryDeploymentSecret(t *testing.T) {
	var names []string
	for _, s := range Secrets {
		names = append(names, s.Name)
		if s.What == "" || s.Make == "" {
			t.Errorf("%s: say what it protects and how to make one", s.Name)
		}
	}
	if !slices.Equal(names, allSecrets) {
		t.Errorf("Secrets = %v, want %v", names, allSecrets)
	}
}

// Unset, CAREPATH_ENV is production: no secret has a default, and one
// error names every one.
func TestUnsetEnvIsProductionAndNamesEverySecret(t *testing.T) {
	cfg, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatalf("a deployment without secrets must still load (migrate, codec keygen need no secrets): %v", err)
	}
	if cfg.Env != "production" || cfg.Local() {
		t.Errorf("Env = %q, want production", cfg.Env)
	}
	if cfg.StripeSecretKey != "" || cfg.StripeWebhookSecret != "" || cfg.TwilioAuthToken != "" || cfg.TwilioAccountSID != "" ||
		cfg.PharmacyWebhookSecret != "" || cfg.AuthMasterKey != nil || len(cfg.RecordsKeys) != 0 || len(cfg.CodecKeys) != 0 ||
		cfg.PrescriptionSigningSeed != nil {
		t.Error("a local default applied outside CAREPATH_ENV=local")
	}
	if got := missingSecrets(t, cfg); !slices.Equal(got, allSecrets) {
		t.Errorf("missing = %v, want every secret %v", got, allSecrets)
	}
}

// A deployment that copied the local values has set nothing.
func TestLocalValuesCountAsUnset(t *testing.T) {
	public := map[string]string{
		"CAREPATH_ENV":             "staging",
		"STRIPE_SECRET_KEY":        "sk_test_123",
		"STRIPE_WEBHOOK_SECRET":    DefaultStripeWebhookSecret,
		"TWILIO_ACCOUNT_SID":       DefaultTwilioAccountSID,
		"TWILIO_AUTH_TOKEN":        DefaultTwilioAuthToken,
		"PHARMACY_WEBHOOK_SECRET":  DefaultPharmacyWebhookSecret,
		"CAREPATH_AUTH_MASTER_KEY": localAuthMasterKey,
		// The local key under another ID is still the local key.
		"CAREPATH_RECORDS_KEYS":    "renamed:" + strings.SplitN(localRecordsKeys, ":", 2)[1],
		"CAREPATH_CODEC_KEYS":      "test-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"PRESCRIPTION_SIGNING_KEY": "Y2FyZXBhdGgtdGVzdC1wcmVzY3JpcHRpb24ta2V5ISE=",
	}
	cfg, err := FromLookup(lookupFrom(public))
	if err != nil {
		t.Fatal(err)
	}
	if got := missingSecrets(t, cfg); !slices.Equal(got, allSecrets) {
		t.Errorf("missing = %v, want every secret %v", got, allSecrets)
	}
}

func TestOwnSecretsPassAndAreNeverPrinted(t *testing.T) {
	env := ownSecrets(t)
	cfg, err := FromLookup(lookupFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.RequireSecrets(); err != nil {
		t.Fatalf("every secret set: %v", err)
	}
	// One public key in a ring of own keys spoils the ring.
	env["CAREPATH_CODEC_KEYS"] += ",test-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	env["CAREPATH_CODEC_ACTIVE_KEY"] = "k1"
	delete(env, "TWILIO_AUTH_TOKEN")
	cfg, err = FromLookup(lookupFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if got := missingSecrets(t, cfg); !slices.Equal(got, []string{"TWILIO_AUTH_TOKEN", "CAREPATH_CODEC_KEYS"}) {
		t.Errorf("missing = %v, want TWILIO_AUTH_TOKEN and CAREPATH_CODEC_KEYS", got)
	}
	msg := cfg.RequireSecrets().Error()
	for name, v := range env {
		if name != "CAREPATH_ENV" && name != "CAREPATH_CODEC_ACTIVE_KEY" && strings.Contains(msg, v) {
			t.Errorf("the error prints the value of %s: %s", name, msg)
		}
	}
}

func TestTheLocalStackNeedsNoSecrets(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.RequireSecrets(); err != nil {
		t.Errorf("local: %v", err)
	}
}

// README's "Before going live" tells an operator every secret to set.
func TestReadmeListsEverySecret(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Before going live\n")
	if !ok {
		t.Fatal(`README.md has no "### Before going live" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	for _, s := range Secrets {
		if !strings.Contains(section, "`"+s.Name+"`") {
			t.Errorf("README's Before going live does not list %s", s.Name)
		}
	}
}
