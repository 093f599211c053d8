package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
)

// The first stages of care: book, pay, the doctor's answer, reminders, the
// consult. Each writes through idempotent activities keyed by the journey
// and the step, and registers what must be undone if the journey is
// cancelled later (release the slot, refund the payment).

// AppointmentInfo is the journey's view of its appointment.
type AppointmentInfo struct {
	ID             string    `json:"id"`
	PractitionerID string    `json:"practitioner_id"`
	SlotID         string    `json:"slot_id"`
	Start          time.Time `json:"start"`
	Status         string    `json:"status"`
	FeeMinor       int64     `json:"fee_minor"`
	Currency       string    `json:"currency"`
}

// PaymentInfo is the journey's view of its payment.
type PaymentInfo struct {
	PaymentIntentID string `json:"payment_intent_id"`
	Status          string `json:"status"` // awaiting, succeeded
	AmountMinor     int64  `json:"amount_minor"`
	Currency        string `json:"currency"`
	RefundedMinor   int64  `json:"refunded_minor"`
}

// RiskInfo is the latest risk assessment and the model that made it.
type RiskInfo struct {
	Level        string  `json:"level"`
	Probability  float64 `json:"probability"`
	Model        string  `json:"model"`
	ModelVersion string  `json:"model_version"`
}

// ConsultInfo is what the consult decided. The notes stay in PostgreSQL.
type ConsultInfo struct {
	Started   bool     `json:"started"`
	Closed    bool     `json:"closed"`
	Outcome   string   `json:"outcome,omitempty"`
	Diagnoses []string `json:"diagnoses,omitempty"`
	Orders    []string `json:"orders,omitempty"`
}

var (
	errNoBooking = errors.New("this step needs an appointment, but the journey has none yet")
)

func dbOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
}

func (j *journey) setAppointment(ctx workflow.Context, a care.Appointment) error {
	first := j.state.Appointment == nil
	j.state.Appointment = &AppointmentInfo{ID: a.ID, PractitionerID: a.PractitionerID, SlotID: a.SlotID, Start: a.Start,
		Status: a.Status, FeeMinor: a.FeeMinor, Currency: a.Currency}
	j.appointmentVersion++
	if first {
		if err := workflow.UpsertTypedSearchAttributes(ctx, DoctorIDKey.ValueSet(a.PractitionerID)); err != nil {
			return fmt.Errorf("upsert DoctorID: %w", err)
		}
	}
	return nil
}

// runBook holds the chosen slot until the step's time limit.
func (j *journey) runBook(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	if j.in.SlotID == "" {
		return stepResult{}, temporal.NewNonRetryableApplicationError("the journey was started without a slot to book", ErrTypeInvalidInput, nil)
	}
	var appt care.Appointment
	err := workflow.ExecuteActivity(dbOptions(ctx), contract.HoldSlot, contract.HoldSlotInput{
		JourneyID: j.state.JourneyID, Step: step.ID, SlotID: j.in.SlotID, PatientID: j.state.PatientID,
		Until: workflow.Now(ctx).Add(step.TimeLimit),
	}).Get(ctx, &appt)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.Type() == contract.ErrTypeSlotUnavailable || appErr.Type() == contract.ErrTypeSlotNotFound) {
		return stepResult{result: "slot_unavailable"}, &journeyCancelled{reason: "the chosen slot is no longer available"}
	}
	if err != nil {
		return stepResult{}, err
	}
	return stepResult{result: resultDone}, j.setAppointment(ctx, appt)
}

// runPay creates the PaymentIntent for the doctor's fee and waits for the
// payment webhook's signal. At the time limit it asks Stripe once more, in
// case the webhook was lost, before the time limit's action applies.
func (j *journey) runPay(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	if j.state.Appointment == nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(errNoBooking.Error(), ErrTypeInvalidInput, nil)
	}
	payCtx := workflow.WithActivityOptions(ctx, contract.PaymentActivityOptions())
	var intent contract.PaymentResult
	err := workflow.ExecuteActivity(payCtx, contract.CreatePaymentIntent, contract.CreatePaymentIntentInput{
		JourneyID: j.state.JourneyID, Step: step.ID, AppointmentID: j.state.Appointment.ID,
		AmountMinor: j.state.Appointment.FeeMinor, Currency: j.state.Appointment.Currency,
	}).Get(ctx, &intent)
	if err != nil {
		return stepResult{}, err
	}
	j.state.Payment = &PaymentInfo{PaymentIntentID: intent.PaymentIntentID, Status: "awaiting", AmountMinor: intent.AmountMinor, Currency: intent.Currency}
	j.payStep = step.ID
	if intent.Status == "succeeded" {
		j.paid = true
	}
	paid := func() bool { return j.paid }
	lastChance := func() bool {
		var now contract.PaymentResult
		if err := workflow.ExecuteActivity(payCtx, contract.GetPaymentIntentStatus, contract.PaymentStatusInput{
			JourneyID: j.state.JourneyID, Step: step.ID,
		}).Get(ctx, &now); err == nil && now.Status == "succeeded" {
			j.paid = true
		}
		return j.paid
	}
	res, err := j.awaitWithLastChance(ctx, step, "payment", paid, lastChance)
	if err != nil {
		return res, err
	}
	if !j.paid {
		return res, nil
	}
	j.state.Payment.Status = "succeeded"
	var appt care.Appointment
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.ConfirmAppointment, contract.AppointmentInput{
		JourneyID: j.state.JourneyID, Step: step.ID, AppointmentID: j.state.Appointment.ID,
	}).Get(ctx, &appt); err != nil {
		return stepResult{}, err
	}
	return res, j.setAppointment(ctx, appt)
}

