package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/workflows"
)

const patient = "0b6f3c1e-4d2a-5e8f-9a7b-1c2d3e4f5a6b"

// journeyActs names the activities; the mocks replace their bodies.
var journeyActs *activities.Journeys

func newEnv(t *testing.T, in workflows.JourneyInput) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(clientStartOptions(workflows.JourneyWorkflowID(in.PatientID, in.PathwayID, in.Episode)))
	env.RegisterActivity(&activities.Journeys{})
	return env
}

func TestJourneyRecordsAndEnrols(t *testing.T) {
	in := workflows.JourneyInput{PatientID: patient, PathwayID: "general-consult", Episode: 1}
	env := newEnv(t, in)
	var recorded activities.RecordJourneyInput
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).
		Return(func(_ context.Context, got activities.RecordJourneyInput) error { recorded = got; return nil })

	env.ExecuteWorkflow(workflows.Journey, in)

	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow did not complete cleanly: %v", env.GetWorkflowError())
	}
	var state workflows.JourneyState
	if err := env.GetWorkflowResult(&state); err != nil {
		t.Fatal(err)
	}
	wantID := workflows.JourneyWorkflowID(patient, "general-consult", 1)
	if state.Stage != workflows.StageEnrolled || !state.Recorded || state.JourneyID != wantID {
		t.Errorf("final state = %+v", state)
	}
	if recorded.JourneyID != wantID || recorded.PatientID != patient || recorded.Status != workflows.StageEnrolled {
		t.Errorf("activity got %+v", recorded)
	}
	q, err := env.QueryWorkflow(workflows.QueryJourneyState)
	if err != nil {
		t.Fatal(err)
	}
	var queried workflows.JourneyState
	if err := q.Get(&queried); err != nil || queried.Stage != workflows.StageEnrolled {
		t.Errorf("query answered %+v, %v", queried, err)
	}
}

func TestJourneyRetriesTransientFailures(t *testing.T) {
	in := workflows.JourneyInput{PatientID: patient, PathwayID: "hypertension", Episode: 2}
	env := newEnv(t, in)
	calls := 0
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).
		Return(func(context.Context, activities.RecordJourneyInput) error {
			calls++
			if calls < 3 {
				return errors.New("connection reset")
			}
			return nil
		})
	env.ExecuteWorkflow(workflows.Journey, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("want success after retries, got %v", err)
	}
	if calls != 3 {
		t.Errorf("activity ran %d times, want 3", calls)
	}
}

func TestJourneyStopsWhenPatientIsUnknown(t *testing.T) {
	in := workflows.JourneyInput{PatientID: patient, PathwayID: "general-consult", Episode: 1}
	env := newEnv(t, in)
	calls := 0
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).
		Return(func(context.Context, activities.RecordJourneyInput) error {
			calls++
			return temporal.NewNonRetryableApplicationError("no patient", activities.ErrTypePatientNotFound, nil)
		})
	env.ExecuteWorkflow(workflows.Journey, in)
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypePatientNotFound {
		t.Fatalf("want a %s error, got %v", activities.ErrTypePatientNotFound, err)
	}
	if calls != 1 {
		t.Errorf("a non-retryable error was retried: %d calls", calls)
	}
}

func TestJourneyRejectsInvalidInput(t *testing.T) {
	for name, in := range map[string]workflows.JourneyInput{
		"bad patient":  {PatientID: "Alice", PathwayID: "general-consult", Episode: 1},
		"bad pathway":  {PatientID: patient, PathwayID: "General Consult", Episode: 1},
		"zero episode": {PatientID: patient, PathwayID: "general-consult", Episode: 0},
	} {
		t.Run(name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivity(&activities.Journeys{})
			env.ExecuteWorkflow(workflows.Journey, in)
			var appErr *temporal.ApplicationError
			if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeInvalidInput || !appErr.NonRetryable() {
				t.Fatalf("want non-retryable %s, got %v", workflows.ErrTypeInvalidInput, err)
			}
		})
	}
}

func TestJourneyRejectsAWorkflowIDThatDoesNotMatch(t *testing.T) {
	in := workflows.JourneyInput{PatientID: patient, PathwayID: "general-consult", Episode: 1}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(clientStartOptions("journey:someone-else"))
	env.RegisterActivity(&activities.Journeys{})
	env.ExecuteWorkflow(workflows.Journey, in)
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeInvalidInput {
		t.Fatalf("want %s, got %v", workflows.ErrTypeInvalidInput, err)
	}
}
