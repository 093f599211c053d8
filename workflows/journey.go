package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
)

// JourneyInput starts a journey. The compiled pathway plan travels in the
// input, so the journey runs the version it started with to the end.
type JourneyInput struct {
	PatientID string        `json:"patient_id"`
	PathwayID string        `json:"pathway_id"`
	Episode   int           `json:"episode"`
	Plan      pathways.Plan `json:"plan"`
	// SlotID is the slot the patient chose, for a pathway that books.
	SlotID string `json:"slot_id,omitempty"`
	// StartAt is the step to start at instead of the plan's start: a
	// follow-up starts the next episode at the pathway's booking step.
	StartAt string `json:"start_at,omitempty"`
	// FollowUpOf is the journey whose follow_up step started this one.
	FollowUpOf string `json:"follow_up_of,omitempty"`
}

// JourneyState is what the state query and every update answer.
type JourneyState struct {
	JourneyID       string                    `json:"id"`
	PatientID       string                    `json:"patient_id"`
	PathwayID       string                    `json:"pathway_id"`
	PathwayVersion  int                       `json:"pathway_version"`
	Episode         int                       `json:"episode"`
	Status          string                    `json:"status"`
	Stage           string                    `json:"stage"`
	Tracks          map[string]string         `json:"tracks,omitempty"` // track -> current step, inside a parallel step
	NeedsAttention  bool                      `json:"needs_attention"`
	AttentionReason string                    `json:"attention_reason,omitempty"`
	Waiting         []Waiting                 `json:"waiting,omitempty"`
	Steps           []StepRecord              `json:"steps"`
	Decisions       map[string]DecisionRecord `json:"decisions,omitempty"`
	Appointment     *AppointmentInfo          `json:"appointment,omitempty"`
	Payment         *PaymentInfo              `json:"payment,omitempty"`
	Consult         *ConsultInfo              `json:"consult,omitempty"`
	Risk            *RiskInfo                 `json:"risk,omitempty"`
	Labs            []LabOrderInfo            `json:"labs,omitempty"`
	FollowUp        *FollowUpInfo             `json:"follow_up,omitempty"`
	Outcome         string                    `json:"outcome,omitempty"` // why the journey ended
	Recorded        bool                      `json:"recorded"`
	StartedAt       time.Time                 `json:"started_at"`
	UpdatedAt       time.Time                 `json:"updated_at"`
}

