package api_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// signEncounterPrescription stores a signed prescription for the encounter's journey.
func signEncounterPrescription(t *testing.T, s *store.Store, encounterID, patientID, practitionerID string) {
	t.Helper()
	var journey string
	if err := s.Pool.QueryRow(context.Background(), `SELECT journey_id FROM encounter WHERE id = $1`, encounterID).Scan(&journey); err != nil {
		t.Fatal(err)
	}
	signPrescriptionFor(t, s, journey, patientID, practitionerID, "Metformin")
}

// exactKeys checks that obj has exactly these members, each a JSON string
// unless named in other.
func exactKeys(t *testing.T, what string, obj map[string]json.RawMessage, keys []string, other ...string) {
	t.Helper()
	var got []string
	for k, v := range obj {
		got = append(got, k)
		if !slices.Contains(other, k) && (len(v) == 0 || v[0] != '"') {
			t.Errorf("%s.%s = %s, want a string", what, k, v)
		}
	}
	slices.Sort(got)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s members = %v, want %v", what, got, want)
	}
}

var isoDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func TestHealthLinkRecordsContract(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	doctor, encounter := newEncounter(t, h.store, patient)
	signEncounterPrescription(t, h.store, encounter, patient, doctor)
	base := "/api/v1/patients/" + patient + "/records"
	today := time.Now().Format("2006-01-02")
	h.mustCall(t, http.StatusCreated, http.MethodPost, base, `{"kind":"condition","date":"`+today+`","code_system":"http://hl7.org/fhir/sid/icd-10",
		"code":"E11.9","display":"Type 2 diabetes mellitus","encounter_id":"`+encounter+`"}`, auth.RoleDoctor, doctor)
	h.mustCall(t, http.StatusCreated, http.MethodPost, base, `{"kind":"observation","date":"`+today+`","code_system":"http://loinc.org",
		"code":"2345-7","display":"Blood Test","value":182,"unit":"mg/dL","reference_range":{"low":70,"high":99},"encounter_id":"`+encounter+`"}`, auth.RoleDoctor, doctor)
	h.mustCall(t, http.StatusCreated, http.MethodPost, base, sampleEntries[3], auth.RolePatient, patient) // HbA1c on 2024-02-15

	code, body := h.call(t, http.MethodGet, "/api/patient/records/?patient_id="+patient, "", auth.RolePatient, patient)
	if code != http.StatusOK {
		t.Fatalf("records: %d %s", code, body)
	}
	var records map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(body, &records); err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 || len(records["records"]) != 1 {
		t.Fatalf("records body = %s, want {\"records\": [one consult]}", body)
	}
	r := records["records"][0]
	exactKeys(t, "records[0]", r, []string{"record_id", "date", "description", "prescription"})
	var date, description, prescription, id string
	for k, dst := range map[string]*string{"date": &date, "description": &description, "prescription": &prescription, "record_id": &id} {
		if err := json.Unmarshal(r[k], dst); err != nil {
			t.Fatal(err)
		}
	}
	if id != encounter || !isoDate.MatchString(date) || !strings.Contains(description, "Type 2 diabetes mellitus") ||
		prescription != "Metformin 500 mg, oral, twice daily, 30 days" {
		t.Errorf("record = %s", body)
	}

	code, body = h.call(t, http.MethodGet, "/api/patient/clinical/records/?patient_id="+patient, "", auth.RolePatient, patient)
	if code != http.StatusOK {
		t.Fatalf("clinical records: %d %s", code, body)
	}
	var clinical map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(body, &clinical); err != nil {
		t.Fatal(err)
	}
	if len(clinical) != 1 || len(clinical["clinical_records"]) != 2 {
		t.Fatalf("clinical body = %s, want the consult and the patient's lab results", body)
	}
	for i, cr := range clinical["clinical_records"] {
		exactKeys(t, "clinical_records", cr, []string{"record_id", "date", "description", "prescription", "test_results"}, "test_results")
		var results map[string]string
		if err := json.Unmarshal(cr["test_results"], &results); err != nil {
			t.Errorf("clinical_records[%d].test_results is not an object of strings: %s", i, cr["test_results"])
		}
		want := map[string]string{"Blood Test": "High"} // the consult, newest first
		if i == 1 {
			want = map[string]string{"Hemoglobin A1c": "High"}
		}
		if !maps.Equal(results, want) {
			t.Errorf("clinical_records[%d].test_results = %v, want %v", i, results, want)
		}
	}

	// Status codes: problem+json for each refusal.
	admin := uuid.NewString()
	for _, tc := range []struct {
		path, role, subject string
		want                int
	}{
		{"/api/patient/records/", auth.RolePatient, patient, http.StatusUnprocessableEntity},
		{"/api/patient/records/?patient_id=nope", auth.RoleAdmin, admin, http.StatusUnprocessableEntity},
		{"/api/patient/clinical/records/?patient_id=" + uuid.NewString(), auth.RoleAdmin, admin, http.StatusNotFound},
		{"/api/patient/records/?patient_id=" + patient, auth.RolePatient, testenv.NewPatient(t, h.store, "Testville"), http.StatusForbidden},
		{"/api/patient/clinical/records/?patient_id=" + patient, auth.RoleDoctor, uuid.NewString(), http.StatusForbidden},
		{"/api/patient/records/?patient_id=" + patient, "", "", http.StatusUnauthorized},
		{"/api/patient/clinical/records/?patient_id=" + patient, auth.RoleDoctor, doctor, http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, h.srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.subject != "" {
			code, out := h.call(t, http.MethodGet, tc.path, "", tc.role, tc.subject)
			if code != tc.want || (code >= 400 && !strings.Contains(string(out), `"status":`)) {
				t.Errorf("%s as %s: %d %s, want %d", tc.path, tc.role, code, out, tc.want)
			}
			continue
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s anonymous: %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
