package config

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/carepath/carepath/codec"
)

// localRecordsKeys is the local stack's records master key: public, so it
// protects nothing but demo data.
const localRecordsKeys = "records-local-1:Y2FyZXBhdGgtbG9jYWwtb25seS1yZWNvcmRzLWtleSE="

// records reads the document store settings:
//
//	CAREPATH_RECORDS_DIR         folder of the local object store (default "$CAREPATH_DATA_DIR/records")
//	CAREPATH_RECORDS_KEYS        master keys that wrap the documents' data keys, "ID:base64(32 bytes)",
//	                             comma-separated (`carepath codec keygen ID` makes one). Unset with
//	                             CAREPATH_ENV=local: a fixed local-only key. Unset elsewhere: the API
//	                             and the worker refuse to start (RequireSecrets).
//	CAREPATH_RECORDS_ACTIVE_KEY  the key new data keys are wrapped with; may be omitted with one key.
//	                             To rotate: add a key, make it active, run `carepath records
//	                             rotate-master-key`, then drop the old key.
func (r *reader) records(cfg *Config) {
	cfg.RecordsDir = r.str("CAREPATH_RECORDS_DIR", filepath.Join(r.str("CAREPATH_DATA_DIR", ".data"), "records"))
	raw := r.secret("CAREPATH_RECORDS_KEYS", localRecordsKeys)
	if raw == "" {
		return
	}
	keys, err := codec.ParseKeys(raw)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("CAREPATH_RECORDS_KEYS: %w", err))
		return
	}
	active := r.str("CAREPATH_RECORDS_ACTIVE_KEY", "")
	if active == "" && len(keys) == 1 {
		active = keys[0].ID()
	}
	found := false
	for _, k := range keys {
		found = found || k.ID() == active
	}
	if !found {
		r.errs = append(r.errs, errors.New("CAREPATH_RECORDS_ACTIVE_KEY: name one of the keys in CAREPATH_RECORDS_KEYS"))
		return
	}
	cfg.RecordsKeys, cfg.RecordsActiveKey = keys, active
}
