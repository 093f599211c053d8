package config

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/carepath/carepath/codec"
)

// Secret is one secret the API and the worker need outside the local stack.
type Secret struct {
	Name string // the environment variable
	What string // what it protects
	Make string // how an operator makes or finds one

	// set reports whether the configuration holds a value of the operator's
	// own: set, and not one of the values published in this repository.
	set func(Config) bool
}

// Secrets lists, in the order an error names them, every secret
// RequireSecrets checks. README's "Before going live" is this table.
var Secrets = []Secret{
	{Name: "STRIPE_SECRET_KEY", What: "Stripe API key the worker charges with",
		Make: "Stripe dashboard, Developers, API keys (or a restricted key)",
		set:  func(c Config) bool { return ownString(c.StripeSecretKey, localStripeSecretKey) }},
	{Name: "STRIPE_WEBHOOK_SECRET", What: "verifies Stripe's calls to /api/v1/webhooks/stripe",
		Make: "Stripe dashboard: the endpoint's signing secret (whsec_...)",
		set:  func(c Config) bool { return ownString(c.StripeWebhookSecret, DefaultStripeWebhookSecret) }},
	{Name: "TWILIO_ACCOUNT_SID", What: "the Twilio account SMS are sent from",
		Make: "Twilio console, Account info (AC...)",
		set:  func(c Config) bool { return ownString(c.TwilioAccountSID, DefaultTwilioAccountSID) }},
	{Name: "TWILIO_AUTH_TOKEN", What: "signs calls to Twilio and verifies Twilio's webhooks",
		Make: "Twilio console, Account info",
		set:  func(c Config) bool { return ownString(c.TwilioAuthToken, DefaultTwilioAuthToken) }},
	{Name: "PHARMACY_WEBHOOK_SECRET", What: "verifies the pharmacy partner's status webhooks (HMAC-SHA256)",
		Make: "agree it with the partner; `openssl rand -base64 32`",
		set:  func(c Config) bool { return ownString(c.PharmacyWebhookSecret, DefaultPharmacyWebhookSecret) }},
	{Name: "CAREPATH_AUTH_MASTER_KEY", What: "seals the access-token signing keys stored in PostgreSQL",
		Make: "`openssl rand -base64 32`",
		set:  func(c Config) bool { return ownKey(c.AuthMasterKey) }},
	{Name: "CAREPATH_RECORDS_KEYS", What: "master keys that wrap the health record documents' data keys",
		Make: "`carepath codec keygen records-1`",
		set:  func(c Config) bool { return ownKeys(c.RecordsKeys) }},
	{Name: "CAREPATH_CODEC_KEYS", What: "encrypts every Temporal payload (journeys' health data)",
		Make: "`carepath codec keygen k1`",
		set:  func(c Config) bool { return ownKeys(c.CodecKeys) }},
	{Name: "PRESCRIPTION_SIGNING_KEY", What: "Ed25519 seed prescriptions are signed with",
		Make: "`openssl rand -base64 32`",
		set:  func(c Config) bool { return ownKey(c.PrescriptionSigningSeed) }},
	{Name: "CAREPATH_AUDIT_SIGNING_KEY", What: "Ed25519 seed the audit chain checkpoints are signed with (keep it out of the database's reach)",
		Make: "`openssl rand -base64 32`",
		set:  func(c Config) bool { return ownKey(c.AuditSigningSeed) }},
}

// Local reports whether this is the local stack (CAREPATH_ENV=local), where
// the local defaults apply.
func (c Config) Local() bool { return c.Env == LocalEnv }

// RequireSecrets is the start-up check of the API and the worker. Outside
// the local stack it fails, with one error naming every one, when any of
// Secrets is unset or still holds a value published in this repository
// (the local stack's or the tests'), which would protect nothing. It never
// includes a value in the error.
func (c Config) RequireSecrets() error {
	if c.Local() {
		return nil
	}
	var missing []string
	for _, s := range Secrets {
		if !s.set(c) {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &SecretsError{Env: c.Env, Missing: missing}
}

// SecretsError names the secrets a deployment has not set.
type SecretsError struct {
	Env     string
	Missing []string // variable names, in the order of Secrets
}

func (e *SecretsError) Error() string {
	return fmt.Sprintf("CAREPATH_ENV=%s: refusing to start: %d secrets are unset or hold a public local value: %s "+
		"(README, \"Before going live\", says how to make each; CAREPATH_ENV=local is for the local stack only)",
		e.Env, len(e.Missing), strings.Join(e.Missing, ", "))
}

// publicKeys are the 32-byte keys published in this repository: the local
// stack's auth and records master keys, and the tests' payload and
// prescription keys (internal/testenv). As any secret they protect nothing.
var publicKeys = func() [][]byte {
	var keys [][]byte
	for _, b64 := range []string{
		localAuthMasterKey,
		localRecordsKeys[strings.IndexByte(localRecordsKeys, ':')+1:],
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", // testenv.CodecKeys
		"Y2FyZXBhdGgtdGVzdC1wcmVzY3JpcHRpb24ta2V5ISE=", // testenv.PrescriptionSigningKey
	} {
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			panic("config: public key " + b64 + ": " + err.Error())
		}
		keys = append(keys, k)
	}
	return keys
}()

func ownString(v, public string) bool { return v != "" && v != public }

func ownKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, p := range publicKeys {
		if bytes.Equal(k, p) {
			return false
		}
	}
	return true
}

// ownKeys reports whether a key ring is set and holds no public key.
func ownKeys(ring []codec.Key) bool {
	if len(ring) == 0 {
		return false
	}
	for _, k := range ring {
		_, b64, _ := strings.Cut(k.Export(), ":")
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || !ownKey(secret) {
			return false
		}
	}
	return true
}
