package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// IdempotencyRecord is what is stored under one caller's Idempotency-Key:
// the hash of the request that first used it and, once that request has
// finished, its status and its sealed response. Status is 0 while the first
// request is in flight. The store never sees the response in the clear: the
// API seals it (content type, Location and body) before it gets here, and
// names in ReplyKeyID the key it sealed it with.
type IdempotencyRecord struct {
	RequestHash []byte
	Status      int
	Reply       []byte
	ReplyKeyID  string
}

// InFlight reports whether the first request with this key is still running.
func (r IdempotencyRecord) InFlight() bool { return r.Status == 0 }

// ClaimIdempotencyKey claims (scope, key) for a request with this hash, for
// lockFor; the key is kept keepFor. It answers claimed when the caller may
// run the request. Otherwise it answers the stored record: a finished
// response, a request still in flight, or another request's hash. An
// expired key, or a lapsed claim by a request with the same hash (the API
// died while serving it), is claimed afresh.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, scope, key string, hash []byte, lockFor, keepFor time.Duration) (rec IdempotencyRecord, claimed bool, err error) {
	// A release (a failed first request) may delete the row between the
	// insert and the read: try again.
	for range 3 {
		err = s.Pool.QueryRow(ctx, `
			INSERT INTO idempotency_key (scope, key, request_hash, locked_until, expires_at)
			VALUES ($1, $2, $3, now() + make_interval(secs => $4), now() + make_interval(secs => $5))
			ON CONFLICT (scope, key) DO UPDATE
			   SET request_hash = EXCLUDED.request_hash, locked_until = EXCLUDED.locked_until,
			       expires_at = EXCLUDED.expires_at, created_at = now(),
			       status = NULL, body = NULL, reply_key_id = NULL
			 WHERE idempotency_key.expires_at < now()
			    OR (idempotency_key.status IS NULL AND idempotency_key.locked_until < now()
			        AND idempotency_key.request_hash = EXCLUDED.request_hash)
			RETURNING true`, scope, key, hash, lockFor.Seconds(), keepFor.Seconds()).Scan(&claimed)
		if err == nil {
			return IdempotencyRecord{}, true, s.purgeIdempotencyKeys(ctx)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return IdempotencyRecord{}, false, fmt.Errorf("store: claim idempotency key: %w", err)
		}
		var status *int
		var keyID *string
		err = s.Pool.QueryRow(ctx, `
			SELECT request_hash, status, body, reply_key_id FROM idempotency_key
			 WHERE scope = $1 AND key = $2`, scope, key).Scan(&rec.RequestHash, &status, &rec.Reply, &keyID)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return IdempotencyRecord{}, false, fmt.Errorf("store: read idempotency key: %w", err)
		}
		if status != nil {
			rec.Status, rec.ReplyKeyID = *status, strOrEmpty(keyID)
		}
		return rec, false, nil
	}
	return IdempotencyRecord{}, false, fmt.Errorf("store: claim idempotency key: %w", errors.New("the key keeps changing hands"))
}

// CompleteIdempotencyKey stores the status and the sealed response of the
// request that claimed (scope, key).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, scope, key string, rec IdempotencyRecord) error {
	_, err := s.Pool.Exec(ctx, `
		UPDATE idempotency_key SET status = $3, body = $4, reply_key_id = $5
		 WHERE scope = $1 AND key = $2 AND status IS NULL`,
		scope, key, rec.Status, rec.Reply, rec.ReplyKeyID)
	if err != nil {
		return fmt.Errorf("store: complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets an unfinished claim, so that the client may
// retry the request with the same key (the request failed on our side).
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, scope, key string) error {
	if _, err := s.Pool.Exec(ctx, `DELETE FROM idempotency_key WHERE scope = $1 AND key = $2 AND status IS NULL`, scope, key); err != nil {
		return fmt.Errorf("store: release idempotency key: %w", err)
	}
	return nil
}

// purgeIdempotencyKeys deletes a bounded batch of expired keys, so that the
// table stays small without a separate job.
func (s *Store) purgeIdempotencyKeys(ctx context.Context) error {
	_, err := s.Pool.Exec(ctx, `
		DELETE FROM idempotency_key WHERE ctid IN (
			SELECT ctid FROM idempotency_key WHERE expires_at < now() LIMIT 100)`)
	if err != nil {
		return fmt.Errorf("store: purge idempotency keys: %w", err)
	}
	return nil
}

func strOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
