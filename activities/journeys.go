// Package activities holds CarePath's Temporal activities, grouped by the
// system they talk to. Each group is a struct holding its clients (pgx,
// Neo4j, ONNX Runtime, Stripe, Twilio, the pharmacy partner); the worker
// registers the structs. Their names, inputs, results and error types are in
// package activities/contract, which workflows import instead of this
// package, so workflow code links none of these clients. Every activity is
// safe to retry: it writes idempotently, keyed by the workflow and the step.
package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/store"
)

// Journeys writes journey records to PostgreSQL.
type Journeys struct {
	Store *store.Store
	// NewID draws a fresh opaque journey workflow ID for a patient
	// (workflows.NewJourneyWorkflowID; activities cannot import workflows).
	NewID func(patientID string) string
}

// RecordJourney writes the journey's domain record. Writing the same input
// again changes nothing, so Temporal may retry it freely.
func (a *Journeys) RecordJourney(ctx context.Context, in contract.RecordJourneyInput) error {
	err := a.Store.RecordJourney(ctx, store.Journey{
		ID: in.JourneyID, PatientID: in.PatientID, PathwayID: in.PathwayID, Status: in.Status,
	})
	if store.IsForeignKeyViolation(err) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("patient %s does not exist", in.PatientID), contract.ErrTypePatientNotFound, err)
	}
	return err
}

// ReserveJourney chooses the workflow ID of the patient's episode on the
// pathway: a fresh opaque ID (newID) recorded in journey_ref, or the one
// recorded there already. A workflow that starts another journey (the
// follow-up episode) calls it, since workflow code cannot draw random IDs.
// A retry finds the row its first attempt wrote and returns the same ID.
func (a *Journeys) ReserveJourney(ctx context.Context, in contract.ReserveJourneyInput) (contract.ReserveJourneyResult, error) {
	if a.Store == nil || a.NewID == nil {
		// Retryable on purpose: a correctly configured worker can pick it up.
		return contract.ReserveJourneyResult{}, errors.New("reserve journey: this worker has no store or ID generator (workers.Deps)")
	}
	ref, created, err := a.Store.ReserveJourneyRef(ctx, store.JourneyRef{
		PatientID: in.PatientID, PathwayID: in.PathwayID, Episode: in.Episode, WorkflowID: a.NewID(in.PatientID),
	})
	switch {
	case errors.Is(err, store.ErrPatientNotFound):
		return contract.ReserveJourneyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("reserve journey: patient %s does not exist", in.PatientID), contract.ErrTypePatientNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		return contract.ReserveJourneyResult{}, temporal.NewNonRetryableApplicationError("reserve journey: "+err.Error(), contract.ErrTypeInvalidInput, err)
	case err != nil:
		return contract.ReserveJourneyResult{}, fmt.Errorf("reserve journey: %w", err)
	}
	return contract.ReserveJourneyResult{WorkflowID: ref.WorkflowID, Created: created}, nil
}
