package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// Booking tests make their own slots on seeded schedules, at start times no
// generator produces (an odd number of seconds past a random minute), so they
// never collide with the demo slots or with another test's.

var journeySeq atomic.Int64

func newJourneyID(t *testing.T) string {
	return fmt.Sprintf("test:%s:%d:%d", t.Name(), time.Now().UnixNano(), journeySeq.Add(1))
}

type practitionerSchedule struct{ scheduleID, practitionerID string }

// schedules returns n seeded schedules of n different practitioners.
func schedules(ctx context.Context, t *testing.T, s *store.Store, n int) []practitionerSchedule {
	t.Helper()
	rows, err := s.Pool.Query(ctx, `SELECT DISTINCT ON (practitioner_id) id::text, practitioner_id::text
		FROM schedule ORDER BY practitioner_id, id LIMIT $1`, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []practitionerSchedule
	for rows.Next() {
		var ps practitionerSchedule
		if err := rows.Scan(&ps.scheduleID, &ps.practitionerID); err != nil {
			t.Fatal(err)
		}
		out = append(out, ps)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < n {
		t.Fatalf("want %d seeded schedules, have %d", n, len(out))
	}
	return out
}

// newSlot creates a free 15-minute slot starting about `in` from now.
func newSlot(ctx context.Context, t *testing.T, s *store.Store, ps practitionerSchedule, in time.Duration) store.Slot {
	t.Helper()
	// Millisecond starts spread at random: no collision with the
	// generator's whole minutes, nor (in practice) with earlier runs' slots.
	var start time.Time
	switch {
	case in >= 365*24*time.Hour: // anywhere in the century after `in`
		start = time.Now().Add(in + time.Duration(rand.Int64N(100*365*24*3600*1000))*time.Millisecond)
	case in >= time.Hour: // within half an hour after `in`
		start = time.Now().Add(in + time.Duration(rand.Int64N(30*60*1000))*time.Millisecond)
	default: // a consult about to start: exact
		start = time.Now().Add(in)
	}
	start = start.Truncate(time.Millisecond)
	if start.Equal(start.Truncate(time.Second)) {
		start = start.Add(time.Millisecond)
	}
	sl, err := s.CreateSlot(ctx, store.Slot{ScheduleID: ps.scheduleID, PractitionerID: ps.practitionerID,
		Start: start, End: start.Add(15 * time.Minute)})
	if err != nil {
		t.Fatalf("create slot: %v", err)
	}
	return sl
}

func setup(t *testing.T) (context.Context, *store.Store, []practitionerSchedule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s := testenv.Store(t)
	seed(ctx, t, s)
	return ctx, s, schedules(ctx, t, s, 3)
}

const farAhead = 40 * 365 * 24 * time.Hour

func hold(ctx context.Context, t *testing.T, s *store.Store, journey string, sl store.Slot, patient int) store.Appointment {
	t.Helper()
	a, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: journey, Step: "book", SlotID: sl.ID,
		PatientID: store.SeedPatientID(patient), Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("HoldSlot: %v", err)
	}
	return a
}

func TestHoldSlotRaceHasExactlyOneWinnerPerSlot(t *testing.T) {
	ctx, s, ps := setup(t)
	const slots, racers = 8, 16
	var slotList []store.Slot
	for i := range slots {
		slotList = append(slotList, newSlot(ctx, t, s, ps[i%len(ps)], farAhead))
	}
	type outcome struct {
		slot    string
		journey string
		appt    store.Appointment
		err     error
	}
	results := make(chan outcome, slots*racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, sl := range slotList {
		for r := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				journey := newJourneyID(t)
				<-start
				a, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: journey, Step: "book", SlotID: sl.ID,
					PatientID: store.SeedPatientID(1 + r%store.SeedPatientCount), Until: time.Now().Add(time.Hour)})
				results <- outcome{sl.ID, journey, a, err}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(results)

	winners := map[string][]outcome{}
	for o := range results {
		switch {
		case o.err == nil:
			winners[o.slot] = append(winners[o.slot], o)
		case errors.Is(o.err, store.ErrSlotUnavailable):
		default:
			t.Errorf("slot %s: unexpected error %v", o.slot, o.err)
		}
	}
	for _, sl := range slotList {
		w := winners[sl.ID]
		if len(w) != 1 {
			t.Errorf("slot %s: %d winners, want exactly 1", sl.ID, len(w))
			continue
		}
		got, err := s.GetSlot(ctx, sl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.SlotHeld || got.AppointmentID != w[0].appt.ID {
			t.Errorf("slot %s = %s by %s, want held by the winner %s", sl.ID, got.Status, got.AppointmentID, w[0].appt.ID)
		}
		var appts int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM appointment WHERE slot_id = $1`, sl.ID).Scan(&appts); err != nil {
			t.Fatal(err)
		}
		if appts != 1 {
			t.Errorf("slot %s has %d appointments, want 1", sl.ID, appts)
		}
	}
}

func TestHoldSlotIsIdempotentPerJourneyStep(t *testing.T) {
	ctx, s, ps := setup(t)
	sl := newSlot(ctx, t, s, ps[0], farAhead)
	req := store.HoldSlotRequest{JourneyID: newJourneyID(t), Step: "book", SlotID: sl.ID,
		PatientID: store.SeedPatientID(2), Until: time.Now().Add(time.Hour).Truncate(time.Second)}

	// Concurrent retries of one step (a timed-out attempt still running
	// beside its retry) all get the one appointment.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := s.HoldSlot(ctx, req)
			ids[i], errs[i] = a.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("retry %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("retry %d got appointment %s, want %s", i, ids[i], ids[0])
		}
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM appointment WHERE journey_id = $1`, req.JourneyID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("journey has %d appointments, want 1", n)
	}
	a, err := s.GetAppointment(ctx, req.JourneyID, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != store.AppointmentPending || a.DoctorResponse != store.ResponseNeedsAction || a.FeeMinor <= 0 ||
		a.HoldUntil == nil || !a.HoldUntil.Equal(req.Until) || !a.Start.Equal(sl.Start) {
		t.Errorf("appointment = %+v", a)
	}

	// The same step asking for another slot is a workflow bug, not a new hold.
	other := newSlot(ctx, t, s, ps[0], farAhead)
	req.SlotID = other.ID
	if _, err := s.HoldSlot(ctx, req); !errors.Is(err, store.ErrStepReused) {
		t.Errorf("same step, other slot: err = %v, want ErrStepReused", err)
	}
}

func TestLapsedHoldCanBeTakenAndThenCannotBeConfirmed(t *testing.T) {
	ctx, s, ps := setup(t)
	sl := newSlot(ctx, t, s, ps[1], farAhead)
	first, second := newJourneyID(t), newJourneyID(t)
	a1, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: first, Step: "book", SlotID: sl.ID,
		PatientID: store.SeedPatientID(3), Until: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: second, Step: "book", SlotID: sl.ID,
		PatientID: store.SeedPatientID(4), Until: time.Now().Add(time.Hour)}); !errors.Is(err, store.ErrSlotUnavailable) {
		t.Fatalf("hold of a held slot: err = %v, want ErrSlotUnavailable", err)
	}
	time.Sleep(1500 * time.Millisecond)
	a2, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: second, Step: "book:2", SlotID: sl.ID,
		PatientID: store.SeedPatientID(4), Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("hold after the first hold lapsed: %v", err)
	}
	old, err := s.GetAppointment(ctx, first, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Status != store.AppointmentCancelled || old.CancellationReason != "hold-expired" {
		t.Errorf("lapsed appointment = %s (%s), want cancelled (hold-expired)", old.Status, old.CancellationReason)
	}
	_, err = s.ConfirmAppointment(ctx, store.AppointmentRequest{JourneyID: first, Step: "confirm", AppointmentID: a1.ID})
	if !errors.Is(err, store.ErrAppointmentState) {
		t.Errorf("confirm the lapsed appointment: err = %v, want ErrAppointmentState", err)
	}
	if got, _ := s.GetSlot(ctx, sl.ID); got.AppointmentID != a2.ID {
		t.Errorf("slot holder = %s, want %s", got.AppointmentID, a2.ID)
	}
}

func TestConfirmAfterLapseStillBooksAnUntakenSlot(t *testing.T) {
	ctx, s, ps := setup(t)
	sl := newSlot(ctx, t, s, ps[1], farAhead)
	j := newJourneyID(t)
	a, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: j, Step: "book", SlotID: sl.ID,
		PatientID: store.SeedPatientID(5), Until: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	got, err := s.ConfirmAppointment(ctx, store.AppointmentRequest{JourneyID: j, Step: "confirm", AppointmentID: a.ID})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if got.Status != store.AppointmentBooked || got.HoldUntil != nil {
		t.Errorf("confirmed = %s hold_until %v, want booked without a hold", got.Status, got.HoldUntil)
	}
	if slot, _ := s.GetSlot(ctx, sl.ID); slot.Status != store.SlotBooked {
		t.Errorf("slot = %s, want booked", slot.Status)
	}
	// Another journey's appointment ID is not this journey's.
	if _, err := s.ConfirmAppointment(ctx, store.AppointmentRequest{JourneyID: newJourneyID(t), Step: "confirm", AppointmentID: a.ID}); !errors.Is(err, store.ErrAppointmentNotFound) {
		t.Errorf("confirm from another journey: err = %v, want ErrAppointmentNotFound", err)
	}
}

func TestReleaseFreesTheSlot(t *testing.T) {
	ctx, s, ps := setup(t)
	sl := newSlot(ctx, t, s, ps[2], farAhead)
	j := newJourneyID(t)
	a := hold(ctx, t, s, j, sl, 6)
	for _, step := range []string{"release", "release", "release:again"} {
		got, err := s.ReleaseSlot(ctx, store.AppointmentRequest{JourneyID: j, Step: step, AppointmentID: a.ID, Reason: "payment-timeout"})
		if err != nil {
			t.Fatalf("release (%s): %v", step, err)
		}
		if got.Status != store.AppointmentCancelled || got.CancellationReason != "payment-timeout" {
			t.Errorf("released = %s (%s)", got.Status, got.CancellationReason)
		}
	}
	if got, _ := s.GetSlot(ctx, sl.ID); got.Status != store.SlotFree || got.AppointmentID != "" {
		t.Errorf("slot = %+v, want free", got)
	}
	hold(ctx, t, s, newJourneyID(t), sl, 7) // free again for anyone

	// A booked appointment is cancelled, not released.
	sl2 := newSlot(ctx, t, s, ps[2], farAhead)
	j2 := newJourneyID(t)
	b := hold(ctx, t, s, j2, sl2, 6)
	if _, err := s.ConfirmAppointment(ctx, store.AppointmentRequest{JourneyID: j2, Step: "confirm", AppointmentID: b.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseSlot(ctx, store.AppointmentRequest{JourneyID: j2, Step: "release", AppointmentID: b.ID}); !errors.Is(err, store.ErrAppointmentState) {
		t.Errorf("release a booked appointment: err = %v, want ErrAppointmentState", err)
	}
}

func book(ctx context.Context, t *testing.T, s *store.Store, j string, sl store.Slot, patient int) store.Appointment {
	t.Helper()
	a := hold(ctx, t, s, j, sl, patient)
	b, err := s.ConfirmAppointment(ctx, store.AppointmentRequest{JourneyID: j, Step: "confirm", AppointmentID: a.ID})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	return b
}

func TestRescheduleMovesAtomicallyAndRefusesOutOfPolicy(t *testing.T) {
	ctx, s, ps := setup(t)
	j := newJourneyID(t)
	from := newSlot(ctx, t, s, ps[0], farAhead)
	a := book(ctx, t, s, j, from, 8)

	to := newSlot(ctx, t, s, ps[0], farAhead)
	moved, err := s.Reschedule(ctx, store.RescheduleRequest{JourneyID: j, Step: "reschedule:1", AppointmentID: a.ID, NewSlotID: to.ID})
	if err != nil {
		t.Fatalf("reschedule: %v", err)
	}
	if moved.SlotID != to.ID || !moved.Start.Equal(to.Start) || moved.Status != store.AppointmentBooked {
		t.Errorf("moved = %+v", moved)
	}
	if got, _ := s.GetSlot(ctx, from.ID); got.Status != store.SlotFree {
		t.Errorf("old slot = %s, want free", got.Status)
	}
	if got, _ := s.GetSlot(ctx, to.ID); got.Status != store.SlotBooked || got.AppointmentID != a.ID {
		t.Errorf("new slot = %+v, want booked by %s", got, a.ID)
	}

	taken := newSlot(ctx, t, s, ps[0], farAhead)
	hold(ctx, t, s, newJourneyID(t), taken, 9)
	other := newSlot(ctx, t, s, ps[1], farAhead)
	soon := newSlot(ctx, t, s, ps[0], 2*time.Hour)
	cases := []struct {
		name   string
		slot   string
		policy store.ReschedulePolicy
		want   error
	}{
		{"taken slot", taken.ID, store.ReschedulePolicy{}, store.ErrSlotUnavailable},
		{"another doctor", other.ID, store.ReschedulePolicy{}, store.ErrOutOfPolicy},
		{"too soon", soon.ID, store.ReschedulePolicy{MinLeadTime: 3 * time.Hour}, store.ErrOutOfPolicy},
		{"too far ahead", newSlot(ctx, t, s, ps[0], farAhead).ID, store.ReschedulePolicy{MaxHorizon: 30 * 24 * time.Hour}, store.ErrOutOfPolicy},
		{"unknown slot", "00000000-0000-0000-0000-000000000001", store.ReschedulePolicy{}, store.ErrSlotNotFound},
	}
	for i, c := range cases {
		_, err := s.Reschedule(ctx, store.RescheduleRequest{JourneyID: j, Step: fmt.Sprintf("reschedule:refused:%d", i),
			AppointmentID: a.ID, NewSlotID: c.slot, Policy: c.policy})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// Another doctor is fine when the policy allows it; the appointment follows.
	moved, err = s.Reschedule(ctx, store.RescheduleRequest{JourneyID: j, Step: "reschedule:2", AppointmentID: a.ID, NewSlotID: other.ID,
		Policy: store.ReschedulePolicy{AllowOtherPractitioner: true}})
	if err != nil || moved.PractitionerID != ps[1].practitionerID {
		t.Errorf("reschedule to another doctor when allowed: %+v, %v", moved, err)
	}
	// Too close to the current start: a booking 2 hours out with a 3-hour cutoff.
	j2 := newJourneyID(t)
	b := book(ctx, t, s, j2, soon, 10)
	if _, err := s.Reschedule(ctx, store.RescheduleRequest{JourneyID: j2, Step: "reschedule", AppointmentID: b.ID,
		NewSlotID: newSlot(ctx, t, s, ps[0], farAhead).ID, Policy: store.ReschedulePolicy{Cutoff: 3 * time.Hour}}); !errors.Is(err, store.ErrOutOfPolicy) {
		t.Errorf("inside the cutoff: err = %v, want ErrOutOfPolicy", err)
	}
}

func TestRescheduleKeepsAPendingHoldDeadline(t *testing.T) {
	ctx, s, ps := setup(t)
	j := newJourneyID(t)
	a := hold(ctx, t, s, j, newSlot(ctx, t, s, ps[2], farAhead), 11)
	to := newSlot(ctx, t, s, ps[2], farAhead)
	moved, err := s.Reschedule(ctx, store.RescheduleRequest{JourneyID: j, Step: "reschedule", AppointmentID: a.ID, NewSlotID: to.ID})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Status != store.AppointmentPending || moved.HoldUntil == nil || !moved.HoldUntil.Equal(*a.HoldUntil) {
		t.Errorf("moved hold = %s until %v, want pending until %v", moved.Status, moved.HoldUntil, a.HoldUntil)
	}
}

// Reschedules of several appointments and fresh holds all race for one
// slot: exactly one gets it, and no operation deadlocks or leaves a slot
// claimed by two appointments.
func TestRescheduleAndHoldRaceForOneSlot(t *testing.T) {
	ctx, s, ps := setup(t)
	target := newSlot(ctx, t, s, ps[0], farAhead)
	type mover struct {
		journey string
		appt    store.Appointment
	}
	var movers []mover
	for i := range 6 {
		j := newJourneyID(t)
		movers = append(movers, mover{j, book(ctx, t, s, j, newSlot(ctx, t, s, ps[0], farAhead), 1+i)})
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, m := range movers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.Reschedule(ctx, store.RescheduleRequest{JourneyID: m.journey, Step: "reschedule", AppointmentID: m.appt.ID, NewSlotID: target.ID})
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, store.ErrSlotUnavailable) {
				t.Errorf("reschedule: %v", err)
			}
		}()
	}
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: newJourneyID(t), Step: "book", SlotID: target.ID,
				PatientID: store.SeedPatientID(10 + i), Until: time.Now().Add(time.Hour)})
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, store.ErrSlotUnavailable) {
				t.Errorf("hold: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d operations got the slot, want exactly 1", wins.Load())
	}
	var claims int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM appointment WHERE slot_id = $1 AND status IN ('pending', 'booked')`, target.ID).Scan(&claims); err != nil {
		t.Fatal(err)
	}
	if claims != 1 {
		t.Errorf("%d live appointments on the slot, want 1", claims)
	}
}

func TestDoctorResponseOnlyFromTheAppointmentsDoctorAndOnce(t *testing.T) {
	ctx, s, ps := setup(t)
	j := newJourneyID(t)
	a := hold(ctx, t, s, j, newSlot(ctx, t, s, ps[1], farAhead), 12)
	when := time.Now().Add(-time.Minute).Truncate(time.Second)
	req := store.DoctorResponseRequest{JourneyID: j, Step: "doctor", AppointmentID: a.ID,
		PractitionerID: ps[2].practitionerID, Response: store.ResponseAccepted, RespondedAt: when}
	if _, err := s.RecordDoctorResponse(ctx, req); !errors.Is(err, store.ErrWrongPractitioner) {
		t.Errorf("another doctor: err = %v, want ErrWrongPractitioner", err)
	}
	req.PractitionerID = a.PractitionerID
	for range 2 {
		got, err := s.RecordDoctorResponse(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if got.DoctorResponse != store.ResponseAccepted {
			t.Errorf("doctor response = %s", got.DoctorResponse)
		}
	}
	var actor string
	var at time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT actor_id::text, responded_at FROM appointment_response WHERE appointment_id = $1`, a.ID).Scan(&actor, &at); err != nil {
		t.Fatalf("appointment_response: %v", err)
	}
	if actor != a.PractitionerID || !at.Equal(when) {
		t.Errorf("response by %s at %v, want %s at %v", actor, at, a.PractitionerID, when)
	}
	req.Step, req.Response = "doctor:again", store.ResponseDeclined
	if _, err := s.RecordDoctorResponse(ctx, req); !errors.Is(err, store.ErrAppointmentState) {
		t.Errorf("a second, different answer: err = %v, want ErrAppointmentState", err)
	}
}

