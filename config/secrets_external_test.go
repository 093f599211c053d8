package config_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
)

// The tests' keys are public (internal/testenv): a deployment using them has
// no key. This keeps config's list of public keys in step with testenv.
func TestTheTestsKeysCountAsUnset(t *testing.T) {
	cfg, err := config.FromLookup(func(name string) (string, bool) {
		v, ok := map[string]string{
			"CAREPATH_ENV":             "production",
			"CAREPATH_CODEC_KEYS":      testenv.CodecKeys,
			"PRESCRIPTION_SIGNING_KEY": testenv.PrescriptionSigningKey,
		}[name]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	var se *config.SecretsError
	if err := cfg.RequireSecrets(); !errors.As(err, &se) {
		t.Fatalf("RequireSecrets = %v, want a *SecretsError", err)
	}
	for _, name := range []string{"CAREPATH_CODEC_KEYS", "PRESCRIPTION_SIGNING_KEY"} {
		if !slices.Contains(se.Missing, name) {
			t.Errorf("%s holds a test key, yet passes: missing = %v", name, se.Missing)
		}
	}
}
