package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Short links: an SMS carries /l/TOKEN instead of a path that names a
// journey or a course. The token is random (128 bits), so it says nothing
// and cannot be guessed; it maps to the app path until it expires.

// linkTokenPattern is the shape of a token: 26 characters of lowercase
// base32 without padding.
var linkTokenPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

// ValidLinkToken reports whether token has the shape of a short link token.
func ValidLinkToken(token string) bool { return linkTokenPattern.MatchString(token) }

func newLinkToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])), nil
}

// ShortLink is a token and what it stands for.
type ShortLink struct {
	Token     string
	Target    string
	ExpiresAt time.Time
}

// CreateShortLink returns the link of the message that (scope, key) names,
// creating it with a fresh token, target and a lifetime of ttl if there is
// none. The key is the sending activity's idempotency key, so a retried
// send texts the same token. A key reused for another target is refused.
func (s *Store) CreateShortLink(ctx context.Context, scope, key, target string, ttl time.Duration) (ShortLink, error) {
	if scope == "" || key == "" || target == "" || ttl <= 0 {
		return ShortLink{}, fmt.Errorf("store: create short link: scope, key, target and a positive lifetime are required: %w", ErrInvalid)
	}
	token, err := newLinkToken()
	if err != nil {
		return ShortLink{}, fmt.Errorf("store: create short link: token: %w", err)
	}
	var l ShortLink
	// Two sends racing on one key: the loser's statement may not see the
	// winner's row yet (ErrNoRows); the second attempt does.
	for attempt := 0; attempt < 2; attempt++ {
		err = s.Pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO short_link (token, scope, key, target, expires_at)
			VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second')
			ON CONFLICT (scope, key) DO NOTHING
			RETURNING token, target, expires_at)
		SELECT token, target, expires_at FROM ins
		UNION ALL
		SELECT token, target, expires_at FROM short_link WHERE scope = $2 AND key = $3 AND NOT EXISTS (SELECT 1 FROM ins)`,
			token, scope, key, target, ttl.Seconds()).Scan(&l.Token, &l.Target, &l.ExpiresAt)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return ShortLink{}, fmt.Errorf("store: create short link %s/%s: %w", scope, key, err)
	}
	if l.Target != target {
		return ShortLink{}, fmt.Errorf("store: create short link %s/%s: the key already links elsewhere: %w", scope, key, ErrInvalid)
	}
	return l, nil
}

// ResolveShortLink returns the target of a token that has not expired, or
// ErrNotFound: an unknown token and an expired one look the same.
func (s *Store) ResolveShortLink(ctx context.Context, token string) (ShortLink, error) {
	if !ValidLinkToken(token) {
		return ShortLink{}, fmt.Errorf("store: resolve short link: %w", ErrNotFound)
	}
	l := ShortLink{Token: token}
	err := s.Pool.QueryRow(ctx, `SELECT target, expires_at FROM short_link WHERE token = $1 AND expires_at > now()`, token).
		Scan(&l.Target, &l.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ShortLink{}, fmt.Errorf("store: resolve short link: %w", ErrNotFound)
	}
	if err != nil {
		return ShortLink{}, fmt.Errorf("store: resolve short link: %w", err)
	}
	return l, nil
}
