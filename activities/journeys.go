// Package activities holds CarePath's Temporal activities, grouped by the
// system they talk to. Each group is a struct holding its clients; workflows
// name its methods through a typed nil pointer. Every activity is safe to
// retry: it writes idempotently, keyed by the workflow and the step.
package activities

import (
	"context"
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