// StepRecord is one step the journey has taken.
type StepRecord struct {
	StepID    string     `json:"step_id"`
	Type      string     `json:"type"`
	Track     string     `json:"track,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Result    string     `json:"result,omitempty"` // done, timed_out, escalated, cancelled, an outcome
}

// DecisionRecord is a decision taken at a decide step.
type DecisionRecord struct {
	Outcome string    `json:"outcome"`
	ActorID string    `json:"actor_id"`
	Role    string    `json:"role"`
	At      time.Time `json:"at"`
}

// Stable application error types; the API maps them to HTTP statuses.
const (
	ErrTypeInvalidInput          = "InvalidJourneyInput"
	ErrTypeStepNotImplemented    = "StepTypeNotImplemented"
	ErrTypeExpressionFailed      = "ExpressionFailed"
	ErrTypeNotAwaitingThat       = "NotAwaitingThat"  // the journey is not at a step that takes this message
	ErrTypeNotAllowed            = "NotAllowed"       // the actor may not send this message
	ErrTypeInvalidMessage        = "InvalidMessage"   // the message's fields are wrong
	ErrTypeJourneyNotActive      = "JourneyNotActive" // the journey has ended
	stageEnrolling               = "enrolling"
	resultDone, resultTimedOut   = "done", "timed_out"
	resultCancelled, resultEnded = "cancelled", "ended"
)

// Journey runs one patient's journey on a pathway, step by step, as the
// plan in its input says.
func Journey(ctx workflow.Context, in JourneyInput) (JourneyState, error) {
	j, err := newJourney(ctx, in)
	if err != nil {
		return JourneyState{}, err
	}
	return j.run(ctx)
}

type journey struct {
	in     JourneyInput
	plan   pathways.Plan
	state  JourneyState
	logger log.Logger

	// pending decide steps, by step ID: the role that must answer.
	pending map[string]pathways.PlanStep
	// cancelSteps stops the running steps when the journey is cancelled.
	cancelSteps     workflow.CancelFunc
	cancelRequested *CancelRequest
	vars            pathways.Vars

	// Stage state that is not shown to callers.
	appointmentVersion int    // bumped on every appointment change; reminders restart on it
	paid               bool   // a payment_confirmed signal matched the PaymentIntent
	payStep            string // the step that took the payment, for refunds
	consultOpen        bool   // the consult step is running: it may be started and closed
	reschedules        int    // counts reschedules, for their idempotency keys
	refundShare        int    // percent of the payment to refund if the journey is cancelled
	refundReason       string
	measurements       map[string]care.Quantity // from the consult, until the risk model has them
	consultLabTests    []string                 // LOINC codes the consult ordered
	followUpDays       int                      // the consult's follow-up interval, if the doctor gave one
	labAlert           string                   // why a critical lab result raised NeedsAttention
	adherenceAlerts    []string                 // courses alerting now; nil until an adhere step listens
	adherenceStep      *AdherenceInfo           // the latest adhere step's state
}

func newJourney(ctx workflow.Context, in JourneyInput) (*journey, error) {
	info := workflow.GetInfo(ctx)
	if err := in.validate(info.WorkflowExecution.ID); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, err)
	}
	now := workflow.Now(ctx)
	j := &journey{
		in:   in,
		plan: in.Plan,
		state: JourneyState{
			JourneyID: info.WorkflowExecution.ID, PatientID: in.PatientID, PathwayID: in.PathwayID,
			PathwayVersion: in.Plan.Version, Episode: in.Episode, Status: StatusActive, Stage: stageEnrolling,
			Steps: []StepRecord{}, Decisions: map[string]DecisionRecord{}, StartedAt: now, UpdatedAt: now,
		},
		// The journey ID only: the pathway names a condition, and logs
		// leave the clinical systems.
		logger:  log.With(workflow.GetLogger(ctx), "JourneyID", info.WorkflowExecution.ID),
		pending: map[string]pathways.PlanStep{},
		vars:    pathways.Vars{Params: in.Plan.Params},
	}
	if err := workflow.SetQueryHandler(ctx, QueryJourneyState, func() (JourneyState, error) { return j.state, nil }); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryJourneyState, err)
	}
	if err := j.registerUpdates(ctx); err != nil {
		return nil, err
	}
	j.handlePaymentSignals(ctx)
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
	if in.Plan.PathwayID != in.PathwayID || in.Plan.Version < 1 {
		errs = append(errs, fmt.Errorf("the plan is for %q, not %q", in.Plan.Key(), in.PathwayID))
	} else if _, ok := in.Plan.Steps[in.Plan.Start]; !ok {
		errs = append(errs, fmt.Errorf("the plan's start step %q does not exist", in.Plan.Start))
	} else if _, ok := in.Plan.Steps[in.StartAt]; in.StartAt != "" && !ok {
		errs = append(errs, fmt.Errorf("start_at names no step of the plan: %q", in.StartAt))
	}
	if len(errs) == 0 && !journeyIDMatches(workflowID, in) {
		errs = append(errs, fmt.Errorf("workflow ID %q does not match the input", workflowID))
	}
	return errors.Join(errs...)
}

// journeyIDMatches reports whether workflowID is a journey ID of the input's
// patient. An opaque ID says nothing more (journey_ref, written by whoever
// starts the journey, ties it to the pathway and episode); a legacy ID must
// also name the input's pathway and episode.
func journeyIDMatches(workflowID string, in JourneyInput) bool {
	patientID, pathwayID, episode, err := ParseJourneyWorkflowID(workflowID)
	if err != nil || patientID != in.PatientID {
		return false
	}
	return pathwayID == "" || (pathwayID == in.PathwayID && episode == in.Episode)
}

func (j *journey) run(ctx workflow.Context) (JourneyState, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		PathwayVersionKey.ValueSet(strconv.Itoa(j.plan.Version)), NeedsAttentionKey.ValueSet(false)); err != nil {
		return j.state, fmt.Errorf("upsert search attributes: %w", err)
	}
	if err := j.record(ctx); err != nil {
		return j.state, err
	}
	j.state.Recorded = true
	j.metrics(ctx).Counter(MetricJourneysStarted).Inc(1)

	stepsCtx, cancel := workflow.WithCancel(ctx)
	j.cancelSteps = cancel
	start := j.plan.Start
	if j.in.StartAt != "" {
		start = j.in.StartAt
	}
	err := j.runSteps(stepsCtx, start, "")

	// Compensation and the final record must run even when the steps were
	// cancelled, so they use a context the cancellation does not reach.
	finalCtx, _ := workflow.NewDisconnectedContext(ctx)
	var cancelled *journeyCancelled
	switch {
	case err == nil:
		j.state.Status, j.state.Outcome = StatusCompleted, "completed"
	case errors.As(err, &cancelled), temporal.IsCanceledError(err) && j.cancelRequested != nil:
		reason := "cancelled on request"
		if cancelled != nil {
			reason = cancelled.reason
			if j.refundShare == 0 {
				j.refundForCancellation(ctx, false)
			}
		} else {
			j.refundForCancellation(ctx, j.cancelRequested.Actor.Role == "patient")
		}
		j.state.Status, j.state.Outcome = StatusCancelled, reason
		if compErr := j.compensate(finalCtx); compErr != nil {
			// Compensation must not be lost: fail loudly so an operator sees it.
			j.state.Status, j.state.Outcome = StatusFailed, "cancellation could not be completed: "+compErr.Error()
			err = compErr
		}
	default:
		j.state.Status, j.state.Outcome = StatusFailed, "failed: "+err.Error()
	}
	j.state.Waiting = nil
	if err := j.setStage(finalCtx, j.state.Status); err != nil {
		return j.state, err
	}
	if recErr := j.record(finalCtx); recErr != nil {
		return j.state, recErr
	}
	// Let in-flight update handlers finish before the workflow completes.
	if waitErr := workflow.Await(finalCtx, func() bool { return workflow.AllHandlersFinished(finalCtx) }); waitErr != nil {
		return j.state, waitErr
	}
	if j.state.Status == StatusFailed {
		return j.state, err
	}
	j.logger.Info("Journey ended", "Status", j.state.Status)
	return j.state, nil
}

// journeyCancelled ends the steps because a time limit said cancel.
type journeyCancelled struct{ reason string }

func (e *journeyCancelled) Error() string { return e.reason }

// runSteps walks the plan from start until a step leads to End. Inside a
// track, track names the track.
func (j *journey) runSteps(ctx workflow.Context, start, track string) error {
	id := start
	for id != pathways.End {
		step, ok := j.plan.Steps[id]
		if !ok {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the plan has no step %q", id), ErrTypeInvalidInput, nil)
		}
		if err := j.enter(ctx, step, track); err != nil {
			return err
		}
		res, err := j.runStep(ctx, step)
		j.leave(ctx, step, track, res.result)
		if err != nil {
			return err
		}
		next, err := j.nextStep(step, res)
		if err != nil {
			return err
		}
		id = next
	}
	return nil
}

// stepResult is how a step ended: its result word, the decision outcome of
// a decide step, and the step to go to when a time limit said continue.
type stepResult struct {
	result  string
	outcome string
	next    string
}

func (j *journey) runStep(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	switch step.Type {
	case "wait":
		return j.runWait(ctx, step)
	case "decide":
		return j.runDecide(ctx, step)
	case "parallel":
		return j.runParallel(ctx, step)
	case "notify":
		return j.runNotify(ctx, step)
	case "book":
		return j.runBook(ctx, step)
	case "pay":
		return j.runPay(ctx, step)
	case "remind":
		return j.runRemind(ctx, step)
	case "consult":
		return j.runConsult(ctx, step)
	case "prescribe":
		return j.runPrescribe(ctx, step)
	case "fulfil":
		return j.runFulfil(ctx, step)
	case "lab_order":
		return j.runLabOrder(ctx, step)
	case "follow_up":
		return j.runFollowUp(ctx, step)
	case "adhere":
		return j.runAdhere(ctx, step)
	case "diet":
		return j.runDiet(ctx, step)
	default:
		return stepResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("step %q has type %q, which this version of the engine cannot run yet; the journey stops here rather than skip it", step.ID, step.Type),
			ErrTypeStepNotImplemented, nil)
	}
}

// nextStep picks where to go after a step: a time limit's continue target,
// a decision's outcome, the first branch that holds, or next.
func (j *journey) nextStep(step pathways.PlanStep, res stepResult) (string, error) {
	if res.next != "" {
		return res.next, nil
	}
	if step.Type == "decide" {
		if next, ok := step.Outcomes[res.outcome]; ok {
			return next, nil
		}
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %q has no outcome %q", step.ID, res.outcome), ErrTypeInvalidInput, nil)
	}
	if len(step.Branches) > 0 {
		for _, b := range step.Branches {
			// CEL results are a pure function of the expression and the
			// values; cel-go iterates maps only while building its type
			// environment, which cannot change a result.
			ok, err := pathways.Eval(b.When, j.vars) //workflowcheck:ignore
			if err != nil {
				// A branch that cannot be decided is a fault to fix, never a silent otherwise.
				return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %q: %v", step.ID, err), ErrTypeExpressionFailed, err)
			}
			if ok {
				return b.Next, nil
			}
		}
		return step.Otherwise, nil
	}
	return step.Next, nil
}

func (j *journey) enter(ctx workflow.Context, step pathways.PlanStep, track string) error {
	j.state.Steps = append(j.state.Steps, StepRecord{StepID: step.ID, Type: step.Type, Track: track, StartedAt: workflow.Now(ctx)})
	if track != "" {
		if j.state.Tracks == nil {
			j.state.Tracks = map[string]string{}
		}
		j.state.Tracks[track] = step.ID
		j.state.UpdatedAt = workflow.Now(ctx)
		return nil
	}
	return j.setStage(ctx, step.ID)
}

func (j *journey) leave(ctx workflow.Context, step pathways.PlanStep, track, result string) {
	for i := len(j.state.Steps) - 1; i >= 0; i-- {
		r := &j.state.Steps[i]
		if r.StepID == step.ID && r.Track == track && r.EndedAt == nil {
			end := workflow.Now(ctx)
			j.state.UpdatedAt = end
			r.EndedAt, r.Result = &end, result
			j.metrics(ctx).WithTags(map[string]string{"step_type": step.Type, "result": result}).Counter(MetricStepsCompleted).Inc(1)
			return
		}
	}
}

// setStage moves the journey to stage and shows it in the Temporal UI.
func (j *journey) setStage(ctx workflow.Context, stage string) error {
	j.state.Stage = stage
	j.state.UpdatedAt = workflow.Now(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx, JourneyStageKey.ValueSet(stage), StageSinceKey.ValueSet(j.state.UpdatedAt)); err != nil {
		return fmt.Errorf("upsert JourneyStage: %w", err)
	}
	return nil
}

// setAttention raises or clears the coordinator's flag.
func (j *journey) setAttention(ctx workflow.Context, on bool, reason string) error {
	if on && !j.state.NeedsAttention {
		j.metrics(ctx).Counter(MetricAttentionRaised).Inc(1)
	}
	j.state.NeedsAttention, j.state.AttentionReason = on, reason
	if err := workflow.UpsertTypedSearchAttributes(ctx, NeedsAttentionKey.ValueSet(on)); err != nil {
		return fmt.Errorf("upsert NeedsAttention: %w", err)
	}
	return nil
}

// Journey metrics, by pathway (Prometheus adds _total): how many journeys
// start, how many steps end (by step type and result), and how often a
// journey raises NeedsAttention for its care team.
const (
	MetricJourneysStarted = "carepath_journeys_started"
	MetricStepsCompleted  = "carepath_journey_steps_completed"
	MetricAttentionRaised = "carepath_journey_attention_raised"
)

// metrics is the workflow's metrics handler tagged with the pathway. It
// records nothing while the workflow replays and adds no command, so
// recorded histories replay unchanged.
func (j *journey) metrics(ctx workflow.Context) client.MetricsHandler {
	return workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"pathway": j.in.PathwayID})
}

// record writes the journey's domain record (status) to PostgreSQL.
func (j *journey) record(ctx workflow.Context) error {
	actCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: []string{contract.ErrTypePatientNotFound},
		},
	})
	err := workflow.ExecuteActivity(actCtx, contract.RecordJourney, contract.RecordJourneyInput{
		JourneyID: j.state.JourneyID, PatientID: j.state.PatientID, PathwayID: j.state.PathwayID, Status: j.state.Status,
	}).Get(ctx, nil)
	if err != nil {
		j.logger.Error("Recording the journey failed", "Error", err)
		// Returned as is, so callers see the activity's error type.
		return err
	}
	return nil
}

// await waits until done() holds, within the step's time limits. When a
// limit runs out, on_timeout decides: continue (maybe elsewhere), cancel the
// journey, or escalate to a role and wait a further limit.
func (j *journey) await(ctx workflow.Context, step pathways.PlanStep, waitingFor string, limit time.Duration, onTimeout *pathways.PlanTimeout, done func() bool) (stepResult, error) {
	j.addWaiting(ctx, step.ID, waitingFor, limit)
	defer j.removeWaiting(step.ID)
	ok, err := workflow.AwaitWithTimeout(ctx, limit, done)
	if err != nil {
		return stepResult{result: resultCancelled}, err
	}
	if ok {
		return stepResult{result: resultDone}, nil
	}
	return j.applyTimeout(ctx, step, waitingFor, onTimeout, done)
}

// applyTimeout carries out a time limit's action: continue, cancel the
// journey, or escalate and wait a further limit (then apply its action).
func (j *journey) applyTimeout(ctx workflow.Context, step pathways.PlanStep, waitingFor string, onTimeout *pathways.PlanTimeout, done func() bool) (stepResult, error) {
	escalated := false
	for t := onTimeout; t != nil; t = t.Then {
		switch t.Action {
		case "continue":
			if escalated {
				if err := j.setAttention(ctx, false, ""); err != nil {
					return stepResult{}, err
				}
			}
			return stepResult{result: resultTimedOut, next: t.Next}, nil
		case "cancel":
			if escalated {
				if err := j.setAttention(ctx, false, ""); err != nil {
					return stepResult{}, err
				}
			}
			return stepResult{result: resultCancelled}, &journeyCancelled{reason: fmt.Sprintf("time limit of step %s ran out", step.ID)}
		case "escalate":
			escalated = true
			j.logger.Warn("Time limit ran out; escalating", "Step", step.ID, "Role", t.Role)
			if err := j.setAttention(ctx, true, fmt.Sprintf("step %s waited too long for %s; %s alerted", step.ID, waitingFor, t.Role)); err != nil {
				return stepResult{}, err
			}
			j.addWaiting(ctx, step.ID, waitingFor, t.Then.TimeLimit)
			ok, err := workflow.AwaitWithTimeout(ctx, t.Then.TimeLimit, done)
			j.removeWaiting(step.ID)
			if err != nil {
				return stepResult{result: resultCancelled}, err
			}
			if ok {
				if err := j.setAttention(ctx, false, ""); err != nil {
					return stepResult{}, err
				}
				return stepResult{result: "escalated"}, nil
			}
		}
	}
	return stepResult{result: resultTimedOut}, nil
}

func (j *journey) addWaiting(ctx workflow.Context, stepID, what string, limit time.Duration) {
	now := workflow.Now(ctx)
	j.state.Waiting = append(j.state.Waiting, Waiting{StepID: stepID, For: what, Since: now, Until: now.Add(limit)})
}

func (j *journey) removeWaiting(stepID string) {
	j.state.Waiting = slices.DeleteFunc(j.state.Waiting, func(w Waiting) bool { return w.StepID == stepID })
}
