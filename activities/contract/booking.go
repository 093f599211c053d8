package contract

import (
	"time"

	"github.com/carepath/carepath/care"
)

// Application error types of the booking activities. Each is non-retryable:
// the answer will not change by asking again, and the journey decides what
// to do (offer another slot, refund, escalate). The API maps them to
// statuses.
const (
	// ErrTypeSlotUnavailable: the slot is held or booked by another journey,
	// or has started. Of two journeys racing for a slot, the loser gets this.
	ErrTypeSlotUnavailable = "SlotUnavailable"
	ErrTypeSlotNotFound    = "SlotNotFound"
	// ErrTypeAppointmentNotFound: no such appointment in this journey.
	ErrTypeAppointmentNotFound = "AppointmentNotFound"
	// ErrTypeAppointmentState: the appointment's status does not allow the
	// operation (confirming a cancelled one, a second doctor's answer, ...).
	ErrTypeAppointmentState = "AppointmentStateConflict"
	// ErrTypeHoldExpired: payment came after the hold lapsed and another
	// journey took the slot; the journey refunds.
	ErrTypeHoldExpired = "HoldExpired"
	// ErrTypeRescheduleOutOfPolicy: the new slot is outside the pathway's
	// rescheduling policy (too soon, too far ahead, another doctor, too late).
	ErrTypeRescheduleOutOfPolicy = "RescheduleOutOfPolicy"
	// ErrTypeNotAppointmentPractitioner: only the appointment's doctor may answer or close it.
	ErrTypeNotAppointmentPractitioner = "NotAppointmentPractitioner"
	// ErrTypeStepReused: the journey step's idempotency key was already used
	// for a different request; a workflow bug, never retried.
	ErrTypeStepReused = "IdempotencyKeyReused"
	// ErrTypeInvalidInput: the request is malformed (missing IDs, a bad
	// ICD-10 code, an unknown order kind).
	ErrTypeInvalidInput = "InvalidInput"
)

// The booking inputs carry the same fields, under the same JSON names, as
// the store's requests: the activity converts one into the other.

// HoldSlotInput asks to hold a slot for the journey until Until.
type HoldSlotInput struct {
	JourneyID string    `json:"journey_id"`
	Step      string    `json:"step"`
	SlotID    string    `json:"slot_id"`
	PatientID string    `json:"patient_id"`
	Until     time.Time `json:"until"`
}

// AppointmentInput names a journey's appointment (release, confirm, cancel, no-show).
type AppointmentInput struct {
	JourneyID     string `json:"journey_id"`
	Step          string `json:"step"`
	AppointmentID string `json:"appointment_id"`
	Reason        string `json:"reason,omitempty"` // a code such as "payment-timeout", not free text
}

// DoctorResponseInput is the doctor's accept or decline.
type DoctorResponseInput struct {
	JourneyID      string    `json:"journey_id"`
	Step           string    `json:"step"`
	AppointmentID  string    `json:"appointment_id"`
	PractitionerID string    `json:"practitioner_id"`
	Response       string    `json:"response"` // care.ResponseAccepted or care.ResponseDeclined
	RespondedAt    time.Time `json:"responded_at"`
}

// RescheduleInput moves an appointment to another slot within a policy.
type RescheduleInput struct {
	JourneyID     string                `json:"journey_id"`
	Step          string                `json:"step"`
	AppointmentID string                `json:"appointment_id"`
	NewSlotID     string                `json:"new_slot_id"`
	Policy        care.ReschedulePolicy `json:"policy"`
}

// CloseEncounterInput is the doctor's structured close of the consult.
type CloseEncounterInput struct {
	JourneyID      string                `json:"journey_id"`
	Step           string                `json:"step"`
	AppointmentID  string                `json:"appointment_id"`
	PractitionerID string                `json:"practitioner_id"`
	Diagnoses      []string              `json:"diagnoses"` // ICD-10 codes
	Notes          string                `json:"notes"`     // clinical free text: stored, never logged or returned
	Orders         []care.EncounterOrder `json:"orders"`
}
