package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/pathways"
)

// The adhere step starts one Adherence child workflow per medication
// request of the journey's signed prescription. One per request, not one
// per prescription: each request has its own frequency, duration, quantity
// and refills, so its own schedule, supply and refill count; a patient who
// stops one medicine is escalated for that one; and each child's state
// stays small when it continues as new.
//
// The children are abandoned when the journey closes (ParentClosePolicy
// ABANDON): a course outlasts the step's time limit (the pathway moves on
// to follow-up while reminders go on), and ending or cancelling a journey
// must not silently stop a patient's medication reminders. The step waits
// for every course to end within its time limit; on_timeout then applies
// as for any step, and the courses carry on.

// AdherenceInfo is the adhere step's state, shown in the journey.
type AdherenceInfo struct {
	PrescriptionID string   `json:"prescription_id"`
	Workflows      []string `json:"workflows"`        // adherence workflow IDs, one per medication request
	Unscheduled    []int    `json:"unscheduled"`      // positions with no fixed schedule (as needed, weekly)
	Alerts         []string `json:"alerts"`           // adherence workflows that have alerted the care team
	Ended          int      `json:"ended"`            // courses that have ended
	AlreadyRunning []string `json:"already_running"`  // courses an earlier visit of the step started
	Failed         []string `json:"failed,omitempty"` // courses that failed
}

// QueryAdherenceStep answers the adhere step's AdherenceInfo.
const QueryAdherenceStep = "adherence_step"

// runAdhere starts the courses and waits for them within the step's limit.
func (j *journey) runAdhere(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	settings, err := adherenceSettings(step)
	if err != nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s: %v", step.ID, err), ErrTypeInvalidInput, err)
	}
	var plan contract.AdherencePlanResult
	err = workflow.ExecuteActivity(dbOptions(ctx), contract.AdherencePlan, contract.AdherencePlanInput{
		JourneyID: j.state.JourneyID, PatientID: j.state.PatientID,
	}).Get(ctx, &plan)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeNoSignedPrescription {
		return stepResult{result: "no_prescription"}, j.setAttention(ctx, true, fmt.Sprintf("step %s: there is no signed prescription to follow", step.ID))
	}
	if err != nil {
		return stepResult{}, err
	}
	info := &AdherenceInfo{PrescriptionID: plan.PrescriptionID, Workflows: []string{}, Unscheduled: []int{}, Alerts: []string{}, AlreadyRunning: []string{}}
	if err := workflow.SetQueryHandler(ctx, QueryAdherenceStep, func() (AdherenceInfo, error) { return *info, nil }); err != nil {
		return stepResult{}, fmt.Errorf("register %s query: %w", QueryAdherenceStep, err)
	}
	j.followAdherenceAlerts(ctx, info)
	running := 0
	for _, item := range plan.Items {
		started, err := j.startAdherence(ctx, plan, item, settings, info)
		if err != nil {
			return stepResult{}, err
		}
		if started {
			running++
		}
	}
	if running == 0 {
		return stepResult{result: resultDone}, nil
	}
	return j.await(ctx, step, "adherence", step.TimeLimit, step.OnTimeout, func() bool { return info.Ended >= running })
}

// startAdherence starts one child and counts its end in info. It reports
// false when the request has no schedule or its course was already started.
func (j *journey) startAdherence(ctx workflow.Context, plan contract.AdherencePlanResult, item contract.AdherenceItem,
	settings AdherenceSettings, info *AdherenceInfo) (bool, error) {
	if _, err := DosesPerDay(item.Frequency); err != nil {
		info.Unscheduled = append(info.Unscheduled, item.Position)
		j.logger.Warn("Medication request has no fixed schedule; no reminders", "Position", item.Position)
		return false, nil
	}
	id := AdherenceWorkflowID(j.state.PatientID, plan.PrescriptionID, item.Position)
	child := workflow.ExecuteChildWorkflow(abandonedChild(ctx, id, j.state.PatientID), AdherenceWorkflowName, AdherenceInput{
		JourneyID: j.state.JourneyID, PatientID: j.state.PatientID, PrescriptionID: plan.PrescriptionID, Position: item.Position,
		Frequency: item.Frequency, DurationDays: item.DurationDays, Quantity: item.Quantity, Refills: item.Refills,
		TimeZone: plan.TimeZone, Settings: settings,
	})
	// Wait for the start: a child the journey has not seen start would not
	// outlive it.
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			info.AlreadyRunning = append(info.AlreadyRunning, id)
			return false, nil
		}
		return false, fmt.Errorf("start %s: %w", id, err)
	}
	info.Workflows = append(info.Workflows, id)
	workflow.Go(ctx, func(gctx workflow.Context) {
		if err := child.Get(gctx, nil); err != nil && !temporal.IsCanceledError(err) {
			info.Failed = append(info.Failed, id)
			j.logger.Error("Adherence course failed", "AdherenceID", id, "Error", err)
		}
		info.Ended++
	})
	return true, nil
}

