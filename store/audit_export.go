package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// exportedHead is one line of the head file: JSON, one head per line.
type exportedHead struct {
	AuditHead
	ExportedAt time.Time `json:"exported_at"`
}

// ExportAuditHead appends the current chain head to the file at path (JSON
// lines, created if missing) unless it is the head last exported, given as
// last. It returns the head it read. Keep the file outside the database's
// reach (another disk, a write-once bucket, a log shipper): it is what
// makes a rewrite of the whole audit table detectable.
func (s *Store) ExportAuditHead(ctx context.Context, path string, last AuditHead) (AuditHead, error) {
	head, err := s.AuditHeadNow(ctx)
	if err != nil {
		return last, err
	}
	if head == last {
		return head, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return last, fmt.Errorf("store: export audit head: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return last, fmt.Errorf("store: export audit head: %w", err)
	}
	line, err := json.Marshal(exportedHead{AuditHead: head, ExportedAt: time.Now().UTC()})
	if err != nil {
		_ = f.Close()
		return last, fmt.Errorf("store: export audit head: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		_ = f.Close()
		return last, fmt.Errorf("store: export audit head: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return last, fmt.Errorf("store: export audit head: %w", err)
	}
	if err := f.Close(); err != nil {
		return last, fmt.Errorf("store: export audit head: %w", err)
	}
	return head, nil
}

// ExportAuditHeads exports the head every interval until ctx ends. The API
// process runs it (CAREPATH_AUDIT_HEAD_FILE, CAREPATH_AUDIT_HEAD_INTERVAL).
func (s *Store) ExportAuditHeads(ctx context.Context, path string, interval time.Duration, logger *slog.Logger) {
	var last AuditHead
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		head, err := s.ExportAuditHead(ctx, path, last)
		if err != nil && ctx.Err() == nil {
			logger.ErrorContext(ctx, "Audit head export failed", "file", path, "error", err)
		}
		last = head
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ReadAuditHeads reads the exported heads from path for VerifyAudit. A file
// that does not exist yet holds no heads.
func ReadAuditHeads(path string) ([]AuditHead, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read audit heads: %w", err)
	}
	defer func() { _ = f.Close() }()
	var out []AuditHead
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var h exportedHead
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			return nil, fmt.Errorf("store: read audit heads: %s line %d: %w", path, n, err)
		}
		out = append(out, h.AuditHead)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("store: read audit heads: %w", err)
	}
	return out, nil
}
