package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/workflows"
)

const patient = "0b6f3c1e-4d2a-5e8f-9a7b-1c2d3e4f5a6b"

// journeyActs names the activities; the mocks replace their bodies.
var journeyActs *activities.Journeys

const shortPathway = `id: short
version: 1
title: Short
sources: [{id: ops, citation: Test policy}]
steps:
  - {id: settle, type: wait, time_limit: 1h, on_timeout: continue, next: end}
`

func TestJourneyRecordsItsStatusInThePlaceOfRecord(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	plan := mustPlan(t, shortPathway)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LegacyJourneyWorkflowID(patient, "short", 1), TaskQueue: "test"})
	env.RegisterActivity(&activities.Journeys{})
	var statuses []string
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).
		Return(func(_ context.Context, in contract.RecordJourneyInput) error {
			statuses = append(statuses, in.Status)
			if in.JourneyID != workflows.LegacyJourneyWorkflowID(patient, "short", 1) || in.PatientID != patient || in.PathwayID != "short" {
				t.Errorf("activity got %+v", in)
			}
			return nil
		})
	env.ExecuteWorkflow(workflows.Journey, workflows.JourneyInput{PatientID: patient, PathwayID: "short", Episode: 1, Plan: plan})
	st := result(t, env)
	if !st.Recorded || st.Stage != workflows.StatusCompleted {
		t.Errorf("state = %+v", st)
	}
	if len(statuses) != 2 || statuses[0] != workflows.StatusActive || statuses[1] != workflows.StatusCompleted {
		t.Errorf("recorded statuses = %v, want [active completed]", statuses)
	}
}

func TestJourneyRetriesTransientFailures(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LegacyJourneyWorkflowID(patient, "short", 2), TaskQueue: "test"})
	env.RegisterActivity(&activities.Journeys{})
	calls := 0
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).
		Return(func(context.Context, contract.RecordJourneyInput) error {
			calls++
			if calls < 3 {
				return errors.New("connection reset")
			}
			return nil
		})
	env.ExecuteWorkflow(workflows.Journey, workflows.JourneyInput{PatientID: patient, PathwayID: "short", Episode: 2, Plan: mustPlan(t, shortPathway)})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("want success after retries, got %v", err)
	}
	if calls != 4 { // two failures, then the active and the completed record
		t.Errorf("activity ran %d times, want 4", calls)
	}
}

func TestJourneyStopsWhenPatientIsUnknown(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LegacyJourneyWorkflowID(patient, "short", 1), TaskQueue: "test"})
	env.RegisterActivity(&activities.Journeys{})
	calls := 0
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).
		Return(func(context.Context, contract.RecordJourneyInput) error {
			calls++
			return temporal.NewNonRetryableApplicationError("no patient", contract.ErrTypePatientNotFound, nil)
		})
	env.ExecuteWorkflow(workflows.Journey, workflows.JourneyInput{PatientID: patient, PathwayID: "short", Episode: 1, Plan: mustPlan(t, shortPathway)})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypePatientNotFound {
		t.Fatalf("want a %s error, got %v", contract.ErrTypePatientNotFound, err)
	}
	if calls != 1 {
		t.Errorf("a non-retryable error was retried: %d calls", calls)
	}
}

func TestJourneyRejectsInvalidInput(t *testing.T) {
	plan := mustPlan(t, shortPathway)
	for name, in := range map[string]workflows.JourneyInput{
		"bad patient":          {PatientID: "Alice", PathwayID: "short", Episode: 1, Plan: plan},
		"bad pathway":          {PatientID: patient, PathwayID: "Short Pathway", Episode: 1, Plan: plan},
		"zero episode":         {PatientID: patient, PathwayID: "short", Episode: 0, Plan: plan},
		"no plan":              {PatientID: patient, PathwayID: "short", Episode: 1},
		"plan of another path": {PatientID: patient, PathwayID: "other", Episode: 1, Plan: plan},
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
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "journey:someone-else", TaskQueue: "test"})
	env.RegisterActivity(&activities.Journeys{})
	env.ExecuteWorkflow(workflows.Journey, workflows.JourneyInput{PatientID: patient, PathwayID: "short", Episode: 1, Plan: mustPlan(t, shortPathway)})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeInvalidInput {
		t.Fatalf("want %s, got %v", workflows.ErrTypeInvalidInput, err)
	}
}