// followAdherenceAlerts raises the journey's NeedsAttention when a course
// alerts the care team, and clears it when the patient is back on track
// (unless another course is still alerting). One listener serves the whole
// journey, however often an adhere step runs, and it keeps listening after
// the step: the courses go on.
func (j *journey) followAdherenceAlerts(ctx workflow.Context, info *AdherenceInfo) {
	j.adherenceStep = info
	if j.adherenceAlerts != nil {
		return
	}
	j.adherenceAlerts = []string{}
	ch := workflow.GetSignalChannel(ctx, SignalAdherenceAlert)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var al AdherenceAlert
			if more := ch.Receive(gctx, &al); !more || gctx.Err() != nil {
				return
			}
			if al.Reason != "" {
				// A refill's alert: one-off, for the care team to settle;
				// a course back on track does not clear it.
				if err := j.setAttention(gctx, true, fmt.Sprintf("refill: %s (%s); care team alerted", al.Reason, al.AdherenceID)); err != nil {
					j.logger.Error("Refill alert not shown", "Error", err)
				}
				continue
			}
			j.adherenceAlerts = removeString(j.adherenceAlerts, al.AdherenceID)
			if al.Raised {
				j.adherenceAlerts = append(j.adherenceAlerts, al.AdherenceID)
			}
			j.adherenceStep.Alerts = append([]string{}, j.adherenceAlerts...)
			var err error
			switch {
			case al.Raised:
				err = j.setAttention(gctx, true, fmt.Sprintf("adherence: %d doses in a row not taken (%s); care team alerted", al.NotTakenInARow, al.AdherenceID))
			case len(j.adherenceAlerts) == 0 && strings.HasPrefix(j.state.AttentionReason, "adherence:"):
				err = j.setAttention(gctx, false, "")
			}
			if err != nil {
				j.logger.Error("Adherence alert not shown", "Error", err)
			}
		}
	})
}

// abandonedChild is the context for starting a child that outlives its
// parent (an adherence course, a refill order): parent-close policy
// ABANDON, a second start of the same ID refused, and the patient and
// NeedsAttention search attributes for the coordinators' views.
func abandonedChild(ctx workflow.Context, id, patientID string) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(PatientIDKey.ValueSet(patientID), NeedsAttentionKey.ValueSet(false)),
	})
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

// adherenceSettings reads the step's with: missed_in_a_row (a number),
// refill_lead_days (a number), dose_interval (a duration, for demos),
// refill_time_limit (a duration).
func adherenceSettings(step pathways.PlanStep) (AdherenceSettings, error) {
	var s AdherenceSettings
	num := func(key string) (int, error) {
		switch v := step.With[key].(type) {
		case nil:
			return 0, nil
		case int:
			return v, nil
		case float64:
			if v != float64(int(v)) || v < 1 {
				return 0, fmt.Errorf("%s must be a whole number of 1 or more", key)
			}
			return int(v), nil
		default:
			return 0, fmt.Errorf("%s must be a number", key)
		}
	}
	var err error
	if s.MissedInARow, err = num("missed_in_a_row"); err != nil {
		return s, err
	}
	if s.RefillLeadDays, err = num("refill_lead_days"); err != nil {
		return s, err
	}
	if v, ok := step.With["dose_interval"].(string); ok {
		d, err := pathways.ParseDuration(v)
		if err != nil || d < time.Second {
			return s, fmt.Errorf("dose_interval %q must be a duration of a second or more", v)
		}
		s.Interval = d
	}
	if v, ok := step.With["refill_time_limit"].(string); ok {
		d, err := pathways.ParseDuration(v)
		if err != nil || d < time.Second {
			return s, fmt.Errorf("refill_time_limit %q must be a duration of a second or more", v)
		}
		s.RefillTimeLimit = d
	}
	return s, nil
}
