package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// Contract tests of the HealthLink endpoints through the real router, the
// dev server, a worker and PostgreSQL: paths, parameters (JSON, form and
// query), response shapes and JSON types, status codes, access refusals.

const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

// hlCall sends a HealthLink request with a token for role acting as subject
// ("" subject: no token). GET parameters go in the query string.
func (h *harness) hlCall(t *testing.T, method, path, contentType, body, role, subject string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if subject != "" {
		req.Header.Set("Authorization", "Bearer "+testenv.Token(t, h.auth, role, subject, auth.ScopeJourneysWrite))
	}
	resp, raw := send(t, req)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, body is not a JSON object: %s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s %s: %d with Content-Type %q, want problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, out
}

func jsonBody(t *testing.T, v map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// wantProblem checks a problem+json answer and, for a 422, the field named.
func wantProblem(t *testing.T, what string, code int, body map[string]any, wantCode int, pointer string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: %d %v, want %d", what, code, body, wantCode)
		return
	}
	if _, ok := body["type"].(string); !ok || body["status"] != float64(wantCode) {
		t.Errorf("%s: not a problem document: %v", what, body)
	}
	if pointer == "" {
		return
	}
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 || errs[0].(map[string]any)["pointer"] != pointer {
		t.Errorf("%s: errors = %v, want the field %s", what, body["errors"], pointer)
	}
}

// wantShape checks that obj has exactly these fields with these JSON types
// ("string", "number", "array").
func wantShape(t *testing.T, what string, obj any, fields map[string]string) map[string]any {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%s: %v is not an object", what, obj)
	}
	if len(m) != len(fields) {
		t.Errorf("%s: fields %v, want exactly %v", what, m, fields)
	}
	for name, kind := range fields {
		var ok bool
		switch kind {
		case "string":
			_, ok = m[name].(string)
		case "number":
			_, ok = m[name].(float64)
		case "array":
			_, ok = m[name].([]any)
		}
		if !ok {
			t.Errorf("%s: %s = %#v, want a %s", what, name, m[name], kind)
		}
	}
	return m
}

// localSlot is a free slot at a whole minute that the seeded schedules
// never generate (02:xx at night, on a random far date), in the nth
// schedule's time zone, so a test can name it by date and time.
type localSlot struct {
	store.Slot
	date, clock string
}

func newLocalSlot(t *testing.T, s *store.Store, nth int) localSlot {
	t.Helper()
	ctx := context.Background()
	var practitioner, schedule, zone string
	if err := s.Pool.QueryRow(ctx, `SELECT practitioner_id::text, id::text, timezone FROM schedule ORDER BY id OFFSET $1 LIMIT 1`, nth).
		Scan(&practitioner, &schedule, &zone); err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(loc).AddDate(0, 0, 30+rand.IntN(3000))
	minute := 1 + 5*rand.IntN(11) + rand.IntN(4) // never a multiple of 5
	start := time.Date(day.Year(), day.Month(), day.Day(), 2, minute, 0, 0, loc)
	sl, err := s.CreateSlot(ctx, store.Slot{ScheduleID: schedule, PractitionerID: practitioner, Start: start, End: start.Add(15 * time.Minute), Status: store.SlotFree})
	if err != nil {
		t.Fatal(err)
	}
	return localSlot{Slot: sl, date: start.Format("2006-01-02"), clock: start.Format("03:04 PM")}
}

func patientEmail(t *testing.T, s *store.Store, id string) (name, email string) {
	t.Helper()
	if err := s.Pool.QueryRow(context.Background(), `SELECT name, email FROM patient WHERE id = $1`, id).Scan(&name, &email); err != nil {
		t.Fatal(err)
	}
	return name, email
}

// payJourney pays the journey's PaymentIntent through a signed Stripe
// webhook and waits for the doctor's review.
func (h *harness) payJourney(t *testing.T, journeyID string) {
	t.Helper()
	st := h.waitFor(t, journeyID, "the PaymentIntent", func(s workflows.JourneyState) bool { return s.Stage == "pay" && s.Payment != nil })
	event := stripeEvent("evt_hl_"+uuid.NewString(), "payment_intent.succeeded", journeyID, st.Payment.PaymentIntentID, st.Payment.AmountMinor)
	if code, body, _ := h.postStripe(t, event, signStripe(event, testStripeSecret, time.Now())); code != http.StatusOK {
		t.Fatalf("webhook: %d %s", code, body)
	}
	h.waitFor(t, journeyID, "the doctor's review", func(s workflows.JourneyState) bool { return s.Stage == "doctor_review" })
}

