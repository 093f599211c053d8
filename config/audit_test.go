package config

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuditSigningKeyIsMadeOnceOnTheLocalStackOnly(t *testing.T) {
	dir := t.TempDir()
	local := map[string]string{"CAREPATH_ENV": "local", "CAREPATH_DATA_DIR": dir}
	cfg, err := FromLookup(lookupFrom(local))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, LocalAuditSigningKeyFile)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("reading the configuration wrote %s", path)
	}
	first, err := cfg.AuditSigningKey()
	if err != nil || len(first) != ed25519.PrivateKeySize {
		t.Fatalf("key = %d bytes, %v", len(first), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := FromLookup(lookupFrom(local))
	if err != nil || !bytes.Equal(again.AuditSigningSeed, first.Seed()) || again.AuditSigningKeySource != path {
		t.Fatalf("the second start did not read the same key: %v", err)
	}
	staging, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_DATA_DIR": dir, "CAREPATH_ENV": "staging", "CAREPATH_AUTH_MASTER_KEY": localAuthMasterKey}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := staging.AuditSigningKey(); err == nil || !strings.Contains(err.Error(), "CAREPATH_AUDIT_SIGNING_KEY") {
		t.Errorf("outside the local stack a missing key must be an error naming the variable, got %v", err)
	}
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	set, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_ENV": "staging", "CAREPATH_AUTH_MASTER_KEY": localAuthMasterKey,
		"CAREPATH_AUDIT_SIGNING_KEY": base64.StdEncoding.EncodeToString(seed)}))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := set.AuditSigningKey(); err != nil || !bytes.Equal(k.Seed(), seed) {
		t.Errorf("the variable's key was not used: %v", err)
	}
	if _, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_AUDIT_SIGNING_KEY": "c2hvcnQ="})); err == nil ||
		!strings.Contains(err.Error(), "CAREPATH_AUDIT_SIGNING_KEY") {
		t.Errorf("a short key was accepted: %v", err)
	}
}

func TestAuditVerifyKeyIsAPublicKey(t *testing.T) {
	pub := bytes.Repeat([]byte{9}, ed25519.PublicKeySize)
	cfg, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_AUDIT_VERIFY_KEY": base64.StdEncoding.EncodeToString(pub)}))
	if err != nil || !bytes.Equal(cfg.AuditVerifyKey, pub) {
		t.Fatalf("verify key = %x, %v", cfg.AuditVerifyKey, err)
	}
	if _, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_AUDIT_VERIFY_KEY": "c2hvcnQ="})); err == nil ||
		!strings.Contains(err.Error(), "CAREPATH_AUDIT_VERIFY_KEY") {
		t.Errorf("a short verify key was accepted: %v", err)
	}
}
