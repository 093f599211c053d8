package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/carepath/carepath/pathways"
)

// Lab orders and results: a lab_order row per booked test, a
// lab_observation row per result (migration 0005).

// ErrUnknownLabTest: no test in the catalogue has this code or name.
var ErrUnknownLabTest = errors.New("unknown lab test")

// ErrKeyReused: an idempotency key already booked a different request.
var ErrKeyReused = errors.New("idempotency key reused for another request")

// BookLabTestsRequest books tests for a patient. Each test's row is keyed
// KeyPrefix + ":" + LOINC, so a retry books nothing twice.
type BookLabTestsRequest struct {
	KeyPrefix      string    `json:"key_prefix"`
	Origin         string    `json:"origin"`
	JourneyID      string    `json:"journey_id,omitempty"`
	PatientID      string    `json:"patient_id"`
	PractitionerID string    `json:"practitioner_id,omitempty"`
	Tests          []string  `json:"tests"` // LOINC codes
	ScheduledFor   time.Time `json:"scheduled_for"`
	// LabClientID sends the orders to this lab partner (a booking the lab
	// made itself). Empty: to the lab partner the patient is enrolled with
	// (integrator_enrolment, a client holding labs:write), if any.
	LabClientID string `json:"lab_client_id,omitempty"`
}

const labOrderColumns = `o.id::text, o.origin, coalesce(o.journey_id, ''), o.patient_id::text, coalesce(o.practitioner_id::text, ''),
	o.loinc_code, t.name, to_char(o.scheduled_for, 'YYYY-MM-DD'), o.status, coalesce(o.lab_client_id, '')`

func scanLabOrder(row pgx.Row) (LabOrder, error) {
	var o LabOrder
	err := row.Scan(&o.ID, &o.Origin, &o.JourneyID, &o.PatientID, &o.PractitionerID, &o.LOINC, &o.TestName, &o.ScheduledFor, &o.Status, &o.LabClientID)
	return o, err
}

// BookLabTests books every test of the request in one transaction and
// returns the orders in the request's order. Booking again with the same
// keys returns the same orders.
func (s *Store) BookLabTests(ctx context.Context, r BookLabTestsRequest) ([]LabOrder, error) {
	if r.KeyPrefix == "" || !validUUID(r.PatientID) || len(r.Tests) == 0 || (r.PractitionerID != "" && !validUUID(r.PractitionerID)) {
		return nil, fmt.Errorf("store: book lab tests: a key, a patient and at least one test are required: %w", ErrInvalid)
	}
	var out []LabOrder
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		out = out[:0]
		for _, code := range r.Tests {
			o, err := bookOne(ctx, tx, r, code)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: book lab tests %s: %w", r.KeyPrefix, err)
	}
	return out, nil
}