// awaitWithLastChance is await, but before a time limit's action applies it
// asks lastChance whether the awaited thing happened after all.
func (j *journey) awaitWithLastChance(ctx workflow.Context, step pathways.PlanStep, what string, done, lastChance func() bool) (stepResult, error) {
	res, err := j.await(ctx, step, what, step.TimeLimit, nil, done)
	if err != nil || res.result == resultDone {
		return res, err
	}
	if lastChance() {
		return stepResult{result: resultDone}, nil
	}
	return j.applyTimeout(ctx, step, what, step.OnTimeout, done)
}

// handlePaymentSignals records payment events, once per event ID, for as
// long as the journey runs.
func (j *journey) handlePaymentSignals(ctx workflow.Context) {
	confirmed := workflow.GetSignalChannel(ctx, SignalPaymentConfirmed)
	failed := workflow.GetSignalChannel(ctx, SignalPaymentFailed)
	seen := map[string]bool{}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(confirmed, func(c workflow.ReceiveChannel, _ bool) {
				var ev PaymentEvent
				c.Receive(ctx, &ev)
				if seen[ev.EventID] || j.state.Payment == nil || ev.PaymentIntentID != j.state.Payment.PaymentIntentID {
					return
				}
				seen[ev.EventID] = true
				j.paid = true
			})
			sel.AddReceive(failed, func(c workflow.ReceiveChannel, _ bool) {
				var ev PaymentEvent
				c.Receive(ctx, &ev)
				if !seen[ev.EventID] {
					seen[ev.EventID] = true
					j.logger.Info("Payment attempt failed; still waiting for payment", "Event", ev.EventID)
				}
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})
}

// decidedOnAppointment records the doctor's answer on the appointment. A
// rejection cancels the journey; the compensation refunds in full.
func (j *journey) decidedOnAppointment(ctx workflow.Context, step pathways.PlanStep, d DecisionRecord) error {
	if j.state.Appointment == nil {
		return temporal.NewNonRetryableApplicationError(errNoBooking.Error(), ErrTypeInvalidInput, nil)
	}
	response := care.ResponseAccepted
	if d.Outcome != "accepted" {
		response = care.ResponseDeclined
	}
	var appt care.Appointment
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.RecordDoctorResponse, contract.DoctorResponseInput{
		JourneyID: j.state.JourneyID, Step: step.ID, AppointmentID: j.state.Appointment.ID,
		PractitionerID: d.ActorID, Response: response, RespondedAt: d.At,
	}).Get(ctx, &appt); err != nil {
		return err
	}
	if err := j.setAppointment(ctx, appt); err != nil {
		return err
	}
	if response == care.ResponseDeclined {
		// The refund needs a reason code: the store refuses one without.
		j.refundShare, j.refundReason = 100, "doctor_declined"
		return &journeyCancelled{reason: "the doctor declined the appointment"}
	}
	return nil
}

// runRemind sends the reminders before the appointment and returns at its
// start. A reschedule restarts the schedule for the new time.
func (j *journey) runRemind(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	if j.state.Appointment == nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(errNoBooking.Error(), ErrTypeInvalidInput, nil)
	}
	offsets, err := durations(step.With["offsets"])
	if err != nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s: offsets: %v", step.ID, err), ErrTypeInvalidInput, err)
	}
	slices.SortFunc(offsets, func(a, b time.Duration) int { return int(b - a) }) // furthest first
	deadline := workflow.Now(ctx).Add(step.TimeLimit)
