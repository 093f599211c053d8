package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Refresh exchanges a refresh token for a new pair. The old token is used
// up; presenting it again revokes its whole family (ErrRefreshReused). A
// family lives at most SessionMaxAge from its sign-in, and a deactivated
// user's tokens are refused at once.
func (s *Service) Refresh(ctx context.Context, token string) (Tokens, error) {
	sum := sha256.Sum256([]byte(token))
	var (
		u      user
		family uuid.UUID
		out    Tokens
		reused bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			id                uuid.UUID
			expires, started  time.Time
			usedAt, revokedAt *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT id, family_id, user_id::text, expires_at, session_started_at, used_at, revoked_at FROM refresh_token
			WHERE token_hash = $1 FOR UPDATE`, sum[:]).Scan(&id, &family, &u.id, &expires, &started, &usedAt, &revokedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if usedAt != nil {
			// Committed below so the revocation survives the error we return.
			reused = true
			_, err := tx.Exec(ctx, `UPDATE refresh_token SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = $1`, family)
			return err
		}
		if revokedAt != nil || time.Now().After(expires) {
			return ErrInvalidToken
		}
		// The absolute lifetime: rotating does not renew the sign-in.
		if time.Now().After(started.Add(s.sessionAge)) {
			return ErrInvalidToken
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_token SET used_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, selectUser+`id = $1`, u.id).Scan(&u.id, &u.role, &u.passwordHash, &u.patientID, &u.practitionerID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidToken // the user was deactivated
		}
		if err != nil {
			return err
		}
		refresh, err := s.insertRefresh(ctx, tx, u.id, family, started)
		if err != nil {
			return err
		}
		out.RefreshToken = refresh
		return nil
	})
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	if reused {
		s.logger.WarnContext(ctx, "Refresh token reused; family revoked", "subject", u.id, "family", family.String())
		return Tokens{}, fmt.Errorf("refresh: %w", ErrRefreshReused)
	}
	access, err := s.Mint(ctx, u.principal())
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	out.AccessToken, out.TokenType, out.ExpiresIn = access, "Bearer", int(s.accessTTL.Seconds())
	return out, nil
}

// ClientCredentials is the OAuth 2.0 client-credentials grant (RFC 6749
// section 4.4). With no scopes asked for, the client gets all it was granted.
func (s *Service) ClientCredentials(ctx context.Context, clientID, secret string, scopes []string) (Tokens, error) {
	var (
		hash    string
		granted []string
	)
	err := s.pool.QueryRow(ctx, `SELECT secret_hash, scopes FROM oauth_client WHERE id = $1 AND active`, clientID).Scan(&hash, &granted)
	if errors.Is(err, pgx.ErrNoRows) {
		hash = dummyHash()
	} else if err != nil {
		return Tokens{}, fmt.Errorf("client credentials: %w", err)
	}
	ok, err := VerifyPassword(hash, secret)
	if err != nil {
		return Tokens{}, fmt.Errorf("client credentials: %w", err)
	}
	if !ok || granted == nil {
		return Tokens{}, fmt.Errorf("client credentials: %w", ErrInvalidCredentials)
	}
	if len(scopes) == 0 {
		scopes = granted
	}
	for _, sc := range scopes {
		if !containsString(granted, sc) {
			return Tokens{}, fmt.Errorf("client credentials: %q: %w", sc, ErrInvalidScope)
		}
	}
	access, err := s.Mint(ctx, Principal{Subject: clientID, Role: RoleIntegrator, Scopes: scopes})
	if err != nil {
		return Tokens{}, fmt.Errorf("client credentials: %w", err)
	}
	// No refresh token: the client can always ask again (RFC 6749 4.4.3).
	return Tokens{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.accessTTL.Seconds()), Scope: joinScopes(scopes)}, nil
}