func bookOne(ctx context.Context, tx pgx.Tx, r BookLabTestsRequest, code string) (LabOrder, error) {
	key := r.KeyPrefix + ":" + code
	hash, err := requestHash("book lab test", []any{r.PatientID, r.PractitionerID, code, r.ScheduledFor.UTC().Format(time.DateOnly)})
	if err != nil {
		return LabOrder{}, err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO lab_order (id, idempotency_key, request_hash, origin, journey_id, patient_id, practitioner_id, loinc_code, scheduled_for, status,
			lab_client_id)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6, nullif($7, '')::uuid, $8, $9, 'scheduled',
			coalesce(nullif($10, ''), (SELECT e.client_id FROM integrator_enrolment e JOIN oauth_client c ON c.id = e.client_id
				WHERE e.patient_id = $6 AND e.revoked_at IS NULL AND c.active AND 'labs:write' = ANY (c.scopes)
				ORDER BY e.created_at, e.client_id LIMIT 1)))
		ON CONFLICT (idempotency_key) DO NOTHING`,
		uuid.NewString(), key, hash, r.Origin, r.JourneyID, r.PatientID, r.PractitionerID, code, r.ScheduledFor.UTC().Format(time.DateOnly),
		r.LabClientID)
	if IsForeignKeyViolation(err) {
		if strings.Contains(err.Error(), "loinc") {
			return LabOrder{}, fmt.Errorf("test %s: %w", code, ErrUnknownLabTest)
		}
		return LabOrder{}, fmt.Errorf("patient or practitioner: %w", ErrPatientNotFound)
	}
	if err != nil {
		return LabOrder{}, fmt.Errorf("insert %s: %w", key, err)
	}
	var gotHash string
	o, err := scanLabOrderWithHash(tx.QueryRow(ctx, `SELECT `+labOrderColumns+`, o.request_hash
		FROM lab_order o JOIN lab_test t ON t.loinc_code = o.loinc_code WHERE o.idempotency_key = $1`, key), &gotHash)
	if err != nil {
		return LabOrder{}, fmt.Errorf("read %s: %w", key, err)
	}
	if gotHash != hash {
		return LabOrder{}, fmt.Errorf("key %s: %w", key, ErrKeyReused)
	}
	return o, nil
}

func scanLabOrderWithHash(row pgx.Row, hash *string) (LabOrder, error) {
	var o LabOrder
	err := row.Scan(&o.ID, &o.Origin, &o.JourneyID, &o.PatientID, &o.PractitionerID, &o.LOINC, &o.TestName, &o.ScheduledFor, &o.Status, &o.LabClientID, hash)
	return o, err
}

// LabTestByName finds a catalogue test by its LOINC code, its exact name
// (any case), or a unique part of its name ("HbA1c"). Several matches or
// none is ErrUnknownLabTest, with the candidates in the message.
func (s *Store) LabTestByName(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", fmt.Errorf("store: lab test: empty name: %w", ErrUnknownLabTest)
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT loinc_code, name FROM lab_test
		WHERE loinc_code = $1 OR lower(name) = lower($1) OR strpos(lower(name), lower($1)) > 0
		ORDER BY (loinc_code = $1 OR lower(name) = lower($1)) DESC, name LIMIT 5`, name)
	if err != nil {
		return "", fmt.Errorf("store: lab test %q: %w", name, err)
	}
	type match struct{ code, name string }
	matches, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (match, error) {
		var m match
		return m, r.Scan(&m.code, &m.name)
	})
	if err != nil {
		return "", fmt.Errorf("store: lab test %q: %w", name, err)
	}
	switch {
	case len(matches) == 0:
		return "", fmt.Errorf("store: no lab test is called %q: %w", name, ErrUnknownLabTest)
	case len(matches) == 1 || matches[0].code == name || strings.EqualFold(matches[0].name, name):
		return matches[0].code, nil
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = m.name
	}
	return "", fmt.Errorf("store: %q matches several lab tests (%s): %w", name, strings.Join(names, "; "), ErrUnknownLabTest)
}

// LabOrdersOfJourney lists a journey's lab orders, oldest first.
func (s *Store) LabOrdersOfJourney(ctx context.Context, journeyID string) ([]LabOrder, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+labOrderColumns+`
		FROM lab_order o JOIN lab_test t ON t.loinc_code = o.loinc_code
		WHERE o.journey_id = $1 ORDER BY o.created_at, o.loinc_code`, journeyID)
	if err != nil {
		return nil, fmt.Errorf("store: lab orders of %s: %w", journeyID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LabOrder, error) { return scanLabOrder(r) })
	if err != nil {
		return nil, fmt.Errorf("store: lab orders of %s: %w", journeyID, err)
	}
	return out, nil
}

