package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/pathways"
)

// runWait waits out the step's time limit.
func (j *journey) runWait(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	return j.await(ctx, step, "time", step.TimeLimit, step.OnTimeout, func() bool { return false })
}

// runDecide waits for the decide update from the step's role.
func (j *journey) runDecide(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	j.pending[step.ID] = step
	defer delete(j.pending, step.ID)
	decided := func() bool { _, ok := j.state.Decisions[step.ID]; return ok }
	res, err := j.await(ctx, step, step.Role, step.TimeLimit, step.OnTimeout, decided)
	if err != nil || !decided() {
		return res, err
	}
	d := j.state.Decisions[step.ID]
	j.vars.Decision = d.Outcome
	if step.With["subject"] == "appointment" {
		if err := j.decidedOnAppointment(ctx, step, d); err != nil {
			return stepResult{result: d.Outcome}, err
		}
	}
	res.outcome, res.result = d.Outcome, d.Outcome
	return res, nil
}

// runParallel runs each track side by side and continues when all have
// reached their end. If one track fails, the others are cancelled.
func (j *journey) runParallel(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	tracksCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(step.Tracks))
	wg := workflow.NewWaitGroup(ctx)
	for i, track := range step.Tracks {
		wg.Add(1)
		workflow.Go(tracksCtx, func(gctx workflow.Context) {
			defer wg.Done()
			if err := j.runSteps(gctx, track.Start, track.Name); err != nil {
				errs[i] = fmt.Errorf("track %s: %w", track.Name, err)
				cancel()
			}
		})
	}
	wg.Wait(ctx)
	j.state.Tracks = nil
	for _, err := range errs {
		if err != nil && !temporal.IsCanceledError(err) {
			return stepResult{result: "failed"}, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return stepResult{result: resultCancelled}, err
		}
	}
	return stepResult{result: resultDone}, nil
}

// runNotify sends the patient the step's message template.
func (j *journey) runNotify(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	template, _ := step.With["template"].(string)
	if template == "" {
		return stepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %q needs with.template", step.ID), ErrTypeInvalidInput, nil)
	}
	at := workflow.Now(ctx)
	if j.state.Appointment != nil {
		at = j.state.Appointment.Start
	}
	return stepResult{result: resultDone}, j.sendSMS(ctx, step.ID, contract.SMSKindNotification, template, at, func() bool { return false })
}
