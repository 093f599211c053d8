package activities_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/workflows"
)

// ReserveJourney draws an opaque ID for a new episode and returns the
// recorded one, unchanged, when the episode has one (a retried activity, or
// an episode started by hand); an unknown patient is not retried.
func TestReserveJourneyKeepsTheRecordedID(t *testing.T) {
	ctx, s := seededStore(t)
	a := &activities.Journeys{Store: s, NewID: workflows.NewJourneyWorkflowID}
	patient := testenv.NewPatient(t, s, "Pune")
	in := contract.ReserveJourneyInput{PatientID: patient, PathwayID: "hypertension", Episode: 2}
	first, err := a.ReserveJourney(ctx, in)
	if err != nil || !first.Created {
		t.Fatalf("first: %+v %v", first, err)
	}
	if p, pathway, _, err := workflows.ParseJourneyWorkflowID(first.WorkflowID); err != nil || p != patient || pathway != "" ||
		strings.Contains(first.WorkflowID, "hypertension") {
		t.Fatalf("ID %s is not an opaque journey ID of the patient", first.WorkflowID)
	}
	again, err := a.ReserveJourney(ctx, in)
	if err != nil || again.Created || again.WorkflowID != first.WorkflowID {
		t.Fatalf("again: %+v %v, want %s", again, err, first.WorkflowID)
	}
	_, err = a.ReserveJourney(ctx, contract.ReserveJourneyInput{PatientID: uuid.NewString(), PathwayID: "hypertension", Episode: 1})
	wantAppError(t, "unknown patient", err, contract.ErrTypePatientNotFound)
	if _, err := (&activities.Journeys{Store: s}).ReserveJourney(ctx, in); err == nil {
		t.Error("a worker without an ID generator reserved an ID")
	}
}
