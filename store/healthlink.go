package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Queries behind the HealthLink endpoints (api/healthlink.go): finding the
// slot a date and a wall-clock time name, the patient an email names, a
// doctor's appointment requests, and medicine purchases.

// Errors of the HealthLink queries.
var (
	ErrNoPatientWithEmail   = errors.New("no patient has this email")
	ErrProductNotFound      = errors.New("no product has this name")
	ErrProductAmbiguous     = errors.New("several products match this name")
	ErrPrescriptionRequired = errors.New("this medicine needs an active signed prescription for the patient")
)

// SlotAt is a slot with the time zone of the schedule it was cut from.
type SlotAt struct {
	Slot
	TimeZone string `json:"time_zone"`
}

// SlotAtLocalTime returns the practitioner's slot starting at date and
// clock ("2024-02-15", "10:30") in the time zone of the practitioner's
// schedule. ErrNotFound: no such practitioner; ErrSlotNotFound: no slot
// starts then, or it has passed. The slot may be taken: check its status.
func (s *Store) SlotAtLocalTime(ctx context.Context, practitionerID, date, clock string) (SlotAt, error) {
	if _, err := practitionerCurrency(ctx, s.Pool, practitionerID); err != nil {
		return SlotAt{}, fmt.Errorf("store: %w", err)
	}
	var sl SlotAt
	var appt *string
	err := s.Pool.QueryRow(ctx, `
		SELECT sl.id::text, sl.schedule_id::text, sl.practitioner_id::text, sl.start, sl."end", sl.status,
			sl.appointment_id::text, sl.held_until, sc.timezone
		FROM slot sl JOIN schedule sc ON sc.id = sl.schedule_id
		WHERE sl.practitioner_id = $1 AND sl.start = ($2::date + $3::time) AT TIME ZONE sc.timezone AND sl.start > now()`,
		practitionerID, date, clock).
		Scan(&sl.ID, &sl.ScheduleID, &sl.PractitionerID, &sl.Start, &sl.End, &sl.Status, &appt, &sl.HeldUntil, &sl.TimeZone)
	if errors.Is(err, pgx.ErrNoRows) {
		return SlotAt{}, fmt.Errorf("store: slot of %s at %s %s: %w", practitionerID, date, clock, ErrSlotNotFound)
	}
	if err != nil {
		return SlotAt{}, fmt.Errorf("store: slot of %s at %s %s: %w", practitionerID, date, clock, err)
	}
	if appt != nil {
		sl.AppointmentID = *appt
	}
	sl.Start, sl.End = sl.Start.UTC(), sl.End.UTC()
	return sl, nil
}

// PatientContact is a patient's name and email.
type PatientContact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// PatientByEmail finds the patient registered with email (case-insensitive).
func (s *Store) PatientByEmail(ctx context.Context, email string) (PatientContact, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id::text, name, email FROM patient WHERE lower(email) = lower($1) ORDER BY id LIMIT 2`, email)
	if err != nil {
		return PatientContact{}, fmt.Errorf("store: patient by email: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[PatientContact])
	if err != nil {
		return PatientContact{}, fmt.Errorf("store: patient by email: %w", err)
	}
	if len(found) != 1 {
		// None, or several sharing an address: the email names nobody for sure.
		return PatientContact{}, fmt.Errorf("store: patient by email: %w", ErrNoPatientWithEmail)
	}
	return found[0], nil
}

// GetPatientContact returns a patient's name and email.
func (s *Store) GetPatientContact(ctx context.Context, id string) (PatientContact, error) {
	if !validUUID(id) {
		return PatientContact{}, fmt.Errorf("store: patient %s: %w", id, ErrNotFound)
	}
	var p PatientContact
	err := s.Pool.QueryRow(ctx, `SELECT id::text, name, email FROM patient WHERE id = $1`, id).Scan(&p.ID, &p.Name, &p.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return PatientContact{}, fmt.Errorf("store: patient %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return PatientContact{}, fmt.Errorf("store: patient %s: %w", id, err)
	}
	return p, nil
}

// NextJourneyEpisode is one more than the highest episode of the patient's
// journeys on the pathway (journey_ref). Another start may take that
// episode a moment later: callers retry with the next number on a conflict.
func (s *Store) NextJourneyEpisode(ctx context.Context, patientID, pathwayID string) (int, error) {
	var next int
	err := s.Pool.QueryRow(ctx, `
		SELECT coalesce(max(episode), 0) + 1 FROM journey_ref
		WHERE patient_id = $1 AND pathway_id = $2`, patientID, pathwayID).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("store: next episode of %s on %s: %w", patientID, pathwayID, err)
	}
	return next, nil
}

// AppointmentByID returns an appointment by its ID alone.
func (s *Store) AppointmentByID(ctx context.Context, id string) (Appointment, error) {
	if !validUUID(id) {
		return Appointment{}, fmt.Errorf("store: appointment %s: %w", id, ErrAppointmentNotFound)
	}
	var journeyID string
	err := s.Pool.QueryRow(ctx, `SELECT journey_id FROM appointment WHERE id = $1`, id).Scan(&journeyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Appointment{}, fmt.Errorf("store: appointment %s: %w", id, ErrAppointmentNotFound)
	}
	if err != nil {
		return Appointment{}, fmt.Errorf("store: appointment %s: %w", id, err)
	}
	return s.GetAppointment(ctx, journeyID, id)
}

// DoctorRequest is an appointment as the doctor is asked to answer it,
// with its local date and time in the schedule's time zone.
type DoctorRequest struct {
	ID             string `json:"id"`
	PatientID      string `json:"patient_id"`
	PatientName    string `json:"patient_name"`
	Date           string `json:"date"` // 2024-02-15
	Time           string `json:"time"` // 10:30 AM
	Status         string `json:"status"`
	DoctorResponse string `json:"doctor_response"`
}

// AppointmentRequests lists the practitioner's upcoming appointments that
// are held or booked (not cancelled or over), soonest first, at most 200.
func (s *Store) AppointmentRequests(ctx context.Context, practitionerID string) ([]DoctorRequest, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT a.id::text, a.patient_id::text, pa.name, to_char(sl.start AT TIME ZONE sc.timezone, 'YYYY-MM-DD'),
			to_char(sl.start AT TIME ZONE sc.timezone, 'HH12:MI AM'), a.status, a.doctor_response
		FROM appointment a JOIN slot sl ON sl.id = a.slot_id JOIN schedule sc ON sc.id = sl.schedule_id
		JOIN patient pa ON pa.id = a.patient_id
		WHERE a.practitioner_id = $1 AND a.status IN ('pending', 'booked') AND sl."end" > now()
		ORDER BY sl.start, a.id LIMIT 200`, practitionerID)
	if err != nil {
		return nil, fmt.Errorf("store: appointment requests of %s: %w", practitionerID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DoctorRequest])
	if err != nil {
		return nil, fmt.Errorf("store: appointment requests of %s: %w", practitionerID, err)
	}
	return out, nil
}

