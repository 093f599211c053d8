package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/carepath/carepath/store"
)

// The FHIR R4 export of a patient's record: a Bundle of type collection
// holding the Patient and one resource per visible record (Condition,
// AllergyIntolerance, Immunization, Observation, DocumentReference).
// Entries are named by urn:uuid full URLs and refer to the Patient by
// that URN, so every reference resolves inside the Bundle.

const fhirExportRoute = "/api/v1/patients/:id/export/fhir"

type fhirObject = map[string]any

func (s *Server) exportFHIR(c *gin.Context) {
	ctx := c.Request.Context()
	patient, err := s.store.GetPatientDemographics(ctx, c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	recs, err := s.store.ListRecords(ctx, patient.ID, store.RecordFilter{})
	if err != nil {
		s.writeError(c, err)
		return
	}
	patientURL := "urn:uuid:" + patient.ID
	entries := []fhirObject{{"fullUrl": patientURL, "resource": fhirPatient(patient)}}
	for _, r := range recs {
		entries = append(entries, fhirObject{"fullUrl": "urn:uuid:" + r.ID, "resource": fhirResource(r, patientURL)})
	}
	c.Header("Content-Type", "application/fhir+json")
	c.JSON(http.StatusOK, fhirObject{
		"resourceType": "Bundle", "id": uuid.NewString(), "type": "collection",
		"timestamp": time.Now().UTC().Format(time.RFC3339), "entry": entries,
	})
}

func fhirPatient(p store.PatientDemographics) fhirObject {
	return fhirObject{"resourceType": "Patient", "id": p.ID, "name": []fhirObject{{"text": p.Name}},
		"gender": p.Gender, "birthDate": p.BirthDate.Format(dateLayout)}
}

func codeable(system, code, display string) fhirObject {
	out := fhirObject{"text": display}
	if code != "" {
		out["coding"] = []fhirObject{{"system": system, "code": code, "display": display}}
	}
	return out
}

func clinicalStatus(system, status string) fhirObject {
	return fhirObject{"coding": []fhirObject{{"system": system, "code": status}}}
}

// fhirResource maps one record to its FHIR resource.
func fhirResource(r store.HealthRecord, patientURL string) fhirObject {
	date := r.EffectiveDate.Format(dateLayout)
	subject := fhirObject{"reference": patientURL}
	var res fhirObject
	switch r.Kind {
	case "condition":
		res = fhirObject{"resourceType": "Condition", "subject": subject, "code": codeable(r.CodeSystem, r.Code, r.Display),
			"clinicalStatus": clinicalStatus("http://terminology.hl7.org/CodeSystem/condition-clinical", r.Status),
			"onsetDateTime":  date, "recordedDate": r.CreatedAt.UTC().Format(time.RFC3339)}
	case "allergy":
		res = fhirObject{"resourceType": "AllergyIntolerance", "patient": subject, "code": codeable(r.CodeSystem, r.Code, r.Display),
			"clinicalStatus": clinicalStatus("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", r.Status),
			"onsetDateTime":  date, "recordedDate": r.CreatedAt.UTC().Format(time.RFC3339)}
	case "immunization":
		res = fhirObject{"resourceType": "Immunization", "status": "completed", "patient": subject,
			"vaccineCode": codeable(r.CodeSystem, r.Code, r.Display), "occurrenceDateTime": date}
	case "observation":
		res = fhirObservation(r, subject, date)
	case "document":
		res = fhirObject{"resourceType": "DocumentReference", "status": "current", "subject": subject, "description": r.Display,
			"date": r.CreatedAt.UTC().Format(time.RFC3339),
			"content": []fhirObject{{"attachment": fhirObject{"contentType": deref(r.ContentType), "size": derefInt(r.SizeBytes),
				"title": r.Display, "creation": date,
				"url": "/api/v1/patients/" + r.PatientID + "/records/" + r.ID + "/content"}}}}
	}
	res["id"] = r.ID
	if r.Note != "" && r.Kind != "document" {
		res["note"] = []fhirObject{{"text": r.Note}}
	}
	return res
}

func fhirObservation(r store.HealthRecord, subject fhirObject, date string) fhirObject {
	unit := deref(r.Unit)
	quantity := func(v float64) fhirObject {
		return fhirObject{"value": v, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
	}
	res := fhirObject{"resourceType": "Observation", "status": "final", "subject": subject,
		"category": []fhirObject{{"coding": []fhirObject{{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}}},
		"code":     codeable(r.CodeSystem, r.Code, r.Display), "effectiveDateTime": date}
	if r.Value != nil {
		res["valueQuantity"] = quantity(*r.Value)
	}
	if r.RefLow != nil || r.RefHigh != nil {
		rr := fhirObject{}
		if r.RefLow != nil {
			rr["low"] = quantity(*r.RefLow)
		}
		if r.RefHigh != nil {
			rr["high"] = quantity(*r.RefHigh)
		}
		res["referenceRange"] = []fhirObject{rr}
	}
	if code := interpretation(r); code != "" {
		res["interpretation"] = []fhirObject{{"coding": []fhirObject{{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
			"code": code, "display": interpretationDisplay[code]}}}}
	}
	return res
}

var interpretationDisplay = map[string]string{"N": "Normal", "H": "High", "L": "Low"}
