package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Care assignment roles.
const CareRoleDietitian = "dietitian"

// AssignDietitian assigns a dietitian to a journey step's patient until
// endsAt (migration 0015_care_assignment.sql) and returns the dietitian's
// practitioner ID. The step keeps its dietitian: assigning it again (a
// retried activity, a later revision) only moves endsAt later and reopens
// an ended assignment. A new step gets, in order of preference, the
// dietitian who last had the patient, one in the patient's city, then the
// one with the fewest open assignments. ErrNotFound: there is no dietitian
// (a practitioner of the nutrition specialty) at all.
func (s *Store) AssignDietitian(ctx context.Context, journeyID, step, patientID string, endsAt time.Time) (string, error) {
	if journeyID == "" || step == "" || uuid.Validate(patientID) != nil || endsAt.IsZero() {
		return "", fmt.Errorf("store: assign dietitian: journey, step, patient and end: %w", ErrInvalid)
	}
	var practitioner string
	err := s.Pool.QueryRow(ctx, `
		WITH candidate AS (
			SELECT pr.id FROM practitioner pr JOIN patient pa ON pa.id = $3
			WHERE pr.specialty_code = 'nutrition'
			ORDER BY
				(SELECT max(started_at) FROM care_assignment c WHERE c.patient_id = pa.id AND c.practitioner_id = pr.id AND c.role = 'dietitian') DESC NULLS LAST,
				(pr.city = pa.city) DESC,
				(SELECT count(*) FROM care_assignment c WHERE c.practitioner_id = pr.id AND c.ended_at IS NULL AND c.ends_at > now()),
				pr.id
			LIMIT 1)
		INSERT INTO care_assignment (id, journey_id, step, patient_id, practitioner_id, role, ends_at)
		SELECT $4, $1, $2, $3, candidate.id, 'dietitian', $5 FROM candidate
		ON CONFLICT (journey_id, step) DO UPDATE SET ends_at = GREATEST(care_assignment.ends_at, EXCLUDED.ends_at), ended_at = NULL
		RETURNING practitioner_id::text`, journeyID, step, patientID, uuid.NewString(), endsAt).Scan(&practitioner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("store: assign dietitian: no dietitian to assign: %w", ErrNotFound)
	}
	if IsForeignKeyViolation(err) {
		return "", fmt.Errorf("store: assign dietitian: unknown patient: %w", ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("store: assign dietitian: %w", err)
	}
	return practitioner, nil
}

// EndCareAssignment ends a journey step's assignment: its practitioner's
// access through it lapses now. Ending it again, or a step without one,
// changes nothing.
func (s *Store) EndCareAssignment(ctx context.Context, journeyID, step string, at time.Time) error {
	if _, err := s.Pool.Exec(ctx, `UPDATE care_assignment SET ended_at = $3 WHERE journey_id = $1 AND step = $2 AND ended_at IS NULL`,
		journeyID, step, at); err != nil {
		return fmt.Errorf("store: end care assignment: %w", err)
	}
	return nil
}
