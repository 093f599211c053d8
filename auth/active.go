package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrUnknownUser: no user has this ID.
var ErrUnknownUser = errors.New("no such user")

// maxActiveCheckTTL bounds how long a deactivated account's access tokens
// keep working on an API instance that checked the account just before:
// well inside the minute the issue allows, with the token's 30 s leeway.
const maxActiveCheckTTL = 30 * time.Second

// activeCache remembers, per API instance, whether an account was active
// when last read, so that verifying a token costs a query at most once per
// TTL per account.
type activeCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]activeEntry
}

type activeEntry struct {
	active bool
	at     time.Time
}

// activeCacheMax bounds the cache; past it the cache starts over.
const activeCacheMax = 100_000

func newActiveCache(ttl time.Duration) *activeCache {
	return &activeCache{ttl: ttl, m: map[string]activeEntry{}}
}

func (c *activeCache) get(key string) (active, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.m[key]
	if !found || time.Since(e.at) > c.ttl {
		return false, false
	}
	return e.active, true
}

func (c *activeCache) put(key string, active bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= activeCacheMax {
		c.m = map[string]activeEntry{}
	}
	c.m[key] = activeEntry{active: active, at: time.Now()}
}

func (c *activeCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

func activeKey(role, subject string) string {
	if role == RoleIntegrator {
		return "client:" + subject
	}
	return "user:" + subject
}

// stillActive reports whether the account behind a verified token is still
// active: the user row, or for an integrator the OAuth client. A subject
// with no row is not an account that could have been deactivated (tokens
// minted by tools and tests); every sign-in path issues tokens only for
// existing rows, and rows are deactivated, never deleted.
func (s *Service) stillActive(ctx context.Context, p Principal) (bool, error) {
	key := activeKey(p.Role, p.Subject)
	if active, ok := s.active.get(key); ok {
		return active, nil
	}
	var (
		active bool
		err    error
	)
	switch {
	case p.Role == RoleIntegrator:
		err = s.pool.QueryRow(ctx, `SELECT active FROM oauth_client WHERE id = $1`, p.Subject).Scan(&active)
	case uuid.Validate(p.Subject) == nil:
		err = s.pool.QueryRow(ctx, `SELECT active FROM app_user WHERE id = $1`, p.Subject).Scan(&active)
	default:
		err = pgx.ErrNoRows
	}
	if errors.Is(err, pgx.ErrNoRows) {
		active, err = true, nil
	}
	if err != nil {
		return false, fmt.Errorf("check account %s: %w", p.Subject, err)
	}
	s.active.put(key, active)
	return active, nil
}

// Deactivate ends a user's access: the account can no longer sign in, every
// refresh token is revoked at once, and access tokens already issued are
// refused by every API instance within ActiveCheckTTL (at once by this
// one). ErrUnknownUser: no user has this ID.
func (s *Service) Deactivate(ctx context.Context, userID string) error {
	if uuid.Validate(userID) != nil {
		return fmt.Errorf("deactivate %q: %w", userID, ErrUnknownUser)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE app_user SET active = false, deactivated_at = coalesce(deactivated_at, now()) WHERE id = $1`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrUnknownUser
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_token SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("deactivate %s: %w", userID, err)
	}
	s.active.forget(activeKey(RoleAdmin, userID))
	s.logger.InfoContext(ctx, "User deactivated", "subject", userID)
	return nil
}
