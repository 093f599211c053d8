package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Booking: slots, appointments, the doctor's response and the closed
// encounter. Every write runs in one transaction that locks the rows it
// reads, always in the same order (slots by ID, then appointments), so two
// operations never wait on each other in a cycle.

// Errors of the booking operations; activities turn each into an
// application error with a stable type.
var (
	ErrSlotNotFound        = errors.New("slot not found")
	ErrSlotUnavailable     = errors.New("slot is not available")
	ErrAppointmentNotFound = errors.New("appointment not found")
	// ErrAppointmentState: the appointment's status does not allow the operation.
	ErrAppointmentState = errors.New("appointment status does not allow this")
	// ErrHoldExpired: the hold lapsed and someone else has the slot now.
	ErrHoldExpired = errors.New("hold expired and the slot was taken")
	// ErrOutOfPolicy: a reschedule outside the pathway's policy.
	ErrOutOfPolicy = errors.New("outside the rescheduling policy")
	// ErrWrongPractitioner: the practitioner is not the appointment's.
	ErrWrongPractitioner = errors.New("not the appointment's practitioner")
	// ErrStepReused: the journey's step ID was already used for another request.
	ErrStepReused = errors.New("step already used for a different request")
	// ErrInvalid: the request itself is wrong (a bad code, a missing field).
	ErrInvalid = errors.New("invalid request")
)

