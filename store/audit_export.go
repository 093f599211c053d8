package store

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Checkpoints: the chain head, signed with an Ed25519 key that lives
// outside the database (a key file or CAREPATH_AUDIT_SIGNING_KEY), and
// written to a second store. Someone with full rights on the database can
// rewrite the whole audit table and its head consistently, but cannot sign
// a checkpoint for the forged chain, cannot edit a checkpoint without
// breaking its signature, and cannot stop checkpoints being written without
// the newest one going stale. VerifyAuditCheckpoints checks all three.

// Checkpoint is one signed, exported chain head.
type Checkpoint struct {
	AuditHead
	ExportedAt time.Time `json:"exported_at"`
	// KeyID names the signing key: the first 8 bytes of the SHA-256 of its
	// public key, in hex. It helps an operator find the key; the signature
	// is what counts.
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"` // base64 in JSON
}

// CheckpointStore keeps the signed checkpoints away from the database:
// FileCheckpoints is the one shipped; an object store with write-once
// retention (S3 Object Lock, GCS bucket lock) fits the same interface.
type CheckpointStore interface {
	// Append adds a checkpoint durably.
	Append(ctx context.Context, c Checkpoint) error
	// List returns every checkpoint in the order appended.
	List(ctx context.Context) ([]Checkpoint, error)
}

// checkpointMessage is what a checkpoint's signature covers: a fixed
// prefix (so the key signs nothing else by accident), the head and the
// export time.
func checkpointMessage(c Checkpoint) []byte {
	return []byte("carepath audit checkpoint v1\n" + strconv.FormatInt(c.Seq, 10) + "\n" + c.Hash + "\n" +
		c.ExportedAt.UTC().Format(time.RFC3339Nano))
}

// CheckpointKeyID is the KeyID of pub.
func CheckpointKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignCheckpoint signs head as exported at at.
func SignCheckpoint(key ed25519.PrivateKey, head AuditHead, at time.Time) Checkpoint {
	c := Checkpoint{AuditHead: head, ExportedAt: at.UTC(), KeyID: CheckpointKeyID(key.Public().(ed25519.PublicKey))}
	c.Signature = ed25519.Sign(key, checkpointMessage(c))
	return c
}

// VerifyCheckpoint says whether c was signed with the key pub.
func VerifyCheckpoint(pub ed25519.PublicKey, c Checkpoint) bool {
	return len(pub) == ed25519.PublicKeySize && len(c.Signature) == ed25519.SignatureSize &&
		ed25519.Verify(pub, checkpointMessage(c), c.Signature)
}

// FileCheckpoints is a CheckpointStore in a local file, one JSON
// checkpoint per line, appended and synced. Keep it out of the database's
// reach (another disk or host, or a log shipper that copies each line off
// the machine).
type FileCheckpoints struct{ Path string }

var _ CheckpointStore = FileCheckpoints{}

// Append writes c as one line at the end of the file, creating it (0600,
// in a 0700 folder) if missing.
func (f FileCheckpoints) Append(_ context.Context, c Checkpoint) error {
	line, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: append checkpoint: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("store: append checkpoint: %w", err)
	}
	file, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: append checkpoint: %w", err)
	}
	if _, err := file.Write(append(line, '\n')); err != nil {
		_ = file.Close()
		return fmt.Errorf("store: append checkpoint: %w", err)
	}
	if err := file.Sync(); err != nil {
		_ = file.Close()
		return fmt.Errorf("store: append checkpoint: %w", err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("store: append checkpoint: %w", err)
	}
	return nil
}

// List reads every checkpoint. A file that does not exist yet holds none
// (which VerifyAuditCheckpoints refuses for a non-empty chain).
func (f FileCheckpoints) List(_ context.Context) ([]Checkpoint, error) {
	file, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list checkpoints: %w", err)
	}
	defer func() { _ = file.Close() }()
	var out []Checkpoint
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		var c Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, &CheckpointFormatError{Where: fmt.Sprintf("%s line %d", f.Path, n), Err: err}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("store: list checkpoints: %w", err)
	}
	return out, nil
}

// CheckpointFormatError is a checkpoint store that no longer parses: it
// was edited. Verification reports it as a broken checkpoint, not as an
// error of the verifier.
type CheckpointFormatError struct {
	Where string
	Err   error
}

func (e *CheckpointFormatError) Error() string {
	return fmt.Sprintf("store: checkpoint at %s does not parse: %v", e.Where, e.Err)
}
func (e *CheckpointFormatError) Unwrap() error { return e.Err }

