package workflows_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

var (
	bookingActs   *activities.Booking
	paymentActs   *activities.Payments
	messagingActs *activities.Messaging
)

const (
	slotID    = "5a1b2c3d-0000-4000-8000-000000000001"
	newSlotID = "5a1b2c3d-0000-4000-8000-000000000002"
	feeMinor  = 50000
)

// consultWorld runs the shipped general consultation against mocked
// activities and records what they were asked to do.
type consultWorld struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	in     workflows.JourneyInput
	start  time.Time // the appointment
	mu     sync.Mutex
	sms    []contract.SendSMSInput
	smsAt  []time.Time
	refund []contract.RefundInput
	calls  map[string]int
	// smsStatus, when set, answers SendSMS instead of "sent".
	smsStatus func(contract.SendSMSInput) contract.SendSMSResult
}

func newConsultWorld(t *testing.T) *consultWorld {
	t.Helper()
	catalog, err := pathways.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := catalog.Get("general-consult", 1)
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	id := workflows.LegacyJourneyWorkflowID(patient, plan.PathwayID, 1)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id, TaskQueue: "test"})
	w := &consultWorld{t: t, env: env, start: env.Now().Add(72 * time.Hour).Truncate(time.Hour), calls: map[string]int{},
		in: workflows.JourneyInput{PatientID: patient, PathwayID: plan.PathwayID, Episode: 1, Plan: plan, SlotID: slotID}}
	env.RegisterActivity(&activities.Journeys{})
	env.RegisterActivity(&activities.Booking{})
	env.RegisterActivity(&activities.Payments{})
	env.RegisterActivity(&activities.Messaging{})
	env.OnActivity(journeyActs.RecordJourney, mock.Anything, mock.Anything).Return(nil)

	appt := func(status string) care.Appointment {
		return care.Appointment{ID: "appt-1", JourneyID: id, PatientID: patient, PractitionerID: doctorID, SlotID: slotID,
			Start: w.start, End: w.start.Add(20 * time.Minute), Status: status, FeeMinor: feeMinor, Currency: "INR"}
	}
	count := func(name string) { w.mu.Lock(); w.calls[name]++; w.mu.Unlock() }
	env.OnActivity(bookingActs.HoldSlot, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.HoldSlotInput) (care.Appointment, error) {
		count("HoldSlot")
		if in.SlotID != slotID || in.Step != "book" || in.Until.Sub(env.Now()) != 15*time.Minute {
			t.Errorf("HoldSlot got %+v", in)
		}
		return appt(care.AppointmentPending), nil
	})
	env.OnActivity(bookingActs.ConfirmAppointment, mock.Anything, mock.Anything).Return(func(context.Context, contract.AppointmentInput) (care.Appointment, error) {
		count("ConfirmAppointment")
		return appt(care.AppointmentBooked), nil
	})
	env.OnActivity(bookingActs.RecordDoctorResponse, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.DoctorResponseInput) (care.Appointment, error) {
		count("RecordDoctorResponse:" + in.Response)
		return appt(care.AppointmentBooked), nil
	})
	env.OnActivity(bookingActs.ReleaseSlot, mock.Anything, mock.Anything).Return(func(context.Context, contract.AppointmentInput) (care.Appointment, error) {
		count("ReleaseSlot")
		return appt(care.AppointmentCancelled), nil
	})
	env.OnActivity(bookingActs.CancelAppointment, mock.Anything, mock.Anything).Return(func(context.Context, contract.AppointmentInput) (care.Appointment, error) {
		count("CancelAppointment")
		return appt(care.AppointmentCancelled), nil
	})
	env.OnActivity(bookingActs.MarkNoShow, mock.Anything, mock.Anything).Return(func(context.Context, contract.AppointmentInput) (care.Appointment, error) {
		count("MarkNoShow")
		return appt(care.AppointmentNoShow), nil
	})
	env.OnActivity(bookingActs.CloseEncounter, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.CloseEncounterInput) (care.Encounter, error) {
		count("CloseEncounter")
		return care.Encounter{ID: "enc-1", AppointmentID: "appt-1", PractitionerID: in.PractitionerID, Diagnoses: in.Diagnoses, Orders: in.Orders}, nil
	})
	env.OnActivity(paymentActs.CreatePaymentIntent, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.CreatePaymentIntentInput) (contract.PaymentResult, error) {
		count("CreatePaymentIntent")
		if in.AmountMinor != feeMinor || in.Currency != "INR" || in.Step != "pay" {
			t.Errorf("CreatePaymentIntent got %+v", in)
		}
		return contract.PaymentResult{PaymentIntentID: "pi_1", Status: "requires_payment_method", AmountMinor: feeMinor, Currency: "INR"}, nil
	})
	env.OnActivity(paymentActs.GetPaymentIntentStatus, mock.Anything, mock.Anything).Return(func(context.Context, contract.PaymentStatusInput) (contract.PaymentResult, error) {
		count("GetPaymentIntentStatus")
		return contract.PaymentResult{PaymentIntentID: "pi_1", Status: "requires_payment_method"}, nil
	})
	env.OnActivity(paymentActs.Refund, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.RefundInput) (contract.RefundResult, error) {
		w.mu.Lock()
		w.refund = append(w.refund, in)
		w.mu.Unlock()
		return contract.RefundResult{AmountMinor: in.AmountMinor, Currency: "INR", Status: "succeeded"}, nil
	})
	env.OnActivity(messagingActs.SendSMS, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
		w.mu.Lock()
		w.sms = append(w.sms, in)
		w.smsAt = append(w.smsAt, env.Now())
		w.mu.Unlock()
		if w.smsStatus != nil {
			return w.smsStatus(in), nil
		}
		return contract.SendSMSResult{Status: contract.SMSSent}, nil
	})
	return w
}