// CreateSlot inserts a free slot (or does nothing if its ID exists) and
// returns it as stored. The generator and tests use it.
func (s *Store) CreateSlot(ctx context.Context, sl Slot) (Slot, error) {
	if sl.ID == "" {
		sl.ID = uuid.NewString()
	}
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO slot (id, schedule_id, practitioner_id, start, "end", status)
		VALUES ($1, $2, $3, $4, $5, 'free') ON CONFLICT (id) DO NOTHING`,
		sl.ID, sl.ScheduleID, sl.PractitionerID, sl.Start, sl.End)
	if err != nil {
		return Slot{}, fmt.Errorf("store: create slot: %w", err)
	}
	return s.GetSlot(ctx, sl.ID)
}

// GetSlot returns one slot.
func (s *Store) GetSlot(ctx context.Context, id string) (Slot, error) {
	var sl Slot
	var apptID *string
	err := s.Pool.QueryRow(ctx, `
		SELECT id::text, schedule_id::text, practitioner_id::text, start, "end", status, appointment_id::text, held_until
		FROM slot WHERE id = $1`, id).
		Scan(&sl.ID, &sl.ScheduleID, &sl.PractitionerID, &sl.Start, &sl.End, &sl.Status, &apptID, &sl.HeldUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return Slot{}, fmt.Errorf("store: slot %s: %w", id, ErrSlotNotFound)
	}
	if err != nil {
		return Slot{}, fmt.Errorf("store: get slot %s: %w", id, err)
	}
	if apptID != nil {
		sl.AppointmentID = *apptID
	}
	sl.Start, sl.End, sl.HeldUntil = sl.Start.UTC(), sl.End.UTC(), utcPtr(sl.HeldUntil)
	return sl, nil
}

// GenerateSlots cuts free slots from every schedule for the days days
// starting on from's date (in each schedule's time zone), keeping only slots
// that start after from. Slot IDs are derived from the schedule and the start
// time and existing slots are left alone, so running it again (the seed does,
// every load) adds only the days that have come into range and never frees a
// held or booked slot. It returns how many slots it added.
func (s *Store) GenerateSlots(ctx context.Context, from time.Time, days int) (int64, error) {
	tag, err := s.Pool.Exec(ctx, generateSlotsSQL, from, days)
	if err != nil {
		return 0, fmt.Errorf("store: generate slots: %w", err)
	}
	return tag.RowsAffected(), nil
}

// generateSlotsSQL: local dates are computed in the schedule's time zone and
// each slot's local start is converted back with AT TIME ZONE, so slots stay
// on the clinic's wall clock across daylight-saving changes.
const generateSlotsSQL = `
	INSERT INTO slot (id, schedule_id, practitioner_id, start, "end", status)
	SELECT md5('slot/' || s.id::text || '/' || to_char(t.st AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))::uuid,
		s.id, s.practitioner_id, t.st, t.st + make_interval(mins => s.slot_minutes), 'free'
	FROM schedule s
	CROSS JOIN LATERAL generate_series(
		($1::timestamptz AT TIME ZONE s.timezone)::date,
		($1::timestamptz AT TIME ZONE s.timezone)::date + ($2::int - 1),
		interval '1 day') AS d(day)
	CROSS JOIN LATERAL generate_series(0,
		(extract(epoch FROM s.end_time - s.start_time)::int / 60) / s.slot_minutes - 1) AS k(n)
	CROSS JOIN LATERAL (SELECT ((d.day::date + s.start_time + make_interval(mins => k.n * s.slot_minutes))
		AT TIME ZONE s.timezone) AS st) AS t
	WHERE extract(dow FROM d.day) = s.weekday AND t.st > $1::timestamptz
	ON CONFLICT DO NOTHING`

// HoldSlotRequest asks to hold a slot for a journey until a time.
type HoldSlotRequest struct {
	JourneyID string    `json:"journey_id"`
	Step      string    `json:"step"`
	SlotID    string    `json:"slot_id"`
	PatientID string    `json:"patient_id"`
	Until     time.Time `json:"until"`
}

// HoldSlot atomically moves a free slot (or one whose hold has lapsed) to
// held for this journey and creates its pending appointment. Of any number of
// journeys racing for one slot exactly one wins; the others get
// ErrSlotUnavailable. A retry of the same journey step returns the same
// appointment. A hold never outlasts the slot's start.
func (s *Store) HoldSlot(ctx context.Context, r HoldSlotRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.SlotID, r.PatientID); err != nil {
		return Appointment{}, fmt.Errorf("store: hold slot: %w", err)
	}
	if !validUUID(r.SlotID) || !validUUID(r.PatientID) {
		return Appointment{}, fmt.Errorf("store: hold slot: slot and patient IDs must be UUIDs: %w", ErrInvalid)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "hold_slot", r, func(tx pgx.Tx) (Appointment, string, error) {
		now, err := dbNow(ctx, tx)
		if err != nil {
			return Appointment{}, "", err
		}
		if !r.Until.After(now) {
			return Appointment{}, "", fmt.Errorf("hold until %s is not in the future: %w", r.Until.UTC().Format(time.RFC3339), ErrInvalid)
		}
		sl, err := lockSlots(ctx, tx, r.SlotID)
		if err != nil {
			return Appointment{}, "", err
		}
		slot := sl[r.SlotID]
		if err := takeable(ctx, tx, slot, now); err != nil {
			return Appointment{}, "", err
		}
		var fee int64
		var currency string
		if err := tx.QueryRow(ctx, `SELECT consult_fee_minor, currency FROM practitioner WHERE id = $1`, slot.PractitionerID).
			Scan(&fee, &currency); err != nil {
			return Appointment{}, "", fmt.Errorf("practitioner fee: %w", err)
		}
		until := r.Until
		if until.After(slot.Start) {
			until = slot.Start
		}
		id := uuid.NewString()
		if _, err := tx.Exec(ctx, `
			INSERT INTO appointment (id, journey_id, step, patient_id, practitioner_id, slot_id, status, fee_minor, currency)
			VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)`,
			id, r.JourneyID, r.Step, r.PatientID, slot.PractitionerID, slot.ID, fee, currency); err != nil {
			if IsForeignKeyViolation(err) {
				return Appointment{}, "", fmt.Errorf("patient %s: %w", r.PatientID, ErrPatientNotFound)
			}
			return Appointment{}, "", fmt.Errorf("insert appointment: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE slot SET status = 'held', appointment_id = $2, held_until = $3, updated_at = now() WHERE id = $1`,
			slot.ID, id, until); err != nil {
			return Appointment{}, "", fmt.Errorf("hold slot: %w", err)
		}
		a, err := getAppointment(ctx, tx, r.JourneyID, id)
		return a, id, err
	})
}

