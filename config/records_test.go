package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/codec"
)

func TestRecordsAndAuditSettings(t *testing.T) {
	dir := t.TempDir()
	cfg, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RecordsDir != filepath.Join(dir, "records") || len(cfg.RecordsKeys) != 1 || cfg.RecordsActiveKey != "records-local-1" {
		t.Errorf("local records defaults: %s %v %q", cfg.RecordsDir, cfg.RecordsKeys, cfg.RecordsActiveKey)
	}
	if cfg.AuditHeadFile != filepath.Join(dir, "audit", "checkpoints.jsonl") || cfg.AuditHeadInterval != time.Minute {
		t.Errorf("audit defaults: %s %s", cfg.AuditHeadFile, cfg.AuditHeadInterval)
	}

	a, err := codec.GenerateKey("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.GenerateKey("b")
	if err != nil {
		t.Fatal(err)
	}
	staging := map[string]string{"CAREPATH_ENV": "staging", "CAREPATH_AUTH_MASTER_KEY": localAuthMasterKey,
		"CAREPATH_CODEC_KEYS": a.Export(), "PRESCRIPTION_SIGNING_KEY": "Y2FyZXBhdGgtdGVzdC1wcmVzY3JpcHRpb24ta2V5ISE="}
	cfg, err = FromLookup(lookupFrom(staging))
	if err != nil || len(cfg.RecordsKeys) != 0 {
		t.Errorf("staging without records keys: %v %v, want none and no error", cfg.RecordsKeys, err)
	}
	staging["CAREPATH_RECORDS_KEYS"] = a.Export() + "," + b.Export()
	if _, err := FromLookup(lookupFrom(staging)); err == nil || !strings.Contains(err.Error(), "CAREPATH_RECORDS_ACTIVE_KEY") {
		t.Errorf("two keys and no active one: %v", err)
	}
	staging["CAREPATH_RECORDS_ACTIVE_KEY"] = "b"
	cfg, err = FromLookup(lookupFrom(staging))
	if err != nil || cfg.RecordsActiveKey != "b" || len(cfg.RecordsKeys) != 2 {
		t.Errorf("two keys, b active: %v %q", err, cfg.RecordsActiveKey)
	}
	staging["CAREPATH_AUDIT_HEAD_INTERVAL"] = "soon"
	if _, err := FromLookup(lookupFrom(staging)); err == nil || !strings.Contains(err.Error(), "CAREPATH_AUDIT_HEAD_INTERVAL") {
		t.Errorf("bad interval: %v", err)
	}
}
