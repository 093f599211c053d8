package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

func containsString(list []string, s string) bool { return slices.Contains(list, s) }

func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

// NewUser is a user to create.
type NewUser struct {
	ID       string // empty: a random ID
	Email    string
	Phone    string // optional; SMS sign-in codes go here
	Password string // optional; empty means SMS sign-in only
	// PasswordHash, when set, is stored instead of hashing Password (the demo
	// seed hashes each demo password once).
	PasswordHash   string
	Role           string
	PatientID      string
	PractitionerID string
}

// UpsertUser creates the user, or updates the one with the same ID. It
// returns the user's ID.
func (s *Service) UpsertUser(ctx context.Context, u NewUser) (string, error) {
	if u.Role == RoleIntegrator || !slices.Contains(Roles, u.Role) {
		return "", fmt.Errorf("upsert user: role %q is not a user role", u.Role)
	}
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	var hash *string
	if u.PasswordHash != "" {
		hash = &u.PasswordHash
	} else if u.Password != "" {
		h, err := HashPassword(u.Password)
		if err != nil {
			return "", fmt.Errorf("upsert user: %w", err)
		}
		hash = &h
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO app_user (id, email, phone, password_hash, role, patient_id, practitioner_id)
		VALUES ($1, $2, nullif($3, ''), $4, $5, nullif($6, '')::uuid, nullif($7, '')::uuid)
		ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone, password_hash = EXCLUDED.password_hash,
			role = EXCLUDED.role, patient_id = EXCLUDED.patient_id, practitioner_id = EXCLUDED.practitioner_id, active = true`,
		u.ID, strings.ToLower(strings.TrimSpace(u.Email)), u.Phone, hash, u.Role, u.PatientID, u.PractitionerID)
	if err != nil {
		return "", fmt.Errorf("upsert user: %w", err)
	}
	return u.ID, nil
}

// UpsertClient registers an OAuth client with its secret and scopes.
func (s *Service) UpsertClient(ctx context.Context, id, name, secret string, scopes []string) error {
	hash, err := HashPassword(secret)
	if err != nil {
		return fmt.Errorf("upsert client: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO oauth_client (id, name, secret_hash, scopes) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash, scopes = EXCLUDED.scopes, active = true`,
		id, name, hash, scopes)
	if err != nil {
		return fmt.Errorf("upsert client: %w", err)
	}
	return nil
}