func (h *harness) totalEarnings(t *testing.T, doctor string) int64 {
	t.Helper()
	e, err := h.store.DoctorEarnings(context.Background(), doctor)
	if err != nil {
		t.Fatal(err)
	}
	return e.TotalMinor
}

var appointmentShape = map[string]string{"id": "string", "doctor_id": "string", "patient_name": "string",
	"appointment_date": "string", "appointment_time": "string", "status": "string"}

// Book as the patient (JSON), see the request as the doctor, pay, accept,
// see the earnings, then cancel: every step goes through the journey.
func TestHealthLinkBookAcceptAndCancelThroughTheJourney(t *testing.T) {
	h := newHarness(t, nil)
	patient := testenv.NewPatient(t, h.store, "Pune") // its own: no earlier run's journeys take its episode numbers
	name, email := patientEmail(t, h.store, patient)
	slot := newLocalSlot(t, h.store, 3)
	doctor := slot.PractitionerID
	earningsBefore := h.totalEarnings(t, doctor)

	book := map[string]any{"doctor_id": doctor, "appointment_date": slot.date, "appointment_time": slot.clock,
		"patient_name": name, "patient_email": email}
	code, body := h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, jsonBody(t, book), auth.RolePatient, patient)
	if code != http.StatusCreated {
		t.Fatalf("book: %d %v", code, body)
	}
	appt := wantShape(t, "appointment", body["appointment"], appointmentShape)
	if appt["doctor_id"] != doctor || appt["patient_name"] != name || appt["appointment_date"] != slot.date ||
		appt["appointment_time"] != slot.clock || appt["status"] != "pending" {
		t.Errorf("appointment = %v", appt)
	}
	apptID := appt["id"].(string)
	stored, err := h.store.AppointmentByID(context.Background(), apptID)
	if err != nil || stored.SlotID != slot.ID || stored.PatientID != patient {
		t.Fatalf("stored appointment %+v, %v", stored, err)
	}
	journey := stored.JourneyID
	if ref, err := h.store.JourneyRefByWorkflowID(context.Background(), journey); err != nil || ref.PathwayID != "general-consult" || ref.PatientID != patient {
		t.Errorf("journey %s is not a general consultation of the patient: %+v, %v", journey, ref, err)
	}
	if _, pathway, _, err := workflows.ParseJourneyWorkflowID(journey); err != nil || pathway != "" {
		t.Errorf("journey ID %s is not opaque", journey)
	}

	// The same slot again, for the same patient by an admin: taken.
	code, body = h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, jsonBody(t, book), auth.RoleAdmin, uuid.NewString())
	wantProblem(t, "book a taken slot", code, body, http.StatusConflict, "")

	requests := "/api/doctor/appointment/requests/?doctor_id=" + doctor
	findRequest := func() map[string]any {
		code, body := h.hlCall(t, "GET", requests, "", "", auth.RoleDoctor, doctor)
		if code != http.StatusOK {
			t.Fatalf("requests: %d %v", code, body)
		}
		list, ok := body["appointment_requests"].([]any)
		if !ok || len(body) != 1 {
			t.Fatalf("requests: %v", body)
		}
		for _, r := range list {
			m := wantShape(t, "request", r, map[string]string{"request_id": "string", "patient_name": "string",
				"appointment_date": "string", "appointment_time": "string", "status": "string"})
			if m["request_id"] == apptID {
				return m
			}
		}
		t.Fatalf("appointment %s not among the doctor's requests: %v", apptID, list)
		return nil
	}
	if r := findRequest(); r["status"] != "pending" || r["patient_name"] != name || r["appointment_time"] != slot.clock {
		t.Errorf("request before the answer: %v", r)
	}
	code, body = h.hlCall(t, "GET", requests, "", "", auth.RoleDoctor, uuid.NewString())
	wantProblem(t, "another doctor's requests", code, body, http.StatusForbidden, "")

	accept := jsonBody(t, map[string]any{"request_id": apptID})
	code, body = h.hlCall(t, "POST", "/api/accept/appointment/request/", contentJSON, accept, auth.RoleDoctor, doctor)
	wantProblem(t, "accept before payment", code, body, http.StatusConflict, "")

	h.payJourney(t, journey)
	fee := stored.FeeMinor
	if got := h.totalEarnings(t, doctor) - earningsBefore; got != fee-store.PlatformFee(fee, 1000) {
		t.Errorf("earnings grew by %d after payment, want the fee %d less 10%%", got, fee)
	}

	code, body = h.hlCall(t, "POST", "/api/accept/appointment/request/", contentJSON, accept, auth.RoleDoctor, uuid.NewString())
	wantProblem(t, "another doctor accepts", code, body, http.StatusForbidden, "")
	code, body = h.hlCall(t, "POST", "/api/accept/appointment/request/", contentJSON, accept, auth.RoleDoctor, doctor)
	if code != http.StatusOK || body["status"] != "accepted" || body["message"] != "Appointment request successfully accepted." || len(body) != 2 {
		t.Fatalf("accept: %d %v", code, body)
	}
	h.waitFor(t, journey, "the reminders", func(s workflows.JourneyState) bool { return s.Stage == "reminders" })
	if r := findRequest(); r["status"] != "accepted" {
		t.Errorf("request after acceptance: %v", r)
	}

	cancel := jsonBody(t, map[string]any{"appointment_id": apptID})
	code, body = h.hlCall(t, "POST", "/api/cancel/appointment/", contentJSON, cancel, auth.RolePatient, store.SeedPatientID(2))
	wantProblem(t, "another patient cancels", code, body, http.StatusForbidden, "")
	code, body = h.hlCall(t, "POST", "/api/cancel/appointment/", contentJSON, cancel, auth.RolePatient, patient)
	if code != http.StatusOK || body["status"] != "cancelled" || body["message"] != "Appointment successfully cancelled." || len(body) != 2 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	after, err := h.store.AppointmentByID(context.Background(), apptID)
	if err != nil || after.Status != store.AppointmentCancelled {
		t.Errorf("appointment after cancel: %+v %v", after, err)
	}
	// Far from the consult: a full refund, posted to the ledger.
	if got := h.totalEarnings(t, doctor); got != earningsBefore {
		t.Errorf("earnings after the refund = %d, want %d as before the booking", got, earningsBefore)
	}
	code, body = h.hlCall(t, "POST", "/api/cancel/appointment/", contentJSON, cancel, auth.RolePatient, patient)
	wantProblem(t, "cancel twice", code, body, http.StatusConflict, "")

	// The cancellation freed the slot: an integrator (scope journeys:write)
	// books it again for the patient named by email, in a new journey. It
	// acts only for the patients enrolled with it.
	code, body = h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, jsonBody(t, book), auth.RoleIntegrator, "unenrolled-"+uuid.NewString())
	wantProblem(t, "an integrator the patient is not enrolled with books", code, body, http.StatusForbidden, "")
	enrolIntegrator(t, h.auth, "acme-labs", patient)
	code, body = h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, jsonBody(t, book), auth.RoleIntegrator, "acme-labs")
	if code != http.StatusCreated {
		t.Fatalf("integrator books the freed slot: %d %v", code, body)
	}
	again := wantShape(t, "appointment", body["appointment"], appointmentShape)
	rebooked, err := h.store.AppointmentByID(context.Background(), again["id"].(string))
	if err != nil || rebooked.PatientID != patient || rebooked.SlotID != slot.ID || rebooked.JourneyID == journey {
		t.Errorf("rebooked: %+v %v", rebooked, err)
	}
}