// takeable reports whether a locked slot can be given to a new holder: it is
// free, or held with a lapsed hold (whose appointment is then cancelled).
func takeable(ctx context.Context, tx pgx.Tx, slot Slot, now time.Time) error {
	if !slot.Start.After(now) {
		return fmt.Errorf("slot %s has started: %w", slot.ID, ErrSlotUnavailable)
	}
	switch {
	case slot.Status == SlotFree:
		return nil
	case slot.Status == SlotHeld && slot.HeldUntil != nil && !slot.HeldUntil.After(now):
		// The earlier holder never paid in time; its appointment lapses.
		if _, err := tx.Exec(ctx, `
			UPDATE appointment SET status = 'cancelled', cancellation_reason = 'hold-expired', updated_at = now()
			WHERE id = $1 AND status = 'pending'`, slot.AppointmentID); err != nil {
			return fmt.Errorf("cancel lapsed hold: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("slot %s is %s: %w", slot.ID, slot.Status, ErrSlotUnavailable)
	}
}

// AppointmentRequest names an appointment of a journey, for the operations
// that only change its status.
type AppointmentRequest struct {
	JourneyID     string `json:"journey_id"`
	Step          string `json:"step"`
	AppointmentID string `json:"appointment_id"`
	Reason        string `json:"reason,omitempty"` // a code such as "payment-timeout", not free text
}

// ReleaseSlot gives up a pending appointment's hold: the slot becomes free
// and the appointment cancelled with the reason. Releasing an appointment
// that is already cancelled changes nothing; a booked one must be cancelled
// instead (ErrAppointmentState).
func (s *Store) ReleaseSlot(ctx context.Context, r AppointmentRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID); err != nil {
		return Appointment{}, fmt.Errorf("store: release slot: %w", err)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "release_slot", r, func(tx pgx.Tx) (Appointment, string, error) {
		a, slots, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID)
		if err != nil {
			return Appointment{}, "", err
		}
		switch a.Status {
		case AppointmentCancelled:
			return a, a.ID, nil
		case AppointmentPending:
		default:
			return Appointment{}, "", fmt.Errorf("release a %s appointment: %w", a.Status, ErrAppointmentState)
		}
		if err := freeSlotOf(ctx, tx, slots[a.SlotID], a.ID); err != nil {
			return Appointment{}, "", err
		}
		return setStatus(ctx, tx, a, AppointmentCancelled, orDefault(r.Reason, "released"))
	})
}

// ConfirmAppointment books a pending appointment (after payment): its held
// slot becomes booked. A hold that lapsed still confirms if nobody took the
// slot meanwhile; if someone did, ErrHoldExpired (the journey refunds).
func (s *Store) ConfirmAppointment(ctx context.Context, r AppointmentRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID); err != nil {
		return Appointment{}, fmt.Errorf("store: confirm appointment: %w", err)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "confirm_appointment", r, func(tx pgx.Tx) (Appointment, string, error) {
		a, slots, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID)
		if err != nil {
			return Appointment{}, "", err
		}
		switch a.Status {
		case AppointmentBooked:
			return a, a.ID, nil
		case AppointmentPending:
		default:
			return Appointment{}, "", fmt.Errorf("confirm a %s appointment: %w", a.Status, ErrAppointmentState)
		}
		if sl := slots[a.SlotID]; sl.AppointmentID != a.ID || sl.Status != SlotHeld {
			return Appointment{}, "", fmt.Errorf("appointment %s: %w", a.ID, ErrHoldExpired)
		}
		if _, err := tx.Exec(ctx, `UPDATE slot SET status = 'booked', held_until = NULL, updated_at = now() WHERE id = $1`, a.SlotID); err != nil {
			return Appointment{}, "", fmt.Errorf("book slot: %w", err)
		}
		return setStatus(ctx, tx, a, AppointmentBooked, "")
	})
}

// DoctorResponseRequest records the practitioner's accept or decline.
type DoctorResponseRequest struct {
	JourneyID      string    `json:"journey_id"`
	Step           string    `json:"step"`
	AppointmentID  string    `json:"appointment_id"`
	PractitionerID string    `json:"practitioner_id"`
	Response       string    `json:"response"` // ResponseAccepted or ResponseDeclined
	RespondedAt    time.Time `json:"responded_at"`
}

