package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

// bookingAnswer is where a booking_status update's outcome lands.
type bookingAnswer struct {
	rejected error
	err      error
	status   workflows.BookingStatus
	at       time.Time
	done     bool
}

// askBookingStatus sends booking_status as the journey starts, as the
// API's update-with-start does.
func askBookingStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) *bookingAnswer {
	t.Helper()
	a := &bookingAnswer{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateBookingStatus, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { a.rejected = err },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				a.done, a.err, a.at = true, err, env.Now()
				if err == nil {
					raw, mErr := json.Marshal(v)
					if mErr == nil {
						mErr = json.Unmarshal(raw, &a.status)
					}
					if mErr != nil {
						t.Errorf("decode booking status: %v", mErr)
					}
				}
			},
		}, workflows.BookingStatusRequest{})
	}, 0)
	return a
}

func TestBookingStatusAnswersOnceTheSlotIsHeldAndThePaymentIsReady(t *testing.T) {
	w := newConsultWorld(t)
	began := w.env.Now()
	answer := askBookingStatus(t, w.env)
	st := w.run() // nobody pays: the payment window runs out and the slot is released
	if answer.rejected != nil || answer.err != nil || !answer.done {
		t.Fatalf("booking_status did not answer: %+v", answer)
	}
	got := answer.status
	if !got.SlotHeld || got.AppointmentID != "appt-1" || got.PaymentIntentID != "pi_1" || got.PaymentStatus != "awaiting" {
		t.Errorf("want slot held (appt-1) and payment pi_1 awaiting, got %+v", got)
	}
	if got.Journey.Stage != "pay" || got.Journey.Status != workflows.StatusActive || got.Journey.Appointment == nil {
		t.Errorf("want the journey's state at its pay step, got stage %q status %q", got.Journey.Stage, got.Journey.Status)
	}
	// It answers when the PaymentIntent exists, not when the patient pays
	// or the window ends (30 minutes later).
	if d := answer.at.Sub(began); d > time.Minute {
		t.Errorf("booking_status answered %v after the start; want at once", d)
	}
	if st.Status != workflows.StatusCancelled || w.calls["ReleaseSlot"] != 1 {
		t.Errorf("the journey should still run its course (cancelled at pay, slot released): %s, calls %v", st.Status, w.calls)
	}
}

func TestBookingStatusRefusesATakenSlot(t *testing.T) {
	catalog, err := pathways.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := catalog.Get("general-consult", 1)
	if err != nil {
		t.Fatal(err)
	}
	env, in := newJourneyEnv(t, plan)
	in.SlotID = slotID
	env.RegisterActivity(&activities.Booking{})
	env.RegisterActivity(&activities.Payments{})
	env.OnActivity(bookingActs.HoldSlot, mock.Anything, mock.Anything).Return(func(context.Context, contract.HoldSlotInput) (care.Appointment, error) {
		return care.Appointment{}, temporal.NewNonRetryableApplicationError("taken", contract.ErrTypeSlotUnavailable, nil)
	})
	answer := askBookingStatus(t, env)
	env.ExecuteWorkflow(workflows.Journey, in)
	st := result(t, env)
	if st.Status != workflows.StatusCancelled {
		t.Errorf("want the journey cancelled, got %s (%s)", st.Status, st.Outcome)
	}
	var appErr *temporal.ApplicationError
	if answer.rejected != nil || !errors.As(answer.err, &appErr) || appErr.Type() != contract.ErrTypeSlotUnavailable {
		t.Fatalf("want booking_status to fail with %s, got %+v", contract.ErrTypeSlotUnavailable, answer)
	}
}

func TestBookingStatusIsRejectedOnAPathwayThatBooksNothing(t *testing.T) {
	plan := mustPlan(t, `id: no-booking
version: 1
title: No booking
sources: [{id: test, citation: Test fixture}]
steps:
  - {id: settle, type: wait, time_limit: 1m, on_timeout: continue, next: end}
`)
	env, in := newJourneyEnv(t, plan)
	answer := askBookingStatus(t, env)
	env.ExecuteWorkflow(workflows.Journey, in)
	if st := result(t, env); st.Status != workflows.StatusCompleted {
		t.Errorf("the refused update must not disturb the journey: %s", st.Status)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(answer.rejected, &appErr) || appErr.Type() != workflows.ErrTypeNotAwaitingThat {
		t.Fatalf("want booking_status rejected with %s, got %+v", workflows.ErrTypeNotAwaitingThat, answer)
	}
}
