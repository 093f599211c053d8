package activities_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// The booking, payment and messaging tests run against the real test
// database (and stripe-mock, and a fake Twilio that checks Twilio's request
// format). They make their own slots, far ahead at odd seconds, so they
// never collide with demo slots or other tests'; messaging tests change the
// preferences of demo patients 15 and 16 only, and put them back.

var seq atomic.Int64

func journeyID(t *testing.T) string {
	return fmt.Sprintf("test:%s:%d:%d", t.Name(), time.Now().UnixNano(), seq.Add(1))
}

func seededStore(t *testing.T) (context.Context, *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return ctx, s
}

// testSlot creates a free slot of the n-th seeded practitioner, decades ahead.
func testSlot(ctx context.Context, t *testing.T, s *store.Store, n int) care.Slot {
	t.Helper()
	var scheduleID, practitionerID string
	if err := s.Pool.QueryRow(ctx, `SELECT DISTINCT ON (practitioner_id) id::text, practitioner_id::text FROM schedule
		ORDER BY practitioner_id, id OFFSET $1 LIMIT 1`, n).Scan(&scheduleID, &practitionerID); err != nil {
		t.Fatal(err)
	}
	// A random millisecond in the century after 45 years from now: never a
	// generated (whole-minute) start, and in practice never an earlier run's.
	start := time.Now().Add(45*365*24*time.Hour + time.Duration(rand.Int64N(100*365*24*3600*1000))*time.Millisecond).Truncate(time.Millisecond)
	if start.Equal(start.Truncate(time.Second)) {
		start = start.Add(time.Millisecond)
	}
	sl, err := s.CreateSlot(ctx, care.Slot{ScheduleID: scheduleID, PractitionerID: practitionerID, Start: start, End: start.Add(20 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// wantAppError checks that err is a non-retryable application error of the type.
func wantAppError(t *testing.T, what string, err error, typ string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Errorf("%s: err = %v, want an application error %s", what, err, typ)
		return
	}
	if appErr.Type() != typ || !appErr.NonRetryable() {
		t.Errorf("%s: error type %q non-retryable=%v, want %q non-retryable", what, appErr.Type(), appErr.NonRetryable(), typ)
	}
}

func isNonRetryable(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

func TestHoldSlotRaceLoserGetsSlotUnavailable(t *testing.T) {
	ctx, s := seededStore(t)
	b := &activities.Booking{Store: s}
	sl := testSlot(ctx, t, s, 0)
	const racers = 24
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := b.HoldSlot(ctx, contract.HoldSlotInput{JourneyID: journeyID(t), Step: "book", SlotID: sl.ID,
				PatientID: store.SeedPatientID(1 + i%store.SeedPatientCount), Until: time.Now().Add(15 * time.Minute)})
			if err == nil {
				wins.Add(1)
				return
			}
			wantAppError(t, "loser", err, contract.ErrTypeSlotUnavailable)
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d racers won the slot, want exactly 1", wins.Load(), racers)
	}
}

// Through Temporal's activity test environment, so inputs and results go
// through the same payload conversion as on a worker.
func TestBookingActivitiesThroughTheSDK(t *testing.T) {
	ctx, s := seededStore(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	b := &activities.Booking{Store: s}
	env.RegisterActivity(b)

	j := journeyID(t)
	sl := testSlot(ctx, t, s, 1)
	in := contract.HoldSlotInput{JourneyID: j, Step: "book", SlotID: sl.ID, PatientID: store.SeedPatientID(2), Until: time.Now().Add(time.Hour)}
	val, err := env.ExecuteActivity(b.HoldSlot, in)
	if err != nil {
		t.Fatalf("HoldSlot: %v", err)
	}
	var held care.Appointment
	if err := val.Get(&held); err != nil {
		t.Fatal(err)
	}
	if held.Status != care.AppointmentPending || held.SlotID != sl.ID || held.Currency != "INR" || held.FeeMinor <= 0 {
		t.Errorf("held = %+v", held)
	}
	// A retry of the step returns the same appointment.
	val, err = env.ExecuteActivity(b.HoldSlot, in)
	if err != nil {
		t.Fatal(err)
	}
	var again care.Appointment
	if err := val.Get(&again); err != nil || again.ID != held.ID {
		t.Errorf("retry = %s (%v), want %s", again.ID, err, held.ID)
	}

	_, err = env.ExecuteActivity(b.HoldSlot, contract.HoldSlotInput{JourneyID: journeyID(t), Step: "book", SlotID: sl.ID,
		PatientID: store.SeedPatientID(3), Until: time.Now().Add(time.Hour)})
	wantAppError(t, "hold a held slot", err, contract.ErrTypeSlotUnavailable)

	_, err = env.ExecuteActivity(b.ConfirmAppointment, contract.AppointmentInput{JourneyID: j, Step: "confirm", AppointmentID: held.ID})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	_, err = env.ExecuteActivity(b.RecordDoctorResponse, contract.DoctorResponseInput{JourneyID: j, Step: "doctor",
		AppointmentID: held.ID, PractitionerID: store.SeedPatientID(1), Response: care.ResponseAccepted, RespondedAt: time.Now()})
	wantAppError(t, "answer as someone else", err, contract.ErrTypeNotAppointmentPractitioner)

	taken := testSlot(ctx, t, s, 1)
	if _, err := b.HoldSlot(ctx, contract.HoldSlotInput{JourneyID: journeyID(t), Step: "book", SlotID: taken.ID,
		PatientID: store.SeedPatientID(4), Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err = env.ExecuteActivity(b.Reschedule, contract.RescheduleInput{JourneyID: j, Step: "reschedule:1", AppointmentID: held.ID, NewSlotID: taken.ID})
	wantAppError(t, "reschedule to a taken slot", err, contract.ErrTypeSlotUnavailable)
	_, err = env.ExecuteActivity(b.Reschedule, contract.RescheduleInput{JourneyID: j, Step: "reschedule:2", AppointmentID: held.ID,
		NewSlotID: testSlot(ctx, t, s, 2).ID})
	wantAppError(t, "reschedule to another doctor", err, contract.ErrTypeRescheduleOutOfPolicy)
	_, err = env.ExecuteActivity(b.Reschedule, contract.RescheduleInput{JourneyID: j, Step: "reschedule:3", AppointmentID: held.ID,
		NewSlotID: testSlot(ctx, t, s, 1).ID, Policy: care.ReschedulePolicy{MaxHorizon: 24 * time.Hour}})
	wantAppError(t, "reschedule beyond the horizon", err, contract.ErrTypeRescheduleOutOfPolicy)

	_, err = env.ExecuteActivity(b.CloseEncounter, contract.CloseEncounterInput{JourneyID: j, Step: "close", AppointmentID: held.ID,
		PractitionerID: held.PractitionerID, Diagnoses: []string{"not a code"}})
	wantAppError(t, "close with a bad code", err, contract.ErrTypeInvalidInput)

	val, err = env.ExecuteActivity(b.CancelAppointment, contract.AppointmentInput{JourneyID: j, Step: "cancel", AppointmentID: held.ID, Reason: "patient"})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var cancelled care.Appointment
	if err := val.Get(&cancelled); err != nil || cancelled.Status != care.AppointmentCancelled {
		t.Errorf("cancelled = %+v (%v)", cancelled, err)
	}
	_, err = env.ExecuteActivity(b.MarkNoShow, contract.AppointmentInput{JourneyID: j, Step: "noshow", AppointmentID: held.ID})
	wantAppError(t, "no-show of a cancelled appointment", err, contract.ErrTypeAppointmentState)
	_, err = env.ExecuteActivity(b.ConfirmAppointment, contract.AppointmentInput{JourneyID: j, Step: "cancel", AppointmentID: held.ID})
	wantAppError(t, "a step ID reused for another operation", err, contract.ErrTypeStepReused)
	_, err = env.ExecuteActivity(b.ReleaseSlot, contract.AppointmentInput{JourneyID: journeyID(t), Step: "release", AppointmentID: held.ID})
	wantAppError(t, "another journey's appointment", err, contract.ErrTypeAppointmentNotFound)
	_, err = env.ExecuteActivity(b.HoldSlot, contract.HoldSlotInput{JourneyID: journeyID(t), Step: "book",
		SlotID: "00000000-0000-0000-0000-000000000002", PatientID: store.SeedPatientID(2), Until: time.Now().Add(time.Hour)})
	wantAppError(t, "unknown slot", err, contract.ErrTypeSlotNotFound)
	_, err = env.ExecuteActivity(b.HoldSlot, contract.HoldSlotInput{JourneyID: journeyID(t), Step: "book",
		SlotID: testSlot(ctx, t, s, 1).ID, PatientID: "00000000-0000-0000-0000-000000000003", Until: time.Now().Add(time.Hour)})
	wantAppError(t, "unknown patient", err, contract.ErrTypePatientNotFound)
}
