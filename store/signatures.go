package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PublicKey is a user's registered ECDSA P-256 key (migration 0007).
type PublicKey struct {
	ID        string
	OwnerID   string
	OwnerRole string
	SPKI      []byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

// RegisterPublicKey stores the key, or returns the one already registered
// with the same bytes for this owner.
func (s *Store) RegisterPublicKey(ctx context.Context, k PublicKey) (PublicKey, error) {
	err := s.Pool.QueryRow(ctx, `INSERT INTO user_public_key (id, owner_id, owner_role, spki) VALUES ($1, $2, $3, $4)
		ON CONFLICT (owner_id, spki) DO UPDATE SET owner_role = user_public_key.owner_role
		RETURNING id::text, created_at, revoked_at`, k.ID, k.OwnerID, k.OwnerRole, k.SPKI).Scan(&k.ID, &k.CreatedAt, &k.RevokedAt)
	if err != nil {
		return PublicKey{}, fmt.Errorf("store: register public key: %w", err)
	}
	return k, nil
}

// GetPublicKey returns a registered key, or ErrNotFound.
func (s *Store) GetPublicKey(ctx context.Context, id string) (PublicKey, error) {
	var k PublicKey
	err := s.Pool.QueryRow(ctx, `SELECT id::text, owner_id, owner_role, spki, created_at, revoked_at FROM user_public_key WHERE id = $1::uuid`, id).
		Scan(&k.ID, &k.OwnerID, &k.OwnerRole, &k.SPKI, &k.CreatedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("store: public key %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("store: public key %s: %w", id, err)
	}
	return k, nil
}

// RecordSignature is what the uploader signed and the signature.
type RecordSignature struct {
	RecordID      string
	KeyID         string
	SHA256        string // hex
	Uploader      string
	DeviceID      string
	SignedAt      string
	SignedPayload string
	Signature     []byte
}

// InsertRecordWithSignature stores a record and its upload signature in
// one transaction.
func (s *Store) InsertRecordWithSignature(ctx context.Context, r HealthRecord, sig RecordSignature) (HealthRecord, error) {
	var out HealthRecord
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		saved, err := s.insertRecord(ctx, tx, r)
		if err != nil {
			return err
		}
		out = saved
		_, err = tx.Exec(ctx, `INSERT INTO record_signature (record_id, key_id, sha256, uploader, device_id, signed_at, signed_payload, signature)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, sig.KeyID, sig.SHA256, sig.Uploader, sig.DeviceID, sig.SignedAt, sig.SignedPayload, sig.Signature)
		return err
	})
	if err != nil {
		return HealthRecord{}, fmt.Errorf("store: insert signed record: %w", err)
	}
	return out, nil
}

// GetRecordSignature returns the record's upload signature, or ErrNotFound
// for an unsigned record.
func (s *Store) GetRecordSignature(ctx context.Context, recordID string) (RecordSignature, error) {
	var g RecordSignature
	err := s.Pool.QueryRow(ctx, `SELECT record_id::text, key_id::text, sha256, uploader, device_id, signed_at, signed_payload, signature
		FROM record_signature WHERE record_id = $1::uuid`, recordID).
		Scan(&g.RecordID, &g.KeyID, &g.SHA256, &g.Uploader, &g.DeviceID, &g.SignedAt, &g.SignedPayload, &g.Signature)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("store: signature of record %s: %w", recordID, ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("store: signature of record %s: %w", recordID, err)
	}
	return g, nil
}

// RevokePublicKey marks the owner's key revoked: it signs no new upload;
// signatures it made before stay verifiable. Revoking twice changes
// nothing.
func (s *Store) RevokePublicKey(ctx context.Context, ownerID, id string) (PublicKey, error) {
	var k PublicKey
	err := s.Pool.QueryRow(ctx, `UPDATE user_public_key SET revoked_at = COALESCE(revoked_at, now())
		WHERE id = $1::uuid AND owner_id = $2 RETURNING id::text, owner_id, owner_role, spki, created_at, revoked_at`, id, ownerID).
		Scan(&k.ID, &k.OwnerID, &k.OwnerRole, &k.SPKI, &k.CreatedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("store: public key %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("store: revoke public key %s: %w", id, err)
	}
	return k, nil
}