restart:
	version := j.appointmentVersion
	start := j.state.Appointment.Start
	changed := func() bool { return j.appointmentVersion != version }
	for _, off := range offsets {
		at := start.Add(-off)
		if !at.After(workflow.Now(ctx)) {
			continue // too late for this one
		}
		if moved, err := workflow.AwaitWithTimeout(ctx, at.Sub(workflow.Now(ctx)), changed); err != nil {
			return stepResult{result: resultCancelled}, err
		} else if moved {
			goto restart
		}
		if err := j.sendSMS(ctx, fmt.Sprintf("%s-%s-v%d", step.ID, off, version), contract.SMSKindReminder, "appointment_reminder", start, changed); err != nil {
			return stepResult{}, err
		}
	}
	until := start
	if until.After(deadline) {
		until = deadline
	}
	if wait := until.Sub(workflow.Now(ctx)); wait > 0 {
		moved, err := workflow.AwaitWithTimeout(ctx, wait, changed)
		if err != nil {
			return stepResult{result: resultCancelled}, err
		}
		if moved {
			goto restart
		}
	}
	if start.After(deadline) {
		return j.applyTimeout(ctx, step, "appointment time", step.OnTimeout, func() bool { return false })
	}
	return stepResult{result: resultDone}, nil
}

// sendSMS sends a templated message about the appointment, sleeping through
// quiet hours when the messaging activity defers it, unless stale() says
// the message no longer applies.
func (j *journey) sendSMS(ctx workflow.Context, key, kind, template string, at time.Time, stale func() bool) error {
	smsCtx := workflow.WithActivityOptions(ctx, contract.SMSActivityOptions())
	for {
		var res contract.SendSMSResult
		err := workflow.ExecuteActivity(smsCtx, contract.SendSMS, contract.SendSMSInput{
			JourneyID: j.state.JourneyID, Step: key, PatientID: j.state.PatientID, Kind: kind, TemplateID: template,
			// The activity prints the time in the patient's own time zone; the
			// link is a path under PUBLIC_BASE_URL. No free text can ride along.
			Params: map[string]string{"at": at.Format(time.RFC3339), "link": "/journeys/" + j.state.JourneyID},
		}).Get(ctx, &res)
		if err != nil {
			// A reminder that cannot be sent must not stop the care; say so.
			j.logger.Warn("SMS not sent", "Step", key, "Error", err)
			return nil
		}
		if res.Status != contract.SMSDeferred {
			return nil
		}
		wait := res.NextAllowedAt.Sub(workflow.Now(ctx))
		if wait <= 0 || res.NextAllowedAt.After(at) {
			return nil // quiet hours last past the appointment: the reminder is moot
		}
		if moved, err := workflow.AwaitWithTimeout(ctx, wait, stale); err != nil || moved {
			return err
		}
	}
}

func durations(v any) ([]time.Duration, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of durations, got %T", v)
	}
	out := make([]time.Duration, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		d, err := pathways.ParseDuration(s)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// runConsult opens the consult at the appointment time and waits, within
// the grace period, for it to start; then for the doctor to close it.
func (j *journey) runConsult(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	if j.state.Appointment == nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(errNoBooking.Error(), ErrTypeInvalidInput, nil)
	}
	if j.state.Consult == nil {
		j.state.Consult = &ConsultInfo{}
	}
	j.consultOpen = true
	defer func() { j.consultOpen = false }()
	started := func() bool { return j.state.Consult.Started }
	res, err := j.await(ctx, step, "consult to start", step.TimeLimit, nil, started)
	if err != nil {
		return res, err
	}
	if !started() {
		if err := workflow.ExecuteActivity(dbOptions(ctx), contract.MarkNoShow, contract.AppointmentInput{
			JourneyID: j.state.JourneyID, Step: step.ID, AppointmentID: j.state.Appointment.ID, Reason: "no-show",
		}).Get(ctx, nil); err != nil {
			return stepResult{}, err
		}
		j.state.Appointment.Status = care.AppointmentNoShow
		res, err := j.applyTimeout(ctx, step, "consult to start", step.OnTimeout, started)
		if res.result == resultTimedOut {
			res.result = "no_show"
		}
		return res, err
	}
	closeWithin := 12 * time.Hour
	closed := func() bool { return j.state.Consult.Closed }
	noteLimit := &pathways.PlanTimeout{Action: "escalate", Role: "coordinator", Then: &pathways.PlanTimeout{TimeLimit: 48 * time.Hour, Action: "continue"}}
	res, err = j.await(ctx, step, "doctor to close the consult", closeWithin, noteLimit, closed)
	if err != nil {
		return res, err
	}
	j.vars.Consult = map[string]any{"outcome": j.state.Consult.Outcome, "orders": j.state.Consult.Orders, "diagnoses": j.state.Consult.Diagnoses}
	if len(j.measurements) > 0 {
		if err := j.scoreRisk(ctx); err != nil {
			return stepResult{}, err
		}
	}
	res.next = "" // the consult's own branches decide, even after a late close
	return res, nil
}

