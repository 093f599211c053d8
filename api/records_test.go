package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/vault"
)

// recordsAPI is the API with document storage in a temporary folder, under
// a fresh master key "m1".
func recordsAPI(t *testing.T) (*storeAPI, string, []codec.Key) {
	t.Helper()
	dir := t.TempDir()
	objects, err := vault.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := codec.GenerateKey("m1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.NewKeyring([]codec.Key{m1}, "m1")
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.Store(t)
	if _, err := s.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return newStoreAPI(t, s, api.Options{Records: api.RecordsOptions{Keyring: ring, Objects: objects}}), dir, []codec.Key{m1}
}

// newEncounter makes a finished consult of a seeded practitioner with the
// patient (slot, fulfilled appointment, encounter) and returns the
// practitioner and encounter IDs.
func newEncounter(t *testing.T, s *store.Store, patientID string) (string, string) {
	t.Helper()
	ctx := context.Background()
	var scheduleID, practitionerID string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text, practitioner_id::text FROM schedule ORDER BY random() LIMIT 1`).Scan(&scheduleID, &practitionerID); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-48 * time.Hour).Add(time.Duration(time.Now().UnixNano()%1e6) * time.Second).Truncate(time.Microsecond)
	slotID, apptID, encID, journey := uuid.NewString(), uuid.NewString(), uuid.NewString(), "test-records-"+uuid.NewString()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO slot (id, schedule_id, practitioner_id, start, "end") VALUES ($1, $2, $3, $4, $5)`,
			[]any{slotID, scheduleID, practitionerID, start, start.Add(15 * time.Minute)}},
		{`INSERT INTO appointment (id, journey_id, step, patient_id, practitioner_id, slot_id, status, fee_minor, currency)
			VALUES ($1, $2, 'book', $3, $4, $5, 'fulfilled', 0, 'INR')`, []any{apptID, journey, patientID, practitionerID, slotID}},
		{`UPDATE slot SET status = 'booked', appointment_id = $1 WHERE id = $2`, []any{apptID, slotID}},
		{`INSERT INTO encounter (id, appointment_id, journey_id, patient_id, practitioner_id, status, period_start, period_end)
			VALUES ($1, $2, $3, $4, $5, 'finished', $6, $7)`, []any{encID, apptID, journey, patientID, practitionerID, start, start.Add(15 * time.Minute)}},
	} {
		if _, err := s.Pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return practitionerID, encID
}

type recordOut struct {
	ID             string   `json:"id"`
	Kind           string   `json:"kind"`
	Date           string   `json:"date"`
	Display        string   `json:"display"`
	Code           string   `json:"code"`
	Value          *float64 `json:"value"`
	Interpretation string   `json:"interpretation"`
	AuthorRole     string   `json:"author_role"`
	Document       *struct {
		ContentType string `json:"content_type"`
		SHA256      string `json:"sha256"`
		ContentURL  string `json:"content_url"`
		MasterKeyID string `json:"master_key_id"`
	} `json:"document"`
	Hidden *struct {
		RetainUntil string `json:"retain_until"`
	} `json:"hidden"`
}

func decodeAs[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

func (h *storeAPI) mustCall(t *testing.T, want int, method, path, body, role, subject string) []byte {
	t.Helper()
	code, out := h.call(t, method, path, body, role, subject)
	if code != want {
		t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, role, code, want, out)
	}
	return out
}

// The entries a test patient keeps: one of each kind.
var sampleEntries = []string{
	`{"kind":"condition","date":"2023-04-02","code_system":"http://hl7.org/fhir/sid/icd-10","code":"E11.9","display":"Type 2 diabetes mellitus"}`,
	`{"kind":"allergy","date":"2019-01-10","display":"Penicillin","status":"active"}`,
	`{"kind":"immunization","date":"2021-06-01","code_system":"http://hl7.org/fhir/sid/cvx","code":"208","display":"COVID-19 mRNA vaccine"}`,
	`{"kind":"observation","date":"2024-02-15","code_system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c","value":7.9,"unit":"%","reference_range":{"low":4.0,"high":5.6}}`,
}

