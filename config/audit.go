package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// LocalAuditSigningKeyFile holds the local stack's audit checkpoint
// signing key (base64 of a 32-byte Ed25519 seed), under CAREPATH_DATA_DIR.
const LocalAuditSigningKeyFile = "secrets/audit-signing-key"

// auditSigning reads CAREPATH_AUDIT_SIGNING_KEY, and
// CAREPATH_AUDIT_VERIFY_KEY, its public half, with which `carepath audit
// verify` checks the checkpoints without holding the signing key. With CAREPATH_ENV=local
// and no key set, the key file is read if it exists; otherwise
// AuditSigningKey makes it when the API first needs it (reading the
// configuration never writes files). The key must not be reachable from
// the database: it is what a forger of the audit table does not have.
func (r *reader) auditSigning(cfg *Config) {
	if v := r.str("CAREPATH_AUDIT_VERIFY_KEY", ""); v != "" {
		pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(pub) != ed25519.PublicKeySize {
			r.errs = append(r.errs, fmt.Errorf("CAREPATH_AUDIT_VERIFY_KEY: want base64 of a %d-byte Ed25519 public key", ed25519.PublicKeySize))
		} else {
			cfg.AuditVerifyKey = ed25519.PublicKey(pub)
		}
	}
	cfg.AuditSigningSeed, cfg.AuditSigningKeySource, cfg.auditKeyFile =
		r.signingSeed("CAREPATH_AUDIT_SIGNING_KEY", LocalAuditSigningKeyFile, "audit signing key")
}

// AuditSigningKey returns the Ed25519 key audit checkpoints are signed
// with. On the local stack without a key it generates the key file, as for
// the prescription signing key. Elsewhere a missing key is an error.
func (c Config) AuditSigningKey() (ed25519.PrivateKey, error) {
	if c.AuditSigningSeed != nil {
		return ed25519.NewKeyFromSeed(c.AuditSigningSeed), nil
	}
	if c.auditKeyFile == "" {
		return nil, errors.New("CAREPATH_AUDIT_SIGNING_KEY is not set")
	}
	raw, err := localPrescriptionKey(c.auditKeyFile) // the same create-once seed file
	if err != nil {
		return nil, fmt.Errorf("audit signing key file %s: %w", c.auditKeyFile, err)
	}
	seed, err := parseSeed(raw)
	if err != nil {
		return nil, fmt.Errorf("audit signing key file %s: %w", c.auditKeyFile, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
