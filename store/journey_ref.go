package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Journey references: a journey's workflow ID is opaque
// (workflows.NewJourneyWorkflowID), so which journey of the patient on which
// pathway it is lives here, where the rule "one workflow per patient,
// pathway and episode" is a unique key.

// ErrJourneyIDTaken is returned when the workflow ID offered for a new
// journey is already another journey's (two random IDs collided).
var ErrJourneyIDTaken = errors.New("workflow ID already names another journey")

// JourneyRef says which journey a workflow is.
type JourneyRef struct {
	PatientID  string
	PathwayID  string
	Episode    int
	WorkflowID string
	CreatedAt  time.Time
}

const journeyRefColumns = `patient_id::text, pathway_id, episode, workflow_id, created_at`

func scanJourneyRef(row pgx.Row) (JourneyRef, error) {
	var r JourneyRef
	err := row.Scan(&r.PatientID, &r.PathwayID, &r.Episode, &r.WorkflowID, &r.CreatedAt)
	return r, err
}

// ReserveJourneyRef records ref, whose WorkflowID is a fresh ID for the
// patient's episode on the pathway, and returns it with created true. If
// that episode has a workflow already, nothing is written and the recorded
// reference comes back with created false: a start retried after a crash
// then starts (or finds) the same workflow, never a second one.
func (s *Store) ReserveJourneyRef(ctx context.Context, ref JourneyRef) (JourneyRef, bool, error) {
	if !validUUID(ref.PatientID) || ref.PathwayID == "" || ref.Episode < 1 || ref.WorkflowID == "" {
		return JourneyRef{}, false, fmt.Errorf("store: reserve journey ref: patient, pathway, episode and workflow ID are required: %w", ErrInvalid)
	}
	got, err := scanJourneyRef(s.Pool.QueryRow(ctx, `
		INSERT INTO journey_ref (patient_id, pathway_id, episode, workflow_id)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (patient_id, pathway_id, episode) DO NOTHING
		RETURNING `+journeyRefColumns, ref.PatientID, ref.PathwayID, ref.Episode, ref.WorkflowID))
	switch {
	case err == nil:
		return got, true, nil
	case IsForeignKeyViolation(err):
		return JourneyRef{}, false, fmt.Errorf("store: reserve journey ref: patient %s: %w", ref.PatientID, ErrPatientNotFound)
	case isUniqueViolation(err):
		return JourneyRef{}, false, fmt.Errorf("store: reserve journey ref: %w", ErrJourneyIDTaken)
	case !errors.Is(err, pgx.ErrNoRows):
		return JourneyRef{}, false, fmt.Errorf("store: reserve journey ref: %w", err)
	}
	got, err = scanJourneyRef(s.Pool.QueryRow(ctx, `
		SELECT `+journeyRefColumns+` FROM journey_ref
		WHERE patient_id = $1 AND pathway_id = $2 AND episode = $3`, ref.PatientID, ref.PathwayID, ref.Episode))
	if err != nil {
		// The row was there a moment ago and rows are never deleted.
		return JourneyRef{}, false, fmt.Errorf("store: reserve journey ref: read the recorded one: %w", err)
	}
	return got, false, nil
}

// JourneyRefByWorkflowID returns the reference of a journey workflow, or
// ErrNotFound.
func (s *Store) JourneyRefByWorkflowID(ctx context.Context, workflowID string) (JourneyRef, error) {
	r, err := scanJourneyRef(s.Pool.QueryRow(ctx, `SELECT `+journeyRefColumns+` FROM journey_ref WHERE workflow_id = $1`, workflowID))
	if errors.Is(err, pgx.ErrNoRows) {
		return JourneyRef{}, fmt.Errorf("store: journey ref of %s: %w", workflowID, ErrNotFound)
	}
	if err != nil {
		return JourneyRef{}, fmt.Errorf("store: journey ref of %s: %w", workflowID, err)
	}
	return r, nil
}

// JourneyRefByEpisode returns the workflow of the patient's episode on the
// pathway, or ErrNotFound.
func (s *Store) JourneyRefByEpisode(ctx context.Context, patientID, pathwayID string, episode int) (JourneyRef, error) {
	if !validUUID(patientID) {
		return JourneyRef{}, fmt.Errorf("store: journey ref of %s: %w", patientID, ErrNotFound)
	}
	r, err := scanJourneyRef(s.Pool.QueryRow(ctx, `
		SELECT `+journeyRefColumns+` FROM journey_ref
		WHERE patient_id = $1 AND pathway_id = $2 AND episode = $3`, patientID, pathwayID, episode))
	if errors.Is(err, pgx.ErrNoRows) {
		return JourneyRef{}, fmt.Errorf("store: journey ref of %s episode %d: %w", patientID, episode, ErrNotFound)
	}
	if err != nil {
		return JourneyRef{}, fmt.Errorf("store: journey ref of %s episode %d: %w", patientID, episode, err)
	}
	return r, nil
}

// isUniqueViolation reports whether err is PostgreSQL's unique key error.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