func TestRecordsEntriesAndLongitudinalView(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	base := "/api/v1/patients/" + patient + "/records"
	for _, e := range sampleEntries {
		h.mustCall(t, http.StatusCreated, http.MethodPost, base, e, auth.RolePatient, patient)
	}
	list := decodeAs[struct{ Items []recordOut }](t, h.mustCall(t, http.StatusOK, http.MethodGet, base, "", auth.RolePatient, patient))
	var dates []string
	for _, r := range list.Items {
		dates = append(dates, r.Kind+"@"+r.Date)
	}
	if got := strings.Join(dates, " "); got != "observation@2024-02-15 condition@2023-04-02 immunization@2021-06-01 allergy@2019-01-10" {
		t.Errorf("longitudinal order = %s", got)
	}
	if obs := list.Items[0]; obs.Interpretation != "H" || obs.Value == nil || *obs.Value != 7.9 {
		t.Errorf("observation = %+v, want 7.9 interpreted H", obs)
	}
	// The list convention: pages of two in date order, then no cursor.
	type page struct {
		Items      []recordOut
		NextCursor *string `json:"next_cursor"`
	}
	first := decodeAs[page](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"?limit=2&sort=date", "", auth.RolePatient, patient))
	if len(first.Items) != 2 || first.Items[0].Date != "2019-01-10" || first.NextCursor == nil {
		t.Fatalf("first page = %+v", first)
	}
	second := decodeAs[page](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"?limit=2&sort=date&cursor="+*first.NextCursor, "", auth.RolePatient, patient))
	if len(second.Items) != 2 || second.Items[1].Date != "2024-02-15" || second.NextCursor != nil {
		t.Errorf("second page = %+v", second)
	}
	if code, out := h.call(t, http.MethodGet, base+"?sort=colour", "", auth.RolePatient, patient); code != http.StatusBadRequest || !strings.Contains(string(out), `"parameter":"sort"`) {
		t.Errorf("?sort=colour: %d %s, want 400 naming sort", code, out)
	}
	only := decodeAs[struct{ Items []recordOut }](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"?kind=allergy", "", auth.RolePatient, patient))
	if len(only.Items) != 1 || only.Items[0].Display != "Penicillin" {
		t.Errorf("?kind=allergy = %+v", only.Items)
	}

	// Each rule names its field.
	for body, pointer := range map[string]string{
		`{"kind":"observation","date":"2024-02-15","code_system":"http://loinc.org","code":"4548-4","display":"HbA1c","value":7.9}`:                                           "/unit",
		`{"kind":"observation","date":"2024-02-15","code_system":"http://loinc.org","code":"A1C","display":"HbA1c","value":7.9,"unit":"%"}`:                                   "/code",
		`{"kind":"observation","date":"2024-02-15","code_system":"http://loinc.org","code":"4548-4","display":"x","unit":"%"}`:                                                "/value",
		`{"kind":"condition","date":"2023-04-02","code_system":"http://hl7.org/fhir/sid/icd-10","code":"diabetes","display":"Diabetes"}`:                                      "/code",
		`{"kind":"immunization","date":"2999-01-01","code_system":"http://hl7.org/fhir/sid/cvx","code":"208","display":"COVID-19"}`:                                           "/date",
		`{"kind":"allergy","date":"2019-01-10","display":"Penicillin","value":3}`:                                                                                             "/value",
		`{"kind":"immunization","date":"2021-06-01","code_system":"http://hl7.org/fhir/sid/cvx","code":"208","display":"COVID-19","status":"active"}`:                         "/status",
		`{"kind":"gossip","date":"2019-01-10","display":"x"}`:                                                                                                                 "/kind",
		`{"kind":"allergy","date":"2019-01-10","display":"Penicillin","colour":"red"}`:                                                                                        "/colour",
		`{"kind":"observation","date":"2024-02-15","code_system":"http://loinc.org","code":"4548-4","display":"x","value":1,"unit":"%","reference_range":{"low":9,"high":1}}`: "/reference_range/low",
	} {
		code, out := h.call(t, http.MethodPost, base, body, auth.RolePatient, patient)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), `"pointer":"`+pointer+`"`) {
			t.Errorf("%s: %d %s, want 422 naming %s", body, code, out, pointer)
		}
	}
}