// A coordinator books by form fields for a patient named by email; the
// doctor rejects; the journey ends cancelled.
func TestHealthLinkRejectEndsTheJourney(t *testing.T) {
	h := newHarness(t, nil)
	patient := testenv.NewPatient(t, h.store, "Pune")
	name, email := patientEmail(t, h.store, patient)
	slot := newLocalSlot(t, h.store, 5)
	var city string
	if err := h.store.Pool.QueryRow(context.Background(), `SELECT city FROM patient WHERE id = $1`, patient).Scan(&city); err != nil {
		t.Fatal(err)
	}
	coordinator := newCoordinator(t, h.auth, h.store, city)
	stranger := newCoordinator(t, h.auth, h.store, "Nowhere-"+uuid.NewString())

	form := url.Values{"doctor_id": {slot.PractitionerID}, "appointment_date": {slot.date},
		"appointment_time": {strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(slot.clock, "0"), " ", ""))}, "patient_name": {name}, "patient_email": {strings.ToUpper(email)}}
	code, body := h.hlCall(t, "POST", "/api/book/appointment/", contentForm, form.Encode(), auth.RoleCoordinator, stranger)
	wantProblem(t, "a coordinator of another team books", code, body, http.StatusForbidden, "")
	code, body = h.hlCall(t, "POST", "/api/book/appointment/", contentForm, form.Encode(), auth.RoleCoordinator, coordinator)
	if code != http.StatusCreated {
		t.Fatalf("book: %d %v", code, body)
	}
	appt := wantShape(t, "appointment", body["appointment"], appointmentShape)
	stored, err := h.store.AppointmentByID(context.Background(), appt["id"].(string))
	if err != nil || stored.PatientID != patient {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	h.payJourney(t, stored.JourneyID)

	reject := url.Values{"request_id": {stored.ID}}.Encode()
	code, body = h.hlCall(t, "POST", "/api/reject/appointment/request/", contentForm, reject, auth.RoleDoctor, slot.PractitionerID)
	if code != http.StatusOK || body["status"] != "rejected" || body["message"] != "Appointment request successfully rejected." {
		t.Fatalf("reject: %d %v", code, body)
	}
	st := h.waitFor(t, stored.JourneyID, "the decision", func(s workflows.JourneyState) bool { return s.Decisions["doctor_review"].Outcome == "rejected" })
	if st.Decisions["doctor_review"].ActorID != slot.PractitionerID {
		t.Errorf("decision recorded for %v", st.Decisions)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := h.store.AppointmentByID(context.Background(), stored.ID)
		if err == nil && a.Status == store.AppointmentCancelled && a.DoctorResponse == store.ResponseDeclined {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("appointment after rejection: %+v %v", a, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestHealthLinkBookingRefusesBadInput(t *testing.T) {
	h := newHarness(t, nil)
	patient := testenv.NewPatient(t, h.store, "Pune") // its own: no earlier run's journeys take its episode numbers
	name, email := patientEmail(t, h.store, patient)
	slot := newLocalSlot(t, h.store, 7)
	good := map[string]any{"doctor_id": slot.PractitionerID, "appointment_date": slot.date, "appointment_time": slot.clock,
		"patient_name": name, "patient_email": email}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return jsonBody(t, m)
	}
	for _, c := range []struct {
		name, body string
		code       int
		pointer    string
	}{
		{"missing doctor", with("doctor_id", nil), 422, "/doctor_id"},
		{"bad date", with("appointment_date", "15/02/2024"), 422, "/appointment_date"},
		{"24-hour time", with("appointment_time", "14:30"), 422, "/appointment_time"},
		{"no slot then", with("appointment_time", "11:58 PM"), 422, "/appointment_time"},
		{"unknown doctor", with("doctor_id", uuid.NewString()), 422, "/doctor_id"},
		{"not my email", with("patient_email", "someone.else@example.com"), 422, "/patient_email"},
		{"unknown field", with("notes", "x"), 422, "/notes"},
		{"object value", with("patient_name", map[string]any{"first": "A"}), 422, "/patient_name"},
		{"not JSON", "{", 400, ""},
	} {
		code, body := h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, c.body, auth.RolePatient, patient)
		wantProblem(t, c.name, code, body, c.code, c.pointer)
	}
	// An admin naming an unregistered email; a patient without a token.
	code, body := h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, with("patient_email", "nobody-"+uuid.NewString()+"@example.com"), auth.RoleAdmin, uuid.NewString())
	wantProblem(t, "unregistered email", code, body, 422, "/patient_email")
	code, body = h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, jsonBody(t, good), "", "")
	wantProblem(t, "no token", code, body, 401, "")
	code, body = h.hlCall(t, "POST", "/api/book/appointment/", contentJSON, jsonBody(t, good), auth.RoleDoctor, slot.PractitionerID)
	wantProblem(t, "a doctor books", code, body, 403, "")
	code, body = h.hlCall(t, "POST", "/api/cancel/appointment/", contentJSON, `{"appointment_id":"`+uuid.NewString()+`"}`, auth.RolePatient, patient)
	wantProblem(t, "cancel an unknown appointment", code, body, 404, "")
	code, body = h.hlCall(t, "POST", "/api/accept/appointment/request/", contentJSON, `{"request_id":"42"}`, auth.RoleDoctor, slot.PractitionerID)
	wantProblem(t, "accept a malformed request ID", code, body, 422, "/request_id")
}

