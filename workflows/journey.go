package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities"
)

// JourneyInput starts a journey.
type JourneyInput struct {
	PatientID string `json:"patient_id"`
	PathwayID string `json:"pathway_id"`
	Episode   int    `json:"episode"`
}

// JourneyState is what the journey_state query answers.
type JourneyState struct {
	JourneyID string    `json:"id"`
	PatientID string    `json:"patient_id"`
	PathwayID string    `json:"pathway_id"`
	Episode   int       `json:"episode"`
	Stage     string    `json:"stage"`
	Recorded  bool      `json:"recorded"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrTypeInvalidInput marks journey input that no retry can fix.
const ErrTypeInvalidInput = "InvalidJourneyInput"

// Journey runs one patient's journey on a pathway. For now it enrols the
// patient: it records the journey in PostgreSQL and reports its stage. The
// pathway engine extends it with the stages of care.
func Journey(ctx workflow.Context, in JourneyInput) (JourneyState, error) {
	j, err := newJourney(ctx, in)
	if err != nil {
		return JourneyState{}, err
	}
	return j.run(ctx)
}

type journey struct {
	state  JourneyState
	logger log.Logger
}

func newJourney(ctx workflow.Context, in JourneyInput) (*journey, error) {
	info := workflow.GetInfo(ctx)
	if err := in.validate(info.WorkflowExecution.ID); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, err)
	}
	now := workflow.Now(ctx)
	j := &journey{
		state: JourneyState{
			JourneyID: info.WorkflowExecution.ID,
			PatientID: in.PatientID,
			PathwayID: in.PathwayID,
			Episode:   in.Episode,
			Stage:     StageEnrolling,
			StartedAt: now,
			UpdatedAt: now,
		},
		logger: log.With(workflow.GetLogger(ctx), "JourneyID", info.WorkflowExecution.ID, "PathwayID", in.PathwayID),
	}
	if err := workflow.SetQueryHandler(ctx, QueryJourneyState, func() (JourneyState, error) { return j.state, nil }); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryJourneyState, err)
	}
	return j, nil
}

func (in JourneyInput) validate(workflowID string) error {
	var errs []error
	if !ValidPatientID(in.PatientID) {
		errs = append(errs, errors.New("patient_id must be a lowercase UUID"))
	}
	if !ValidPathwayID(in.PathwayID) {
		errs = append(errs, errors.New("pathway_id must be a lowercase slug"))
	}
	if in.Episode < 1 {
		errs = append(errs, errors.New("episode must be 1 or more"))
	}
	if len(errs) == 0 && workflowID != JourneyWorkflowID(in.PatientID, in.PathwayID, in.Episode) {
		errs = append(errs, fmt.Errorf("workflow ID %q does not match the input", workflowID))
	}
	return errors.Join(errs...)
}

func (j *journey) run(ctx workflow.Context) (JourneyState, error) {
	if err := j.setStage(ctx, StageEnrolling); err != nil {
		return j.state, err
	}
	actCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: []string{activities.ErrTypePatientNotFound},
		},
	})
	var journeys *activities.Journeys
	err := workflow.ExecuteActivity(actCtx, journeys.RecordJourney, activities.RecordJourneyInput{
		JourneyID: j.state.JourneyID,
		PatientID: j.state.PatientID,
		PathwayID: j.state.PathwayID,
		Status:    StageEnrolled,
	}).Get(ctx, nil)
	if err != nil {
		j.logger.Error("Recording the journey failed", "Error", err)
		// Returned as is, so callers see the activity's error type.
		return j.state, err
	}
	j.state.Recorded = true
	if err := j.setStage(ctx, StageEnrolled); err != nil {
		return j.state, err
	}
	j.logger.Info("Journey enrolled")
	return j.state, nil
}

// setStage moves the journey to stage and shows it in the Temporal UI.
func (j *journey) setStage(ctx workflow.Context, stage string) error {
	j.state.Stage = stage
	j.state.UpdatedAt = workflow.Now(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx, JourneyStageKey.ValueSet(stage)); err != nil {
		return fmt.Errorf("upsert JourneyStage: %w", err)
	}
	return nil
}