func TestDoctorsAddRecordsAfterAConsult(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	doctor, encounter := newEncounter(t, h.store, patient)
	base := "/api/v1/patients/" + patient + "/records"
	entry := `{"kind":"condition","date":"2024-03-01","code_system":"http://hl7.org/fhir/sid/icd-10","code":"I10","display":"Essential hypertension"%s}`

	code, out := h.call(t, http.MethodPost, base, fmt.Sprintf(entry, ""), auth.RoleDoctor, doctor)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "/encounter_id") {
		t.Fatalf("doctor without an encounter: %d %s", code, out)
	}
	// Another patient's encounter does not count.
	otherPatient := testenv.NewPatient(t, h.store, "Testville")
	_, otherEncounter := newEncounter(t, h.store, otherPatient)
	code, out = h.call(t, http.MethodPost, base, fmt.Sprintf(entry, `,"encounter_id":"`+otherEncounter+`"`), auth.RoleDoctor, doctor)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "/encounter_id") {
		t.Fatalf("doctor with another consult: %d %s", code, out)
	}
	rec := decodeAs[recordOut](t, h.mustCall(t, http.StatusCreated, http.MethodPost, base,
		fmt.Sprintf(entry, `,"encounter_id":"`+encounter+`"`), auth.RoleDoctor, doctor))
	if rec.AuthorRole != "doctor" {
		t.Errorf("author role = %q", rec.AuthorRole)
	}
	// The patient may not rewrite the doctor's entry; the doctor may.
	update := `{"kind":"condition","date":"2024-03-01","code_system":"http://hl7.org/fhir/sid/icd-10","code":"I10","display":"Essential hypertension","status":"resolved","encounter_id":"` + encounter + `"}`
	if code, out := h.call(t, http.MethodPut, base+"/"+rec.ID, update, auth.RolePatient, patient); code != http.StatusForbidden || !strings.Contains(string(out), "only the author") {
		t.Errorf("patient edits the doctor's entry: %d %s", code, out)
	}
	h.mustCall(t, http.StatusOK, http.MethodPut, base+"/"+rec.ID, update, auth.RoleDoctor, doctor)
	// A doctor with no consult with the patient is refused by the access layer.
	if code, _ := h.call(t, http.MethodGet, base, "", auth.RoleDoctor, uuid.NewString()); code != http.StatusForbidden {
		t.Errorf("unrelated doctor read the records: %d", code)
	}
}

type deletionOut struct {
	Outcome     string `json:"outcome"`
	RetainUntil string `json:"retain_until"`
	Basis       string `json:"basis"`
	Message     string `json:"message"`
}

