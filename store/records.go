package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// HealthRecord is one row of a patient's record (migration 0006): a
// structured entry or a sealed document.
type HealthRecord struct {
	ID            string
	PatientID     string
	Kind          string // condition, allergy, immunization, observation, document
	EffectiveDate time.Time
	CodeSystem    string
	Code          string
	Display       string
	Status        string
	Value         *float64
	Unit          *string
	RefLow        *float64
	RefHigh       *float64
	Note          string
	EncounterID   *string
	AuthorID      string
	AuthorRole    string
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// Documents only.
	ContentType   *string
	SizeBytes     *int64
	ObjectKey     *string
	ContentSHA256 []byte
	WrappedKey    []byte
	MasterKeyID   *string

	// Set when the record is hidden under the retention policy.
	HiddenAt       *time.Time
	RetainUntil    *time.Time
	RetentionBasis *string
}

const recordColumns = `id::text, patient_id::text, kind, effective_date, code_system, code, display, status, value::float8, unit,
	ref_low::float8, ref_high::float8, note, encounter_id::text, author_id, author_role, created_at, updated_at, content_type, size_bytes,
	object_key, content_sha256, wrapped_key, master_key_id, hidden_at, retain_until, retention_basis`

func scanRecord(row pgx.Row) (HealthRecord, error) {
	var r HealthRecord
	err := row.Scan(&r.ID, &r.PatientID, &r.Kind, &r.EffectiveDate, &r.CodeSystem, &r.Code, &r.Display, &r.Status, &r.Value, &r.Unit,
		&r.RefLow, &r.RefHigh, &r.Note, &r.EncounterID, &r.AuthorID, &r.AuthorRole, &r.CreatedAt, &r.UpdatedAt, &r.ContentType,
		&r.SizeBytes, &r.ObjectKey, &r.ContentSHA256, &r.WrappedKey, &r.MasterKeyID, &r.HiddenAt, &r.RetainUntil, &r.RetentionBasis)
	return r, err
}

// InsertRecord stores a new record; r.ID must be set.
func (s *Store) InsertRecord(ctx context.Context, r HealthRecord) (HealthRecord, error) {
	return s.insertRecord(ctx, s.Pool, r)
}

func (s *Store) insertRecord(ctx context.Context, q querier, r HealthRecord) (HealthRecord, error) {
	row := q.QueryRow(ctx, `INSERT INTO health_record (id, patient_id, kind, effective_date, code_system, code, display,
		status, value, unit, ref_low, ref_high, note, encounter_id, author_id, author_role, content_type, size_bytes, object_key,
		content_sha256, wrapped_key, master_key_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
		RETURNING `+recordColumns,
		r.ID, r.PatientID, r.Kind, r.EffectiveDate, r.CodeSystem, r.Code, r.Display, r.Status, r.Value, r.Unit, r.RefLow, r.RefHigh,
		r.Note, r.EncounterID, r.AuthorID, r.AuthorRole, r.ContentType, r.SizeBytes, r.ObjectKey, r.ContentSHA256, r.WrappedKey,
		r.MasterKeyID)
	out, err := scanRecord(row)
	if err != nil {
		return HealthRecord{}, fmt.Errorf("store: insert record: %w", err)
	}
	return out, nil
}

// GetRecord returns the patient's record, hidden or not, or ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, patientID, id string) (HealthRecord, error) {
	r, err := scanRecord(s.Pool.QueryRow(ctx, `SELECT `+recordColumns+` FROM health_record WHERE id = $1::uuid AND patient_id = $2::uuid`, id, patientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return HealthRecord{}, fmt.Errorf("store: record %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return HealthRecord{}, fmt.Errorf("store: get record %s: %w", id, err)
	}
	return r, nil
}

// UpdateRecordEntry replaces the clinical fields of a visible structured
// entry; kind, author and document fields do not change.
func (s *Store) UpdateRecordEntry(ctx context.Context, r HealthRecord) (HealthRecord, error) {
	row := s.Pool.QueryRow(ctx, `UPDATE health_record SET effective_date = $3, code_system = $4, code = $5, display = $6,
		status = $7, value = $8, unit = $9, ref_low = $10, ref_high = $11, note = $12, updated_at = now()
		WHERE id = $1::uuid AND patient_id = $2::uuid AND hidden_at IS NULL RETURNING `+recordColumns,
		r.ID, r.PatientID, r.EffectiveDate, r.CodeSystem, r.Code, r.Display, r.Status, r.Value, r.Unit, r.RefLow, r.RefHigh, r.Note)
	out, err := scanRecord(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return HealthRecord{}, fmt.Errorf("store: record %s: %w", r.ID, ErrNotFound)
	}
	if err != nil {
		return HealthRecord{}, fmt.Errorf("store: update record %s: %w", r.ID, err)
	}
	return out, nil
}

// RecordFilter selects records of one patient.
type RecordFilter struct {
	Kind          string // "" for every kind
	IncludeHidden bool
}

// ListRecords returns the patient's records, newest first by the date they
// are about: the longitudinal view.
func (s *Store) ListRecords(ctx context.Context, patientID string, f RecordFilter) ([]HealthRecord, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+recordColumns+` FROM health_record
		WHERE patient_id = $1::uuid AND ($2 = '' OR kind = $2) AND ($3 OR hidden_at IS NULL)
		ORDER BY effective_date DESC, created_at DESC, id`, patientID, f.Kind, f.IncludeHidden)
	if err != nil {
		return nil, fmt.Errorf("store: list records %s: %w", patientID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (HealthRecord, error) { return scanRecord(row) })
	if err != nil {
		return nil, fmt.Errorf("store: list records %s: %w", patientID, err)
	}
	return out, nil
}

// HideRecord hides a record kept under the retention policy.
func (s *Store) HideRecord(ctx context.Context, patientID, id string, retainUntil time.Time, basis string) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE health_record SET hidden_at = now(), retain_until = $3, retention_basis = $4
		WHERE id = $1::uuid AND patient_id = $2::uuid AND hidden_at IS NULL`, id, patientID, retainUntil, basis)
	if err != nil {
		return fmt.Errorf("store: hide record %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: record %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteRecord destroys a record row (its document object is the caller's
// to delete).
func (s *Store) DeleteRecord(ctx context.Context, patientID, id string) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM health_record WHERE id = $1::uuid AND patient_id = $2::uuid AND hidden_at IS NULL`, id, patientID)
	if err != nil {
		return fmt.Errorf("store: delete record %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: record %s: %w", id, ErrNotFound)
	}
	return nil
}

