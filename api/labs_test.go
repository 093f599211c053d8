package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// labsPathway orders an HbA1c and a creatinine and waits for the results.
const labsPathway = `id: labs-check
version: 1
title: Lab results check
sources: [{id: test, citation: Test fixture}]
parameters:
  tests: {type: list, value: ["4548-4", "2160-0"], source: test}
steps:
  - id: labs
    type: lab_order
    time_limit: 10m
    on_timeout: cancel
    with: {tests: $tests}
    next: end
`

// followUpPathway books, orders an HbA1c, and follows up seconds later:
// the next episode starts at its own booking step and ends there.
const followUpPathway = `id: followup-check
version: 1
title: Follow-up check
sources: [{id: test, citation: Test fixture}]
parameters:
  tests: {type: list, value: ["4548-4"], source: test}
  review: {type: duration, value: 4s, source: test}
  factor: {type: number, value: 0.5, source: test}
steps:
  - {id: book, type: book, time_limit: 10m, on_timeout: cancel, next: labs}
  - id: labs
    type: lab_order
    time_limit: 10m
    on_timeout: cancel
    with: {tests: $tests}
    next: review
  - id: review
    type: follow_up
    time_limit: 14d
    on_timeout: continue
    with: {interval: $review, risk_factors: {high: $factor}, rebook: rebook}
    next: end
  - {id: rebook, type: book, time_limit: 10m, on_timeout: cancel, next: end}
`

// post sends body with contentType as role/subject ("" subject: anonymous).
func (h *harness) post(t *testing.T, path, contentType, body, subject, role string, scopes ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if subject != "" {
		req.Header.Set("Authorization", "Bearer "+testenv.Token(t, h.auth, role, subject, scopes...))
	}
	resp, raw := send(t, req)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: not JSON: %s", path, raw)
		}
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: %d answered %s, want application/problem+json", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, out
}

// pointers are the fields a problem names.
func pointers(problem map[string]any) string {
	var out []string
	errs, _ := problem["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		out = append(out, fmt.Sprint(m["pointer"]))
	}
	return strings.Join(out, ",")
}

const jsonType, formType = "application/json", "application/x-www-form-urlencoded"

