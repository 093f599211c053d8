package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEvent is one row of the audit trail (migration 0005): who did what
// to whose data, when, why, and how it ended. It holds IDs and codes only,
// never health data.
type AuditEvent struct {
	Seq        int64     `json:"seq"`
	OccurredAt time.Time `json:"occurred_at"`
	ActorID    string    `json:"actor_id"`
	ActorRole  string    `json:"actor_role"`
	Action     string    `json:"action"` // read, create, update, delete, execute
	Route      string    `json:"route"`
	Path       string    `json:"path"`
	PatientID  string    `json:"patient_id,omitempty"`
	Outcome    string    `json:"outcome"` // success, denied, failure
	Status     int       `json:"status"`
	Purpose    string    `json:"purpose"`
	Reason     string    `json:"reason"`
	PrevHash   []byte    `json:"-"`
	Hash       []byte    `json:"-"`
}

// AuditHead is the newest row of the chain: its seq and hash. Seq 0 with
// the genesis hash is the empty chain.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"` // hex
}

// auditGenesis is the prev_hash of row 1.
var auditGenesis = make([]byte, sha256.Size)

// auditHash is SHA-256 over the previous row's hash and the row's fields,
// each field length-prefixed (uvarint) so that no two rows encode alike.
// The time is hashed at microsecond precision, which is what PostgreSQL
// stores.
func auditHash(prev []byte, e AuditEvent) []byte {
	h := sha256.New()
	h.Write(prev)
	for _, f := range []string{
		strconv.FormatInt(e.Seq, 10),
		e.OccurredAt.UTC().Format("2006-01-02T15:04:05.000000Z"),
		e.ActorID, e.ActorRole, e.Action, e.Route, e.Path, e.PatientID, e.Outcome,
		strconv.Itoa(e.Status), e.Purpose, e.Reason,
	} {
		h.Write(binary.AppendUvarint(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}

// AppendAudit appends e to the chain and returns it with its seq and
// hashes. Appends are serialised by a row lock on audit_head, so each row
// links to the one committed before it and seq has no gaps, however many
// requests append at once.
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var head int64
		var prev []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head FOR UPDATE`).Scan(&head, &prev); err != nil {
			return fmt.Errorf("lock head: %w", err)
		}
		e.Seq, e.PrevHash = head+1, prev
		e.OccurredAt = time.Now().UTC().Truncate(time.Microsecond)
		e.Hash = auditHash(prev, e)
		if _, err := tx.Exec(ctx, `INSERT INTO audit_event (seq, occurred_at, actor_id, actor_role, action, route, path,
			patient_id, outcome, status, purpose, reason, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, '')::uuid, $9, $10, $11, $12, $13, $14)`,
			e.Seq, e.OccurredAt, e.ActorID, e.ActorRole, e.Action, e.Route, e.Path, e.PatientID, e.Outcome,
			e.Status, e.Purpose, e.Reason, e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2`, e.Seq, e.Hash); err != nil {
			return fmt.Errorf("move head: %w", err)
		}
		return nil
	})
	if err != nil {
		return AuditEvent{}, fmt.Errorf("store: append audit event: %w", err)
	}
	return e, nil
}

// AuditHeadNow reads the chain head.
func (s *Store) AuditHeadNow(ctx context.Context) (AuditHead, error) {
	return auditHead(ctx, s.Pool)
}

func auditHead(ctx context.Context, q querier) (AuditHead, error) {
	var h AuditHead
	var hash []byte
	if err := q.QueryRow(ctx, `SELECT seq, hash FROM audit_head`).Scan(&h.Seq, &hash); err != nil {
		return AuditHead{}, fmt.Errorf("store: audit head: %w", err)
	}
	h.Hash = hex.EncodeToString(hash)
	return h, nil
}

