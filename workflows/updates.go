package workflows

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
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
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateStartConsult,
		func(ctx workflow.Context, req StartConsultRequest) (JourneyState, error) {
			j.state.Consult.Started = true
			j.state.UpdatedAt = workflow.Now(ctx)
			return j.state, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(req StartConsultRequest) error {
			if err := j.consultActor(req.Actor); err != nil {
				return err
			}
			if j.state.Consult.Started {
				return temporal.NewApplicationError("the consult has already started", ErrTypeNotAwaitingThat)
			}
			return nil
		}},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateStartConsult, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCloseConsult, j.closeConsult,
		workflow.UpdateHandlerOptions{Validator: j.validateCloseConsult},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateCloseConsult, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReschedule, j.reschedule,
		workflow.UpdateHandlerOptions{Validator: j.validateReschedule},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateReschedule, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRecordLabResult, j.recordLabResult,
		workflow.UpdateHandlerOptions{Validator: j.validateLabResult},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateRecordLabResult, err)
	}
	return j.registerBookingStatus(ctx)
}

// consultActor checks that the consult is open and actor is its doctor.
func (j *journey) consultActor(actor Actor) error {
	if !j.consultOpen || j.state.Appointment == nil {
		return temporal.NewApplicationError("the journey is not at its consult", ErrTypeNotAwaitingThat)
	}
	if actor.Role != "doctor" || actor.ID != j.state.Appointment.PractitionerID {
		return temporal.NewApplicationError("only the appointment's doctor runs the consult", ErrTypeNotAllowed)
	}
	return nil
}

var icd10Code = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`)

func (j *journey) validateCloseConsult(req CloseConsultRequest) error {
	if err := j.consultActor(req.Actor); err != nil {
		return err
	}
	if !j.state.Consult.Started || j.state.Consult.Closed {
		return temporal.NewApplicationError("the consult is not in progress", ErrTypeNotAwaitingThat)
	}
	var problems []string
	for _, code := range req.Diagnoses {
		if !icd10Code.MatchString(code) {
			problems = append(problems, fmt.Sprintf("diagnosis %q is not an ICD-10 code", code))
		}
	}
	for _, order := range req.Orders {
		if !slices.Contains(ConsultOrders, order) {
			problems = append(problems, fmt.Sprintf("order %q is not one of %s", order, strings.Join(ConsultOrders, ", ")))
		}
	}
	problems = append(problems, prescriptionProblems(req)...)
	problems = append(problems, labAndFollowUpProblems(req)...)
	if len(problems) > 0 {
		return temporal.NewApplicationError(strings.Join(problems, "; "), ErrTypeInvalidMessage)
	}
	return nil
}

// closeConsult stores the encounter (the notes go to PostgreSQL only) and
// lets the consult step move on with the orders.
func (j *journey) closeConsult(ctx workflow.Context, req CloseConsultRequest) (JourneyState, error) {
	orders := consultOrders(req)
	var enc care.Encounter
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.CloseEncounter, contract.CloseEncounterInput{
		JourneyID: j.state.JourneyID, Step: "consult", AppointmentID: j.state.Appointment.ID,
		PractitionerID: req.Actor.ID, Diagnoses: req.Diagnoses, Notes: req.Notes, Orders: orders,
	}).Get(ctx, &enc); err != nil {
		return j.state, err
	}
	outcome := req.Outcome
	if outcome == "" {
		outcome = "completed"
	}
	j.state.Consult.Closed, j.state.Consult.Outcome = true, outcome
	j.state.Consult.Diagnoses, j.state.Consult.Orders = enc.Diagnoses, req.Orders
	j.measurements = req.Measurements
	j.consultLabTests, j.followUpDays = req.LabTests, req.FollowUpDays
	j.state.Appointment.Status = care.AppointmentFulfilled
	j.state.UpdatedAt = workflow.Now(ctx)
	return j.state, nil
}

func (j *journey) validateReschedule(req RescheduleRequest) error {
	if j.state.Status != StatusActive || j.cancelRequested != nil {
		return temporal.NewApplicationError("the journey has ended", ErrTypeJourneyNotActive)
	}
	if j.state.Appointment == nil || (j.state.Appointment.Status != care.AppointmentPending && j.state.Appointment.Status != care.AppointmentBooked) || j.consultOpen {
		return temporal.NewApplicationError("there is no upcoming appointment to move", ErrTypeNotAwaitingThat)
	}
	if !(req.Actor.Role == "coordinator" || (req.Actor.Role == "patient" && req.Actor.ID == j.state.PatientID)) {
		return temporal.NewApplicationError("only the patient or a coordinator may reschedule", ErrTypeNotAllowed)
	}
	if !ValidPatientID(req.NewSlotID) || req.NewSlotID == j.state.Appointment.SlotID {
		return temporal.NewApplicationError("new_slot_id must name another slot", ErrTypeInvalidMessage)
	}
	return nil
}

// reschedule moves the appointment; the store refuses a taken slot or one
// outside the policy, and the update fails with that reason.
func (j *journey) reschedule(ctx workflow.Context, req RescheduleRequest) (JourneyState, error) {
	j.reschedules++
	var appt care.Appointment
	err := workflow.ExecuteActivity(dbOptions(ctx), contract.Reschedule, contract.RescheduleInput{
		JourneyID: j.state.JourneyID, Step: fmt.Sprintf("reschedule-%d", j.reschedules), AppointmentID: j.state.Appointment.ID,
		NewSlotID: req.NewSlotID, Policy: j.reschedulePolicy(),
	}).Get(ctx, &appt)
	if err != nil {
		return j.state, err
	}
	if err := j.setAppointment(ctx, appt); err != nil {
		return j.state, err
	}
	if err := j.sendSMS(ctx, fmt.Sprintf("reschedule-%d-notice", j.reschedules), contract.SMSKindNotification, "appointment_rescheduled", appt.Start, func() bool { return false }); err != nil {
		return j.state, err
	}
	return j.state, nil
}

// reschedulePolicy reads the pathway's reschedule parameters, with the
// operating defaults where a pathway sets none.
func (j *journey) reschedulePolicy() care.ReschedulePolicy {
	p := care.ReschedulePolicy{MinLeadTime: 2 * time.Hour, MaxHorizon: 60 * 24 * time.Hour, Cutoff: 2 * time.Hour}
	for _, param := range []struct {
		name string
		dst  *time.Duration
	}{{"reschedule_min_lead", &p.MinLeadTime}, {"reschedule_horizon", &p.MaxHorizon}, {"reschedule_cutoff", &p.Cutoff}} {
		if v, ok := j.plan.Params[param.name].(string); ok {
			if d, err := pathways.ParseDuration(v); err == nil {
				*param.dst = d
			}
		}
	}
	return p
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
	if step.With["subject"] == "appointment" && (j.state.Appointment == nil || req.Actor.ID != j.state.Appointment.PractitionerID) {
		return temporal.NewApplicationError("only the appointment's doctor may answer for it", ErrTypeNotAllowed)
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
