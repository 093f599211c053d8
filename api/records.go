package api

import (
	"errors"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/store"
)

// Health records: structured entries (conditions, allergies, immunizations,
// lab results as Observations) and documents (documents.go), the
// longitudinal view, the FHIR export (fhir.go), and deletion under the
// retention policy. Every route names the patient in its path, so the
// access layer decides and audits each call (access.go, audit.go).

const (
	recordsRoute = "/api/v1/patients/:id/records"
	recordRoute  = "/api/v1/patients/:id/records/:rid"
)

// Code systems the entries use (FHIR canonical URLs).
const (
	systemICD10  = "http://hl7.org/fhir/sid/icd-10"
	systemSNOMED = "http://snomed.info/sct"
	systemLOINC  = "http://loinc.org"
	systemCVX    = "http://hl7.org/fhir/sid/cvx"
)

// Retention: an entry a doctor made after a consult is part of the
// practitioner's medical record and is kept for retentionYears from its
// date even when the patient deletes it; it is hidden, not destroyed. The
// default follows the Indian Medical Council (Professional Conduct,
// Etiquette and Ethics) Regulations, 2002, regulation 1.3.1 (records kept
// 3 years from the commencement of treatment); other jurisdictions set
// longer periods and need their own rule here. What the patient entered
// themselves is theirs to destroy.
const (
	retentionYears = 3
	retentionBasis = "Indian Medical Council (Professional Conduct, Etiquette and Ethics) Regulations, 2002, reg. 1.3.1: " +
		"medical records are kept for 3 years from the commencement of treatment"
)

// recordInput is the body of a new or updated structured entry.
type recordInput struct {
	Kind           string          `json:"kind"`
	Date           string          `json:"date"`
	CodeSystem     string          `json:"code_system"`
	Code           string          `json:"code"`
	Display        string          `json:"display"`
	Status         string          `json:"status"`
	Value          *float64        `json:"value"`
	Unit           *string         `json:"unit"`
	ReferenceRange *referenceRange `json:"reference_range"`
	Note           string          `json:"note"`
	EncounterID    string          `json:"encounter_id"`
}

type referenceRange struct {
	Low  *float64 `json:"low"`
	High *float64 `json:"high"`
}