func (w *consultWorld) at(d time.Duration, fn func()) { w.env.RegisterDelayedCallback(fn, d) }

func (w *consultWorld) pay(d time.Duration) {
	w.at(d, func() {
		w.env.SignalWorkflow(workflows.SignalPaymentConfirmed, workflows.PaymentEvent{EventID: "evt_1", PaymentIntentID: "pi_1", AmountMinor: feeMinor, Currency: "INR"})
		// Stripe may deliver the same event twice: it must change nothing.
		w.env.SignalWorkflow(workflows.SignalPaymentConfirmed, workflows.PaymentEvent{EventID: "evt_1", PaymentIntentID: "pi_1", AmountMinor: feeMinor, Currency: "INR"})
	})
}

func (w *consultWorld) update(d time.Duration, name string, arg any) *updateResult {
	r := &updateResult{}
	w.at(d, func() {
		w.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { r.rejected = err }, OnAccept: func() { r.accepted = true },
			OnComplete: func(_ any, err error) { r.err = err },
		}, arg)
	})
	return r
}

func (w *consultWorld) doctorDecides(d time.Duration, outcome string) *updateResult {
	return w.update(d, workflows.UpdateDecide, workflows.DecideRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, StepID: "doctor_review", Outcome: outcome})
}

// untilStart is how long from the journey's start until the appointment.
func (w *consultWorld) untilStart() time.Duration { return w.start.Sub(w.env.Now()) }

func (w *consultWorld) run() workflows.JourneyState {
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	return result(w.t, w.env)
}