func TestCancelFreesTheSlotAndNoShowNeedsAStartedBooking(t *testing.T) {
	ctx, s, ps := setup(t)
	j := newJourneyID(t)
	sl := newSlot(ctx, t, s, ps[0], farAhead)
	a := book(ctx, t, s, j, sl, 13)
	if _, err := s.MarkNoShow(ctx, store.AppointmentRequest{JourneyID: j, Step: "noshow", AppointmentID: a.ID}); !errors.Is(err, store.ErrAppointmentState) {
		t.Errorf("no-show before the start: err = %v, want ErrAppointmentState", err)
	}
	c, err := s.CancelAppointment(ctx, store.AppointmentRequest{JourneyID: j, Step: "cancel", AppointmentID: a.ID, Reason: "patient-cancelled"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.AppointmentCancelled || !c.Start.Equal(sl.Start) {
		t.Errorf("cancelled = %+v", c)
	}
	if got, _ := s.GetSlot(ctx, sl.ID); got.Status != store.SlotFree {
		t.Errorf("slot after cancel = %s, want free", got.Status)
	}

	// A consult that starts in two seconds, booked, then missed.
	j2 := newJourneyID(t)
	soon := newSlot(ctx, t, s, ps[0], 2*time.Second)
	b := book(ctx, t, s, j2, soon, 13)
	time.Sleep(time.Until(soon.Start) + 200*time.Millisecond)
	ns, err := s.MarkNoShow(ctx, store.AppointmentRequest{JourneyID: j2, Step: "noshow", AppointmentID: b.ID})
	if err != nil {
		t.Fatalf("no-show: %v", err)
	}
	if ns.Status != store.AppointmentNoShow {
		t.Errorf("status = %s, want noshow", ns.Status)
	}
	if _, err := s.CancelAppointment(ctx, store.AppointmentRequest{JourneyID: j2, Step: "cancel", AppointmentID: b.ID}); !errors.Is(err, store.ErrAppointmentState) {
		t.Errorf("cancel a no-show: err = %v, want ErrAppointmentState", err)
	}
}

func TestCloseEncounterStoresNotesAndOrdersButReturnsNoNotes(t *testing.T) {
	ctx, s, ps := setup(t)
	j := newJourneyID(t)
	a := book(ctx, t, s, j, newSlot(ctx, t, s, ps[1], farAhead), 14)
	const notes = "Patient reports polyuria for three weeks; counselled on diet."
	req := store.CloseEncounterRequest{JourneyID: j, Step: "consult:close", AppointmentID: a.ID, PractitionerID: a.PractitionerID,
		Diagnoses: []string{"E11.9", "I10"}, Notes: notes,
		Orders: []store.EncounterOrder{
			{Kind: store.OrderLabTest, Code: "4548-4"},
			{Kind: store.OrderPrescription, Code: "RX-METFORMIN-500", Display: "Metformin 500 mg twice daily", Detail: map[string]string{"dose": "500 mg"}},
			{Kind: store.OrderFollowUp, AfterDays: 90},
			{Kind: store.OrderDietReferral},
		}}

	bad := []struct {
		name   string
		mutate func(*store.CloseEncounterRequest)
		want   error
	}{
		{"not ICD-10", func(r *store.CloseEncounterRequest) { r.Diagnoses = []string{"diabetes"} }, store.ErrInvalid},
		{"unknown lab test", func(r *store.CloseEncounterRequest) {
			r.Orders = []store.EncounterOrder{{Kind: store.OrderLabTest, Code: "0000-0"}}
		}, store.ErrInvalid},
		{"follow-up without interval", func(r *store.CloseEncounterRequest) { r.Orders = []store.EncounterOrder{{Kind: store.OrderFollowUp}} }, store.ErrInvalid},
		{"unknown order kind", func(r *store.CloseEncounterRequest) { r.Orders = []store.EncounterOrder{{Kind: "surgery"}} }, store.ErrInvalid},
		{"another doctor", func(r *store.CloseEncounterRequest) { r.PractitionerID = ps[0].practitionerID }, store.ErrWrongPractitioner},
	}
	for i, b := range bad {
		r := req
		r.Step = fmt.Sprintf("consult:bad:%d", i)
		b.mutate(&r)
		if _, err := s.CloseEncounter(ctx, r); !errors.Is(err, b.want) {
			t.Errorf("%s: err = %v, want %v", b.name, err, b.want)
		} else if strings.Contains(err.Error(), "diabetes") {
			t.Errorf("%s: the error repeats the submitted diagnosis: %v", b.name, err)
		}
	}

	e, err := s.CloseEncounter(ctx, req)
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	again, err := s.CloseEncounter(ctx, req)
	if err != nil || again.ID != e.ID {
		t.Errorf("retry: encounter %s, %v; want %s", again.ID, err, e.ID)
	}
	raw, _ := json.Marshal(e)
	if strings.Contains(string(raw), "polyuria") {
		t.Errorf("the result carries the notes: %s", raw)
	}
	var storedNote string
	var codes []string
	var orders int
	if err := s.Pool.QueryRow(ctx, `SELECT note, diagnosis_codes, (SELECT count(*) FROM encounter_order WHERE encounter_id = e.id)
		FROM encounter e WHERE id = $1`, e.ID).Scan(&storedNote, &codes, &orders); err != nil {
		t.Fatal(err)
	}
	if storedNote != notes || strings.Join(codes, ",") != "E11.9,I10" || orders != 4 {
		t.Errorf("stored note %q codes %v orders %d", storedNote, codes, orders)
	}
	if got, _ := s.GetAppointment(ctx, j, a.ID); got.Status != store.AppointmentFulfilled {
		t.Errorf("appointment = %s, want fulfilled", got.Status)
	}
}

func TestICD10Shape(t *testing.T) {
	for code, want := range map[string]bool{
		"E11.9": true, "I10": true, "J45.909": true, "S72.001A": true, "Z00.00": true,
		"e11.9": false, "E1": false, "E11.": false, "11.9": false, "E11.12345": false, "diabetes": false,
	} {
		if got := store.ValidICD10(code); got != want {
			t.Errorf("ValidICD10(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestGenerateSlotsFollowsSchedulesAndIsIdempotent(t *testing.T) {
	ctx, s, _ := setup(t)
	// A week far ahead, so no other test's slots are there; the first run of
	// the test on a database adds it, every later run adds nothing.
	from := time.Date(2091, 3, 4, 0, 0, 0, 0, time.UTC)
	if _, err := s.GenerateSlots(ctx, from, 7); err != nil {
		t.Fatal(err)
	}
	// Other packages' tests add practitioners with schedules at any time,
	// and GenerateSlots serves every schedule: the checks look at the
	// seeded practitioners' schedules only.
	seeded := store.SeedPractitionerIDs()
	seededSlots := func() int {
		var n int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM slot sl JOIN schedule sc ON sc.id = sl.schedule_id
			WHERE sc.practitioner_id = ANY($1::uuid[]) AND sl.start >= $2 AND sl.start < $2::timestamptz + interval '8 days'`,
			seeded, from.Add(-24*time.Hour)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := seededSlots()
	if _, err := s.GenerateSlots(ctx, from, 7); err != nil {
		t.Fatal(err)
	}
	if after := seededSlots(); after != before {
		t.Errorf("second run changed the seeded schedules' slots from %d to %d, want no change", before, after)
	}
	// Each schedule's slots in that week: on its weekday, inside its local
	// hours, slot_minutes long, and as many as fit.
	rows, err := s.Pool.Query(ctx, `
		SELECT sc.id::text, sc.weekday, sc.start_time::text, sc.end_time::text, sc.slot_minutes, sc.timezone,
			count(sl.id), bool_and(extract(dow FROM sl.start AT TIME ZONE sc.timezone) = sc.weekday),
			bool_and((sl.start AT TIME ZONE sc.timezone)::time >= sc.start_time AND (sl."end" AT TIME ZONE sc.timezone)::time <= sc.end_time),
			bool_and(sl."end" - sl.start = make_interval(mins => sc.slot_minutes))
		FROM schedule sc LEFT JOIN slot sl ON sl.schedule_id = sc.id AND sl.start >= $1 AND sl.start < $1::timestamptz + interval '7 days'
			AND sl.start = date_trunc('minute', sl.start) -- generated slots only: test slots start at odd milliseconds
		WHERE sc.practitioner_id = ANY($2::uuid[])
		GROUP BY sc.id`, from.Add(-24*time.Hour), seeded)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	schedulesSeen := 0
	for rows.Next() {
		var id, startT, endT, tz string
		var weekday, minutes, count int
		var onDay, inHours, length *bool
		if err := rows.Scan(&id, &weekday, &startT, &endT, &minutes, &tz, &count, &onDay, &inHours, &length); err != nil {
			t.Fatal(err)
		}
		schedulesSeen++
		st, _ := time.Parse("15:04:05", startT)
		en, _ := time.Parse("15:04:05", endT)
		want := int(en.Sub(st).Minutes()) / minutes
		if count != want || onDay == nil || !*onDay || !*inHours || !*length {
			t.Errorf("schedule %s (weekday %d %s-%s every %d min, %s): %d slots (want %d), on its day %v, in hours %v, length %v",
				id, weekday, startT, endT, minutes, tz, count, want, deref(onDay), deref(inHours), deref(length))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if schedulesSeen < 150 {
		t.Errorf("checked %d schedules, want the seeded ones", schedulesSeen)
	}
}

func deref(b *bool) bool { return b != nil && *b }

func TestSeedCutsBookableSlotsForTwoWeeksAndKeepsTakenOnes(t *testing.T) {
	ctx, s, _ := setup(t)
	var practitioners, slots int
	if err := s.Pool.QueryRow(ctx, `SELECT count(DISTINCT practitioner_id), count(*) FROM slot
		WHERE start > now() AND start < now() + interval '14 days' AND start = date_trunc('minute', start)`).Scan(&practitioners, &slots); err != nil {
		t.Fatal(err)
	}
	// Every doctor consults 3 to 5 weekdays, so two weeks hold at least 4 sessions of each.
	if practitioners < 90 || slots < 90*4*6 {
		t.Errorf("next 14 days: %d slots of %d practitioners", slots, practitioners)
	}
	// A held seeded slot stays held through a reload.
	var slotID string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM slot WHERE status = 'free' AND start > now() + interval '1 day'
		AND start < now() + interval '14 days' AND start = date_trunc('minute', start) ORDER BY random() LIMIT 1`).Scan(&slotID); err != nil {
		t.Fatal(err)
	}
	j := newJourneyID(t)
	a, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: j, Step: "book", SlotID: slotID, PatientID: store.SeedPatientID(20), Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("hold a seeded slot: %v", err)
	}
	t.Cleanup(func() {
		if _, err := s.ReleaseSlot(context.Background(), store.AppointmentRequest{JourneyID: j, Step: "release", AppointmentID: a.ID}); err != nil {
			t.Errorf("release: %v", err)
		}
	})
	seed(ctx, t, s)
	if got, _ := s.GetSlot(ctx, slotID); got.Status != store.SlotHeld || got.AppointmentID != a.ID {
		t.Errorf("after reload the slot is %s by %s, want held by %s", got.Status, got.AppointmentID, a.ID)
	}
}

// BenchmarkHoldSlot measures one hold (the operation log, the slot lock, the
// appointment insert) on a slot nobody else wants, and the same under
// contention: 8 journeys per slot, of which one wins.
func BenchmarkHoldSlot(b *testing.B) {
	ctx := context.Background()
	s := testenv.Store(b)
	if _, err := s.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	var ps practitionerSchedule
	if err := s.Pool.QueryRow(ctx, `SELECT id::text, practitioner_id::text FROM schedule ORDER BY id LIMIT 1`).Scan(&ps.scheduleID, &ps.practitionerID); err != nil {
		b.Fatal(err)
	}
	mkSlot := func() store.Slot {
		start := time.Now().Add(farAhead + time.Duration(rand.Int64N(int64(200*365*24*time.Hour)))).Truncate(time.Second).Add(3 * time.Millisecond)
		sl, err := s.CreateSlot(ctx, store.Slot{ScheduleID: ps.scheduleID, PractitionerID: ps.practitionerID, Start: start, End: start.Add(15 * time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		return sl
	}
	b.Run("uncontended", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			sl := mkSlot()
			j := fmt.Sprintf("bench:%d", journeySeq.Add(1))
			b.StartTimer()
			if _, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: j, Step: "book", SlotID: sl.ID,
				PatientID: store.SeedPatientID(1), Until: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("8-racers", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			sl := mkSlot()
			b.StartTimer()
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: fmt.Sprintf("bench:%d", journeySeq.Add(1)), Step: "book",
						SlotID: sl.ID, PatientID: store.SeedPatientID(1), Until: time.Now().Add(time.Hour)})
					if err != nil && !errors.Is(err, store.ErrSlotUnavailable) {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
		}
	})
}