// scoreRisk runs the risk model on the consult's measurements and shows the
// level to coordinators (RiskLevel) and to the pathway's expressions
// (risk.level). Measurements the model refuses raise NeedsAttention; a
// branch that needs the risk then fails loudly rather than guessing.
func (j *journey) scoreRisk(ctx workflow.Context) error {
	actCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{contract.ErrTypeInvalidModelInput}},
	})
	var res contract.ScoreRiskResult
	err := workflow.ExecuteActivity(actCtx, contract.ScoreRisk, contract.ScoreRiskInput{
		PatientID: j.state.PatientID, Features: j.measurements,
	}).Get(ctx, &res)
	j.measurements = nil // scored or refused: health data leaves the workflow's memory
	if err != nil {
		j.logger.Warn("Risk could not be scored", "Error", err)
		return j.setAttention(ctx, true, "the consult's measurements could not be scored for risk")
	}
	j.state.Risk = &RiskInfo{Level: res.Level, Probability: res.Probability, Model: res.Model, ModelVersion: res.ModelVersion}
	j.vars.Risk = map[string]any{"level": res.Level, "probability": res.Probability}
	if err := workflow.UpsertTypedSearchAttributes(ctx, RiskLevelKey.ValueSet(res.Level)); err != nil {
		return fmt.Errorf("upsert RiskLevel: %w", err)
	}
	return nil
}

// refundable is the share of the payment to refund, in minor units.
func (p *PaymentInfo) refundable(sharePercent int) int64 {
	if p == nil || p.Status != "succeeded" || sharePercent <= 0 {
		return 0
	}
	return p.AmountMinor * int64(sharePercent) / 100
}

// compensate undoes what the journey did before it was cancelled: refund
// what the policy says, release or cancel the appointment, tell the patient.
func (j *journey) compensate(ctx workflow.Context) error {
	appt, pay := j.state.Appointment, j.state.Payment
	// Refund.AmountMinor 0 means "all that remains", so a share that rounds
	// down to nothing must skip the refund, not refund in full.
	if amount := pay.refundable(j.refundShare); amount > 0 {
		var refund contract.RefundResult
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, contract.PaymentActivityOptions()), contract.Refund, contract.RefundInput{
			JourneyID: j.state.JourneyID, Step: "cancel-refund", PaymentStep: j.payStep, AmountMinor: amount, Reason: j.refundReason,
		}).Get(ctx, &refund); err != nil {
			return fmt.Errorf("refund: %w", err)
		}
		pay.RefundedMinor = refund.AmountMinor
	}
	if appt == nil {
		return nil
	}
	var err error
	switch appt.Status {
	case care.AppointmentPending:
		err = workflow.ExecuteActivity(dbOptions(ctx), contract.ReleaseSlot, contract.AppointmentInput{
			JourneyID: j.state.JourneyID, Step: "cancel", AppointmentID: appt.ID, Reason: "journey-cancelled"}).Get(ctx, nil)
	case care.AppointmentBooked:
		err = workflow.ExecuteActivity(dbOptions(ctx), contract.CancelAppointment, contract.AppointmentInput{
			JourneyID: j.state.JourneyID, Step: "cancel", AppointmentID: appt.ID, Reason: "journey-cancelled"}).Get(ctx, nil)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("free the slot: %w", err)
	}
	appt.Status = care.AppointmentCancelled
	return j.sendSMS(ctx, "cancel-notice", contract.SMSKindNotification, "appointment_cancelled", appt.Start, func() bool { return false })
}

// refundForCancellation applies the pathway's cancellation policy: a full
// refund, or a share when the patient cancels inside the late window.
func (j *journey) refundForCancellation(ctx workflow.Context, byPatient bool) {
	j.refundShare, j.refundReason = 100, "journey_cancelled"
	if !byPatient || j.state.Appointment == nil {
		return
	}
	window, err := pathways.ParseDuration(fmt.Sprint(j.plan.Params["late_cancel_window"]))
	share, ok := j.plan.Params["late_cancel_refund_percent"].(float64)
	if intShare, isInt := j.plan.Params["late_cancel_refund_percent"].(int); isInt {
		share, ok = float64(intShare), true
	}
	if err != nil || !ok {
		return // this pathway has no late-cancellation policy
	}
	if workflow.Now(ctx).After(j.state.Appointment.Start.Add(-window)) {
		j.refundShare, j.refundReason = int(share), "late_cancellation"
	}
}