func TestConsultHappyPath(t *testing.T) {
	w := newConsultWorld(t)
	w.pay(5 * time.Minute)
	otherDoctor := w.update(50*time.Minute, workflows.UpdateDecide, workflows.DecideRequest{Actor: workflows.Actor{ID: "someone-else", Role: "doctor"}, StepID: "doctor_review", Outcome: "accepted"})
	w.doctorDecides(time.Hour, "accepted")
	early := w.update(2*time.Hour, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}})
	started := w.update(w.untilStart()+5*time.Minute, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}})
	badCodes := w.update(w.untilStart()+20*time.Minute, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, Diagnoses: []string{"common cold"}})
	closed := w.update(w.untilStart()+25*time.Minute, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{
		Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, Diagnoses: []string{"J06.9"}, Notes: "free text stays in PostgreSQL"})
	st := w.run()

	assertRejected(t, otherDoctor, workflows.ErrTypeNotAllowed)
	assertRejected(t, early, workflows.ErrTypeNotAwaitingThat)
	assertRejected(t, badCodes, workflows.ErrTypeInvalidMessage)
	if !started.accepted || !closed.accepted || closed.err != nil {
		t.Fatalf("consult updates: started=%+v closed=%+v", started, closed)
	}
	if st.Status != workflows.StatusCompleted || st.Payment.Status != "succeeded" || st.Appointment.Status != care.AppointmentFulfilled {
		t.Fatalf("state = %+v payment=%+v appt=%+v", st.Status, st.Payment, st.Appointment)
	}
	if got := stepIDs(st); got != "book=done pay=done doctor_review=accepted reminders=done consult=done" {
		t.Errorf("steps = %s", got)
	}
	if w.calls["CreatePaymentIntent"] != 1 || w.calls["ConfirmAppointment"] != 1 || w.calls["RecordDoctorResponse:accepted"] != 1 || w.calls["CloseEncounter"] != 1 {
		t.Errorf("calls = %v", w.calls)
	}
	if len(w.refund) != 0 {
		t.Errorf("a completed consult was refunded: %+v", w.refund)
	}
	// Reminders at 24 h and 1 h before the consult.
	var reminders []time.Duration
	for i, m := range w.sms {
		if m.TemplateID == "appointment_reminder" {
			reminders = append(reminders, w.start.Sub(w.smsAt[i]))
		}
	}
	if len(reminders) != 2 || reminders[0] != 24*time.Hour || reminders[1] != time.Hour {
		t.Errorf("reminders sent %v before the consult, want [24h 1h]", reminders)
	}
	for _, m := range w.sms {
		for _, v := range m.Params {
			if strings.Contains(v, "PostgreSQL") || strings.Contains(v, "J06") {
				t.Errorf("clinical content in an SMS: %+v", m)
			}
		}
	}
}

func TestPaymentTimeoutReleasesTheSlot(t *testing.T) {
	w := newConsultWorld(t)
	st := w.run()
	if st.Status != workflows.StatusCancelled || !strings.Contains(st.Outcome, "pay") {
		t.Fatalf("want cancelled at pay, got %s (%s)", st.Status, st.Outcome)
	}
	if w.calls["GetPaymentIntentStatus"] != 1 {
		t.Errorf("the journey did not ask Stripe once more before giving up: %v", w.calls)
	}
	if w.calls["ReleaseSlot"] != 1 || w.calls["CancelAppointment"] != 0 || len(w.refund) != 0 {
		t.Errorf("want the slot released and nothing refunded: calls %v refunds %v", w.calls, w.refund)
	}
}

func TestRejectionAfterPaymentRefundsInFull(t *testing.T) {
	w := newConsultWorld(t)
	w.pay(5 * time.Minute)
	w.doctorDecides(time.Hour, "rejected")
	st := w.run()
	if st.Status != workflows.StatusCancelled || !strings.Contains(st.Outcome, "declined") {
		t.Fatalf("state = %s (%s)", st.Status, st.Outcome)
	}
	if len(w.refund) != 1 || w.refund[0].AmountMinor != feeMinor || w.refund[0].PaymentStep != "pay" || w.refund[0].Reason != "doctor_declined" {
		t.Errorf("refunds = %+v, want one full refund with its reason", w.refund)
	}
	if w.calls["RecordDoctorResponse:declined"] != 1 || w.calls["CancelAppointment"] != 1 {
		t.Errorf("calls = %v", w.calls)
	}
}