// AuditBreak names the first row where the chain does not hold.
type AuditBreak struct {
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// AuditReport is the result of checking the whole chain.
type AuditReport struct {
	Valid bool `json:"valid"`
	// Rows is how many rows were read; Head is the head table's view.
	Rows        int64       `json:"rows"`
	Head        AuditHead   `json:"head"`
	FirstBroken *AuditBreak `json:"first_broken,omitempty"`
	// Checkpoints is how many exported heads were compared.
	Checkpoints int `json:"checkpoints"`
	// LatestCheckpoint is when the newest checkpoint was exported.
	LatestCheckpoint *time.Time `json:"latest_checkpoint,omitempty"`
	// CheckpointProblem says why the signed checkpoints do not vouch for
	// the chain (VerifyAuditCheckpoints): a bad signature, a stale or
	// missing newest checkpoint.
	CheckpointProblem string `json:"checkpoint_problem,omitempty"`
}

const auditColumns = `seq, occurred_at, actor_id, actor_role, action, route, path, COALESCE(patient_id::text, ''),
	outcome, status, purpose, reason, prev_hash, hash`

func scanAudit(row pgx.Row) (AuditEvent, error) {
	var e AuditEvent
	err := row.Scan(&e.Seq, &e.OccurredAt, &e.ActorID, &e.ActorRole, &e.Action, &e.Route, &e.Path, &e.PatientID,
		&e.Outcome, &e.Status, &e.Purpose, &e.Reason, &e.PrevHash, &e.Hash)
	return e, err
}

// VerifyAudit reads the whole chain in order and reports the first row that
// breaks it: a missing seq (a deleted row), a prev_hash that is not the
// previous row's hash, or fields that no longer match the row's hash (a
// changed row). It then checks the head table and every exported head in
// checkpoints: an exported head whose row is gone or has another hash
// means the table was rewritten. The heads must come from checkpoints
// whose signatures were checked (VerifyAuditCheckpoints does both).
func (s *Store) VerifyAudit(ctx context.Context, checkpoints []AuditHead) (AuditReport, error) {
	report := AuditReport{Checkpoints: len(checkpoints)}
	// The head and the rows come from one snapshot: appends go on while the
	// chain is read, and a head newer than the last row read is no break.
	tx, err := s.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return report, fmt.Errorf("store: verify audit: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	head, err := auditHead(ctx, tx)
	if err != nil {
		return report, err
	}
	report.Head = head
	want := make(map[int64]string, len(checkpoints))
	for _, c := range checkpoints {
		want[c.Seq] = c.Hash
	}
	rows, err := tx.Query(ctx, `SELECT `+auditColumns+` FROM audit_event ORDER BY seq`)
	if err != nil {
		return report, fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	prev, next := auditGenesis, int64(1)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return report, fmt.Errorf("store: verify audit: scan: %w", err)
		}
		report.Rows++
		if report.FirstBroken == nil {
			report.FirstBroken = checkAuditRow(e, next, prev, want)
		}
		prev, next = e.Hash, e.Seq+1
	}
	if err := rows.Err(); err != nil {
		return report, fmt.Errorf("store: verify audit: %w", err)
	}
	if report.FirstBroken == nil {
		report.FirstBroken = checkAuditEnd(next-1, prev, head, checkpoints)
	}
	report.Valid = report.FirstBroken == nil
	return report, nil
}

// checkAuditRow checks one row against the row before it (seq next-1 with
// hash prev) and against the exported heads.
func checkAuditRow(e AuditEvent, next int64, prev []byte, exported map[int64]string) *AuditBreak {
	switch {
	case e.Seq != next:
		return &AuditBreak{Seq: next, Problem: fmt.Sprintf("row %d is missing: the sequence jumps from %d to %d", next, next-1, e.Seq)}
	case !bytes.Equal(e.PrevHash, prev):
		return &AuditBreak{Seq: e.Seq, Problem: fmt.Sprintf("row %d's prev_hash is not the hash of row %d: one of them was rewritten", e.Seq, e.Seq-1)}
	case !bytes.Equal(auditHash(e.PrevHash, e), e.Hash):
		return &AuditBreak{Seq: e.Seq, Problem: fmt.Sprintf("row %d's fields do not match its hash: the row was changed", e.Seq)}
	}
	if h, ok := exported[e.Seq]; ok && h != hex.EncodeToString(e.Hash) {
		return &AuditBreak{Seq: e.Seq, Problem: fmt.Sprintf("row %d's hash differs from the exported head: the chain was rewritten up to here", e.Seq)}
	}
	return nil
}

// checkAuditEnd compares the last row (seq last, hash lastHash) with the
// head table and the exported heads: rows missing from the end show here.
func checkAuditEnd(last int64, lastHash []byte, head AuditHead, checkpoints []AuditHead) *AuditBreak {
	if head.Seq > last {
		return &AuditBreak{Seq: last + 1, Problem: fmt.Sprintf("rows %d to %d are missing: the chain head is at %d", last+1, head.Seq, head.Seq)}
	}
	if head.Seq != last || head.Hash != hex.EncodeToString(lastHash) {
		return &AuditBreak{Seq: last, Problem: fmt.Sprintf("row %d is not the chain head (head: seq %d)", last, head.Seq)}
	}
	for _, c := range checkpoints {
		if c.Seq > last {
			return &AuditBreak{Seq: last + 1, Problem: fmt.Sprintf("rows %d to %d are missing: an exported head names row %d", last+1, c.Seq, c.Seq)}
		}
	}
	return nil
}

// PatientAccessLog lists the audit events about a patient's data, newest
// first: who looked or changed what, when and why. before is a cursor (a
// seq; 0 for the newest page).
func (s *Store) PatientAccessLog(ctx context.Context, patientID string, before int64, limit int) ([]AuditEvent, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_event
		WHERE patient_id = $1::uuid AND seq < $2 ORDER BY seq DESC LIMIT $3`, patientID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: access log %s: %w", patientID, err)
	}
	defer rows.Close()
	out := []AuditEvent{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: access log %s: scan: %w", patientID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: access log %s: %w", patientID, err)
	}
	return out, nil
}
