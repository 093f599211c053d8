package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/store"
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

// Booking holds, confirms, moves and closes appointments in PostgreSQL.
// Every method is idempotent per journey and step: a retry returns the
// result the first successful call recorded.
type Booking struct {
	Store *store.Store
}

type (
	// HoldSlotInput asks to hold a slot for the journey until Until.
	HoldSlotInput = store.HoldSlotRequest
	// AppointmentInput names a journey's appointment (release, confirm, cancel, no-show).
	AppointmentInput = store.AppointmentRequest
	// DoctorResponseInput is the doctor's accept or decline.
	DoctorResponseInput = store.DoctorResponseRequest
	// RescheduleInput moves an appointment to another slot within a policy.
	RescheduleInput = store.RescheduleRequest
	// CloseEncounterInput is the doctor's structured close of the consult.
	CloseEncounterInput = store.CloseEncounterRequest
)

// HoldSlot holds a free slot for the journey and returns its pending
// appointment (with the doctor's fee, to charge). Losing a race is
// ErrTypeSlotUnavailable.
func (a *Booking) HoldSlot(ctx context.Context, in HoldSlotInput) (store.Appointment, error) {
	appt, err := a.Store.HoldSlot(ctx, in)
	return appt, bookingError("hold slot", err)
}

// ReleaseSlot frees a pending appointment's slot (no payment in time) and
// cancels the appointment.
func (a *Booking) ReleaseSlot(ctx context.Context, in AppointmentInput) (store.Appointment, error) {
	appt, err := a.Store.ReleaseSlot(ctx, in)
	return appt, bookingError("release slot", err)
}

// ConfirmAppointment books the appointment once paid.
func (a *Booking) ConfirmAppointment(ctx context.Context, in AppointmentInput) (store.Appointment, error) {
	appt, err := a.Store.ConfirmAppointment(ctx, in)
	return appt, bookingError("confirm appointment", err)
}

// RecordDoctorResponse records the doctor's accept or decline.
func (a *Booking) RecordDoctorResponse(ctx context.Context, in DoctorResponseInput) (store.Appointment, error) {
	appt, err := a.Store.RecordDoctorResponse(ctx, in)
	return appt, bookingError("record doctor response", err)
}

// Reschedule moves the appointment to another free slot within the policy.
func (a *Booking) Reschedule(ctx context.Context, in RescheduleInput) (store.Appointment, error) {
	appt, err := a.Store.Reschedule(ctx, in)
	return appt, bookingError("reschedule", err)
}

// CancelAppointment cancels the appointment and frees its slot; the result's
// Start tells the journey how late the cancellation is, for its refund policy.
func (a *Booking) CancelAppointment(ctx context.Context, in AppointmentInput) (store.Appointment, error) {
	appt, err := a.Store.CancelAppointment(ctx, in)
	return appt, bookingError("cancel appointment", err)
}

// MarkNoShow records that the booked consult never started.
func (a *Booking) MarkNoShow(ctx context.Context, in AppointmentInput) (store.Appointment, error) {
	appt, err := a.Store.MarkNoShow(ctx, in)
	return appt, bookingError("mark no-show", err)
}

// CloseEncounter stores the doctor's notes, diagnoses and orders and marks
// the appointment fulfilled. The result carries the codes and orders that
// decide the next steps; the notes stay in PostgreSQL.
func (a *Booking) CloseEncounter(ctx context.Context, in CloseEncounterInput) (store.Encounter, error) {
	enc, err := a.Store.CloseEncounter(ctx, in)
	return enc, bookingError("close encounter", err)
}

// bookingErrorTypes maps the store's business errors to application error
// types. Anything else (the database unreachable, a deadlock) stays a plain
// error, which Temporal retries.
var bookingErrorTypes = []struct {
	err error
	typ string
}{
	{store.ErrSlotUnavailable, ErrTypeSlotUnavailable},
	{store.ErrSlotNotFound, ErrTypeSlotNotFound},
	{store.ErrAppointmentNotFound, ErrTypeAppointmentNotFound},
	{store.ErrAppointmentState, ErrTypeAppointmentState},
	{store.ErrHoldExpired, ErrTypeHoldExpired},
	{store.ErrOutOfPolicy, ErrTypeRescheduleOutOfPolicy},
	{store.ErrWrongPractitioner, ErrTypeNotAppointmentPractitioner},
	{store.ErrStepReused, ErrTypeStepReused},
	{store.ErrPatientNotFound, ErrTypePatientNotFound},
	{store.ErrInvalid, ErrTypeInvalidInput},
}

func bookingError(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, m := range bookingErrorTypes {
		if errors.Is(err, m.err) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), m.typ, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}