func TestDeletionFollowsTheRetentionPolicy(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	doctor, encounter := newEncounter(t, h.store, patient)
	base := "/api/v1/patients/" + patient + "/records"
	own := decodeAs[recordOut](t, h.mustCall(t, http.StatusCreated, http.MethodPost, base, sampleEntries[1], auth.RolePatient, patient))
	today := time.Now().Format("2006-01-02")
	doctors := decodeAs[recordOut](t, h.mustCall(t, http.StatusCreated, http.MethodPost, base,
		`{"kind":"observation","date":"`+today+`","code_system":"http://loinc.org","code":"2345-7","display":"Glucose","value":95,"unit":"mg/dL","encounter_id":"`+encounter+`"}`,
		auth.RoleDoctor, doctor))

	res := decodeAs[deletionOut](t, h.mustCall(t, http.StatusOK, http.MethodDelete, base+"/"+own.ID, "", auth.RolePatient, patient))
	if res.Outcome != "destroyed" {
		t.Errorf("the patient's own entry: %+v, want destroyed", res)
	}
	var n int
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM health_record WHERE id = $1`, own.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("destroyed row still there: %d %v", n, err)
	}

	body := h.mustCall(t, http.StatusOK, http.MethodDelete, base+"/"+doctors.ID, "", auth.RolePatient, patient)
	hidden := decodeAs[deletionOut](t, body)
	wantUntil := time.Now().AddDate(3, 0, 0).Format("2006-01-02")
	if hidden.Outcome != "hidden" || hidden.RetainUntil != wantUntil || !strings.Contains(hidden.Message, "kept until "+wantUntil) ||
		!strings.Contains(hidden.Basis, "1.3.1") {
		t.Errorf("the doctor's entry: %s", body)
	}
	// Gone from the patient's view, the record and the export; still in the database.
	list := decodeAs[struct{ Items []recordOut }](t, h.mustCall(t, http.StatusOK, http.MethodGet, base, "", auth.RolePatient, patient))
	if len(list.Items) != 0 {
		t.Errorf("patient still sees %+v", list.Items)
	}
	h.mustCall(t, http.StatusNotFound, http.MethodGet, base+"/"+doctors.ID, "", auth.RolePatient, patient)
	if code, _ := h.call(t, http.MethodGet, base+"?include_hidden=true", "", auth.RolePatient, patient); code != http.StatusForbidden {
		t.Errorf("patient listed hidden records: %d", code)
	}
	kept := decodeAs[struct{ Items []recordOut }](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"?include_hidden=true", "", auth.RoleAdmin, uuid.NewString()))
	if len(kept.Items) != 1 || kept.Items[0].ID != doctors.ID || kept.Items[0].Hidden == nil || kept.Items[0].Hidden.RetainUntil != wantUntil {
		t.Errorf("admin view of kept records = %+v", kept.Items)
	}
}

// pdfBytes is a small document that sniffs as application/pdf.
var pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")

func uploadBody(t *testing.T, meta string, file []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("metadata", meta); err != nil {
		t.Fatal(err)
	}
	fw, err := w.CreateFormFile("file", "report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), &buf
}

func (h *storeAPI) upload(t *testing.T, patient, role, subject, meta string, file []byte) (int, []byte) {
	t.Helper()
	contentType, body := uploadBody(t, meta, file)
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/api/v1/patients/"+patient+"/documents", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+testenv.Token(t, h.auth, role, subject))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestDocumentsAreSealedAtRest(t *testing.T) {
	h, dir, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	code, out := h.upload(t, patient, auth.RolePatient, patient, `{"title":"Lipid panel report","date":"2024-01-20"}`, pdfBytes)
	if code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, out)
	}
	doc := decodeAs[recordOut](t, out)
	if doc.Kind != "document" || doc.Document == nil || doc.Document.ContentType != "application/pdf" || doc.Document.MasterKeyID != "m1" {
		t.Fatalf("document = %s", out)
	}
	object, err := os.ReadFile(filepath.Join(dir, "patients", patient, "records", doc.ID))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(object, []byte("%PDF")) || len(object) <= len(pdfBytes) {
		t.Error("the stored object is not sealed")
	}
	got := h.mustCall(t, http.StatusOK, http.MethodGet, doc.Document.ContentURL, "", auth.RolePatient, patient)
	if !bytes.Equal(got, pdfBytes) {
		t.Errorf("content = %q", got)
	}
	// Not a PDF or image; a doctor without a consult; bad metadata.
	if code, out := h.upload(t, patient, auth.RolePatient, patient, `{"title":"x","date":"2024-01-20"}`, []byte("plain text")); code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "/file") {
		t.Errorf("text upload: %d %s", code, out)
	}
	if code, out := h.upload(t, patient, auth.RolePatient, patient, `{"title":"x","when":"2024-01-20"}`, pdfBytes); code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "/metadata") {
		t.Errorf("bad metadata: %d %s", code, out)
	}
	// Destroying the patient's own document removes the object too.
	h.mustCall(t, http.StatusOK, http.MethodDelete, "/api/v1/patients/"+patient+"/records/"+doc.ID, "", auth.RolePatient, patient)
	if _, err := os.Stat(filepath.Join(dir, "patients", patient, "records", doc.ID)); !os.IsNotExist(err) {
		t.Errorf("object still there after deletion: %v", err)
	}
}

// The FHIR export is checked against the base resource rules it relies
// on: every resource has its resourceType, id and required elements; full
// URLs are unique; every reference resolves to an entry; dates have FHIR's
// format; codings have a system and a code.
func TestFHIRExportIsAValidBundle(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	base := "/api/v1/patients/" + patient + "/records"
	for _, e := range sampleEntries {
		h.mustCall(t, http.StatusCreated, http.MethodPost, base, e, auth.RolePatient, patient)
	}
	if code, out := h.upload(t, patient, auth.RolePatient, patient, `{"title":"Chest X-ray report","date":"2024-01-20"}`, pdfBytes); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, out)
	}
	body := h.mustCall(t, http.StatusOK, http.MethodGet, "/api/v1/patients/"+patient+"/export/fhir", "", auth.RolePatient, patient)
	var bundle map[string]any
	if err := json.Unmarshal(body, &bundle); err != nil {
		t.Fatal(err)
	}
	for _, problem := range validateBundle(bundle) {
		t.Error(problem)
	}
	types := map[string]int{}
	for _, e := range bundle["entry"].([]any) {
		types[e.(map[string]any)["resource"].(map[string]any)["resourceType"].(string)]++
	}
	want := map[string]int{"Patient": 1, "Condition": 1, "AllergyIntolerance": 1, "Immunization": 1, "Observation": 1, "DocumentReference": 1}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("resources = %v, want %v", types, want)
	}
	// The validator itself catches a broken bundle.
	entries := bundle["entry"].([]any)
	entries[1].(map[string]any)["resource"].(map[string]any)["subject"] = map[string]any{"reference": "urn:uuid:" + uuid.NewString()}
	delete(entries[2].(map[string]any)["resource"].(map[string]any), "id")
	if problems := validateBundle(bundle); len(problems) < 2 {
		t.Errorf("broken bundle passed: %v", problems)
	}
}

// fhirRequired lists, per resource type, the elements FHIR R4 requires
// (cardinality 1..*) and the patient reference element the export uses.
var fhirRequired = map[string][]string{
	"Patient":            {},
	"Condition":          {"subject"},
	"AllergyIntolerance": {"patient"},
	"Immunization":       {"status", "vaccineCode", "patient", "occurrenceDateTime"},
	"Observation":        {"status", "code"},
	"DocumentReference":  {"status", "content"},
}

var (
	fhirDate     = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`)
	fhirDateTime = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	fhirID       = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
)

