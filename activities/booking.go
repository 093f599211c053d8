package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/store"
)

// Booking holds, confirms, moves and closes appointments in PostgreSQL.
// Every method is idempotent per journey and step: a retry returns the
// result the first successful call recorded.
type Booking struct {
	Store *store.Store
}

// HoldSlot holds a free slot for the journey and returns its pending
// appointment (with the doctor's fee, to charge). Losing a race is
// contract.ErrTypeSlotUnavailable.
func (a *Booking) HoldSlot(ctx context.Context, in contract.HoldSlotInput) (care.Appointment, error) {
	appt, err := a.Store.HoldSlot(ctx, store.HoldSlotRequest(in))
	return appt, bookingError("hold slot", err)
}

// ReleaseSlot frees a pending appointment's slot (no payment in time) and
// cancels the appointment.
func (a *Booking) ReleaseSlot(ctx context.Context, in contract.AppointmentInput) (care.Appointment, error) {
	appt, err := a.Store.ReleaseSlot(ctx, store.AppointmentRequest(in))
	return appt, bookingError("release slot", err)
}

// ConfirmAppointment books the appointment once paid.
func (a *Booking) ConfirmAppointment(ctx context.Context, in contract.AppointmentInput) (care.Appointment, error) {
	appt, err := a.Store.ConfirmAppointment(ctx, store.AppointmentRequest(in))
	return appt, bookingError("confirm appointment", err)
}

// RecordDoctorResponse records the doctor's accept or decline.
func (a *Booking) RecordDoctorResponse(ctx context.Context, in contract.DoctorResponseInput) (care.Appointment, error) {
	appt, err := a.Store.RecordDoctorResponse(ctx, store.DoctorResponseRequest(in))
	return appt, bookingError("record doctor response", err)
}

// Reschedule moves the appointment to another free slot within the policy.
func (a *Booking) Reschedule(ctx context.Context, in contract.RescheduleInput) (care.Appointment, error) {
	appt, err := a.Store.Reschedule(ctx, store.RescheduleRequest(in))
	return appt, bookingError("reschedule", err)
}

// CancelAppointment cancels the appointment and frees its slot; the result's
// Start tells the journey how late the cancellation is, for its refund policy.
func (a *Booking) CancelAppointment(ctx context.Context, in contract.AppointmentInput) (care.Appointment, error) {
	appt, err := a.Store.CancelAppointment(ctx, store.AppointmentRequest(in))
	return appt, bookingError("cancel appointment", err)
}

// MarkNoShow records that the booked consult never started.
func (a *Booking) MarkNoShow(ctx context.Context, in contract.AppointmentInput) (care.Appointment, error) {
	appt, err := a.Store.MarkNoShow(ctx, store.AppointmentRequest(in))
	return appt, bookingError("mark no-show", err)
}

// CloseEncounter stores the doctor's notes, diagnoses and orders and marks
// the appointment fulfilled. The result carries the codes and orders that
// decide the next steps; the notes stay in PostgreSQL.
func (a *Booking) CloseEncounter(ctx context.Context, in contract.CloseEncounterInput) (care.Encounter, error) {
	enc, err := a.Store.CloseEncounter(ctx, store.CloseEncounterRequest(in))
	return enc, bookingError("close encounter", err)
}

// bookingErrorTypes maps the store's business errors to application error
// types. Anything else (the database unreachable, a deadlock) stays a plain
// error, which Temporal retries.
var bookingErrorTypes = []struct {
	err error
	typ string
}{
	{store.ErrSlotUnavailable, contract.ErrTypeSlotUnavailable},
	{store.ErrSlotNotFound, contract.ErrTypeSlotNotFound},
	{store.ErrAppointmentNotFound, contract.ErrTypeAppointmentNotFound},
	{store.ErrAppointmentState, contract.ErrTypeAppointmentState},
	{store.ErrHoldExpired, contract.ErrTypeHoldExpired},
	{store.ErrOutOfPolicy, contract.ErrTypeRescheduleOutOfPolicy},
	{store.ErrWrongPractitioner, contract.ErrTypeNotAppointmentPractitioner},
	{store.ErrStepReused, contract.ErrTypeStepReused},
	{store.ErrPatientNotFound, contract.ErrTypePatientNotFound},
	{store.ErrInvalid, contract.ErrTypeInvalidInput},
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
