package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carepath/carepath/codec"
)

func genKey(t *testing.T, id string) codec.Key {
	t.Helper()
	k, err := codec.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCodecKeysFromTheEnvironment(t *testing.T) {
	a, b := genKey(t, "2026-01"), genKey(t, "2026-07")
	cfg, err := FromLookup(lookupFrom(map[string]string{
		"CAREPATH_ENV":              "production",
		"CAREPATH_CODEC_KEYS":       a.Export() + "," + b.Export(),
		"CAREPATH_CODEC_ACTIVE_KEY": "2026-07",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CodecKeys) != 2 || cfg.CodecActiveKey != "2026-07" || cfg.CodecKeySource != "CAREPATH_CODEC_KEYS" {
		t.Fatalf("got keys %v active %q source %q", cfg.CodecKeys, cfg.CodecActiveKey, cfg.CodecKeySource)
	}
}

func TestOneKeyIsActiveWithoutBeingNamed(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_CODEC_KEYS": genKey(t, "only").Export()}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CodecActiveKey != "only" {
		t.Fatalf("active = %q", cfg.CodecActiveKey)
	}
}

func TestCodecKeyErrorsNameTheVariableAndHideTheSecret(t *testing.T) {
	a, b := genKey(t, "a"), genKey(t, "b")
	for name, env := range map[string]map[string]string{
		"malformed":           {"CAREPATH_CODEC_KEYS": "a:not-base64!"},
		"two keys no active":  {"CAREPATH_CODEC_KEYS": a.Export() + "," + b.Export()},
		"active not in ring":  {"CAREPATH_CODEC_KEYS": a.Export(), "CAREPATH_CODEC_ACTIVE_KEY": "c"},
		"active without keys": {"CAREPATH_ENV": "production", "CAREPATH_CODEC_ACTIVE_KEY": "a"},
	} {
		_, err := FromLookup(lookupLocal(env))
		if err == nil {
			t.Errorf("%s: want an error", name)
			continue
		}
		if !strings.Contains(err.Error(), "CAREPATH_CODEC_") {
			t.Errorf("%s: error %q names no variable", name, err)
		}
		if strings.Contains(err.Error(), strings.TrimPrefix(a.Export(), "a:")) {
			t.Errorf("%s: error leaks a secret: %v", name, err)
		}
	}
}

func TestLocalReadsTheStackKeyFile(t *testing.T) {
	dir := t.TempDir()
	k := genKey(t, "local-1")
	path := filepath.Join(dir, LocalCodecKeyFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(k.Export()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CodecActiveKey != "local-1" || cfg.CodecKeySource != path {
		t.Fatalf("local: active %q from %q", cfg.CodecActiveKey, cfg.CodecKeySource)
	}
	// Outside local the file is ignored: production keys are configured,
	// never picked up from a folder that happens to be there.
	cfg, err = FromLookup(lookupFrom(map[string]string{"CAREPATH_DATA_DIR": dir, "CAREPATH_ENV": "staging"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CodecKeys) != 0 {
		t.Fatalf("staging read the local key file: %v", cfg.CodecKeys)
	}
	// The variable wins over the file.
	cfg, err = FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": dir, "CAREPATH_CODEC_KEYS": genKey(t, "env").Export()}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CodecActiveKey != "env" {
		t.Fatalf("active = %q, want the variable's key", cfg.CodecActiveKey)
	}
}

func TestNoKeysLoadsSoCommandsWithoutTemporalStillRun(t *testing.T) {
	cfg, err := FromLookup(lookupLocal(map[string]string{"CAREPATH_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CodecKeys) != 0 || cfg.CodecActiveKey != "" {
		t.Fatalf("keys from nowhere: %v %q", cfg.CodecKeys, cfg.CodecActiveKey)
	}
}