// Checkpointer signs the chain head and appends it to a CheckpointStore.
type Checkpointer struct {
	Store *Store
	Out   CheckpointStore
	Key   ed25519.PrivateKey
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Export signs the current head and appends it. It writes a checkpoint
// even when the head has not moved since the last one: a recent checkpoint
// is what shows the chain was intact up to now, and its absence is what
// VerifyAuditCheckpoints calls stale.
func (c Checkpointer) Export(ctx context.Context) (Checkpoint, error) {
	return c.ExportAfter(ctx, nil)
}

// ErrChainRewritten: the chain no longer holds the head of the previous
// checkpoint, so the checkpointer refuses to vouch for it.
var ErrChainRewritten = errors.New("the audit chain no longer holds the previous checkpoint's head")

// ExportAfter is Export that first checks the chain still holds prev's
// head (its row has the hash prev names), so the signer never vouches for
// a chain rewritten since its last checkpoint. prev may be nil.
func (c Checkpointer) ExportAfter(ctx context.Context, prev *Checkpoint) (Checkpoint, error) {
	head, err := c.Store.AuditHeadNow(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("store: export checkpoint: %w", err)
	}
	if prev != nil && prev.Seq > 0 {
		var hash []byte
		err := c.Store.Pool.QueryRow(ctx, `SELECT hash FROM audit_event WHERE seq = $1`, prev.Seq).Scan(&hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return Checkpoint{}, fmt.Errorf("store: export checkpoint: %w", err)
		}
		if err != nil || hex.EncodeToString(hash) != prev.Hash || head.Seq < prev.Seq {
			return Checkpoint{}, fmt.Errorf("store: export checkpoint: row %d: %w", prev.Seq, ErrChainRewritten)
		}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	cp := SignCheckpoint(c.Key, head, now())
	if err := c.Out.Append(ctx, cp); err != nil {
		return Checkpoint{}, fmt.Errorf("store: export checkpoint: %w", err)
	}
	return cp, nil
}

// Run exports a checkpoint now and every interval until ctx ends, each
// after the one before (ExportAfter; the first after the newest already in
// the store, when one verifies with the key). The API process runs it
// (CAREPATH_AUDIT_HEAD_FILE, CAREPATH_AUDIT_HEAD_INTERVAL).
func (c Checkpointer) Run(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	var prev *Checkpoint
	if list, err := c.Out.List(ctx); err != nil {
		logger.ErrorContext(ctx, "Audit checkpoints unreadable; exporting without checking the last one", "error", err)
	} else if n := len(list); n > 0 && VerifyCheckpoint(c.Key.Public().(ed25519.PublicKey), list[n-1]) {
		prev = &list[n-1]
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		cp, err := c.ExportAfter(ctx, prev)
		switch {
		case err == nil:
			prev = &cp
		case errors.Is(err, ErrChainRewritten):
			// Keep refusing: verification will also report the chain
			// broken, and the checkpoints going stale.
			logger.ErrorContext(ctx, "Audit chain rewritten since the last checkpoint: not signing it", "error", err)
		case ctx.Err() == nil:
			logger.ErrorContext(ctx, "Audit checkpoint export failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckpointPolicy is how VerifyAuditCheckpoints judges the checkpoints.
type CheckpointPolicy struct {
	// Key is the public key checkpoints must be signed with.
	Key ed25519.PublicKey
	// MaxAge: a non-empty chain needs a checkpoint exported less than
	// MaxAge ago (twice the export interval).
	MaxAge time.Duration
	// Now is the clock; zero means time.Now().
	Now time.Time
}

// VerifyAuditCheckpoints checks the chain (VerifyAudit) against the
// checkpoints in cps, after checking the checkpoints themselves: each
// signature verifies with policy.Key, they go forward in time and in seq,
// and a non-empty chain has one newer than policy.MaxAge. A checkpoint
// problem leaves the report invalid with CheckpointProblem set.
func (s *Store) VerifyAuditCheckpoints(ctx context.Context, cps CheckpointStore, policy CheckpointPolicy) (AuditReport, error) {
	list, err := cps.List(ctx)
	var format *CheckpointFormatError
	if errors.As(err, &format) {
		report, verr := s.VerifyAudit(ctx, nil)
		if verr != nil {
			return report, verr
		}
		report.Valid, report.CheckpointProblem = false, fmt.Sprintf("the checkpoint at %s does not parse: the checkpoint store was edited", format.Where)
		return report, nil
	}
	if err != nil {
		return AuditReport{}, err
	}
	problem := checkCheckpoints(list, policy.Key)
	heads := make([]AuditHead, 0, len(list))
	if problem == "" {
		for _, c := range list {
			heads = append(heads, c.AuditHead)
		}
	}
	report, err := s.VerifyAudit(ctx, heads)
	if err != nil {
		return report, err
	}
	report.Checkpoints = len(list)
	if len(list) > 0 {
		latest := list[len(list)-1].ExportedAt
		report.LatestCheckpoint = &latest
	}
	if problem == "" && report.Head.Seq > 0 {
		problem = checkFreshness(list, policy)
	}
	if problem != "" {
		report.Valid, report.CheckpointProblem = false, problem
	}
	return report, nil
}

// checkCheckpoints checks every signature and that each checkpoint comes
// after the one before it.
func checkCheckpoints(list []Checkpoint, key ed25519.PublicKey) string {
	if len(key) != ed25519.PublicKeySize {
		return "no checkpoint verification key is configured"
	}
	for i, c := range list {
		if !VerifyCheckpoint(key, c) {
			return fmt.Sprintf("checkpoint %d (seq %d, exported %s) is unsigned or its signature does not verify with key %s: the checkpoint store was edited",
				i+1, c.Seq, c.ExportedAt.Format(time.RFC3339), CheckpointKeyID(key))
		}
		if i > 0 && (c.Seq < list[i-1].Seq || !c.ExportedAt.After(list[i-1].ExportedAt)) {
			return fmt.Sprintf("checkpoint %d (seq %d) goes back from checkpoint %d (seq %d): the checkpoint store was reordered", i+1, c.Seq, i, list[i-1].Seq)
		}
	}
	return ""
}

func checkFreshness(list []Checkpoint, policy CheckpointPolicy) string {
	now := policy.Now
	if now.IsZero() {
		now = time.Now()
	}
	if len(list) == 0 {
		return "the chain has rows but no checkpoint: the checkpoint store is missing or was emptied"
	}
	latest := list[len(list)-1].ExportedAt
	if age := now.Sub(latest); age > policy.MaxAge {
		return fmt.Sprintf("the newest checkpoint was exported %s ago (at %s), more than twice the export interval (%s): checkpoints stopped or were removed",
			age.Round(time.Second), latest.Format(time.RFC3339), policy.MaxAge)
	}
	return ""
}
