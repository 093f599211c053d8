package workflows

import (
	"time"

	"github.com/carepath/carepath/care"
)

// Signals, updates and queries the journey answers, with their payloads.
// The API sends them; the workflow handles them. Names are snake_case.
const (
	// SignalPaymentConfirmed is sent by the Stripe webhook handler (or a
	// payment poll) when the journey's PaymentIntent has succeeded.
	SignalPaymentConfirmed = "payment_confirmed"
	// SignalPaymentFailed is sent when the PaymentIntent failed or was cancelled.
	SignalPaymentFailed = "payment_failed"

	// UpdateDecide records a person's decision at a decide step (the doctor
	// accepts or rejects the appointment, for instance).
	UpdateDecide = "decide"
	// UpdateCancel cancels the journey; the pathway's policy decides the refund.
	UpdateCancel = "cancel"
	// UpdateReschedule moves the appointment to another free slot.
	UpdateReschedule = "reschedule"
	// UpdateStartConsult marks the video consult as started.
	UpdateStartConsult = "start_consult"
	// UpdateCloseConsult closes the consult with its notes and orders.
	UpdateCloseConsult = "close_consult"
)

// PaymentEvent is the payload of SignalPaymentConfirmed and SignalPaymentFailed.
// EventID is the provider's event ID; the journey ignores an event it has seen.
type PaymentEvent struct {
	EventID         string `json:"event_id"`
	PaymentIntentID string `json:"payment_intent_id"`
	AmountMinor     int64  `json:"amount_minor"`
	Currency        string `json:"currency"`
}

// Actor is who sends an update. The API fills it from the caller's
// identity; the workflow checks it against the step (only the appointment's
// doctor decides on it, for example).
type Actor struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// DecideRequest is the payload of UpdateDecide.
type DecideRequest struct {
	Actor   Actor  `json:"actor"`
	StepID  string `json:"step_id"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// CancelRequest is the payload of UpdateCancel.
type CancelRequest struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// RescheduleRequest is the payload of UpdateReschedule.
type RescheduleRequest struct {
	Actor     Actor  `json:"actor"`
	NewSlotID string `json:"new_slot_id"`
}

// StartConsultRequest is the payload of UpdateStartConsult.
type StartConsultRequest struct {
	Actor Actor `json:"actor"`
}

// CloseConsultRequest is the payload of UpdateCloseConsult: structured notes
// (ICD-10 codes and free text, which the workflow stores through an activity
// and never logs) and the orders that decide the next steps.
type CloseConsultRequest struct {
	Actor     Actor    `json:"actor"`
	Diagnoses []string `json:"diagnoses"` // ICD-10 codes
	Notes     string   `json:"notes"`
	Orders    []string `json:"orders"` // prescription, lab_tests, diet_referral, follow_up
	Outcome   string   `json:"outcome"`
	// Measurements taken at the consult (age, bmi, bp, lipids, glucose, with
	// units), from which the risk model scores the patient.
	Measurements map[string]care.Quantity `json:"measurements,omitempty"`
	// Prescriptions are the medicines of a "prescription" order, which the
	// prescribe step drafts, checks and has the doctor review.
	Prescriptions []PrescriptionItem `json:"prescriptions,omitempty"`
	// LabTests are the LOINC codes of a "lab_tests" order, which the
	// pathway's lab_order step books beside its own tests.
	LabTests []string `json:"lab_tests,omitempty"`
	// FollowUpDays is the doctor's interval for a "follow_up" order; it
	// replaces the pathway's (the doctor has weighed the risk already).
	FollowUpDays int `json:"follow_up_days,omitempty"`
}

// ConsultOrders are the orders a consult may close with.
var ConsultOrders = []string{"prescription", "lab_tests", "diet_referral", "follow_up"}

// Journey statuses.
const (
	StatusActive    = "active"
	StatusCompleted = "completed"
	StatusCancelled = "cancelled"
	StatusFailed    = "failed"
)

// Waiting says what a journey waits for, so a coordinator can see it.
type Waiting struct {
	StepID string    `json:"step_id"`
	For    string    `json:"for"` // a role ("doctor") or an event ("payment")
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
}