// LabOrderClient is the lab partner the journey's unresulted order for
// this test was sent to ("" when none was); ErrNotFound when the journey
// has no such order.
func (s *Store) LabOrderClient(ctx context.Context, journeyID, loinc string) (string, error) {
	var client string
	err := s.Pool.QueryRow(ctx, `SELECT coalesce(lab_client_id, '') FROM lab_order
		WHERE journey_id = $1 AND loinc_code = $2 AND status = 'scheduled' ORDER BY created_at DESC LIMIT 1`, journeyID, loinc).Scan(&client)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("store: lab order of %s for %s: %w", journeyID, loinc, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: lab order of %s for %s: %w", journeyID, loinc, err)
	}
	return client, nil
}

// RecordLabObservationRequest stores the result of one lab order.
type RecordLabObservationRequest struct {
	LabOrderID     string             `json:"lab_order_id"`
	Result         pathways.LabResult `json:"result"`
	Interpretation string             `json:"interpretation"`
	ReportedBy     string             `json:"reported_by"`
}

// LabObservation is a stored result.
type LabObservation struct {
	ID             string             `json:"id"`
	LabOrderID     string             `json:"lab_order_id"`
	PatientID      string             `json:"patient_id"`
	Result         pathways.LabResult `json:"result"`
	Interpretation string             `json:"interpretation"`
	RecordedAt     time.Time          `json:"recorded_at"`
}