// recordView is a record as the API returns it.
type recordView struct {
	ID             string          `json:"id"`
	PatientID      string          `json:"patient_id"`
	Kind           string          `json:"kind"`
	Date           string          `json:"date"`
	CodeSystem     string          `json:"code_system,omitempty"`
	Code           string          `json:"code,omitempty"`
	Display        string          `json:"display"`
	Status         string          `json:"status,omitempty"`
	Value          *float64        `json:"value,omitempty"`
	Unit           *string         `json:"unit,omitempty"`
	ReferenceRange *referenceRange `json:"reference_range,omitempty"`
	Interpretation string          `json:"interpretation,omitempty"`
	Note           string          `json:"note,omitempty"`
	EncounterID    *string         `json:"encounter_id,omitempty"`
	AuthorID       string          `json:"author_id"`
	AuthorRole     string          `json:"author_role"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Document       *documentView   `json:"document,omitempty"`
	Hidden         *hiddenView     `json:"hidden,omitempty"`
}

type documentView struct {
	ContentType string `json:"content_type"`
	SizeBytes   int64  `json:"size_bytes"`
	SHA256      string `json:"sha256"`
	ContentURL  string `json:"content_url"`
	MasterKeyID string `json:"master_key_id"`
}

type hiddenView struct {
	At          time.Time `json:"at"`
	RetainUntil string    `json:"retain_until"`
	Basis       string    `json:"basis"`
}

var (
	recordKinds = []string{"condition", "allergy", "immunization", "observation"}
	loincCode   = regexp.MustCompile(`^[0-9]{1,7}-[0-9]$`)
	cvxCode     = regexp.MustCompile(`^[0-9]{1,3}$`)
	snomedID    = regexp.MustCompile(`^[0-9]{6,18}$`) // SCTID: 6 to 18 digits
	ucumUnit    = regexp.MustCompile(`^[!-~]{1,30}$`) // printable ASCII, no spaces, as UCUM codes are
)

const dateLayout = "2006-01-02"

// futureDate reports whether a calendar date (parsed as midnight UTC) has
// not begun anywhere yet. A date carries no time zone, and a patient's
// today begins up to 14 hours before UTC's (UTC+14), so a date is refused
// only when it lies beyond today in the earliest time zone.
func futureDate(date, now time.Time) bool {
	earliest := now.UTC().Add(14 * time.Hour)
	return date.After(time.Date(earliest.Year(), earliest.Month(), earliest.Day(), 0, 0, 0, 0, time.UTC))
}

// validateRecord checks an entry against its kind's rules and returns the
// row to store (patient, author and ID are the caller's to set).
func validateRecord(in recordInput, now time.Time) (store.HealthRecord, error) {
	var errs []FieldError
	bad := func(field, detail string) { errs = append(errs, FieldError{Pointer: "/" + field, Detail: detail}) }
	if !slices.Contains(recordKinds, in.Kind) {
		bad("kind", "must be one of condition, allergy, immunization, observation (documents are uploaded to /documents)")
	}
	date, err := time.Parse(dateLayout, in.Date)
	switch {
	case err != nil:
		bad("date", "must be a date as YYYY-MM-DD")
	case futureDate(date, now):
		bad("date", "must not be in the future")
	}
	if strings.TrimSpace(in.Display) == "" || len(in.Display) > 500 {
		bad("display", "must name the entry (1 to 500 characters)")
	}
	if len(in.Note) > 4000 {
		bad("note", "must be at most 4000 characters")
	}
	r := store.HealthRecord{Kind: in.Kind, EffectiveDate: date, CodeSystem: in.CodeSystem, Code: in.Code,
		Display: strings.TrimSpace(in.Display), Status: in.Status, Note: in.Note}
	switch in.Kind {
	case "condition":
		errs = append(errs, validateCondition(in, &r)...)
	case "allergy":
		errs = append(errs, validateStatus(&r)...)
	case "immunization":
		if in.CodeSystem != systemCVX || !cvxCode.MatchString(in.Code) {
			bad("code", "must be a CVX vaccine code (code_system "+systemCVX+")")
		}
		if in.Status != "" {
			bad("status", "only conditions and allergies carry a clinical status")
		}
	case "observation":
		errs = append(errs, validateObservation(in, &r)...)
	}
	if in.Kind != "observation" && (in.Value != nil || in.Unit != nil || in.ReferenceRange != nil) {
		bad("value", "only observations carry a value, unit and reference range")
	}
	if len(errs) > 0 {
		return store.HealthRecord{}, &invalidError{fields: errs}
	}
	return r, nil
}

func validateCondition(in recordInput, r *store.HealthRecord) []FieldError {
	errs := validateStatus(r)
	switch {
	case in.CodeSystem == systemICD10 && store.ValidICD10(in.Code):
	case in.CodeSystem == systemSNOMED && snomedID.MatchString(in.Code):
	default:
		errs = append(errs, FieldError{Pointer: "/code", Detail: "must be an ICD-10 code (code_system " + systemICD10 + ") or a SNOMED CT concept ID (" + systemSNOMED + ")"})
	}
	return errs
}

// validateStatus defaults and checks the clinical status of conditions and
// allergies.
func validateStatus(r *store.HealthRecord) []FieldError {
	if r.Status == "" {
		r.Status = "active"
	}
	if r.Status != "active" && r.Status != "resolved" {
		return []FieldError{{Pointer: "/status", Detail: "must be active or resolved"}}
	}
	return nil
}

func validateObservation(in recordInput, r *store.HealthRecord) []FieldError {
	var errs []FieldError
	if in.CodeSystem != systemLOINC || !loincCode.MatchString(in.Code) {
		errs = append(errs, FieldError{Pointer: "/code", Detail: "must be a LOINC code such as 2345-7 (code_system " + systemLOINC + ")"})
	}
	if in.Value == nil || math.IsNaN(*in.Value) || math.IsInf(*in.Value, 0) {
		errs = append(errs, FieldError{Pointer: "/value", Detail: "must be a number"})
	}
	if in.Unit == nil || !ucumUnit.MatchString(*in.Unit) {
		errs = append(errs, FieldError{Pointer: "/unit", Detail: "must be a UCUM unit code such as mg/dL or mmol/L"})
	}
	if rr := in.ReferenceRange; rr != nil {
		if rr.Low == nil && rr.High == nil {
			errs = append(errs, FieldError{Pointer: "/reference_range", Detail: "must give low, high or both"})
		}
		if rr.Low != nil && rr.High != nil && *rr.Low > *rr.High {
			errs = append(errs, FieldError{Pointer: "/reference_range/low", Detail: "must not exceed high"})
		}
		r.RefLow, r.RefHigh = rr.Low, rr.High
	}
	if in.Status != "" {
		errs = append(errs, FieldError{Pointer: "/status", Detail: "only conditions and allergies carry a clinical status"})
	}
	r.Value, r.Unit = in.Value, in.Unit
	return errs
}

// interpretation is N, H or L against the reference range (HL7 v3
// ObservationInterpretation), or "" without a range.
func interpretation(r store.HealthRecord) string {
	switch {
	case r.Value == nil || (r.RefLow == nil && r.RefHigh == nil):
		return ""
	case r.RefLow != nil && *r.Value < *r.RefLow:
		return "L"
	case r.RefHigh != nil && *r.Value > *r.RefHigh:
		return "H"
	default:
		return "N"
	}
}

func viewRecord(r store.HealthRecord) recordView {
	v := recordView{ID: r.ID, PatientID: r.PatientID, Kind: r.Kind, Date: r.EffectiveDate.Format(dateLayout), CodeSystem: r.CodeSystem,
		Code: r.Code, Display: r.Display, Status: r.Status, Value: r.Value, Unit: r.Unit, Interpretation: interpretation(r),
		Note: r.Note, EncounterID: r.EncounterID, AuthorID: r.AuthorID, AuthorRole: r.AuthorRole, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.RefLow != nil || r.RefHigh != nil {
		v.ReferenceRange = &referenceRange{Low: r.RefLow, High: r.RefHigh}
	}
	if r.Kind == "document" && r.ObjectKey != nil {
		v.Document = &documentView{ContentType: deref(r.ContentType), SizeBytes: derefInt(r.SizeBytes), SHA256: hexString(r.ContentSHA256),
			ContentURL: "/api/v1/patients/" + r.PatientID + "/records/" + r.ID + "/content", MasterKeyID: deref(r.MasterKeyID)}
	}
	if r.HiddenAt != nil && r.RetainUntil != nil {
		v.Hidden = &hiddenView{At: *r.HiddenAt, RetainUntil: r.RetainUntil.Format(dateLayout), Basis: deref(r.RetentionBasis)}
	}
	return v
}

// author is who writes an entry. A patient writes their own record; a
// doctor writes only from a consult: encounterID must name a finished
// encounter of that doctor with this patient.
func (s *Server) author(c *gin.Context, patientID, encounterID string) (auth.Principal, *string, error) {
	p, ok := principalFrom(c)
	if !ok {
		return p, nil, &unauthorizedError{detail: "sign in first"}
	}
	if p.Role != auth.RoleDoctor {
		if encounterID != "" {
			return p, nil, &invalidError{fields: []FieldError{{Pointer: "/encounter_id", Detail: "only a doctor's entry comes from an encounter"}}}
		}
		return p, nil, nil
	}
	if uuid.Validate(encounterID) != nil {
		return p, nil, &invalidError{fields: []FieldError{{Pointer: "/encounter_id", Detail: "a doctor adds records after a consult: give the encounter's ID"}}}
	}
	e, err := s.store.GetEncounterParties(c.Request.Context(), encounterID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (e.PatientID != patientID || e.PractitionerID != p.PractitionerID)) {
		return p, nil, &invalidError{fields: []FieldError{{Pointer: "/encounter_id", Detail: "must be a consult of yours with this patient"}}}
	}
	if err != nil {
		return p, nil, err
	}
	return p, &e.ID, nil
}

func (s *Server) createRecord(c *gin.Context) {
	var in recordInput
	if err := decodeStrict(c.Request.Body, &in); err != nil {
		s.writeError(c, err)
		return
	}
	r, err := validateRecord(in, time.Now())
	if err != nil {
		s.writeError(c, err)
		return
	}
	patientID := c.Param("id")
	p, encounter, err := s.author(c, patientID, in.EncounterID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	r.ID, r.PatientID, r.AuthorID, r.AuthorRole, r.EncounterID = uuid.NewString(), patientID, p.ActorID(), p.Role, encounter
	saved, err := s.store.InsertRecord(c.Request.Context(), r)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/patients/"+patientID+"/records/"+saved.ID)
	c.JSON(http.StatusCreated, viewRecord(saved))
}

// listRecords is the longitudinal view: every visible record, newest first
// by the date it is about; ?kind= narrows it. Admins may add
// ?include_hidden=true to see what the retention policy keeps.
func (s *Server) listRecords(c *gin.Context) {
	params, err := parseList(c, recordSorts, "-date")
	if err != nil {
		s.writeError(c, err)
		return
	}
	f := store.RecordFilter{Kind: c.Query("kind")}
	if f.Kind != "" && f.Kind != "document" && !slices.Contains(recordKinds, f.Kind) {
		s.writeError(c, &parameterError{name: "kind", detail: "must be condition, allergy, immunization, observation or document"})
		return
	}
	if c.Query("include_hidden") == "true" {
		if p, _ := principalFrom(c); p.Role != auth.RoleAdmin {
			s.writeError(c, &forbiddenError{detail: "only an admin sees records hidden under the retention policy"})
			return
		}
		f.IncludeHidden = true
	}
	recs, err := s.store.ListRecords(c.Request.Context(), c.Param("id"), f)
	if err != nil {
		s.writeError(c, err)
		return
	}
	items := make([]recordView, 0, len(recs))
	for _, r := range recs {
		items = append(items, viewRecord(r))
	}
	c.JSON(http.StatusOK, paginate(items, params, recordSorts, func(r recordView) string { return r.ID }))
}

// recordSorts are the fields the longitudinal view sorts by.
var recordSorts = sortKeys[recordView]{
	"date":       func(r recordView) string { return r.Date },
	"created_at": func(r recordView) string { return r.CreatedAt.UTC().Format(sortableTime) },
}

// visibleRecord loads the path's record; a hidden one is not found.
func (s *Server) visibleRecord(c *gin.Context) (store.HealthRecord, error) {
	if uuid.Validate(c.Param("rid")) != nil {
		return store.HealthRecord{}, &notFoundError{detail: "no record has this ID"}
	}
	r, err := s.store.GetRecord(c.Request.Context(), c.Param("id"), c.Param("rid"))
	if err != nil {
		return r, err
	}
	if r.HiddenAt != nil {
		return r, &notFoundError{detail: "no record has this ID"}
	}
	return r, nil
}

func (s *Server) getRecord(c *gin.Context) {
	r, err := s.visibleRecord(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, viewRecord(r))
}

// updateRecord replaces an entry's clinical fields. Only its author may.
func (s *Server) updateRecord(c *gin.Context) {
	var in recordInput
	if err := decodeStrict(c.Request.Body, &in); err != nil {
		s.writeError(c, err)
		return
	}
	cur, err := s.visibleRecord(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, _ := principalFrom(c)
	if cur.AuthorID != p.ActorID() || cur.AuthorRole != p.Role {
		s.writeError(c, &forbiddenError{detail: "only the author of a record may change it"})
		return
	}
	if cur.Kind == "document" || in.Kind != cur.Kind {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/kind", Detail: "must stay " + cur.Kind + " (documents cannot be edited; upload a new one)"}}})
		return
	}
	if (cur.EncounterID == nil && in.EncounterID != "") || (cur.EncounterID != nil && in.EncounterID != *cur.EncounterID) {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/encounter_id", Detail: "must stay the entry's encounter"}}})
		return
	}
	r, err := validateRecord(in, time.Now())
	if err != nil {
		s.writeError(c, err)
		return
	}
	r.ID, r.PatientID = cur.ID, cur.PatientID
	saved, err := s.store.UpdateRecordEntry(c.Request.Context(), r)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, viewRecord(saved))
}

// deletionResult tells the caller what became of the record.
type deletionResult struct {
	ID          string `json:"id"`
	Outcome     string `json:"outcome"` // destroyed, or hidden (kept under the retention policy)
	RetainUntil string `json:"retain_until,omitempty"`
	Basis       string `json:"basis,omitempty"`
	Message     string `json:"message"`
}

// deleteRecord deletes a record for the patient (or its author). A
// doctor's entry still inside its retention period is hidden from every
// view instead, and the answer says so and until when.
func (s *Server) deleteRecord(c *gin.Context) {
	r, err := s.visibleRecord(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, _ := principalFrom(c)
	if p.Role != auth.RolePatient && (r.AuthorID != p.ActorID() || r.AuthorRole != p.Role) {
		s.writeError(c, &forbiddenError{detail: "only the patient or the record's author may delete it"})
		return
	}
	ctx := c.Request.Context()
	retainUntil := r.EffectiveDate.AddDate(retentionYears, 0, 0)
	if r.AuthorRole == auth.RoleDoctor && time.Now().Before(retainUntil) {
		if err := s.store.HideRecord(ctx, r.PatientID, r.ID, retainUntil, retentionBasis); err != nil {
			s.writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, deletionResult{ID: r.ID, Outcome: "hidden", RetainUntil: retainUntil.Format(dateLayout), Basis: retentionBasis,
			Message: "This entry was made by your doctor after a consult, and the law requires it to be kept until " +
				retainUntil.Format(dateLayout) + ". It is now hidden from your record and from every view of it; it is destroyed after that date."})
		return
	}
	if err := s.store.DeleteRecord(ctx, r.PatientID, r.ID); err != nil {
		s.writeError(c, err)
		return
	}
	if r.ObjectKey != nil && s.objects() != nil {
		if err := s.objects().Delete(ctx, *r.ObjectKey); err != nil {
			// The row is gone, so nothing can read the sealed object; log
			// its key for clean-up.
			s.logger.ErrorContext(ctx, "Sealed document object left behind", "record", r.ID, "error", err)
		}
	}
	c.JSON(http.StatusOK, deletionResult{ID: r.ID, Outcome: "destroyed", Message: "The record has been destroyed."})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}