// settledDoctor is a new practitioner with one fulfilled consultation paid
// through the store's payment path: fee 500.00, 450.00 earned.
func settledDoctor(t *testing.T, s *store.Store) string {
	t.Helper()
	ctx := context.Background()
	doctor, schedule := testenv.NewPractitioner(t, s, "HealthLink Test")
	if _, err := s.Pool.Exec(ctx, `UPDATE practitioner SET consult_fee_minor = 50000, currency = 'INR' WHERE id = $1`, doctor); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Hour).Truncate(time.Minute)
	slot, err := s.CreateSlot(ctx, store.Slot{ScheduleID: schedule, PractitionerID: doctor, Start: start, End: start.Add(15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	j := "test:healthlink:" + uuid.NewString()
	a, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: j, Step: "book", SlotID: slot.ID, PatientID: store.SeedPatientID(4), Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmAppointment(ctx, store.AppointmentRequest{JourneyID: j, Step: "pay", AppointmentID: a.ID}); err != nil {
		t.Fatal(err)
	}
	p, err := s.ReservePayment(ctx, store.Payment{JourneyID: j, Step: "pay", AppointmentID: a.ID, AmountMinor: 50000, Currency: "INR", IdempotencyKey: j})
	if err != nil {
		t.Fatal(err)
	}
	intent := "pi_" + uuid.NewString()
	if _, err := s.RecordPaymentIntent(ctx, p.ID, intent, "requires_payment_method", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPaymentStatus(ctx, j, intent, "succeeded"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CloseEncounter(ctx, store.CloseEncounterRequest{JourneyID: j, Step: "consult", AppointmentID: a.ID, PractitionerID: doctor}); err != nil {
		t.Fatal(err)
	}
	return doctor
}

func TestHealthLinkEarningsAndWithdrawals(t *testing.T) {
	h := newHarness(t, nil)
	doctor := settledDoctor(t, h.store)
	earningsPath := "/api/doctor/earnings/?doctor_id=" + doctor
	earnings := func() map[string]any {
		code, body := h.hlCall(t, "GET", earningsPath, "", "", auth.RoleDoctor, doctor)
		if code != http.StatusOK || len(body) != 1 {
			t.Fatalf("earnings: %d %v", code, body)
		}
		return wantShape(t, "earnings", body["earnings"], map[string]string{"doctor_id": "string", "total_earnings": "number", "withdrawable_amount": "number"})
	}
	if e := earnings(); e["doctor_id"] != doctor || e["total_earnings"] != 450.0 || e["withdrawable_amount"] != 450.0 {
		t.Errorf("earnings = %v, want 450.00 of a 500.00 fee after the 10%% platform fee", e)
	}
	for _, c := range []struct {
		name, path, role, subject string
		code                      int
		pointer                   string
	}{
		{"another doctor", earningsPath, auth.RoleDoctor, uuid.NewString(), 403, ""},
		{"a patient", earningsPath, auth.RolePatient, store.SeedPatientID(4), 403, ""},
		{"no token", earningsPath, "", "", 401, ""},
		{"malformed doctor", "/api/doctor/earnings/?doctor_id=7", auth.RoleAdmin, uuid.NewString(), 422, "/doctor_id"},
		{"unknown doctor", "/api/doctor/earnings/?doctor_id=" + uuid.NewString(), auth.RoleAdmin, uuid.NewString(), 422, "/doctor_id"},
		{"unknown parameter", earningsPath + "&page=2", auth.RoleDoctor, doctor, 422, "/page"},
		{"repeated parameter", earningsPath + "&doctor_id=" + doctor, auth.RoleDoctor, doctor, 400, ""},
	} {
		code, body := h.hlCall(t, "GET", c.path, "", "", c.role, c.subject)
		wantProblem(t, c.name, code, body, c.code, c.pointer)
	}
	if code, body := h.hlCall(t, "GET", earningsPath, "", "", auth.RoleAdmin, uuid.NewString()); code != http.StatusOK {
		t.Errorf("admin reads earnings: %d %v", code, body)
	}

	withdraw := func(contentType, body, subject string) (int, map[string]any) {
		return h.hlCall(t, "POST", "/api/withdraw/earnings/", contentType, body, auth.RoleDoctor, subject)
	}
	code, body := withdraw(contentJSON, fmt.Sprintf(`{"doctor_id":%q,"amount":200}`, doctor), doctor)
	if code != http.StatusOK || body["status"] != "success" || body["message"] != "Earnings withdrawal successful. Amount: 200.00" || len(body) != 2 {
		t.Fatalf("withdraw 200 by JSON: %d %v", code, body)
	}
	code, body = withdraw(contentForm, url.Values{"doctor_id": {doctor}, "amount": {"100.5"}}.Encode(), doctor)
	if code != http.StatusOK || body["message"] != "Earnings withdrawal successful. Amount: 100.50" {
		t.Fatalf("withdraw 100.5 by form: %d %v", code, body)
	}
	if e := earnings(); e["total_earnings"] != 450.0 || e["withdrawable_amount"] != 149.5 {
		t.Errorf("after withdrawing 300.50: %v", e)
	}
	for _, c := range []struct {
		name, body, subject string
		code                int
		pointer             string
	}{
		{"more than withdrawable", fmt.Sprintf(`{"doctor_id":%q,"amount":"149.51"}`, doctor), doctor, 422, "/amount"},
		{"three decimals", fmt.Sprintf(`{"doctor_id":%q,"amount":"1.005"}`, doctor), doctor, 422, "/amount"},
		{"negative", fmt.Sprintf(`{"doctor_id":%q,"amount":-5}`, doctor), doctor, 422, "/amount"},
		{"zero", fmt.Sprintf(`{"doctor_id":%q,"amount":0}`, doctor), doctor, 422, "/amount"},
		{"no amount", fmt.Sprintf(`{"doctor_id":%q}`, doctor), doctor, 422, "/amount"},
		{"someone else's earnings", fmt.Sprintf(`{"doctor_id":%q,"amount":1}`, doctor), uuid.NewString(), 403, ""},
	} {
		code, body := withdraw(contentJSON, c.body, c.subject)
		wantProblem(t, c.name, code, body, c.code, c.pointer)
	}
	code, body = h.hlCall(t, "POST", "/api/withdraw/earnings/", contentJSON, fmt.Sprintf(`{"doctor_id":%q,"amount":1}`, doctor), auth.RoleAdmin, uuid.NewString())
	wantProblem(t, "an admin withdraws", code, body, 403, "")

	// 149.50 left: of 20 concurrent requests for 50.00, exactly two succeed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := withdraw(contentJSON, fmt.Sprintf(`{"doctor_id":%q,"amount":"50.00"}`, doctor), doctor)
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusOK] != 2 || statuses[http.StatusUnprocessableEntity] != 18 {
		t.Errorf("concurrent withdrawals: statuses %v, want 2 x 200 and 18 x 422", statuses)
	}
	if e := earnings(); e["withdrawable_amount"] != 49.5 {
		t.Errorf("after the race: %v, want 49.50 withdrawable", e)
	}
}

func TestHealthLinkPurchaseMedicine(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	// Patients of the test's own: other tests sign prescriptions for the seeded ones.
	buyer, prescribed := testenv.NewPatient(t, h.store, "Pune"), testenv.NewPatient(t, h.store, "Pune")
	purchase := func(contentType, body, role, subject string) (int, map[string]any) {
		return h.hlCall(t, "POST", "/api/purchase/medicine/", contentType, body, role, subject)
	}
	code, body := purchase(contentJSON, fmt.Sprintf(`{"patient_id":%q,"medicine_name":"Paracetamol 500 mg tablets, strip of 10","quantity":2}`, buyer), auth.RolePatient, buyer)
	if code != http.StatusCreated || len(body) != 1 {
		t.Fatalf("purchase: %d %v", code, body)
	}
	p := wantShape(t, "medicine_purchase", body["medicine_purchase"], map[string]string{"purchase_id": "string", "patient_id": "string",
		"medicine_name": "string", "quantity": "number", "total_cost": "number", "delivery_status": "string"})
	if p["patient_id"] != buyer || p["quantity"] != 2.0 || p["total_cost"] != 40.0 || p["delivery_status"] != "pending" {
		t.Errorf("purchase = %v", p)
	}
	var stored int
	if err := h.store.Pool.QueryRow(ctx, `SELECT count(*) FROM medicine_purchase WHERE id = $1 AND patient_id = $2 AND total_minor = 4000`,
		p["purchase_id"], buyer).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("purchase row: %d %v", stored, err)
	}
	// Form fields, and a name's first words.
	code, body = purchase(contentForm, url.Values{"patient_id": {buyer}, "medicine_name": {"oral rehydration salts"}, "quantity": {"3"}}.Encode(), auth.RolePatient, buyer)
	if code != http.StatusCreated || body["medicine_purchase"].(map[string]any)["total_cost"] != 66.0 {
		t.Errorf("purchase by form: %d %v", code, body)
	}

	metformin := func(patient string) string {
		return fmt.Sprintf(`{"patient_id":%q,"medicine_name":"RX-METFORMIN-500","quantity":1}`, patient)
	}
	code, body = purchase(contentJSON, metformin(buyer), auth.RolePatient, buyer)
	wantProblem(t, "prescription-only without a prescription", code, body, 422, "/medicine_name")

	signPrescription(t, h.store, prescribed, "metformin")
	code, body = purchase(contentJSON, metformin(prescribed), auth.RolePatient, prescribed)
	if code != http.StatusCreated {
		t.Fatalf("prescription-only with a signed prescription: %d %v", code, body)
	}

	for _, c := range []struct {
		name, body, role, subject string
		code                      int
		pointer                   string
	}{
		{"another patient", metformin(prescribed), auth.RolePatient, buyer, 403, ""},
		{"a pharmacist", metformin(prescribed), auth.RolePharmacist, uuid.NewString(), 403, ""},
		{"quantity zero", fmt.Sprintf(`{"patient_id":%q,"medicine_name":"Antacid","quantity":0}`, buyer), auth.RolePatient, buyer, 422, "/quantity"},
		{"quantity text", fmt.Sprintf(`{"patient_id":%q,"medicine_name":"Antacid","quantity":"two"}`, buyer), auth.RolePatient, buyer, 422, "/quantity"},
		{"unknown medicine", fmt.Sprintf(`{"patient_id":%q,"medicine_name":"Unobtainium","quantity":1}`, buyer), auth.RolePatient, buyer, 422, "/medicine_name"},
		{"ambiguous medicine", fmt.Sprintf(`{"patient_id":%q,"medicine_name":"Digital","quantity":1}`, buyer), auth.RolePatient, buyer, 422, "/medicine_name"},
		{"unknown patient", fmt.Sprintf(`{"patient_id":%q,"medicine_name":"Antacid","quantity":1}`, uuid.NewString()), auth.RoleAdmin, uuid.NewString(), 422, "/patient_id"},
	} {
		code, body := purchase(contentJSON, c.body, c.role, c.subject)
		wantProblem(t, c.name, code, body, c.code, c.pointer)
	}
}

// signPrescription records a signed 30-day prescription of drug for the
// patient, as the prescribe step leaves it.
func signPrescription(t *testing.T, s *store.Store, patient, drug string) {
	t.Helper()
	var practitioner string
	if err := s.Pool.QueryRow(context.Background(), `SELECT id::text FROM practitioner ORDER BY id LIMIT 1`).Scan(&practitioner); err != nil {
		t.Fatal(err)
	}
	signPrescriptionFor(t, s, "test:healthlink:"+uuid.NewString(), patient, practitioner, drug)
}

// signPrescriptionFor stores a signed one-item prescription of drug for the
// patient on that journey. The signature is a placeholder: these tests
// read prescriptions, they do not verify them.
func signPrescriptionFor(t *testing.T, s *store.Store, journey, patient, practitioner, drug string) {
	t.Helper()
	ctx := context.Background()
	rx, err := s.CreatePrescription(ctx, store.NewPrescription{JourneyID: journey, Step: "prescribe", Version: 1,
		PatientID: patient, PractitionerID: practitioner, Items: []store.MedicationItem{{Drug: drug, Dose: "500 mg", Route: "oral",
			Frequency: "twice daily", DurationDays: 30, Quantity: 60}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignPrescription(ctx, rx.ID, store.Review{ActorID: practitioner, Action: "approve", ReviewedAt: time.Now()},
		store.Signature{PrescriptionID: rx.ID, Canonical: "{}", SHA256: strings.Repeat("a", 64), Signature: []byte("test"), KeyID: "test"}); err != nil {
		t.Fatal(err)
	}
}
