package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ItemsFromOrders turns a consult's prescription orders back into items.
func ItemsFromOrders(orders []EncounterOrder) ([]MedicationItem, error) {
	var out []MedicationItem
	for i, o := range orders {
		if o.Kind != OrderPrescription || o.Detail == nil {
			continue
		}
		num := func(k string) int { n, _ := strconv.Atoi(o.Detail[k]); return n }
		it := MedicationItem{Drug: o.Display, Dose: o.Detail["dose"], Route: o.Detail["route"], Frequency: o.Detail["frequency"],
			DurationDays: num("duration_days"), Quantity: num("quantity"), Refills: num("refills")}
		if err := it.Validate(); err != nil {
			return nil, fmt.Errorf("order %d: %w: %w", i, err, ErrInvalid)
		}
		out = append(out, it)
	}
	return out, nil
}

// ClinicalProfile is what the prescription check knows of a patient.
type ClinicalProfile struct {
	Conditions  []string `json:"conditions"`
	Allergies   []string `json:"allergies"`
	ActiveDrugs []string `json:"active_drugs"`
	AgeYears    int      `json:"age_years"`
	EGFR        *float64 `json:"egfr,omitempty"`
}

// PatientClinicalProfile reads the patient's active conditions, allergies,
// medicines taken, age on asOf and latest eGFR.
func (s *Store) PatientClinicalProfile(ctx context.Context, patientID string, asOf time.Time) (ClinicalProfile, error) {
	var p ClinicalProfile
	var birth time.Time
	err := s.Pool.QueryRow(ctx, `
		SELECT birth_date,
			COALESCE((SELECT array_agg(code ORDER BY code) FROM condition WHERE patient_id = $1 AND clinical_status = 'active'), '{}'),
			COALESCE((SELECT array_agg(substance ORDER BY substance) FROM allergy_intolerance WHERE patient_id = $1 AND clinical_status = 'active'), '{}'),
			COALESCE((SELECT array_agg(drug ORDER BY drug) FROM medication_statement WHERE patient_id = $1 AND status = 'active'), '{}'),
			(SELECT egfr FROM renal_function WHERE patient_id = $1 ORDER BY effective_at DESC LIMIT 1)
		FROM patient WHERE id = $1`, patientID).Scan(&birth, &p.Conditions, &p.Allergies, &p.ActiveDrugs, &p.EGFR)
	if errors.Is(err, pgx.ErrNoRows) {
		return ClinicalProfile{}, fmt.Errorf("store: clinical profile of %s: %w", patientID, ErrNotFound)
	}
	if err != nil {
		return ClinicalProfile{}, fmt.Errorf("store: clinical profile of %s: %w", patientID, err)
	}
	p.AgeYears = asOf.Year() - birth.Year()
	if asOf.YearDay() < birth.YearDay() {
		p.AgeYears--
	}
	return p, nil
}