// MedicinePurchase is a product bought for a patient.
type MedicinePurchase struct {
	ID             string    `json:"id"`
	PatientID      string    `json:"patient_id"`
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	Quantity       int       `json:"quantity"`
	TotalMinor     int64     `json:"total_minor"`
	Currency       string    `json:"currency"`
	PrescriptionID string    `json:"prescription_id,omitempty"`
	DeliveryStatus string    `json:"delivery_status"`
	CreatedAt      time.Time `json:"created_at"`
}

type product struct {
	sku, name, currency string
	price               int
	prescription        bool
}

// findProduct matches a product by SKU or exact name (case-insensitive),
// else by the first words of its name ("Paracetamol 500 mg").
func findProduct(ctx context.Context, q pgx.Tx, name string) (product, error) {
	for _, where := range []string{
		`upper(sku) = upper($1) OR lower(name) = lower($1)`,
		`starts_with(lower(name), lower($1) || ' ')`,
	} {
		rows, err := q.Query(ctx, `SELECT sku, name, currency, price_minor, requires_prescription FROM product WHERE `+where+` ORDER BY sku LIMIT 2`, name)
		if err != nil {
			return product{}, err
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (product, error) {
			var p product
			return p, r.Scan(&p.sku, &p.name, &p.currency, &p.price, &p.prescription)
		})
		if err != nil {
			return product{}, err
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 2:
			return product{}, ErrProductAmbiguous
		}
	}
	return product{}, ErrProductNotFound
}

// coveringPrescription is the newest signed prescription of the patient
// that lists the product's medicine (the product's name starts with the
// prescribed drug's name) and is still running: signed less than its
// duration times its fills (1 + refills) ago.
func coveringPrescription(ctx context.Context, tx pgx.Tx, patientID, productName string) (string, error) {
	var id string
	err := tx.QueryRow(ctx, `
		SELECT p.id::text FROM prescription p
		JOIN signed_prescription sp ON sp.prescription_id = p.id
		JOIN medication_request m ON m.prescription_id = p.id
		WHERE p.patient_id = $1 AND p.status = 'signed'
			AND sp.signed_at + make_interval(days => m.duration_days * (m.refills + 1)) > now()
			AND (lower($2) = lower(m.drug) OR starts_with(lower($2), lower(m.drug) || ' '))
		ORDER BY sp.signed_at DESC LIMIT 1`, patientID, productName).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrPrescriptionRequired
	}
	return id, err
}

// PurchaseMedicine records a purchase of quantity units of the product
// medicine names, at its current price, delivery pending. A
// prescription-only product needs a covering signed prescription
// (ErrPrescriptionRequired).
func (s *Store) PurchaseMedicine(ctx context.Context, patientID, medicine string, quantity int) (MedicinePurchase, error) {
	if quantity < 1 || quantity > 100 || strings.TrimSpace(medicine) == "" {
		return MedicinePurchase{}, fmt.Errorf("store: purchase medicine: quantity 1 to 100 and a name: %w", ErrInvalid)
	}
	var out MedicinePurchase
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		p, err := findProduct(ctx, tx, strings.TrimSpace(medicine))
		if err != nil {
			return err
		}
		var prescription *string
		if p.prescription {
			id, err := coveringPrescription(ctx, tx, patientID, p.name)
			if err != nil {
				return err
			}
			prescription = &id
		}
		out = MedicinePurchase{ID: uuid.NewString(), PatientID: patientID, SKU: p.sku, Name: p.name, Quantity: quantity,
			TotalMinor: int64(p.price) * int64(quantity), Currency: p.currency, DeliveryStatus: "pending"}
		if prescription != nil {
			out.PrescriptionID = *prescription
		}
		return tx.QueryRow(ctx, `
			INSERT INTO medicine_purchase (id, patient_id, sku, quantity, unit_price_minor, total_minor, currency, prescription_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at`,
			out.ID, patientID, p.sku, quantity, p.price, out.TotalMinor, p.currency, prescription).Scan(&out.CreatedAt)
	})
	if IsForeignKeyViolation(err) {
		return MedicinePurchase{}, fmt.Errorf("store: purchase medicine: patient %s: %w", patientID, ErrNotFound)
	}
	if err != nil {
		return MedicinePurchase{}, fmt.Errorf("store: purchase medicine: %w", err)
	}
	return out, nil
}
