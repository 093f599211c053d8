package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Consent is a patient's grant of access (migrations 0003 and 0008).
type Consent struct {
	ID             string     `json:"id"`
	PatientID      string     `json:"patient_id"`
	PractitionerID *string    `json:"practitioner_id,omitempty"`
	OrganizationID *string    `json:"organization_id,omitempty"`
	Category       string     `json:"category"`
	Status         string     `json:"status"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
}

const consentColumns = `id::text, patient_id::text, practitioner_id::text, organization_id::text, category, status, expires_at, created_at, revoked_at`

func scanConsent(row pgx.Row) (Consent, error) {
	var c Consent
	err := row.Scan(&c.ID, &c.PatientID, &c.PractitionerID, &c.OrganizationID, &c.Category, &c.Status, &c.ExpiresAt, &c.CreatedAt, &c.RevokedAt)
	return c, err
}

// GrantConsent stores an active consent; c.ID must be set.
func (s *Store) GrantConsent(ctx context.Context, c Consent) (Consent, error) {
	out, err := scanConsent(s.Pool.QueryRow(ctx, `INSERT INTO consent (id, patient_id, practitioner_id, organization_id, category, status, expires_at)
		VALUES ($1, $2, $3, $4, $5, 'active', $6) RETURNING `+consentColumns,
		c.ID, c.PatientID, c.PractitionerID, c.OrganizationID, c.Category, c.ExpiresAt))
	if err != nil {
		return Consent{}, fmt.Errorf("store: grant consent: %w", err)
	}
	return out, nil
}

// RevokeConsent makes the consent inactive from now on; revoking twice
// changes nothing.
func (s *Store) RevokeConsent(ctx context.Context, patientID, id string) (Consent, error) {
	out, err := scanConsent(s.Pool.QueryRow(ctx, `UPDATE consent SET status = 'inactive', revoked_at = COALESCE(revoked_at, now())
		WHERE id = $1::uuid AND patient_id = $2::uuid RETURNING `+consentColumns, id, patientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Consent{}, fmt.Errorf("store: consent %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Consent{}, fmt.Errorf("store: revoke consent %s: %w", id, err)
	}
	return out, nil
}

// ListConsents returns the patient's consents, newest first.
func (s *Store) ListConsents(ctx context.Context, patientID string) ([]Consent, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+consentColumns+` FROM consent WHERE patient_id = $1::uuid ORDER BY created_at DESC, id`, patientID)
	if err != nil {
		return nil, fmt.Errorf("store: list consents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Consent, error) { return scanConsent(row) })
	if err != nil {
		return nil, fmt.Errorf("store: list consents: %w", err)
	}
	return out, nil
}

// BreakGlass is a doctor's emergency access to a patient.
type BreakGlass struct {
	ID             string    `json:"id"`
	PatientID      string    `json:"patient_id"`
	PractitionerID string    `json:"practitioner_id"`
	StartedAt      time.Time `json:"started_at"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// StartBreakGlass records the emergency access with its reason and the
// notice to the patient, in one transaction.
func (s *Store) StartBreakGlass(ctx context.Context, b BreakGlass, reason string, d time.Duration) (BreakGlass, error) {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO break_glass (id, patient_id, practitioner_id, reason, expires_at)
			VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING started_at, expires_at`,
			b.ID, b.PatientID, b.PractitionerID, reason, fmt.Sprintf("%d seconds", int(d.Seconds()))).Scan(&b.StartedAt, &b.ExpiresAt); err != nil {
			return err
		}
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM practitioner WHERE id = $1`, b.PractitionerID).Scan(&name); err != nil {
			return err
		}
		msg := fmt.Sprintf("Emergency access to your health record by %s from %s until %s (UTC). The reason they gave is kept in your record's access log.",
			name, b.StartedAt.UTC().Format("2006-01-02 15:04"), b.ExpiresAt.UTC().Format("2006-01-02 15:04"))
		_, err := tx.Exec(ctx, `INSERT INTO patient_notification (id, patient_id, kind, subject_id, message) VALUES (gen_random_uuid(), $1, 'break_glass', $2, $3)`,
			b.PatientID, b.ID, msg)
		return err
	})
	if err != nil {
		return BreakGlass{}, fmt.Errorf("store: break glass: %w", err)
	}
	return b, nil
}

// Notification is a notice to the patient.
type Notification struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	SubjectID string    `json:"subject_id"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

// PatientNotifications lists the patient's notices, newest first.
func (s *Store) PatientNotifications(ctx context.Context, patientID string) ([]Notification, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id::text, kind, subject_id::text, message, created_at FROM patient_notification
		WHERE patient_id = $1::uuid ORDER BY created_at DESC LIMIT 100`, patientID)
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Notification])
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	return out, nil
}
