package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
)

// UpdateBookingStatus answers once the journey's booking has settled: the
// slot is held and the payment is ready for the patient (or the pathway
// takes no payment), or the booking was refused. The API sends it with the
// journey's start (update-with-start), so a booking answers in one call,
// without polling the state query.
const UpdateBookingStatus = "booking_status"

// BookingStatusRequest is the payload of UpdateBookingStatus. It carries
// nothing: asking does not change the journey.
type BookingStatusRequest struct{}

// BookingStatus is UpdateBookingStatus's answer.
type BookingStatus struct {
	SlotHeld      bool   `json:"slot_held"`
	AppointmentID string `json:"appointment_id,omitempty"`
	// PaymentIntentID and PaymentStatus are the payment the patient's app
	// confirms ("awaiting" until it has); empty when the pathway takes none.
	PaymentIntentID string `json:"payment_intent_id,omitempty"`
	PaymentStatus   string `json:"payment_status,omitempty"`
	// Journey is the journey's state at that moment.
	Journey JourneyState `json:"journey"`
}

// bookingStatusResult is the book step's result when the slot was taken.
const bookingStatusResult = "slot_unavailable"

// registerBookingStatus installs UpdateBookingStatus. The handler only
// waits on the journey's state and reads it: it adds no command, so
// histories recorded before it existed replay unchanged.
func (j *journey) registerBookingStatus(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateBookingStatus,
		func(ctx workflow.Context, _ BookingStatusRequest) (BookingStatus, error) {
			if err := workflow.Await(ctx, j.bookingSettled); err != nil {
				return BookingStatus{}, err
			}
			return j.bookingStatus()
		},
		workflow.UpdateHandlerOptions{Validator: func(BookingStatusRequest) error {
			start := j.plan.Start
			if j.in.StartAt != "" {
				start = j.in.StartAt
			}
			if j.plan.Steps[start].Type != "book" {
				return temporal.NewApplicationError("the journey does not start by booking", ErrTypeNotAwaitingThat)
			}
			return nil
		}},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateBookingStatus, err)
	}
	return nil
}

// bookingSettled reports whether the booking has an answer: the journey
// ended, or it holds its slot and has either created the payment or moved
// past the book and pay steps (a pathway that takes no payment).
func (j *journey) bookingSettled() bool {
	if j.state.Status != StatusActive {
		return true
	}
	if j.state.Appointment == nil {
		return false
	}
	if j.state.Payment != nil {
		return true
	}
	t := j.plan.Steps[j.state.Stage].Type
	return t != "book" && t != "pay"
}

// bookingStatus is the settled booking's answer; a booking that never held
// its slot is an error the API maps to a conflict.
func (j *journey) bookingStatus() (BookingStatus, error) {
	st := BookingStatus{Journey: j.state}
	if a := j.state.Appointment; a != nil {
		st.SlotHeld, st.AppointmentID = true, a.ID
		if p := j.state.Payment; p != nil {
			st.PaymentIntentID, st.PaymentStatus = p.PaymentIntentID, p.Status
		}
		return st, nil
	}
	for _, r := range j.state.Steps {
		if r.Type == "book" && r.Result == bookingStatusResult {
			return st, temporal.NewApplicationError("the chosen slot is no longer available", contract.ErrTypeSlotUnavailable)
		}
	}
	return st, temporal.NewApplicationError("the booking did not go through: "+j.state.Outcome, ErrTypeJourneyNotActive)
}