// RecordDoctorResponse stores who answered for the appointment, how and
// when (an AppointmentResponse). Only the appointment's practitioner may
// answer, only while it is pending or booked, and only once: a second,
// different answer is ErrAppointmentState.
func (s *Store) RecordDoctorResponse(ctx context.Context, r DoctorResponseRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID, r.PractitionerID); err != nil {
		return Appointment{}, fmt.Errorf("store: record doctor response: %w", err)
	}
	if r.Response != ResponseAccepted && r.Response != ResponseDeclined {
		return Appointment{}, fmt.Errorf("store: record doctor response: response %q is not accepted or declined: %w", r.Response, ErrInvalid)
	}
	if r.RespondedAt.IsZero() {
		return Appointment{}, fmt.Errorf("store: record doctor response: responded_at is required: %w", ErrInvalid)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "record_doctor_response", r, func(tx pgx.Tx) (Appointment, string, error) {
		a, _, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID)
		if err != nil {
			return Appointment{}, "", err
		}
		if a.PractitionerID != r.PractitionerID {
			return Appointment{}, "", fmt.Errorf("practitioner %s for appointment %s: %w", r.PractitionerID, a.ID, ErrWrongPractitioner)
		}
		if a.Status != AppointmentPending && a.Status != AppointmentBooked {
			return Appointment{}, "", fmt.Errorf("answer a %s appointment: %w", a.Status, ErrAppointmentState)
		}
		if a.DoctorResponse != ResponseNeedsAction {
			return Appointment{}, "", fmt.Errorf("the doctor already answered %s: %w", a.DoctorResponse, ErrAppointmentState)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO appointment_response (id, appointment_id, journey_id, step, actor_id, participant_status, responded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			uuid.NewString(), a.ID, r.JourneyID, r.Step, r.PractitionerID, r.Response, r.RespondedAt); err != nil {
			return Appointment{}, "", fmt.Errorf("insert appointment response: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE appointment SET doctor_response = $2, updated_at = now() WHERE id = $1`, a.ID, r.Response); err != nil {
			return Appointment{}, "", fmt.Errorf("update doctor response: %w", err)
		}
		a, err = getAppointment(ctx, tx, r.JourneyID, a.ID)
		return a, a.ID, err
	})
}

// RescheduleRequest moves an appointment to another slot.
type RescheduleRequest struct {
	JourneyID     string           `json:"journey_id"`
	Step          string           `json:"step"`
	AppointmentID string           `json:"appointment_id"`
	NewSlotID     string           `json:"new_slot_id"`
	Policy        ReschedulePolicy `json:"policy"`
}

// Reschedule atomically moves a pending or booked appointment to a free slot
// within the policy: the new slot takes the old one's state (held until the
// same time, or booked) and the old slot becomes free. A taken slot is
// ErrSlotUnavailable; a slot outside the policy is ErrOutOfPolicy.
func (s *Store) Reschedule(ctx context.Context, r RescheduleRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID, r.NewSlotID); err != nil {
		return Appointment{}, fmt.Errorf("store: reschedule: %w", err)
	}
	if !validUUID(r.NewSlotID) {
		return Appointment{}, fmt.Errorf("store: reschedule: new slot ID must be a UUID: %w", ErrInvalid)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "reschedule", r, func(tx pgx.Tx) (Appointment, string, error) {
		now, err := dbNow(ctx, tx)
		if err != nil {
			return Appointment{}, "", err
		}
		a, slots, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID, r.NewSlotID)
		if err != nil {
			return Appointment{}, "", err
		}
		if a.Status != AppointmentPending && a.Status != AppointmentBooked {
			return Appointment{}, "", fmt.Errorf("reschedule a %s appointment: %w", a.Status, ErrAppointmentState)
		}
		if a.SlotID == r.NewSlotID {
			return a, a.ID, nil
		}
		old, next := slots[a.SlotID], slots[r.NewSlotID]
		p := r.Policy
		switch {
		case p.Cutoff > 0 && a.Start.Sub(now) < p.Cutoff:
			return Appointment{}, "", fmt.Errorf("the appointment starts in less than %s: %w", p.Cutoff, ErrOutOfPolicy)
		case !p.AllowOtherPractitioner && next.PractitionerID != a.PractitionerID:
			return Appointment{}, "", fmt.Errorf("slot %s belongs to another practitioner: %w", next.ID, ErrOutOfPolicy)
		case next.Start.Sub(now) < p.MinLeadTime:
			return Appointment{}, "", fmt.Errorf("slot %s starts in less than %s: %w", next.ID, p.MinLeadTime, ErrOutOfPolicy)
		case p.MaxHorizon > 0 && next.Start.Sub(now) > p.MaxHorizon:
			return Appointment{}, "", fmt.Errorf("slot %s starts more than %s ahead: %w", next.ID, p.MaxHorizon, ErrOutOfPolicy)
		}
		if err := takeable(ctx, tx, next, now); err != nil {
			return Appointment{}, "", err
		}
		// The new slot inherits the old one's state: a hold keeps its
		// deadline (the patient still has to pay by then), a booking stays booked.
		if old.AppointmentID != a.ID {
			// A lapsed hold that another journey has taken since.
			return Appointment{}, "", fmt.Errorf("appointment %s no longer holds its slot: %w", a.ID, ErrHoldExpired)
		}
		status, heldUntil := SlotBooked, (*time.Time)(nil)
		if old.Status == SlotHeld {
			status, heldUntil = SlotHeld, old.HeldUntil
		}
		if err := freeSlotOf(ctx, tx, old, a.ID); err != nil {
			return Appointment{}, "", err
		}
		if _, err := tx.Exec(ctx, `UPDATE slot SET status = $2, appointment_id = $3, held_until = $4, updated_at = now() WHERE id = $1`,
			next.ID, status, a.ID, heldUntil); err != nil {
			return Appointment{}, "", fmt.Errorf("take new slot: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE appointment SET slot_id = $2, practitioner_id = $3, updated_at = now() WHERE id = $1`,
			a.ID, next.ID, next.PractitionerID); err != nil {
			return Appointment{}, "", fmt.Errorf("move appointment: %w", err)
		}
		a, err = getAppointment(ctx, tx, r.JourneyID, a.ID)
		return a, a.ID, err
	})
}

