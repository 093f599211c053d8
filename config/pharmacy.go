package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Pharmacy partner and prescription signing settings.
const (
	DefaultPharmacyAPIBase       = "http://127.0.0.1:12191"
	DefaultPharmacyWebhookSecret = "carepath-local-pharmacy-webhook" // local-only; the simulator uses it too
	// LocalPrescriptionKeyFile holds the local stack's prescription signing
	// key (base64 of a 32-byte Ed25519 seed), under CAREPATH_DATA_DIR.
	LocalPrescriptionKeyFile = "secrets/prescription-signing-key"
)

// pharmacy reads PHARMACY_API_BASE, PHARMACY_WEBHOOK_SECRET and
// PRESCRIPTION_SIGNING_KEY. With CAREPATH_ENV=local and no key set, the key
// file is read if it exists; otherwise PrescriptionSigningKey makes it when
// a program first needs it (reading the configuration never writes files).
func (r *reader) pharmacy(cfg *Config) {
	cfg.PharmacyAPIBase = strings.TrimRight(r.str("PHARMACY_API_BASE", DefaultPharmacyAPIBase), "/")
	cfg.PharmacyWebhookSecret = r.secret("PHARMACY_WEBHOOK_SECRET", DefaultPharmacyWebhookSecret)
	cfg.PrescriptionSigningSeed, cfg.PrescriptionKeySource, cfg.prescriptionKeyFile =
		r.signingSeed("PRESCRIPTION_SIGNING_KEY", LocalPrescriptionKeyFile, "prescription signing key")
}

// signingSeed reads an Ed25519 seed from the variable name or, with
// CAREPATH_ENV=local and the variable unset, from the key file under
// CAREPATH_DATA_DIR. It returns the seed and where it came from, or, when
// the local key file does not exist yet, the path the program that needs
// the key writes it to (reading the configuration never writes files).
func (r *reader) signingSeed(name, localFile, what string) (seed []byte, source, missingFile string) {
	raw, source := r.str(name, ""), name
	if raw == "" && r.local {
		path := filepath.Join(r.str("CAREPATH_DATA_DIR", ".data"), localFile)
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, "", path
		case err != nil:
			r.errs = append(r.errs, fmt.Errorf("%s file %s: %w", what, path, err))
			return nil, "", ""
		}
		raw, source = string(b), path
	}
	if raw == "" {
		return nil, "", ""
	}
	seed, err := parseSeed(raw)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", source, err))
		return nil, "", ""
	}
	return seed, source, ""
}

func parseSeed(raw string) ([]byte, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(raw))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("want base64 of a %d-byte Ed25519 seed", ed25519.SeedSize)
	}
	return seed, nil
}

// PrescriptionSigningKey returns the Ed25519 seed prescriptions are signed
// with. On the local stack without a key it generates the key file, as the
// stack does for the codec key: a signing key is never a constant in the
// source, even locally. Elsewhere a missing key is an error.
func (c Config) PrescriptionSigningKey() ([]byte, error) {
	if c.PrescriptionSigningSeed != nil {
		return c.PrescriptionSigningSeed, nil
	}
	if c.prescriptionKeyFile == "" {
		return nil, errors.New("PRESCRIPTION_SIGNING_KEY is not set")
	}
	raw, err := localPrescriptionKey(c.prescriptionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("prescription signing key file %s: %w", c.prescriptionKeyFile, err)
	}
	seed, err := parseSeed(raw)
	if err != nil {
		return nil, fmt.Errorf("prescription signing key file %s: %w", c.prescriptionKeyFile, err)
	}
	return seed, nil
}

func localPrescriptionKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", err
	}
	enc := base64.StdEncoding.EncodeToString(seed)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	// O_EXCL: of two programs starting at once, one writes, the other reads.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(path)
		return string(b), err
	}
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(enc + "\n"); err != nil {
		_ = f.Close()
		return "", err
	}
	return enc, f.Close()
}