func TestDoctorSilenceEscalatesThenCancelsAndRefunds(t *testing.T) {
	w := newConsultWorld(t)
	w.pay(5 * time.Minute)
	var flagged workflows.JourneyState
	w.at(6*time.Hour, func() {
		v, err := w.env.QueryWorkflow(workflows.QueryJourneyState)
		if err == nil {
			err = v.Get(&flagged)
		}
		if err != nil {
			t.Error(err)
		}
	})
	st := w.run()
	if !flagged.NeedsAttention || flagged.Stage != "doctor_review" {
		t.Errorf("after the doctor's limit: needs_attention=%v stage=%s", flagged.NeedsAttention, flagged.Stage)
	}
	if st.Status != workflows.StatusCancelled || len(w.refund) != 1 || w.refund[0].AmountMinor != feeMinor {
		t.Errorf("want cancelled with a full refund: %s, refunds %+v", st.Status, w.refund)
	}
}

func TestRescheduleAcceptedMovesTheRemindersAndRefusedSaysWhy(t *testing.T) {
	w := newConsultWorld(t)
	newStart := w.start.Add(24 * time.Hour)
	w.env.OnActivity(bookingActs.Reschedule, mock.Anything, mock.MatchedBy(func(in contract.RescheduleInput) bool { return in.NewSlotID == newSlotID })).
		Return(care.Appointment{ID: "appt-1", PractitionerID: doctorID, SlotID: newSlotID, Start: newStart, Status: care.AppointmentBooked, FeeMinor: feeMinor, Currency: "INR"}, nil)
	taken := "5a1b2c3d-0000-4000-8000-000000000003"
	w.env.OnActivity(bookingActs.Reschedule, mock.Anything, mock.MatchedBy(func(in contract.RescheduleInput) bool { return in.NewSlotID == taken })).
		Return(care.Appointment{}, temporal.NewNonRetryableApplicationError("slot taken", contract.ErrTypeSlotUnavailable, nil))
	w.pay(5 * time.Minute)
	w.doctorDecides(time.Hour, "accepted")
	refused := w.update(2*time.Hour, workflows.UpdateReschedule, workflows.RescheduleRequest{Actor: workflows.Actor{ID: patient, Role: "patient"}, NewSlotID: taken})
	moved := w.update(3*time.Hour, workflows.UpdateReschedule, workflows.RescheduleRequest{Actor: workflows.Actor{ID: patient, Role: "patient"}, NewSlotID: newSlotID})
	w.update(newStart.Sub(w.env.Now())+time.Minute, workflows.UpdateCancel, workflows.CancelRequest{Actor: workflows.Actor{ID: "coord-1", Role: "coordinator"}})
	w.run()

	var appErr *temporal.ApplicationError
	if !refused.accepted || !errors.As(refused.err, &appErr) || appErr.Type() != contract.ErrTypeSlotUnavailable {
		t.Errorf("a taken slot should fail the reschedule with %s: %+v", contract.ErrTypeSlotUnavailable, refused)
	}
	if !moved.accepted || moved.err != nil {
		t.Fatalf("reschedule: %+v", moved)
	}
	var reminders []time.Time
	for i, m := range w.sms {
		if m.TemplateID == "appointment_reminder" {
			reminders = append(reminders, w.smsAt[i])
		}
	}
	if len(reminders) != 2 || !reminders[0].Equal(newStart.Add(-24*time.Hour)) || !reminders[1].Equal(newStart.Add(-time.Hour)) {
		t.Errorf("reminders at %v, want 24h and 1h before the new time %v", reminders, newStart)
	}
}

func TestCancellationRefundFollowsThePolicy(t *testing.T) {
	for _, tc := range []struct {
		name          string
		beforeConsult time.Duration
		want          int64
	}{
		{"early cancel refunds in full", 48 * time.Hour, feeMinor},
		{"late cancel refunds the pathway's share", 2 * time.Hour, feeMinor * 50 / 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newConsultWorld(t)
			w.pay(5 * time.Minute)
			w.doctorDecides(time.Hour, "accepted")
			r := w.update(w.untilStart()-tc.beforeConsult, workflows.UpdateCancel, workflows.CancelRequest{Actor: workflows.Actor{ID: patient, Role: "patient"}})
			st := w.run()
			if !r.accepted || r.err != nil || st.Status != workflows.StatusCancelled {
				t.Fatalf("cancel: %+v, status %s", r, st.Status)
			}
			if len(w.refund) != 1 || w.refund[0].AmountMinor != tc.want {
				t.Errorf("refunds = %+v, want %d", w.refund, tc.want)
			}
			if w.calls["CancelAppointment"] != 1 {
				t.Errorf("the appointment was not cancelled: %v", w.calls)
			}
		})
	}
}

