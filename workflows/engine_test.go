package workflows_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

// reviewPathway exercises the engine without external systems: a wait, a
// doctor's decision with an escalation, a branch on the decision, and two
// tracks side by side.
const reviewPathway = `id: review
version: 1
title: Review
sources: [{id: ops, citation: Test policy}]
parameters:
  answer_within: {type: duration, value: 4h, source: ops}
steps:
  - {id: settle, type: wait, time_limit: 1h, on_timeout: continue, next: doctor_review}
  - id: doctor_review
    type: decide
    role: doctor
    time_limit: $answer_within
    on_timeout: {action: escalate, role: coordinator, then: {time_limit: 20h, action: cancel}}
    outcomes: {accepted: after, rejected: end}
  - id: after
    type: parallel
    tracks:
      - {name: left, start: left}
      - {name: right, start: right}
    branches:
      - when: "decision == 'accepted'"
        next: rest
    otherwise: end
  - {id: left, type: wait, time_limit: 2h, on_timeout: continue, next: end}
  - {id: right, type: wait, time_limit: 3h, on_timeout: continue, next: end}
  - {id: rest, type: wait, time_limit: 1d, on_timeout: continue, next: end}
`

const doctorID = "7d1c2a4e-1111-4a3b-9c8d-000000000001"

func mustPlan(t *testing.T, src string) pathways.Plan {
	t.Helper()
	plan, err := pathways.Load("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("test pathway: %v", err)
	}
	return plan
}

func newJourneyEnv(t *testing.T, plan pathways.Plan) (*testsuite.TestWorkflowEnvironment, workflows.JourneyInput) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	in := workflows.JourneyInput{PatientID: patient, PathwayID: plan.PathwayID, Episode: 1, Plan: plan}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LegacyJourneyWorkflowID(patient, plan.PathwayID, 1), TaskQueue: "test"})
	env.RegisterActivity(&activities.Journeys{})
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).Return(nil)
	return env, in
}

// decide sends the decide update after delay and returns where the result lands.
func decide(env *testsuite.TestWorkflowEnvironment, delay time.Duration, req workflows.DecideRequest) *updateResult {
	r := &updateResult{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateDecide, "", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { r.rejected = err },
			OnAccept:   func() { r.accepted = true },
			OnComplete: func(v any, err error) { r.err = err },
		}, req)
	}, delay)
	return r
}

type updateResult struct {
	accepted bool
	rejected error
	err      error
}

func stepIDs(st workflows.JourneyState) string {
	var ids []string
	for _, s := range st.Steps {
		ids = append(ids, s.StepID+"="+s.Result)
	}
	return strings.Join(ids, " ")
}

func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.JourneyState {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var st workflows.JourneyState
	if err := env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestEngineRunsStepsDecisionsBranchesAndTracks(t *testing.T) {
	env, in := newJourneyEnv(t, mustPlan(t, reviewPathway))
	wrongRole := decide(env, 90*time.Minute, workflows.DecideRequest{Actor: workflows.Actor{ID: patient, Role: "patient"}, StepID: "doctor_review", Outcome: "accepted"})
	badOutcome := decide(env, 91*time.Minute, workflows.DecideRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, StepID: "doctor_review", Outcome: "maybe"})
	ok := decide(env, 2*time.Hour, workflows.DecideRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, StepID: "doctor_review", Outcome: "accepted"})
	again := decide(env, 2*time.Hour+time.Minute, workflows.DecideRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, StepID: "doctor_review", Outcome: "rejected"})

	env.ExecuteWorkflow(workflows.Journey, in)
	st := result(t, env)

	assertRejected(t, wrongRole, workflows.ErrTypeNotAllowed)
	assertRejected(t, badOutcome, workflows.ErrTypeInvalidMessage)
	assertRejected(t, again, workflows.ErrTypeNotAwaitingThat)
	if !ok.accepted || ok.err != nil {
		t.Fatalf("the doctor's decision was not taken: %+v", ok)
	}
	if st.Status != workflows.StatusCompleted || st.Decisions["doctor_review"].Outcome != "accepted" || st.Decisions["doctor_review"].ActorID != doctorID {
		t.Fatalf("state = %+v", st)
	}
	want := "settle=timed_out doctor_review=accepted after=done left=timed_out right=timed_out rest=timed_out"
	if got := stepIDs(st); got != want {
		t.Errorf("steps:\n got %s\nwant %s", got, want)
	}
	if st.NeedsAttention {
		t.Error("no escalation happened, yet NeedsAttention is set")
	}
}

func assertRejected(t *testing.T, r *updateResult, errType string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if r.accepted || !errors.As(r.rejected, &appErr) || appErr.Type() != errType {
		t.Errorf("want the update rejected with %s, got accepted=%v rejected=%v", errType, r.accepted, r.rejected)
	}
}

