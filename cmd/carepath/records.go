package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/vault"
)

// openRecords builds the document store the API and the rotation use.
func openRecords(cfg config.Config) (*vault.Keyring, *vault.FileStore, error) {
	if len(cfg.RecordsKeys) == 0 {
		return nil, nil, errors.New("records: CAREPATH_RECORDS_KEYS is not set")
	}
	ring, err := vault.NewKeyring(cfg.RecordsKeys, cfg.RecordsActiveKey)
	if err != nil {
		return nil, nil, err
	}
	objects, err := vault.NewFileStore(cfg.RecordsDir)
	if err != nil {
		return nil, nil, err
	}
	return ring, objects, nil
}

// runRecords serves `carepath records rotate-master-key`: every document's
// data key is re-wrapped under CAREPATH_RECORDS_ACTIVE_KEY; the documents
// themselves are not touched.
func runRecords(ctx context.Context, cfg config.Config, out io.Writer, args []string) error {
	if len(args) != 1 || args[0] != "rotate-master-key" {
		return errors.New("usage: carepath records rotate-master-key")
	}
	ring, _, err := openRecords(cfg)
	if err != nil {
		return err
	}
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := vault.RotateDocuments(ctx, s, ring)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "re-wrapped %d document keys under %s\n", n, ring.Active()); err != nil {
		return fmt.Errorf("records: %w", err)
	}
	return nil
}
