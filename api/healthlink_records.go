package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/store"
)

// The HealthLink record endpoints (issue 7's contract), served from the
// health records (records.go) and the signed prescriptions:
//
//	GET /api/patient/records/?patient_id=           {"records": [{record_id, date, description, prescription}]}
//	GET /api/patient/clinical/records/?patient_id=  {"clinical_records": [{..., test_results: {"Blood Test": "Normal"}}]}
//
// A record is a finished consult: its date, the doctor and the diagnoses
// entered from it, and the medicines of its signed prescription.
// Clinical records add the lab results entered from the consult; lab
// results the patient entered outside a consult are grouped by date as
// records of their own. Access is the v1 API's: the token's role and its
// relation to patient_id (routePolicies).

const (
	healthLinkRecordsRoute  = "/api/patient/records/"
	healthLinkClinicalRoute = "/api/patient/clinical/records/"
)

type healthLinkRecord struct {
	RecordID     string `json:"record_id"`
	Date         string `json:"date"`
	Description  string `json:"description"`
	Prescription string `json:"prescription"`
}

type healthLinkClinicalRecord struct {
	healthLinkRecord
	TestResults map[string]string `json:"test_results"`
}

// interpretationWords are the words HealthLink uses for a result.
var interpretationWords = map[string]string{"N": "Normal", "H": "High", "L": "Low"}

// testResult is "Normal", "High" or "Low" against the reference range, or
// the value and unit when the result has no range.
func testResult(r store.HealthRecord) string {
	if word, ok := interpretationWords[interpretation(r)]; ok {
		return word
	}
	return strings.TrimSpace(fmt.Sprintf("%g %s", deref64(r.Value), deref(r.Unit)))
}

func deref64(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// healthLinkPatient checks ?patient_id= (the access layer has already
// decided whether the caller may see this patient, when it is valid).
func (s *Server) healthLinkPatient(c *gin.Context) (string, error) {
	id := c.Query("patient_id")
	if uuid.Validate(id) != nil {
		return "", &invalidError{fields: []FieldError{{Pointer: "query:patient_id", Detail: "must be a patient ID"}}}
	}
	ok, err := s.store.PatientExists(c.Request.Context(), id)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &notFoundError{detail: "no patient has this ID"}
	}
	return id, nil
}

// consultRecords builds one record per consult, with its prescription.
func (s *Server) consultRecords(c *gin.Context, patientID string) ([]store.Consult, []healthLinkRecord, error) {
	consults, err := s.store.PatientConsults(c.Request.Context(), patientID)
	if err != nil {
		return nil, nil, err
	}
	out := make([]healthLinkRecord, 0, len(consults))
	for _, e := range consults {
		description := "Consultation with " + e.PractitionerName + " (" + e.Specialty + ")"
		if len(e.Diagnoses) > 0 {
			description += ": " + strings.Join(e.Diagnoses, ", ")
		}
		rx, err := s.store.LatestSignedPrescription(c.Request.Context(), e.JourneyID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		out = append(out, healthLinkRecord{RecordID: e.EncounterID, Date: e.Start.Format(dateLayout), Description: description,
			Prescription: prescriptionText(rx.Items)})
	}
	return consults, out, nil
}

// prescriptionText is the medicines as one line each joined by "; ", or
// "" without a signed prescription.
func prescriptionText(items []store.MedicationItem) string {
	parts := make([]string, 0, len(items))
	for _, it := range items {
		parts = append(parts, fmt.Sprintf("%s %s, %s, %s, %d days", it.Drug, it.Dose, it.Route, it.Frequency, it.DurationDays))
	}
	return strings.Join(parts, "; ")
}

func (s *Server) healthLinkRecords(c *gin.Context) {
	patientID, err := s.healthLinkPatient(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	_, records, err := s.consultRecords(c, patientID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"records": records})
}

func (s *Server) healthLinkClinicalRecords(c *gin.Context) {
	patientID, err := s.healthLinkPatient(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	consults, records, err := s.consultRecords(c, patientID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	labs, err := s.store.ListRecords(c.Request.Context(), patientID, store.RecordFilter{Kind: "observation"})
	if err != nil {
		s.writeError(c, err)
		return
	}
	byEncounter := map[string]map[string]string{}
	byDate := map[string]map[string]string{}
	for _, o := range labs {
		key, group := o.EffectiveDate.Format(dateLayout), byDate
		if o.EncounterID != nil {
			key, group = *o.EncounterID, byEncounter
		}
		if group[key] == nil {
			group[key] = map[string]string{}
		}
		group[key][o.Display] = testResult(o)
	}
	out := make([]healthLinkClinicalRecord, 0, len(records)+len(byDate))
	for i, r := range records {
		results := byEncounter[consults[i].EncounterID]
		if results == nil {
			results = map[string]string{}
		}
		out = append(out, healthLinkClinicalRecord{healthLinkRecord: r, TestResults: results})
	}
	for date, results := range byDate {
		out = append(out, healthLinkClinicalRecord{healthLinkRecord: healthLinkRecord{RecordID: "labs-" + patientID + "-" + date,
			Date: date, Description: "Lab results entered by the patient"}, TestResults: results})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Date > out[j].Date })
	c.JSON(http.StatusOK, gin.H{"clinical_records": out})
}