// EncounterParties names who took part in a consult, and when it began.
type EncounterParties struct {
	ID             string
	PatientID      string
	PractitionerID string
	Start          time.Time
}

// GetEncounterParties returns the encounter's parties, or ErrNotFound.
func (s *Store) GetEncounterParties(ctx context.Context, id string) (EncounterParties, error) {
	var e EncounterParties
	err := s.Pool.QueryRow(ctx, `SELECT id::text, patient_id::text, practitioner_id::text, period_start FROM encounter WHERE id = $1::uuid`, id).
		Scan(&e.ID, &e.PatientID, &e.PractitionerID, &e.Start)
	if errors.Is(err, pgx.ErrNoRows) {
		return EncounterParties{}, fmt.Errorf("store: encounter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return EncounterParties{}, fmt.Errorf("store: get encounter %s: %w", id, err)
	}
	return e, nil
}

// WrappedDocumentKey is a document's data key as the rotation sees it.
type WrappedDocumentKey struct {
	RecordID    string
	WrappedKey  []byte
	MasterKeyID string
}

// DocumentKeysNotUnder lists the documents whose data key is wrapped by
// another master key than keyID, hidden ones included.
func (s *Store) DocumentKeysNotUnder(ctx context.Context, keyID string) ([]WrappedDocumentKey, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id::text, wrapped_key, master_key_id FROM health_record
		WHERE kind = 'document' AND master_key_id <> $1 ORDER BY id`, keyID)
	if err != nil {
		return nil, fmt.Errorf("store: document keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WrappedDocumentKey])
	if err != nil {
		return nil, fmt.Errorf("store: document keys: %w", err)
	}
	return out, nil
}

// ReplaceDocumentKey stores a re-wrapped data key, if the row still holds
// the wrapping it was read with (so two rotations never overwrite each
// other's work). It reports whether the row changed.
func (s *Store) ReplaceDocumentKey(ctx context.Context, old WrappedDocumentKey, wrapped []byte, keyID string) (bool, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE health_record SET wrapped_key = $2, master_key_id = $3
		WHERE id = $1::uuid AND master_key_id = $4 AND wrapped_key = $5`, old.RecordID, wrapped, keyID, old.MasterKeyID, old.WrappedKey)
	if err != nil {
		return false, fmt.Errorf("store: replace document key %s: %w", old.RecordID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PatientDemographics is what a FHIR Patient resource of the export holds.
type PatientDemographics struct {
	ID        string
	Name      string
	Gender    string
	BirthDate time.Time
}

// GetPatientDemographics returns the patient's name, gender and birth
// date, or ErrNotFound.
func (s *Store) GetPatientDemographics(ctx context.Context, id string) (PatientDemographics, error) {
	var p PatientDemographics
	err := s.Pool.QueryRow(ctx, `SELECT id::text, name, gender, birth_date FROM patient WHERE id = $1::uuid`, id).
		Scan(&p.ID, &p.Name, &p.Gender, &p.BirthDate)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("store: patient %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("store: patient %s: %w", id, err)
	}
	return p, nil
}

// RecordKind returns the kind of the patient's record, or "" when there is
// no such record.
func (s *Store) RecordKind(ctx context.Context, patientID, id string) (string, error) {
	var kind string
	err := s.Pool.QueryRow(ctx, `SELECT kind FROM health_record WHERE id = $1::uuid AND patient_id = $2::uuid`, id, patientID).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: record kind %s: %w", id, err)
	}
	return kind, nil
}

// Consult is a finished encounter as the patient's record lists it.
type Consult struct {
	EncounterID      string
	JourneyID        string
	Start            time.Time
	PractitionerName string
	Specialty        string
	Diagnoses        []string // the record's condition entries from the consult, else its ICD-10 codes
}

// PatientConsults lists the patient's finished consults, newest first.
func (s *Store) PatientConsults(ctx context.Context, patientID string) ([]Consult, error) {
	rows, err := s.Pool.Query(ctx, `SELECT e.id::text, e.journey_id, e.period_start, pr.name, sp.name,
		COALESCE((SELECT array_agg(h.display ORDER BY h.created_at) FROM health_record h
			WHERE h.encounter_id = e.id AND h.kind = 'condition' AND h.hidden_at IS NULL), e.diagnosis_codes)
		FROM encounter e JOIN practitioner pr ON pr.id = e.practitioner_id JOIN specialty sp ON sp.code = pr.specialty_code
		WHERE e.patient_id = $1::uuid ORDER BY e.period_start DESC, e.id`, patientID)
	if err != nil {
		return nil, fmt.Errorf("store: consults of %s: %w", patientID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Consult])
	if err != nil {
		return nil, fmt.Errorf("store: consults of %s: %w", patientID, err)
	}
	return out, nil
}