// RecordLabObservation stores an order's result and marks the order
// resulted. An order has one result: recording it again returns the first.
func (s *Store) RecordLabObservation(ctx context.Context, r RecordLabObservationRequest) (LabObservation, error) {
	if !validUUID(r.LabOrderID) || r.ReportedBy == "" || len(r.Result.Check()) > 0 {
		return LabObservation{}, fmt.Errorf("store: record lab observation: %w", ErrInvalid)
	}
	var out LabObservation
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var patientID, code string
		err := tx.QueryRow(ctx, `SELECT patient_id::text, loinc_code FROM lab_order WHERE id = $1 FOR UPDATE`, r.LabOrderID).Scan(&patientID, &code)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("lab order %s: %w", r.LabOrderID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if code != r.Result.LOINC {
			return fmt.Errorf("lab order %s is for another test: %w", r.LabOrderID, ErrInvalid)
		}
		res := r.Result
		if _, err := tx.Exec(ctx, `
			INSERT INTO lab_observation (id, lab_order_id, patient_id, loinc_code, value, unit, reference_low, reference_high,
				critical_low, critical_high, interpretation, reported_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (lab_order_id) DO NOTHING`,
			uuid.NewString(), r.LabOrderID, patientID, code, res.Value, res.Unit, res.ReferenceLow, res.ReferenceHigh,
			res.CriticalLow, res.CriticalHigh, r.Interpretation, r.ReportedBy); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE lab_order SET status = 'resulted' WHERE id = $1`, r.LabOrderID); err != nil {
			return err
		}
		out, err = labObservation(ctx, tx, r.LabOrderID)
		return err
	})
	if err != nil {
		return LabObservation{}, fmt.Errorf("store: record lab observation: %w", err)
	}
	return out, nil
}

func labObservation(ctx context.Context, q querier, orderID string) (LabObservation, error) {
	var o LabObservation
	err := q.QueryRow(ctx, `
		SELECT id::text, lab_order_id::text, patient_id::text, loinc_code, value, unit, reference_low, reference_high,
			critical_low, critical_high, interpretation, recorded_at
		FROM lab_observation WHERE lab_order_id = $1`, orderID).
		Scan(&o.ID, &o.LabOrderID, &o.PatientID, &o.Result.LOINC, &o.Result.Value, &o.Result.Unit, &o.Result.ReferenceLow,
			&o.Result.ReferenceHigh, &o.Result.CriticalLow, &o.Result.CriticalHigh, &o.Interpretation, &o.RecordedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, fmt.Errorf("observation of %s: %w", orderID, ErrNotFound)
	}
	return o, err
}

// PractitionerPhone returns the phone of the doctor's or dietitian's user
// account (normalised), or "" when it has none.
func (s *Store) PractitionerPhone(ctx context.Context, practitionerID string) (string, error) {
	if !validUUID(practitionerID) {
		return "", fmt.Errorf("store: practitioner phone: %w", ErrNotFound)
	}
	var phone *string
	err := s.Pool.QueryRow(ctx, `SELECT phone FROM app_user WHERE practitioner_id = $1 AND active`, practitionerID).Scan(&phone)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && phone == nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: practitioner phone: %w", err)
	}
	return NormalizePhone(*phone), nil
}

// SaveStaffNotification records the step's message; a final one (sent or
// skipped) is never overwritten, and is returned as it stands.
func (s *Store) SaveStaffNotification(ctx context.Context, n StaffNotification) (StaffNotification, error) {
	if err := needIDs(n.JourneyID, n.Step, n.PractitionerID, n.TemplateID, n.Status); err != nil {
		return n, fmt.Errorf("store: save staff notification: %w", err)
	}
	var out StaffNotification
	err := s.Pool.QueryRow(ctx, `
		INSERT INTO staff_notification (id, journey_id, step, practitioner_id, template_id, status, skip_reason, provider_message_id)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), nullif($8, ''))
		ON CONFLICT (journey_id, step) DO UPDATE SET status = EXCLUDED.status, skip_reason = EXCLUDED.skip_reason,
			provider_message_id = EXCLUDED.provider_message_id, updated_at = now()
		WHERE staff_notification.status = 'sending'
		RETURNING journey_id, step, practitioner_id::text, template_id, status, coalesce(skip_reason, ''), coalesce(provider_message_id, '')`,
		uuid.NewString(), n.JourneyID, n.Step, n.PractitionerID, n.TemplateID, n.Status, n.SkipReason, n.ProviderMessageID).
		Scan(&out.JourneyID, &out.Step, &out.PractitionerID, &out.TemplateID, &out.Status, &out.SkipReason, &out.ProviderMessageID)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.StaffNotificationByStep(ctx, n.JourneyID, n.Step)
	}
	if err != nil {
		return out, fmt.Errorf("store: save staff notification %s/%s: %w", n.JourneyID, n.Step, err)
	}
	return out, nil
}

// StaffNotificationByStep returns the step's message, or ErrNotFound.
func (s *Store) StaffNotificationByStep(ctx context.Context, journeyID, step string) (StaffNotification, error) {
	var out StaffNotification
	err := s.Pool.QueryRow(ctx, `
		SELECT journey_id, step, practitioner_id::text, template_id, status, coalesce(skip_reason, ''), coalesce(provider_message_id, '')
		FROM staff_notification WHERE journey_id = $1 AND step = $2`, journeyID, step).
		Scan(&out.JourneyID, &out.Step, &out.PractitionerID, &out.TemplateID, &out.Status, &out.SkipReason, &out.ProviderMessageID)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fmt.Errorf("store: staff notification %s/%s: %w", journeyID, step, ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("store: staff notification %s/%s: %w", journeyID, step, err)
	}
	return out, nil
}

// FirstFreeSlot returns the practitioner's first free slot starting in
// [from, until), or ErrNotFound.
func (s *Store) FirstFreeSlot(ctx context.Context, practitionerID string, from, until time.Time) (Slot, error) {
	if !validUUID(practitionerID) {
		return Slot{}, fmt.Errorf("store: first free slot: %w", ErrNotFound)
	}
	var id string
	err := s.Pool.QueryRow(ctx, `
		SELECT id::text FROM slot WHERE practitioner_id = $1 AND status = 'free' AND start >= $2 AND start < $3
		ORDER BY start LIMIT 1`, practitionerID, from, until).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Slot{}, fmt.Errorf("store: no free slot of %s: %w", practitionerID, ErrNotFound)
	}
	if err != nil {
		return Slot{}, fmt.Errorf("store: first free slot: %w", err)
	}
	return s.GetSlot(ctx, id)
}