// enrolIntegrator registers the OAuth client (as a lab partner that also
// books appointments) and enrols the patients with it: an integrator acts
// only for its enrolled patients (auth.IntegratorMayActFor), and a
// journey's lab orders go to the lab the patient is enrolled with.
func enrolIntegrator(t *testing.T, a *auth.Service, client string, patients ...string) {
	t.Helper()
	ctx := context.Background()
	if err := a.UpsertClient(ctx, client, "Test integrator "+client, "test-secret",
		[]string{auth.ScopeLabsWrite, auth.ScopeJourneysWrite, auth.ScopeModelsPredict, auth.ScopeKnowledgeRead, auth.ScopeDirectoryRead}); err != nil {
		t.Fatal(err)
	}
	for _, p := range patients {
		if err := a.EnrolPatient(ctx, client, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHealthLinkBookLabTestContract(t *testing.T) {
	h := newHarness(t, nil)
	patient := store.SeedPatientID(5)
	date := time.Now().UTC().Add(72 * time.Hour).Format(time.DateOnly)
	jsonBody := fmt.Sprintf(`{"patient_id":%q,"test_name":"HbA1c","appointment_date":%q}`, patient, date)

	status, got := h.post(t, "/api/book/labtest/", jsonType, jsonBody, patient, auth.RolePatient)
	if status != http.StatusCreated {
		t.Fatalf("as the patient: %d %v", status, got)
	}
	booking, ok := got["lab_test_booking"].(map[string]any)
	if !ok || len(got) != 1 || len(booking) != 5 {
		t.Fatalf("shape: %v", got)
	}
	id, _ := booking["booking_id"].(string)
	if uuid.Validate(id) != nil || booking["patient_id"] != patient || booking["test_name"] != "Hemoglobin A1c (HbA1c)" ||
		booking["appointment_date"] != date || booking["status"] != "scheduled" {
		t.Errorf("booking = %v", booking)
	}
	var code, origin string
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT loinc_code, origin FROM lab_order WHERE id = $1`, id).Scan(&code, &origin); err != nil || code != "4548-4" || origin != store.LabOriginLink {
		t.Errorf("stored order: %s %s %v", code, origin, err)
	}

	// A lab partner books for its enrolled patients only, and the order is
	// sent to it.
	enrolIntegrator(t, h.auth, "lab-partner", patient)
	form := url.Values{"patient_id": {patient}, "test_name": {"4548-4"}, "appointment_date": {date}}.Encode()
	status, got = h.post(t, "/api/book/labtest/", formType, form, "lab-partner", auth.RoleIntegrator, auth.ScopeLabsWrite)
	if status != http.StatusCreated {
		t.Errorf("form fields as a lab partner: %d %v", status, got)
	} else {
		booking, _ := got["lab_test_booking"].(map[string]any)
		var lab string
		if err := h.store.Pool.QueryRow(context.Background(), `SELECT coalesce(lab_client_id, '') FROM lab_order WHERE id = $1`,
			booking["booking_id"]).Scan(&lab); err != nil || lab != "lab-partner" {
			t.Errorf("the lab's booking was sent to %q (%v), want lab-partner", lab, err)
		}
	}
	unenrolled := testenv.NewPatient(t, h.store, "Pune")
	var before int
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM lab_order WHERE patient_id = $1`, unenrolled).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if status, got := h.post(t, "/api/book/labtest/", formType, strings.Replace(form, patient, unenrolled, 1), "lab-partner", auth.RoleIntegrator, auth.ScopeLabsWrite); status != http.StatusForbidden {
		t.Errorf("a lab partner books for a patient not enrolled with it: %d %v", status, got)
	}
	var after int
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM lab_order WHERE patient_id = $1`, unenrolled).Scan(&after); err != nil || after != before {
		t.Errorf("orders of the unenrolled patient: %d then %d (%v)", before, after, err)
	}
	for _, tc := range []struct {
		name, contentType, body, subject, role string
		scopes                                 []string
		want                                   int
		pointer                                string
	}{
		{"anonymous", jsonType, jsonBody, "", "", nil, http.StatusUnauthorized, ""},
		{"another patient", jsonType, jsonBody, store.SeedPatientID(6), auth.RolePatient, nil, http.StatusForbidden, ""},
		{"another patient by form", formType, form, store.SeedPatientID(6), auth.RolePatient, nil, http.StatusForbidden, ""},
		{"integrator without the lab scope", jsonType, jsonBody, "lab-partner", auth.RoleIntegrator, []string{auth.ScopeKnowledgeRead}, http.StatusForbidden, ""},
		{"a doctor", jsonType, jsonBody, uuid.NewString(), auth.RoleDoctor, nil, http.StatusForbidden, ""},
		{"bad date", jsonType, strings.Replace(jsonBody, date, "15/02/2027", 1), patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/appointment_date"},
		{"past date", jsonType, strings.Replace(jsonBody, date, "2020-01-01", 1), patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/appointment_date"},
		{"unknown test", jsonType, strings.Replace(jsonBody, "HbA1c", "unobtainium", 1), patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/test_name"},
		{"ambiguous test", jsonType, strings.Replace(jsonBody, "HbA1c", "cholesterol", 1), patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/test_name"},
		{"number for a string", jsonType, fmt.Sprintf(`{"patient_id":%q,"test_name":4548,"appointment_date":%q}`, patient, date), patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/test_name"},
		{"unknown field", jsonType, strings.Replace(jsonBody, "{", `{"urgent":"yes",`, 1), patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/urgent"},
		{"missing fields", formType, "patient_id=" + patient, patient, auth.RolePatient, nil, http.StatusUnprocessableEntity, "/test_name,/appointment_date"},
		{"unregistered patient", jsonType, strings.Replace(jsonBody, patient, "00000000-0000-4000-8000-0000000000ff", 1), harnessAdmin, auth.RoleAdmin, nil, http.StatusUnprocessableEntity, "/patient_id"},
		{"not JSON", jsonType, `{"patient_id":`, patient, auth.RolePatient, nil, http.StatusBadRequest, ""},
	} {
		status, got := h.post(t, "/api/book/labtest/", tc.contentType, tc.body, tc.subject, tc.role, tc.scopes...)
		if status != tc.want || (tc.pointer != "" && pointers(got) != tc.pointer) {
			t.Errorf("%s: %d %v, want %d naming %q", tc.name, status, got, tc.want, tc.pointer)
		}
	}
}

func TestHealthLinkBookLabTestIdempotencyKey(t *testing.T) {
	h := newHarness(t, nil)
	patient := store.SeedPatientID(5)
	date := time.Now().UTC().Add(96 * time.Hour).Format(time.DateOnly)
	key := uuid.NewString()
	send := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/book/labtest/", strings.NewReader(body))
		req.Header.Set("Content-Type", jsonType)
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Authorization", "Bearer "+testenv.Token(t, h.auth, auth.RolePatient, patient))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	body := fmt.Sprintf(`{"patient_id":%q,"test_name":"creatinine","appointment_date":%q}`, patient, date)
	s1, first := send(body)
	s2, again := send(body)
	if s1 != http.StatusCreated || s2 != http.StatusCreated || fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatalf("replay: %d %v then %d %v", s1, first, s2, again)
	}
	// The same key with another request is refused, naming the header.
	for _, changed := range []string{strings.Replace(body, "creatinine", "potassium", 1),
		strings.Replace(body, date, time.Now().UTC().Add(120*time.Hour).Format(time.DateOnly), 1)} {
		code, problem := send(changed)
		if errs, _ := problem["errors"].([]any); code != http.StatusUnprocessableEntity || len(errs) != 1 ||
			errs[0].(map[string]any)["parameter"] != "Idempotency-Key" {
			t.Errorf("same key, another request: %d %v, want 422 naming Idempotency-Key", code, problem)
		}
	}
}

func TestLabResultsThroughTheJourney(t *testing.T) {
	h := newHarness(t, nil)
	// A patient of the test's own, enrolled with acme-labs first and with
	// another lab after: the journey's orders go to acme-labs, and only it
	// reports their results.
	patient := testenv.NewPatient(t, h.store, "Pune")
	enrolIntegrator(t, h.auth, "acme-labs", patient)
	otherLab := "other-lab-" + uuid.NewString()
	enrolIntegrator(t, h.auth, otherLab, patient)
	t.Cleanup(func() {
		_, _ = h.store.Pool.Exec(context.Background(), `DELETE FROM oauth_client WHERE id = $1`, otherLab)
	})
	episode := testenv.FreshEpisode(t, h.store, patient, "labs-check")
	status, started := h.post(t, "/api/v1/journeys", jsonType, fmt.Sprintf(`{"patient_id":%q,"pathway_id":"labs-check","episode":%d}`, patient, episode),
		harnessAdmin, auth.RoleAdmin)
	if status != http.StatusAccepted {
		t.Fatalf("start: %d %v", status, started)
	}
	id := testenv.JourneyID(t, h.store, patient, "labs-check", episode)
	path := "/api/v1/journeys/" + id + "/lab-results"
	lab := func(body string) (int, map[string]any) {
		return h.post(t, path, jsonType, body, "acme-labs", auth.RoleIntegrator, auth.ScopeLabsWrite)
	}
	// Wait for the step to book its tests.
	deadline := time.Now().Add(30 * time.Second)
	for {
		orders, err := h.store.LabOrdersOfJourney(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journey booked %d tests", len(orders))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct{ body, pointer string }{
		{`{"loinc_code":"4548-4","value":6.1,"unit":"mmol/L","reference_high":5.6}`, "/unit"},
		{`{"loinc_code":"2093-3","value":180,"unit":"mg/dL","reference_high":200}`, "/loinc_code"},
		{`{"loinc_code":"4548-4","unit":"%","reference_high":5.6}`, "/value"},
		{`{"loinc_code":"4548-4","value":6.1,"unit":"%"}`, "/reference_low"},
		{`{"loinc_code":"4548-4","value":"high","unit":"%","reference_high":5.6}`, "/value"},
	} {
		if status, got := lab(tc.body); status != http.StatusUnprocessableEntity || pointers(got) != tc.pointer {
			t.Errorf("%s: %d %v, want 422 naming %s", tc.body, status, got, tc.pointer)
		}
	}
	if status, got := h.post(t, path, jsonType, `{"loinc_code":"4548-4","value":6.1,"unit":"%","reference_high":5.6}`, patient, auth.RolePatient); status != http.StatusForbidden {
		t.Errorf("the patient reported a result: %d %v", status, got)
	}
	// Another lab, enrolled for the patient too, may not report a result
	// for an order sent to acme-labs; nothing is recorded.
	if status, got := h.post(t, path, jsonType, `{"loinc_code":"4548-4","value":5.0,"unit":"%","reference_low":4.0,"reference_high":5.6}`,
		otherLab, auth.RoleIntegrator, auth.ScopeLabsWrite); status != http.StatusForbidden {
		t.Errorf("another lab reported a result: %d %v", status, got)
	}
	var results int
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM lab_observation o JOIN lab_order l ON l.id = o.lab_order_id
		WHERE l.journey_id = $1`, id).Scan(&results); err != nil || results != 0 {
		t.Errorf("results after the other lab's refused report: %d (%v)", results, err)
	}
	for _, o := range orders(t, h, id) {
		if o.LabClientID != "acme-labs" {
			t.Errorf("order %s sent to %q, want acme-labs", o.LOINC, o.LabClientID)
		}
	}
	status, got := lab(`{"loinc_code":"4548-4","value":8.2,"unit":"%","reference_low":4.0,"reference_high":5.6}`)
	if status != http.StatusOK || got["needs_attention"] != true {
		// No appointment, so no doctor to text: the care team is alerted.
		t.Fatalf("abnormal HbA1c: %d %v", status, got)
	}
	if status, got := lab(`{"loinc_code":"4548-4","value":8.2,"unit":"%","reference_low":4.0,"reference_high":5.6}`); status != http.StatusUnprocessableEntity {
		t.Errorf("a second result for the test: %d %v", status, got)
	}
	if status, got := lab(`{"loinc_code":"2160-0","value":0.9,"unit":"mg/dL","reference_low":0.6,"reference_high":1.2}`); status != http.StatusOK {
		t.Fatalf("creatinine: %d %v", status, got)
	}
	waitCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var final workflows.JourneyState
	if err := h.deps.Temporal.GetWorkflow(waitCtx, id, "").Get(waitCtx, &final); err != nil || final.Status != workflows.StatusCompleted {
		t.Fatalf("journey: %s %v", final.Status, err)
	}
	var interp string
	var value float64
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT o.interpretation, o.value FROM lab_observation o
		JOIN lab_order l ON l.id = o.lab_order_id WHERE l.journey_id = $1 AND o.loinc_code = '4548-4'`, id).Scan(&interp, &value); err != nil || interp != "H" || value != 8.2 {
		t.Errorf("stored observation: %s %v %v", interp, value, err)
	}
}

// orders are the journey's lab orders.
func orders(t *testing.T, h *harness, journeyID string) []store.LabOrder {
	t.Helper()
	out, err := h.store.LabOrdersOfJourney(context.Background(), journeyID)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFollowUpStartsTheNextEpisodeOnTheDevServer(t *testing.T) {
	h := newHarness(t, nil)
	patient := testenv.NewPatient(t, h.store, "Pune")
	enrolIntegrator(t, h.auth, "acme-labs", patient)
	const nth = 41 // a schedule the other end-to-end tests do not use
	first := testenv.SlotSoon(t, h.store, nth, 2*time.Hour)
	next := testenv.SlotSoon(t, h.store, nth, 3*time.Hour) // so the doctor has a free slot after the due date
	episode := testenv.FreshEpisode(t, h.store, patient, "followup-check")
	status, started := h.post(t, "/api/v1/journeys", jsonType,
		fmt.Sprintf(`{"patient_id":%q,"pathway_id":"followup-check","episode":%d,"slot_id":%q}`, patient, episode, first.ID), harnessAdmin, auth.RoleAdmin)
	if status != http.StatusAccepted {
		t.Fatalf("start: %d %v", status, started)
	}
	id := testenv.JourneyID(t, h.store, patient, "followup-check", episode)
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, got := h.post(t, "/api/v1/journeys/"+id+"/lab-results", jsonType,
			`{"loinc_code":"4548-4","value":6.4,"unit":"%","reference_low":4.0,"reference_high":5.6}`, "acme-labs", auth.RoleIntegrator, auth.ScopeLabsWrite)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("result not taken: %d %v", status, got)
		}
		time.Sleep(300 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var parent workflows.JourneyState
	if err := h.deps.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &parent); err != nil || parent.Status != workflows.StatusCompleted {
		t.Fatalf("journey: %s %v", parent.Status, err)
	}
	// The follow-up got an opaque ID of its own, recorded for episode+1.
	nextID := testenv.JourneyID(t, h.store, patient, "followup-check", episode+1)
	if strings.Contains(nextID, "followup-check") || nextID == id {
		t.Errorf("follow-up ID %s names the pathway or is the parent's", nextID)
	}
	if parent.FollowUp == nil || parent.FollowUp.Status != "booked" || parent.FollowUp.NextJourneyID != nextID || parent.FollowUp.Interval != "4s" {
		t.Fatalf("follow-up = %+v", parent.FollowUp)
	}
	var child workflows.JourneyState
	if err := h.deps.Temporal.GetWorkflow(ctx, nextID, "").Get(ctx, &child); err != nil || child.Status != workflows.StatusCompleted {
		t.Fatalf("next episode: %s %v", child.Status, err)
	}
	if child.Appointment == nil || child.Appointment.PractitionerID != first.PractitionerID || !child.Appointment.Start.After(parent.FollowUp.DueAt) ||
		child.Appointment.Start.After(next.Start) || stepIDsOf(child) != "rebook" {
		t.Errorf("next episode: appointment %+v, steps %s", child.Appointment, stepIDsOf(child))
	}
	t.Logf("recorded journeys: %s and %s", id, nextID)
}

func stepIDsOf(st workflows.JourneyState) string {
	var ids []string
	for _, s := range st.Steps {
		ids = append(ids, s.StepID)
	}
	return strings.Join(ids, " ")
}