// CancelAppointment cancels a pending or booked appointment and frees its
// slot. The result's Start lets the journey apply its refund policy, which
// depends on how late the cancellation is. Cancelling twice changes nothing.
func (s *Store) CancelAppointment(ctx context.Context, r AppointmentRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID); err != nil {
		return Appointment{}, fmt.Errorf("store: cancel appointment: %w", err)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "cancel_appointment", r, func(tx pgx.Tx) (Appointment, string, error) {
		a, slots, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID)
		if err != nil {
			return Appointment{}, "", err
		}
		switch a.Status {
		case AppointmentCancelled:
			return a, a.ID, nil
		case AppointmentPending, AppointmentBooked:
		default:
			return Appointment{}, "", fmt.Errorf("cancel a %s appointment: %w", a.Status, ErrAppointmentState)
		}
		if err := freeSlotOf(ctx, tx, slots[a.SlotID], a.ID); err != nil {
			return Appointment{}, "", err
		}
		return setStatus(ctx, tx, a, AppointmentCancelled, orDefault(r.Reason, "cancelled"))
	})
}

// MarkNoShow records that a booked consult never started. Only after the
// appointment's start; the slot stays booked, as history.
func (s *Store) MarkNoShow(ctx context.Context, r AppointmentRequest) (Appointment, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID); err != nil {
		return Appointment{}, fmt.Errorf("store: mark no-show: %w", err)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "mark_no_show", r, func(tx pgx.Tx) (Appointment, string, error) {
		now, err := dbNow(ctx, tx)
		if err != nil {
			return Appointment{}, "", err
		}
		a, _, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID)
		if err != nil {
			return Appointment{}, "", err
		}
		switch {
		case a.Status == AppointmentNoShow:
			return a, a.ID, nil
		case a.Status != AppointmentBooked:
			return Appointment{}, "", fmt.Errorf("no-show on a %s appointment: %w", a.Status, ErrAppointmentState)
		case a.Start.After(now):
			return Appointment{}, "", fmt.Errorf("appointment %s has not started yet: %w", a.ID, ErrAppointmentState)
		}
		return setStatus(ctx, tx, a, AppointmentNoShow, "")
	})
}

// CloseEncounterRequest is the doctor's structured close of a consult.
type CloseEncounterRequest struct {
	JourneyID      string           `json:"journey_id"`
	Step           string           `json:"step"`
	AppointmentID  string           `json:"appointment_id"`
	PractitionerID string           `json:"practitioner_id"`
	Diagnoses      []string         `json:"diagnoses"` // ICD-10 codes
	Notes          string           `json:"notes"`     // clinical free text: stored, never logged or returned
	Orders         []EncounterOrder `json:"orders"`
}