func TestMissedConsultBecomesANoShow(t *testing.T) {
	w := newConsultWorld(t)
	w.pay(5 * time.Minute)
	w.doctorDecides(time.Hour, "accepted")
	st := w.run()
	if st.Status != workflows.StatusCompleted || w.calls["MarkNoShow"] != 1 {
		t.Fatalf("status %s, calls %v", st.Status, w.calls)
	}
	if got := stepIDs(st); !strings.HasSuffix(got, "consult=no_show no_show=done") {
		t.Errorf("steps = %s", got)
	}
	last := w.sms[len(w.sms)-1]
	if last.TemplateID != "consult_missed" {
		t.Errorf("the patient was not told: %+v", last)
	}
}

func TestAPrescriptionOrderWithoutMedicinesStopsTheJourney(t *testing.T) {
	w := newConsultWorld(t)
	w.env.RegisterActivity(&activities.Prescriptions{})
	w.env.OnActivity(prescriptionActs.DraftPrescription, mock.Anything, mock.Anything).Return(contract.DraftPrescriptionResult{},
		temporal.NewNonRetryableApplicationError("draft prescription: the consult listed no medicine", contract.ErrTypeNothingToPrescribe, nil))
	w.pay(5 * time.Minute)
	w.doctorDecides(time.Hour, "accepted")
	w.update(w.untilStart()+time.Minute, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}})
	w.update(w.untilStart()+10*time.Minute, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{
		Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, Diagnoses: []string{"I10"}, Orders: []string{"prescription"}})
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	var appErr *temporal.ApplicationError
	if err := w.env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeInvalidInput || !strings.Contains(err.Error(), "prescribe") {
		t.Fatalf("want %s at prescribe, got %v", workflows.ErrTypeInvalidInput, err)
	}
}

func TestConsultMeasurementsAreScoredAndTheRiskLevelBranches(t *testing.T) {
	w := newConsultWorld(t)
	consult := w.in.Plan.Steps["consult"]
	consult.Branches = []pathways.PlanBranch{{When: "risk.level == 'high' && risk.probability > 0.5", Next: "end"}}
	consult.Otherwise = "prescribe"
	w.in.Plan.Steps["consult"] = consult
	var inferenceActs *activities.Inference
	w.env.RegisterActivity(&activities.Inference{})
	var scored contract.ScoreRiskInput
	w.env.OnActivity(inferenceActs.ScoreRisk, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.ScoreRiskInput) (contract.ScoreRiskResult, error) {
		scored = in
		return contract.ScoreRiskResult{Probability: 0.8, Level: "high", Model: "diabetes-progression-risk", ModelVersion: "1"}, nil
	})
	w.pay(5 * time.Minute)
	w.doctorDecides(time.Hour, "accepted")
	w.update(w.untilStart()+time.Minute, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}})
	w.update(w.untilStart()+10*time.Minute, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{
		Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, Diagnoses: []string{"E11.9"},
		Measurements: map[string]care.Quantity{"age": {Value: 52}, "bmi": {Value: 31.2, Unit: "kg/m2"}}})
	st := w.run()
	if st.Risk == nil || st.Risk.Level != "high" || st.Risk.Model == "" {
		t.Fatalf("risk = %+v", st.Risk)
	}
	if scored.PatientID != patient || scored.Features["bmi"].Value != 31.2 {
		t.Errorf("ScoreRisk got %+v", scored)
	}
	if st.Status != workflows.StatusCompleted {
		t.Errorf("the high-risk branch should end the journey here, got %s (%s)", st.Status, st.Outcome)
	}
}