func TestDoctorTimeLimitEscalatesThenTheAnswerClearsIt(t *testing.T) {
	env, in := newJourneyEnv(t, mustPlan(t, reviewPathway))
	var attention bool
	env.RegisterDelayedCallback(func() { // after settle (1h) and the 4h limit
		v, _ := env.QueryWorkflow(workflows.QueryJourneyState)
		var st workflows.JourneyState
		_ = v.Get(&st)
		attention = st.NeedsAttention
	}, 6*time.Hour)
	decide(env, 10*time.Hour, workflows.DecideRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, StepID: "doctor_review", Outcome: "rejected"})
	env.ExecuteWorkflow(workflows.Journey, in)
	st := result(t, env)
	if !attention {
		t.Error("NeedsAttention was not raised when the doctor's time limit ran out")
	}
	if st.NeedsAttention || st.Status != workflows.StatusCompleted {
		t.Errorf("after the late answer: %+v", st)
	}
	if got := stepIDs(st); got != "settle=timed_out doctor_review=rejected" {
		t.Errorf("steps = %s", got)
	}
}

func TestDoctorSilenceCancelsAfterTheSecondLimit(t *testing.T) {
	env, in := newJourneyEnv(t, mustPlan(t, reviewPathway))
	env.ExecuteWorkflow(workflows.Journey, in)
	st := result(t, env)
	if st.Status != workflows.StatusCancelled || !strings.Contains(st.Outcome, "doctor_review") {
		t.Fatalf("want cancelled at doctor_review, got %s (%s)", st.Status, st.Outcome)
	}
}

func TestCancelUpdateFromThePatientEndsTheJourney(t *testing.T) {
	env, in := newJourneyEnv(t, mustPlan(t, reviewPathway))
	var stranger, own updateResult
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateCancel, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { stranger.rejected = err }, OnAccept: func() { stranger.accepted = true }, OnComplete: func(any, error) {},
		}, workflows.CancelRequest{Actor: workflows.Actor{ID: "00000000-0000-4000-8000-000000000009", Role: "patient"}})
		env.UpdateWorkflow(workflows.UpdateCancel, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { own.rejected = err }, OnAccept: func() { own.accepted = true }, OnComplete: func(_ any, err error) { own.err = err },
		}, workflows.CancelRequest{Actor: workflows.Actor{ID: patient, Role: "patient"}, Reason: "feeling better"})
	}, 30*time.Minute)
	env.ExecuteWorkflow(workflows.Journey, in)
	st := result(t, env)
	assertRejected(t, &stranger, workflows.ErrTypeNotAllowed)
	if !own.accepted || own.err != nil {
		t.Fatalf("the patient's cancel was not taken: %+v", own)
	}
	if st.Status != workflows.StatusCancelled {
		t.Fatalf("status = %s", st.Status)
	}
}

func TestBranchThatCannotBeEvaluatedFailsLoudly(t *testing.T) {
	plan := mustPlan(t, `id: risky
version: 1
title: Risky
sources: [{id: ops, citation: Test policy}]
steps:
  - id: settle
    type: wait
    time_limit: 1h
    on_timeout: continue
    branches: [{when: "risk.level == 'high'", next: end}]
    otherwise: end
`)
	env, in := newJourneyEnv(t, plan)
	env.ExecuteWorkflow(workflows.Journey, in)
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeExpressionFailed {
		t.Fatalf("want %s with no risk assessment, got %v", workflows.ErrTypeExpressionFailed, err)
	}
}

// A journey runs the plan it started with, even after a newer version ships.
func TestJourneyKeepsThePathwayVersionItStartedWith(t *testing.T) {
	v1 := mustPlan(t, reviewPathway)
	v2 := mustPlan(t, strings.Replace(strings.Replace(reviewPathway, "version: 1", "version: 2", 1),
		"{id: settle, type: wait, time_limit: 1h", "{id: settle, type: wait, time_limit: 5h", 1))
	catalog, err := pathways.NewCatalog([]pathways.Plan{v1, v2})
	if err != nil {
		t.Fatal(err)
	}
	pinned, _ := catalog.Get("review", 1)
	env, in := newJourneyEnv(t, pinned)
	decide(env, 90*time.Minute, workflows.DecideRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, StepID: "doctor_review", Outcome: "rejected"})
	env.ExecuteWorkflow(workflows.Journey, in)
	st := result(t, env)
	if st.PathwayVersion != 1 || st.Steps[0].EndedAt.Sub(st.Steps[0].StartedAt) != time.Hour {
		t.Errorf("journey did not run v1: version %d, settle took %v", st.PathwayVersion, st.Steps[0].EndedAt.Sub(st.Steps[0].StartedAt))
	}
	newest, _ := catalog.Get("review", 0)
	if newest.Version != 2 {
		t.Errorf("new journeys should take v2, got v%d", newest.Version)
	}
}
