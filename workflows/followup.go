package workflows

import (
	"fmt"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/pathways"
)

// The follow_up step waits out the follow-up interval, finds the doctor's
// first free slot from then on, and re-enters booking by starting the next
// episode of the same pathway (a child journey that outlives this one) at
// the pathway's booking step with that slot. The next episode runs the
// ordinary book, pay, decide, remind and consult steps with fresh state and
// its own history, so a patient followed for years never grows one
// history without bound, and each follow-up is a journey of its own in the
// API and the Temporal UI.
//
// The interval is, in order: the doctor's follow_up_days from the consult;
// else with.interval (a cited duration parameter) times
// with.risk_factors[risk.level] (cited number parameters; 1 when the level
// has no factor or there is no risk assessment). The time limit is how
// long after the due date a free slot is looked for before on_timeout
// applies.

// FollowUpInfo is the follow_up step's state.
type FollowUpInfo struct {
	Step          string    `json:"step"`
	Basis         string    `json:"basis"` // pathway or doctor
	BaseInterval  string    `json:"base_interval"`
	RiskLevel     string    `json:"risk_level,omitempty"`
	RiskFactor    float64   `json:"risk_factor"`
	Interval      string    `json:"interval"`
	DueAt         time.Time `json:"due_at"`
	Status        string    `json:"status"` // waiting, booked, no_slot, next_episode_exists
	SlotID        string    `json:"slot_id,omitempty"`
	NextJourneyID string    `json:"next_journey_id,omitempty"`
}

// runFollowUp waits for the due date and starts the next episode.
func (j *journey) runFollowUp(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	fu, interval, err := j.followUpInterval(step)
	if err != nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s: %v", step.ID, err), ErrTypeInvalidInput, err)
	}
	rebook, _ := step.With["rebook"].(string)
	if rebook == "" {
		rebook = "book"
	}
	if s, ok := j.plan.Steps[rebook]; !ok || s.Type != "book" {
		return stepResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("step %s: with.rebook %q is not a book step of the pathway", step.ID, rebook), ErrTypeInvalidInput, nil)
	}
	if j.state.Appointment == nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(errNoBooking.Error(), ErrTypeInvalidInput, nil)
	}
	fu.DueAt, fu.Status = workflow.Now(ctx).Add(interval), "waiting"
	j.state.FollowUp = &fu
	j.addWaiting(ctx, step.ID, "follow-up date", interval)
	err = workflow.Sleep(ctx, interval)
	j.removeWaiting(step.ID)
	if err != nil {
		return stepResult{result: resultCancelled}, err
	}
	slot, err := j.findFollowUpSlot(ctx, step, fu.DueAt)
	if err != nil {
		return stepResult{}, err
	}
	if slot == "" {
		j.state.FollowUp.Status = "no_slot"
		return j.applyTimeout(ctx, step, "a free slot for the follow-up", step.OnTimeout, func() bool { return false })
	}
	return j.startNextEpisode(ctx, rebook, slot)
}