// icd10 is the shape of an ICD-10 code (WHO and ICD-10-CM): a letter, two
// characters, then optionally a dot and up to four more. The shape is
// checked; membership in the classification is not.
var icd10 = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`)

// ValidICD10 reports whether code has the shape of an ICD-10 code.
func ValidICD10(code string) bool { return icd10.MatchString(code) }

// CloseEncounter records the finished consult (diagnosis codes, notes,
// orders) and marks the appointment fulfilled. Only the appointment's
// practitioner may close it, and only a booked appointment.
func (s *Store) CloseEncounter(ctx context.Context, r CloseEncounterRequest) (Encounter, error) {
	if err := needIDs(r.JourneyID, r.Step, r.AppointmentID, r.PractitionerID); err != nil {
		return Encounter{}, fmt.Errorf("store: close encounter: %w", err)
	}
	if err := validateClose(r); err != nil {
		return Encounter{}, fmt.Errorf("store: close encounter: %w", err)
	}
	return stepOnce(ctx, s, r.JourneyID, r.Step, "close_encounter", r, func(tx pgx.Tx) (Encounter, string, error) {
		now, err := dbNow(ctx, tx)
		if err != nil {
			return Encounter{}, "", err
		}
		a, _, err := lockAppointment(ctx, tx, r.JourneyID, r.AppointmentID)
		if err != nil {
			return Encounter{}, "", err
		}
		if a.PractitionerID != r.PractitionerID {
			return Encounter{}, "", fmt.Errorf("practitioner %s for appointment %s: %w", r.PractitionerID, a.ID, ErrWrongPractitioner)
		}
		if a.Status != AppointmentBooked {
			return Encounter{}, "", fmt.Errorf("close the encounter of a %s appointment: %w", a.Status, ErrAppointmentState)
		}
		for i, o := range r.Orders {
			if o.Kind != OrderLabTest {
				continue
			}
			var known bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lab_test WHERE loinc_code = $1)`, o.Code).Scan(&known); err != nil {
				return Encounter{}, "", fmt.Errorf("check lab test: %w", err)
			}
			if !known {
				return Encounter{}, "", fmt.Errorf("order %d: the lab test is not in the catalogue: %w", i, ErrInvalid)
			}
		}
		e := Encounter{ID: uuid.NewString(), AppointmentID: a.ID, PractitionerID: a.PractitionerID,
			Diagnoses: nonNil(r.Diagnoses), Orders: r.Orders, PeriodStart: a.Start, PeriodEnd: now}
		if e.PeriodEnd.Before(e.PeriodStart) {
			e.PeriodEnd = e.PeriodStart // closed early: the period is the booked start
		}
		if e.Orders == nil {
			e.Orders = []EncounterOrder{}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO encounter (id, appointment_id, journey_id, patient_id, practitioner_id, status, diagnosis_codes, note, period_start, period_end)
			VALUES ($1, $2, $3, $4, $5, 'finished', $6, $7, $8, $9)`,
			e.ID, a.ID, r.JourneyID, a.PatientID, a.PractitionerID, e.Diagnoses, r.Notes, e.PeriodStart, e.PeriodEnd); err != nil {
			return Encounter{}, "", fmt.Errorf("insert encounter: %w", err)
		}
		for i, o := range e.Orders {
			detail, err := json.Marshal(nonNilMap(o.Detail))
			if err != nil {
				return Encounter{}, "", fmt.Errorf("order detail: %w", err)
			}
			var after *int
			if o.AfterDays > 0 {
				after = &o.AfterDays
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO encounter_order (id, encounter_id, position, kind, code, display, after_days, detail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				uuid.NewString(), e.ID, i, o.Kind, o.Code, o.Display, after, detail); err != nil {
				return Encounter{}, "", fmt.Errorf("insert order %d: %w", i, err)
			}
		}
		if _, _, err := setStatus(ctx, tx, a, AppointmentFulfilled, ""); err != nil {
			return Encounter{}, "", err
		}
		return e, a.ID, nil
	})
}

func validateClose(r CloseEncounterRequest) error {
	// Errors name positions, never the codes: a diagnosis is health data.
	for i, code := range r.Diagnoses {
		if !ValidICD10(code) {
			return fmt.Errorf("diagnosis %d is not an ICD-10 code: %w", i, ErrInvalid)
		}
	}
	for i, o := range r.Orders {
		switch o.Kind {
		case OrderLabTest:
			if o.Code == "" {
				return fmt.Errorf("order %d: a lab test needs its LOINC code: %w", i, ErrInvalid)
			}
		case OrderPrescription:
			if o.Display == "" && o.Code == "" {
				return fmt.Errorf("order %d: a prescription needs a code or a display: %w", i, ErrInvalid)
			}
		case OrderFollowUp:
			if o.AfterDays <= 0 {
				return fmt.Errorf("order %d: a follow-up needs after_days > 0: %w", i, ErrInvalid)
			}
		case OrderDietReferral:
		default:
			return fmt.Errorf("order %d: unknown kind %q: %w", i, o.Kind, ErrInvalid)
		}
	}
	return nil
}

// GetAppointment returns one appointment of a journey.
func (s *Store) GetAppointment(ctx context.Context, journeyID, id string) (Appointment, error) {
	if !validUUID(id) {
		return Appointment{}, fmt.Errorf("store: appointment %s: %w", id, ErrAppointmentNotFound)
	}
	a, err := getAppointment(ctx, s.Pool, journeyID, id)
	if err != nil {
		return Appointment{}, fmt.Errorf("store: %w", err)
	}
	return a, nil
}

// querier is what pgxpool.Pool and pgx.Tx have in common for reads.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getAppointment(ctx context.Context, q querier, journeyID, id string) (Appointment, error) {
	var a Appointment
	var reason *string
	err := q.QueryRow(ctx, `
		SELECT a.id::text, a.journey_id, a.step, a.patient_id::text, a.practitioner_id::text, a.slot_id::text,
			sl.start, sl."end", a.status, a.doctor_response, a.fee_minor, a.currency, a.cancellation_reason,
			CASE WHEN sl.appointment_id = a.id THEN sl.held_until END, a.created_at, a.updated_at
		FROM appointment a JOIN slot sl ON sl.id = a.slot_id
		WHERE a.id = $1 AND a.journey_id = $2`, id, journeyID).
		Scan(&a.ID, &a.JourneyID, &a.Step, &a.PatientID, &a.PractitionerID, &a.SlotID, &a.Start, &a.End,
			&a.Status, &a.DoctorResponse, &a.FeeMinor, &a.Currency, &reason, &a.HoldUntil, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Appointment{}, fmt.Errorf("appointment %s of %s: %w", id, journeyID, ErrAppointmentNotFound)
	}
	if err != nil {
		return Appointment{}, fmt.Errorf("get appointment %s: %w", id, err)
	}
	if reason != nil {
		a.CancellationReason = *reason
	}
	a.Start, a.End, a.CreatedAt, a.UpdatedAt = a.Start.UTC(), a.End.UTC(), a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	a.HoldUntil = utcPtr(a.HoldUntil)
	return a, nil
}

// lockSlots locks the slots in ID order and returns them by ID.
func lockSlots(ctx context.Context, tx pgx.Tx, ids ...string) (map[string]Slot, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	// LockRows runs above the sort, so rows are locked in ID order.
	rows, err := tx.Query(ctx, `
		SELECT id::text, schedule_id::text, practitioner_id::text, start, "end", status, appointment_id::text, held_until
		FROM slot WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock slots: %w", err)
	}
	out := map[string]Slot{}
	for rows.Next() {
		var sl Slot
		var apptID *string
		if err := rows.Scan(&sl.ID, &sl.ScheduleID, &sl.PractitionerID, &sl.Start, &sl.End, &sl.Status, &apptID, &sl.HeldUntil); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lock slots: %w", err)
		}
		if apptID != nil {
			sl.AppointmentID = *apptID
		}
		sl.Start, sl.End, sl.HeldUntil = sl.Start.UTC(), sl.End.UTC(), utcPtr(sl.HeldUntil)
		out[sl.ID] = sl
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock slots: %w", err)
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("slot %s: %w", id, ErrSlotNotFound)
		}
	}
	return out, nil
}