// ConsultPrescriptionItems reads the medicines the journey's consult
// ordered (the prescription orders of its encounter).
func (s *Store) ConsultPrescriptionItems(ctx context.Context, journeyID string) ([]MedicationItem, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT o.kind, o.code, o.display, o.detail FROM encounter_order o JOIN encounter e ON e.id = o.encounter_id
		WHERE e.journey_id = $1 AND o.kind = 'prescription' ORDER BY e.created_at, o.position`, journeyID)
	if err != nil {
		return nil, fmt.Errorf("store: consult prescription items: %w", err)
	}
	orders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EncounterOrder, error) {
		var o EncounterOrder
		var detail []byte
		if err := r.Scan(&o.Kind, &o.Code, &o.Display, &detail); err != nil {
			return o, err
		}
		return o, json.Unmarshal(detail, &o.Detail)
	})
	if err != nil {
		return nil, fmt.Errorf("store: consult prescription items: %w", err)
	}
	items, err := ItemsFromOrders(orders)
	if err != nil {
		return nil, fmt.Errorf("store: consult prescription items: %w", err)
	}
	return items, nil
}

// Prescription statuses.
const (
	PrescriptionDraft      = "draft"
	PrescriptionSuperseded = "superseded"
	PrescriptionSigned     = "signed"
)

// Prescription is one version of a journey step's prescription.
type Prescription struct {
	ID             string           `json:"id"`
	JourneyID      string           `json:"journey_id"`
	Step           string           `json:"step"`
	Version        int              `json:"version"`
	PatientID      string           `json:"patient_id"`
	PractitionerID string           `json:"practitioner_id"`
	Status         string           `json:"status"`
	Items          []MedicationItem `json:"items"`
	CreatedAt      time.Time        `json:"created_at"`
}

// NewPrescription is a draft to store.
type NewPrescription struct {
	JourneyID, Step string
	Version         int
	PatientID       string
	PractitionerID  string
	Items           []MedicationItem
}

// CreatePrescription stores a draft version with its items and supersedes
// the step's earlier drafts. Creating the same version again returns the
// stored one, so a retried activity writes nothing twice.
func (s *Store) CreatePrescription(ctx context.Context, n NewPrescription) (Prescription, error) {
	if len(n.Items) == 0 || n.Version < 1 {
		return Prescription{}, fmt.Errorf("store: create prescription: no items or no version: %w", ErrInvalid)
	}
	for i, it := range n.Items {
		if err := it.Validate(); err != nil {
			return Prescription{}, fmt.Errorf("store: create prescription: item %d: %w: %w", i, err, ErrInvalid)
		}
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		id := uuid.NewString()
		tag, err := tx.Exec(ctx, `
			INSERT INTO prescription (id, journey_id, step, version, patient_id, practitioner_id)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (journey_id, step, version) DO NOTHING`,
			id, n.JourneyID, n.Step, n.Version, n.PatientID, n.PractitionerID)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // written by an earlier attempt
		}
		for i, it := range n.Items {
			if _, err := tx.Exec(ctx, `
				INSERT INTO medication_request (prescription_id, position, drug, dose, route, frequency, duration_days, quantity, refills)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				id, i, it.Drug, it.Dose, it.Route, it.Frequency, it.DurationDays, it.Quantity, it.Refills); err != nil {
				return fmt.Errorf("insert item %d: %w", i, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE prescription SET status = 'superseded'
			WHERE journey_id = $1 AND step = $2 AND version < $3 AND status = 'draft'`, n.JourneyID, n.Step, n.Version)
		return err
	})
	if err != nil {
		if IsForeignKeyViolation(err) {
			return Prescription{}, fmt.Errorf("store: create prescription: unknown patient or practitioner: %w", ErrNotFound)
		}
		return Prescription{}, fmt.Errorf("store: create prescription: %w", err)
	}
	var id string
	if err := s.Pool.QueryRow(ctx, `SELECT id FROM prescription WHERE journey_id = $1 AND step = $2 AND version = $3`,
		n.JourneyID, n.Step, n.Version).Scan(&id); err != nil {
		return Prescription{}, fmt.Errorf("store: create prescription: read back: %w", err)
	}
	return s.GetPrescription(ctx, id)
}

// GetPrescription reads a prescription with its items.
func (s *Store) GetPrescription(ctx context.Context, id string) (Prescription, error) {
	var p Prescription
	err := s.Pool.QueryRow(ctx, `
		SELECT id::text, journey_id, step, version, patient_id::text, practitioner_id::text, status, created_at
		FROM prescription WHERE id = $1`, id).
		Scan(&p.ID, &p.JourneyID, &p.Step, &p.Version, &p.PatientID, &p.PractitionerID, &p.Status, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Prescription{}, fmt.Errorf("store: prescription %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Prescription{}, fmt.Errorf("store: get prescription %s: %w", id, err)
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT drug, dose, route, frequency, duration_days, quantity, refills
		FROM medication_request WHERE prescription_id = $1 ORDER BY position`, id)
	if err != nil {
		return Prescription{}, fmt.Errorf("store: prescription %s items: %w", id, err)
	}
	p.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (MedicationItem, error) {
		var m MedicationItem
		err := r.Scan(&m.Drug, &m.Dose, &m.Route, &m.Frequency, &m.DurationDays, &m.Quantity, &m.Refills)
		return m, err
	})
	if err != nil {
		return Prescription{}, fmt.Errorf("store: prescription %s items: %w", id, err)
	}
	return p, nil
}

