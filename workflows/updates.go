package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// registerUpdates installs the journey's update handlers. Each validator
// rejects a message before it enters the history; each handler answers
// with the journey's new state.
func (j *journey) registerUpdates(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide,
		func(ctx workflow.Context, req DecideRequest) (JourneyState, error) {
			j.state.Decisions[req.StepID] = DecisionRecord{
				Outcome: req.Outcome, ActorID: req.Actor.ID, Role: req.Actor.Role, At: workflow.Now(ctx),
			}
			j.state.UpdatedAt = workflow.Now(ctx)
			// The step's own goroutine moves on; answer once it has.
			err := workflow.Await(ctx, func() bool { _, waiting := j.pending[req.StepID]; return !waiting })
			return j.state, err
		},
		workflow.UpdateHandlerOptions{Validator: j.validateDecide},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateDecide, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancel,
		func(ctx workflow.Context, req CancelRequest) (JourneyState, error) {
			j.cancelRequested = &req
			j.cancelSteps()
			err := workflow.Await(ctx, func() bool { return j.state.Status != StatusActive })
			return j.state, err
		},
		workflow.UpdateHandlerOptions{Validator: j.validateCancel},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateCancel, err)
	}
	return nil
}

func (j *journey) validateDecide(req DecideRequest) error {
	if j.state.Status != StatusActive {
		return temporal.NewApplicationError("the journey has ended", ErrTypeJourneyNotActive)
	}
	step, ok := j.pending[req.StepID]
	if !ok {
		return temporal.NewApplicationError(fmt.Sprintf("the journey is not waiting for a decision at step %q", req.StepID), ErrTypeNotAwaitingThat)
	}
	if _, done := j.state.Decisions[req.StepID]; done {
		return temporal.NewApplicationError(fmt.Sprintf("step %q has already been decided", req.StepID), ErrTypeNotAwaitingThat)
	}
	if req.Actor.ID == "" || req.Actor.Role != step.Role {
		return temporal.NewApplicationError(fmt.Sprintf("step %q is decided by the %s", req.StepID, step.Role), ErrTypeNotAllowed)
	}
	if _, ok := step.Outcomes[req.Outcome]; !ok {
		outcomes := make([]string, 0, len(step.Outcomes))
		for o := range step.Outcomes {
			outcomes = append(outcomes, o)
		}
		slices.Sort(outcomes)
		return temporal.NewApplicationError(fmt.Sprintf("outcome must be one of %s", strings.Join(outcomes, ", ")), ErrTypeInvalidMessage)
	}
	return nil
}

func (j *journey) validateCancel(req CancelRequest) error {
	if j.state.Status != StatusActive || j.cancelRequested != nil {
		return temporal.NewApplicationError("the journey has already ended or is being cancelled", ErrTypeJourneyNotActive)
	}
	switch {
	case req.Actor.Role == "coordinator":
	case req.Actor.Role == "patient" && req.Actor.ID == j.state.PatientID:
	default:
		return temporal.NewApplicationError("only the patient or a coordinator may cancel a journey", ErrTypeNotAllowed)
	}
	return nil
}