// lockAppointment locks the appointment's slot and any extra slots, then the
// appointment itself: slots before appointments, the order HoldSlot uses too.
func lockAppointment(ctx context.Context, tx pgx.Tx, journeyID, id string, extraSlots ...string) (Appointment, map[string]Slot, error) {
	if !validUUID(id) {
		return Appointment{}, nil, fmt.Errorf("appointment %s: %w", id, ErrAppointmentNotFound)
	}
	var slotID string
	err := tx.QueryRow(ctx, `SELECT slot_id::text FROM appointment WHERE id = $1 AND journey_id = $2`, id, journeyID).Scan(&slotID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Appointment{}, nil, fmt.Errorf("appointment %s of %s: %w", id, journeyID, ErrAppointmentNotFound)
	}
	if err != nil {
		return Appointment{}, nil, fmt.Errorf("find appointment %s: %w", id, err)
	}
	slots, err := lockSlots(ctx, tx, append([]string{slotID}, extraSlots...)...)
	if err != nil {
		return Appointment{}, nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM appointment WHERE id = $1 FOR UPDATE`, id); err != nil {
		return Appointment{}, nil, fmt.Errorf("lock appointment %s: %w", id, err)
	}
	a, err := getAppointment(ctx, tx, journeyID, id)
	if err != nil {
		return Appointment{}, nil, err
	}
	if a.SlotID != slotID {
		// A concurrent reschedule moved it between the read and the lock;
		// the activity's retry starts over with the new slot.
		return Appointment{}, nil, fmt.Errorf("appointment %s moved while being locked; retry", id)
	}
	return a, slots, nil
}

// freeSlotOf frees a locked slot if this appointment holds or books it.
func freeSlotOf(ctx context.Context, tx pgx.Tx, sl Slot, appointmentID string) error {
	if sl.AppointmentID != appointmentID {
		return nil // lost to another holder already
	}
	if _, err := tx.Exec(ctx, `UPDATE slot SET status = 'free', appointment_id = NULL, held_until = NULL, updated_at = now() WHERE id = $1`, sl.ID); err != nil {
		return fmt.Errorf("free slot %s: %w", sl.ID, err)
	}
	return nil
}

func setStatus(ctx context.Context, tx pgx.Tx, a Appointment, status, reason string) (Appointment, string, error) {
	var r *string
	if reason != "" {
		r = &reason
	}
	if _, err := tx.Exec(ctx, `UPDATE appointment SET status = $2, cancellation_reason = coalesce($3, cancellation_reason), updated_at = now() WHERE id = $1`,
		a.ID, status, r); err != nil {
		return Appointment{}, "", fmt.Errorf("set appointment %s %s: %w", a.ID, status, err)
	}
	out, err := getAppointment(ctx, tx, a.JourneyID, a.ID)
	return out, a.ID, err
}

// stepOnce runs fn at most once for a journey's step: the first call records
// its result in the same transaction as its writes; later calls with the same
// request return the recorded result, and a different request under the same
// step is ErrStepReused. A call that fails records nothing. Two concurrent
// calls serialise on the primary key: the second waits for the first to
// commit and then reads its result.
func stepOnce[T any](ctx context.Context, s *Store, journeyID, step, op string, request any,
	fn func(tx pgx.Tx) (T, string, error)) (T, error) {
	var out T
	hash, err := requestHash(op, request)
	if err != nil {
		return out, fmt.Errorf("store: %s: %w", op, err)
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO appointment_operation (journey_id, step, operation, request_hash) VALUES ($1, $2, $3, $4)
			ON CONFLICT (journey_id, step) DO NOTHING`, journeyID, step, op, hash)
		if err != nil {
			return fmt.Errorf("record operation: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var gotOp, gotHash string
			var result []byte
			if err := tx.QueryRow(ctx, `SELECT operation, request_hash, result FROM appointment_operation WHERE journey_id = $1 AND step = $2`,
				journeyID, step).Scan(&gotOp, &gotHash, &result); err != nil {
				return fmt.Errorf("read recorded operation: %w", err)
			}
			if gotOp != op || gotHash != hash {
				return fmt.Errorf("step %s of %s was used for %s: %w", step, journeyID, gotOp, ErrStepReused)
			}
			return json.Unmarshal(result, &out)
		}
		res, appointmentID, err := fn(tx)
		if err != nil {
			return err
		}
		body, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		var apptID *string
		if appointmentID != "" {
			apptID = &appointmentID
		}
		if _, err := tx.Exec(ctx, `UPDATE appointment_operation SET result = $3, appointment_id = $4 WHERE journey_id = $1 AND step = $2`,
			journeyID, step, body, apptID); err != nil {
			return fmt.Errorf("record result: %w", err)
		}
		out = res
		return nil
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("store: %s %s/%s: %w", op, journeyID, step, err)
	}
	return out, nil
}

func requestHash(op string, request any) (string, error) {
	body, err := json.Marshal(request)
	if err != nil {
		return "", fmt.Errorf("encode request: %w", err)
	}
	sum := sha256.Sum256(append([]byte(op+"\n"), body...))
	return hex.EncodeToString(sum[:]), nil
}

func dbNow(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	var now time.Time
	// statement_timestamp, not now(): a retried transaction must not see a stale clock.
	if err := tx.QueryRow(ctx, `SELECT statement_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("read clock: %w", err)
	}
	return now.UTC(), nil
}

func needIDs(ids ...string) error {
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("journey, step and the named IDs are required: %w", ErrInvalid)
		}
	}
	return nil
}

func validUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