func validateBundle(b map[string]any) []string {
	var problems []string
	if b["resourceType"] != "Bundle" || b["type"] != "collection" {
		problems = append(problems, "not a collection Bundle")
	}
	full := map[string]bool{}
	entries, _ := b["entry"].([]any)
	for i, e := range entries {
		url, _ := e.(map[string]any)["fullUrl"].(string)
		if full[url] || !strings.HasPrefix(url, "urn:uuid:") {
			problems = append(problems, fmt.Sprintf("entry %d: fullUrl %q missing, not a urn:uuid or not unique", i, url))
		}
		full[url] = true
	}
	for i, e := range entries {
		res, _ := e.(map[string]any)["resource"].(map[string]any)
		rt, _ := res["resourceType"].(string)
		required, known := fhirRequired[rt]
		if !known {
			problems = append(problems, fmt.Sprintf("entry %d: unexpected resourceType %q", i, rt))
		}
		if id, _ := res["id"].(string); !fhirID.MatchString(id) {
			problems = append(problems, fmt.Sprintf("entry %d (%s): id %q is not a FHIR id", i, rt, id))
		}
		for _, name := range required {
			if _, ok := res[name]; !ok {
				problems = append(problems, fmt.Sprintf("entry %d (%s): required element %s missing", i, rt, name))
			}
		}
		walkFHIR(res, rt, func(key string, v any) {
			switch s, _ := v.(string); key {
			case "reference":
				if !full[s] {
					problems = append(problems, fmt.Sprintf("entry %d (%s): reference %q does not resolve in the Bundle", i, rt, s))
				}
			case "birthDate", "creation":
				if !fhirDate.MatchString(s) && !fhirDateTime.MatchString(s) {
					problems = append(problems, fmt.Sprintf("entry %d (%s): %s %q is not a FHIR date", i, rt, key, s))
				}
			case "onsetDateTime", "recordedDate", "occurrenceDateTime", "effectiveDateTime", "date":
				if !fhirDateTime.MatchString(s) {
					problems = append(problems, fmt.Sprintf("entry %d (%s): %s %q is not a FHIR dateTime", i, rt, key, s))
				}
			case "coding":
				for _, c := range v.([]any) {
					cm := c.(map[string]any)
					if cm["system"] == "" || cm["code"] == "" || cm["system"] == nil || cm["code"] == nil {
						problems = append(problems, fmt.Sprintf("entry %d (%s): a coding without system or code", i, rt))
					}
				}
			}
		})
	}
	return problems
}

// walkFHIR calls f for every key and value in the resource, nested ones too.
func walkFHIR(v any, rt string, f func(string, any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			f(k, child)
			walkFHIR(child, rt, f)
		}
	case []any:
		for _, child := range x {
			walkFHIR(child, rt, f)
		}
	}
}
