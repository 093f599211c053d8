// Package activities holds CarePath's Temporal activities, grouped by the
// system they talk to. Each group is a struct holding its clients; workflows
// name its methods through a typed nil pointer. Every activity is safe to
// retry: it writes idempotently, keyed by the workflow and the step.
package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/store"
)

// ErrTypePatientNotFound is the application error type for a journey whose
// patient does not exist; retrying cannot fix it.
const ErrTypePatientNotFound = "PatientNotFound"

// Journeys writes journey records to PostgreSQL.
type Journeys struct {
	Store *store.Store
	// NewID draws a fresh opaque journey workflow ID for a patient
	// (workflows.NewJourneyWorkflowID; activities cannot import workflows).
	NewID func(patientID string) string
}

// RecordJourneyInput is the journey row to write.
type RecordJourneyInput struct {
	JourneyID string `json:"journey_id"`
	PatientID string `json:"patient_id"`
	PathwayID string `json:"pathway_id"`
	Status    string `json:"status"`
}

// RecordJourney writes the journey's domain record. Writing the same input
// again changes nothing, so Temporal may retry it freely.
func (a *Journeys) RecordJourney(ctx context.Context, in RecordJourneyInput) error {
	err := a.Store.RecordJourney(ctx, store.Journey{
		ID: in.JourneyID, PatientID: in.PatientID, PathwayID: in.PathwayID, Status: in.Status,
	})
	if store.IsForeignKeyViolation(err) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("patient %s does not exist", in.PatientID), ErrTypePatientNotFound, err)
	}
	return err
}

// ReserveJourneyInput names a journey to start: the patient's episode on
// the pathway.
type ReserveJourneyInput struct {
	PatientID string `json:"patient_id"`
	PathwayID string `json:"pathway_id"`
	Episode   int    `json:"episode"`
}

// ReserveJourneyResult is the journey's workflow ID, opaque unless the
// episode was started before IDs were (workflows.LegacyJourneyWorkflowID).
type ReserveJourneyResult struct {
	WorkflowID string `json:"workflow_id"`
	// Created is false when the episode had a workflow ID already: it may
	// be running, or its start may have failed before it began.
	Created bool `json:"created"`
}

// ReserveJourney chooses the workflow ID of the patient's episode on the
// pathway: a fresh opaque ID (newID) recorded in journey_ref, or the one
// recorded there already. A workflow that starts another journey (the
// follow-up episode) calls it, since workflow code cannot draw random IDs.
// A retry finds the row its first attempt wrote and returns the same ID.
func (a *Journeys) ReserveJourney(ctx context.Context, in ReserveJourneyInput) (ReserveJourneyResult, error) {
	if a.Store == nil || a.NewID == nil {
		// Retryable on purpose: a correctly configured worker can pick it up.
		return ReserveJourneyResult{}, errors.New("reserve journey: this worker has no store or ID generator (workers.Deps)")
	}
	ref, created, err := a.Store.ReserveJourneyRef(ctx, store.JourneyRef{
		PatientID: in.PatientID, PathwayID: in.PathwayID, Episode: in.Episode, WorkflowID: a.NewID(in.PatientID),
	})
	switch {
	case errors.Is(err, store.ErrPatientNotFound):
		return ReserveJourneyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("reserve journey: patient %s does not exist", in.PatientID), ErrTypePatientNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		return ReserveJourneyResult{}, temporal.NewNonRetryableApplicationError("reserve journey: "+err.Error(), ErrTypeInvalidInput, err)
	case err != nil:
		return ReserveJourneyResult{}, fmt.Errorf("reserve journey: %w", err)
	}
	return ReserveJourneyResult{WorkflowID: ref.WorkflowID, Created: created}, nil
}
