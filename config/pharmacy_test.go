package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestPrescriptionSigningKeyIsMadeOnceOnTheLocalStackOnly(t *testing.T) {
	dir := t.TempDir()
	cfg, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, LocalPrescriptionKeyFile)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("reading the configuration wrote %s", path)
	}
	first, err := cfg.PrescriptionSigningKey()
	if err != nil || len(first) != 32 {
		t.Fatalf("key = %d bytes, %v", len(first), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": dir}))
	if err != nil || !bytes.Equal(again.PrescriptionSigningSeed, first) || again.PrescriptionKeySource != path {
		t.Fatalf("the second start did not read the same key: %v", err)
	}
	staging, err := FromLookup(lookupFrom(map[string]string{"CAREPATH_DATA_DIR": dir, "CAREPATH_ENV": "staging", "CAREPATH_AUTH_MASTER_KEY": localAuthMasterKey}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := staging.PrescriptionSigningKey(); err == nil {
		t.Error("outside the local stack a missing key must be an error")
	}
	if _, err := FromLookup(lookupLocal(map[string]string{"PRESCRIPTION_SIGNING_KEY": "c2hvcnQ="})); err == nil {
		t.Error("a short key was accepted")
	}
}