// followUpInterval works out the interval as the package comment says.
func (j *journey) followUpInterval(step pathways.PlanStep) (FollowUpInfo, time.Duration, error) {
	fu := FollowUpInfo{Step: step.ID, RiskFactor: 1}
	if j.followUpDays > 0 {
		base := time.Duration(j.followUpDays) * 24 * time.Hour
		fu.Basis, fu.BaseInterval, fu.Interval = "doctor", strconv.Itoa(j.followUpDays)+"d", strconv.Itoa(j.followUpDays)+"d"
		return fu, base, nil
	}
	raw, _ := step.With["interval"].(string)
	base, err := pathways.ParseDuration(raw)
	if err != nil || base <= 0 {
		return fu, 0, fmt.Errorf("with.interval must be a duration parameter, got %q", raw)
	}
	fu.Basis, fu.BaseInterval = "pathway", raw
	if j.state.Risk != nil {
		fu.RiskLevel = j.state.Risk.Level
		factors, _ := step.With["risk_factors"].(map[string]any)
		if f, ok := number(factors[fu.RiskLevel]); ok {
			if f <= 0 || f > 4 {
				return fu, 0, fmt.Errorf("with.risk_factors.%s must be above 0 and at most 4", fu.RiskLevel)
			}
			fu.RiskFactor = f
		}
	}
	interval := time.Duration(float64(base) * fu.RiskFactor).Round(time.Second)
	fu.Interval = formatDays(interval)
	return fu, interval, nil
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// findFollowUpSlot is the appointment doctor's first free slot from the due
// date to the end of the step's time limit, or "" when there is none.
func (j *journey) findFollowUpSlot(ctx workflow.Context, step pathways.PlanStep, due time.Time) (string, error) {
	var found contract.FindSlotResult
	err := workflow.ExecuteActivity(dbOptions(ctx), contract.FindFreeSlot, contract.FindSlotInput{
		PractitionerID: j.state.Appointment.PractitionerID, From: due, Until: due.Add(step.TimeLimit),
	}).Get(ctx, &found)
	if err != nil || !found.Found {
		return "", err
	}
	return found.Slot.ID, nil
}

// startNextEpisode starts episode n+1 at the booking step with the slot and
// leaves it running when this journey ends. If that episode exists already
// (started by hand, say), the follow-up is that episode.
func (j *journey) startNextEpisode(ctx workflow.Context, rebook, slotID string) (stepResult, error) {
	next := JourneyInput{PatientID: j.state.PatientID, PathwayID: j.state.PathwayID, Episode: j.state.Episode + 1,
		Plan: j.plan, SlotID: slotID, StartAt: rebook, FollowUpOf: j.state.JourneyID}
	id, err := j.nextEpisodeID(ctx, next)
	if err != nil {
		return stepResult{}, err
	}
	childCtx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			PatientIDKey.ValueSet(next.PatientID), PathwayIDKey.ValueSet(next.PathwayID),
			PathwayVersionKey.ValueSet(strconv.Itoa(next.Plan.Version)), JourneyStageKey.ValueSet(stageEnrolling),
		),
	})
	err = workflow.ExecuteChildWorkflow(childCtx, JourneyWorkflowName, next).GetChildWorkflowExecution().Get(ctx, nil)
	j.state.FollowUp.NextJourneyID, j.state.UpdatedAt = id, workflow.Now(ctx)
	switch {
	case temporal.IsWorkflowExecutionAlreadyStartedError(err):
		j.state.FollowUp.Status = "next_episode_exists"
		j.logger.Info("Follow-up episode already exists", "Next", id)
		return stepResult{result: "next_episode_exists"}, nil
	case err != nil:
		return stepResult{}, fmt.Errorf("start follow-up episode %s: %w", id, err)
	}
	j.state.FollowUp.Status, j.state.FollowUp.SlotID = "booked", slotID
	j.logger.Info("Follow-up episode started", "Next", id)
	return stepResult{result: "next_episode_started"}, nil
}

// nextEpisodeID is the workflow ID of the follow-up episode. Journeys that
// reached this step before IDs were opaque give it the legacy ID, which
// names the pathway, so that their histories replay. Since then the ID is
// an opaque one that journey_ref records for the episode (an activity, as
// drawing a random ID is not deterministic): an episode started already,
// by hand say, keeps its ID, and starting it again is refused as before.
func (j *journey) nextEpisodeID(ctx workflow.Context, next JourneyInput) (string, error) {
	if workflow.GetVersion(ctx, "opaque-journey-id", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return LegacyJourneyWorkflowID(next.PatientID, next.PathwayID, next.Episode), nil
	}
	var ref contract.ReserveJourneyResult
	err := workflow.ExecuteActivity(dbOptions(ctx), contract.ReserveJourney, contract.ReserveJourneyInput{
		PatientID: next.PatientID, PathwayID: next.PathwayID, Episode: next.Episode,
	}).Get(ctx, &ref)
	if err != nil {
		return "", fmt.Errorf("reserve the follow-up episode's ID: %w", err)
	}
	return ref.WorkflowID, nil
}