// IssueRecord is a stored DetectedIssue.
type IssueRecord struct {
	Severity string          `json:"severity"`
	Kind     string          `json:"kind"`
	Resource json.RawMessage `json:"resource"`
}

// RecordCheck stores the knowledge graph's findings with a draft. Writing
// the same findings again changes nothing.
func (s *Store) RecordCheck(ctx context.Context, prescriptionID string, complete bool, highest string, issues []IssueRecord) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for i, is := range issues {
			if _, err := tx.Exec(ctx, `
				INSERT INTO detected_issue (prescription_id, position, severity, kind, resource) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (prescription_id, position) DO NOTHING`, prescriptionID, i, is.Severity, is.Kind, []byte(is.Resource)); err != nil {
				return fmt.Errorf("insert issue %d: %w", i, err)
			}
		}
		var h *string
		if highest != "" {
			h = &highest
		}
		_, err := tx.Exec(ctx, `UPDATE prescription SET check_complete = $2, highest_severity = $3 WHERE id = $1`, prescriptionID, complete, h)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record check of %s: %w", prescriptionID, err)
	}
	return nil
}

// DetectedIssues lists a prescription's stored findings.
func (s *Store) DetectedIssues(ctx context.Context, prescriptionID string) ([]IssueRecord, error) {
	rows, err := s.Pool.Query(ctx, `SELECT severity, kind, resource FROM detected_issue WHERE prescription_id = $1 ORDER BY position`, prescriptionID)
	if err != nil {
		return nil, fmt.Errorf("store: detected issues of %s: %w", prescriptionID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (IssueRecord, error) {
		var is IssueRecord
		var res []byte
		err := r.Scan(&is.Severity, &is.Kind, &res)
		is.Resource = res
		return is, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: detected issues of %s: %w", prescriptionID, err)
	}
	return out, nil
}

// Review is the doctor's approval (or override) of a prescription.
type Review struct {
	ActorID    string    `json:"actor_id"`
	Action     string    `json:"action"` // approve or override
	Reason     string    `json:"reason,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at"`
}

// Signature is the signed record of a prescription.
type Signature struct {
	PrescriptionID string    `json:"prescription_id"`
	Canonical      string    `json:"canonical"`
	SHA256         string    `json:"sha256"`
	Signature      []byte    `json:"signature"`
	KeyID          string    `json:"key_id"`
	SignedAt       time.Time `json:"signed_at"`
}

// SignPrescription records the review and the signature and marks the
// prescription signed, in one transaction. Both rows are immutable; a
// retried call finds them and returns the stored signature.
func (s *Store) SignPrescription(ctx context.Context, prescriptionID string, r Review, sig Signature) (Signature, error) {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO prescription_review (prescription_id, actor_id, action, reason, reviewed_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (prescription_id) DO NOTHING`, prescriptionID, r.ActorID, r.Action, r.Reason, r.ReviewedAt); err != nil {
			return fmt.Errorf("insert review: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO signed_prescription (prescription_id, canonical, sha256, signature, key_id) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (prescription_id) DO NOTHING`, prescriptionID, sig.Canonical, sig.SHA256, sig.Signature, sig.KeyID); err != nil {
			return fmt.Errorf("insert signature: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE prescription SET status = 'signed' WHERE id = $1 AND status = 'draft'`, prescriptionID)
		return err
	})
	if err != nil {
		return Signature{}, fmt.Errorf("store: sign prescription %s: %w", prescriptionID, err)
	}
	return s.GetSignature(ctx, prescriptionID)
}

// GetSignature reads a prescription's signed record.
func (s *Store) GetSignature(ctx context.Context, prescriptionID string) (Signature, error) {
	sig := Signature{PrescriptionID: prescriptionID}
	err := s.Pool.QueryRow(ctx, `SELECT canonical, sha256, signature, key_id, signed_at FROM signed_prescription WHERE prescription_id = $1`,
		prescriptionID).Scan(&sig.Canonical, &sig.SHA256, &sig.Signature, &sig.KeyID, &sig.SignedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Signature{}, fmt.Errorf("store: signature of %s: %w", prescriptionID, ErrNotFound)
	}
	if err != nil {
		return Signature{}, fmt.Errorf("store: signature of %s: %w", prescriptionID, err)
	}
	return sig, nil
}

// GetReview reads a prescription's review.
func (s *Store) GetReview(ctx context.Context, prescriptionID string) (Review, error) {
	var r Review
	err := s.Pool.QueryRow(ctx, `SELECT actor_id::text, action, reason, reviewed_at FROM prescription_review WHERE prescription_id = $1`,
		prescriptionID).Scan(&r.ActorID, &r.Action, &r.Reason, &r.ReviewedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Review{}, fmt.Errorf("store: review of %s: %w", prescriptionID, ErrNotFound)
	}
	if err != nil {
		return Review{}, fmt.Errorf("store: review of %s: %w", prescriptionID, err)
	}
	return r, nil
}

// PharmaciesFor lists the active pharmacies for a patient: the preferred
// one first, then by distance from the patient's city. The patient record
// holds a city, not an address, so the city's position is the mean of its
// organisations' coordinates.
func (s *Store) PharmaciesFor(ctx context.Context, patientID string) ([]Pharmacy, error) {
	rows, err := s.Pool.Query(ctx, `
		WITH home AS (
			SELECT avg(o.latitude) AS lat, avg(o.longitude) AS lon
			FROM patient p JOIN organization o ON o.city = p.city WHERE p.id = $1
		)
		SELECT o.id::text, o.name, o.city, o.latitude, o.longitude, pp.patient_id IS NOT NULL, h.lat, h.lon
		FROM organization o CROSS JOIN home h
		LEFT JOIN pharmacy_preference pp ON pp.organization_id = o.id AND pp.patient_id = $1
		WHERE o.kind = 'pharmacy' AND o.active`, patientID)
	if err != nil {
		return nil, fmt.Errorf("store: pharmacies for %s: %w", patientID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Pharmacy, error) {
		var ph Pharmacy
		var lat, lon float64
		var hlat, hlon *float64
		if err := r.Scan(&ph.ID, &ph.Name, &ph.City, &lat, &lon, &ph.Preferred, &hlat, &hlon); err != nil {
			return ph, err
		}
		if hlat != nil && hlon != nil {
			ph.DistanceKm = haversineKm(*hlat, *hlon, lat, lon)
		}
		return ph, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pharmacies for %s: %w", patientID, err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Preferred != out[j].Preferred {
			return out[i].Preferred
		}
		if out[i].DistanceKm != out[j].DistanceKm {
			return out[i].DistanceKm < out[j].DistanceKm
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

// PharmacyOrder is a prescription sent to one pharmacy.
type PharmacyOrder struct {
	ID             string `json:"id"`
	JourneyID      string `json:"journey_id"`
	Step           string `json:"step"`
	Attempt        int    `json:"attempt"`
	PrescriptionID string `json:"prescription_id"`
	PharmacyID     string `json:"pharmacy_id"`
	PartnerOrderID string `json:"partner_order_id,omitempty"`
	Status         string `json:"status"`
	LastSequence   int    `json:"last_sequence"`
	// Position is the one medication request a refill order carries; nil
	// for an order of the whole prescription.
	Position *int `json:"position,omitempty"`
	// WorkflowID is the workflow that follows the order (a refill's); empty
	// when the journey does.
	WorkflowID string `json:"workflow_id,omitempty"`
}

// FollowedBy is the workflow the order's partner events go to.
func (o PharmacyOrder) FollowedBy() string {
	if o.WorkflowID != "" {
		return o.WorkflowID
	}
	return o.JourneyID
}

// CreatePharmacyOrder records an attempt before it is sent; its ID is the
// idempotency key of the partner call. A retry returns the stored order.
func (s *Store) CreatePharmacyOrder(ctx context.Context, o PharmacyOrder) (PharmacyOrder, error) {
	if _, err := s.Pool.Exec(ctx, `
		INSERT INTO pharmacy_order (id, journey_id, step, attempt, prescription_id, pharmacy_id, item_position, workflow_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''))
		ON CONFLICT (journey_id, step, attempt) DO NOTHING`,
		uuid.NewString(), o.JourneyID, o.Step, o.Attempt, o.PrescriptionID, o.PharmacyID, o.Position, o.WorkflowID); err != nil {
		return PharmacyOrder{}, fmt.Errorf("store: create pharmacy order: %w", err)
	}
	var id string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM pharmacy_order WHERE journey_id = $1 AND step = $2 AND attempt = $3`,
		o.JourneyID, o.Step, o.Attempt).Scan(&id); err != nil {
		return PharmacyOrder{}, fmt.Errorf("store: create pharmacy order: read back: %w", err)
	}
	return s.GetPharmacyOrder(ctx, id)
}

// GetPharmacyOrder reads one order.
func (s *Store) GetPharmacyOrder(ctx context.Context, id string) (PharmacyOrder, error) {
	var o PharmacyOrder
	var partner, workflowID *string
	err := s.Pool.QueryRow(ctx, `
		SELECT id::text, journey_id, step, attempt, prescription_id::text, pharmacy_id::text, partner_order_id, status, last_sequence,
			item_position, workflow_id
		FROM pharmacy_order WHERE id = $1`, id).
		Scan(&o.ID, &o.JourneyID, &o.Step, &o.Attempt, &o.PrescriptionID, &o.PharmacyID, &partner, &o.Status, &o.LastSequence,
			&o.Position, &workflowID)
	if errors.Is(err, pgx.ErrNoRows) {
		return PharmacyOrder{}, fmt.Errorf("store: pharmacy order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return PharmacyOrder{}, fmt.Errorf("store: pharmacy order %s: %w", id, err)
	}
	if partner != nil {
		o.PartnerOrderID = *partner
	}
	if workflowID != nil {
		o.WorkflowID = *workflowID
	}
	return o, nil
}

// SetPartnerOrder records the partner's order ID once the partner answered.
func (s *Store) SetPartnerOrder(ctx context.Context, id, partnerOrderID, status string) error {
	if _, err := s.Pool.Exec(ctx, `UPDATE pharmacy_order SET partner_order_id = $2, status = $3, updated_at = now()
		WHERE id = $1 AND last_sequence = 0`, id, partnerOrderID, status); err != nil {
		return fmt.Errorf("store: set partner order %s: %w", id, err)
	}
	return nil
}

// RecordPharmacyEvent stores a webhook event. It reports false for an event
// already recorded; the order's status moves only forward (a higher
// sequence), so an out-of-order event is kept but changes nothing.
func (s *Store) RecordPharmacyEvent(ctx context.Context, eventID, orderID, status string, sequence int) (bool, error) {
	var fresh bool
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO pharmacy_event (event_id, order_id, status, sequence) VALUES ($1, $2, $3, $4)
			ON CONFLICT (event_id) DO NOTHING`, eventID, orderID, status, sequence)
		if err != nil {
			return err
		}
		if fresh = tag.RowsAffected() == 1; !fresh {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE pharmacy_order SET status = $2, last_sequence = $3, updated_at = now()
			WHERE id = $1 AND last_sequence < $3`, orderID, status, sequence)
		return err
	})
	if err != nil {
		if IsForeignKeyViolation(err) {
			return false, fmt.Errorf("store: pharmacy event for order %s: %w", orderID, ErrNotFound)
		}
		return false, fmt.Errorf("store: pharmacy event for order %s: %w", orderID, err)
	}
	return fresh, nil
}

// LatestSignedPrescription is the journey's most recently signed prescription.
func (s *Store) LatestSignedPrescription(ctx context.Context, journeyID string) (Prescription, error) {
	var id string
	err := s.Pool.QueryRow(ctx, `
		SELECT p.id::text FROM prescription p JOIN signed_prescription sp ON sp.prescription_id = p.id
		WHERE p.journey_id = $1 ORDER BY sp.signed_at DESC, p.version DESC LIMIT 1`, journeyID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Prescription{}, fmt.Errorf("store: signed prescription of %s: %w", journeyID, ErrNotFound)
	}
	if err != nil {
		return Prescription{}, fmt.Errorf("store: signed prescription of %s: %w", journeyID, err)
	}
	return s.GetPrescription(ctx, id)
}

// PharmacyEventRecorded reports whether a webhook event was already recorded.
func (s *Store) PharmacyEventRecorded(ctx context.Context, eventID string) (bool, error) {
	var ok bool
	if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pharmacy_event WHERE event_id = $1)`, eventID).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: pharmacy event %s recorded: %w", eventID, err)
	}
	return ok, nil
}

// PatientTimezone is the patient's IANA time zone (patient.timezone).
func (s *Store) PatientTimezone(ctx context.Context, patientID string) (string, error) {
	var tz string
	err := s.Pool.QueryRow(ctx, `SELECT timezone FROM patient WHERE id = $1`, patientID).Scan(&tz)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("store: time zone of patient %s: %w", patientID, ErrPatientNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: time zone of patient %s: %w", patientID, err)
	}
	return tz, nil
}

// RefillRequest is a refill of one medication request.
type RefillRequest struct {
	PrescriptionID string
	Position       int
	Number         int // 1 for the first refill
	PatientID      string
	RequestedBy    string
	RequestedRole  string
	RequestedAt    time.Time
}

// ErrNoRefillsLeft is returned when a refill would exceed the refills the
// prescriber allowed.
var ErrNoRefillsLeft = errors.New("no refills left")

// RecordRefillRequest stores a refill request once: the same number again
// changes nothing. A number above medication_request.refills, or for a
// medication request of an unsigned prescription, is refused.
func (s *Store) RecordRefillRequest(ctx context.Context, r RefillRequest) error {
	if r.Number < 1 {
		return fmt.Errorf("store: refill request: number must be 1 or more: %w", ErrInvalid)
	}
	tag, err := s.Pool.Exec(ctx, `
		INSERT INTO refill_request (prescription_id, position, number, patient_id, requested_by, requested_role, requested_at)
		SELECT mr.prescription_id, mr.position, $3, p.patient_id, $4, $5, $6
		FROM medication_request mr
		JOIN prescription p ON p.id = mr.prescription_id AND p.status = 'signed' AND p.patient_id = $7
		WHERE mr.prescription_id = $1 AND mr.position = $2 AND mr.refills >= $3
		ON CONFLICT (prescription_id, position, number) DO NOTHING`,
		r.PrescriptionID, r.Position, r.Number, r.RequestedBy, r.RequestedRole, r.RequestedAt, r.PatientID)
	if err != nil {
		return fmt.Errorf("store: refill request %s/%d: %w", r.PrescriptionID, r.Position, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refill_request WHERE prescription_id = $1 AND position = $2 AND number = $3)`,
		r.PrescriptionID, r.Position, r.Number).Scan(&exists); err != nil {
		return fmt.Errorf("store: refill request %s/%d: %w", r.PrescriptionID, r.Position, err)
	}
	if exists {
		return nil // recorded by an earlier attempt
	}
	return fmt.Errorf("store: refill %d of %s/%d: %w", r.Number, r.PrescriptionID, r.Position, ErrNoRefillsLeft)
}

// RefillRequests lists a medication request's refill requests, by number.
func (s *Store) RefillRequests(ctx context.Context, prescriptionID string, position int) ([]RefillRequest, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT prescription_id::text, position, number, patient_id::text, requested_by, requested_role, requested_at
		FROM refill_request WHERE prescription_id = $1 AND position = $2 ORDER BY number`, prescriptionID, position)
	if err != nil {
		return nil, fmt.Errorf("store: refill requests of %s/%d: %w", prescriptionID, position, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RefillRequest, error) {
		var q RefillRequest
		err := r.Scan(&q.PrescriptionID, &q.Position, &q.Number, &q.PatientID, &q.RequestedBy, &q.RequestedRole, &q.RequestedAt)
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: refill requests of %s/%d: %w", prescriptionID, position, err)
	}
	return out, nil
}
