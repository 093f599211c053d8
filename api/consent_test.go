package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
)

// practitioners returns n seeded practitioners of n different
// organisations, each with their organisation's ID.
func practitioners(t *testing.T, h *storeAPI, n int) [][2]string {
	t.Helper()
	rows, err := h.store.Pool.Query(context.Background(), `SELECT DISTINCT ON (organization_id) id::text, organization_id::text
		FROM practitioner ORDER BY organization_id, id LIMIT $1`, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if len(out) < n {
		t.Fatalf("need %d practitioners of different organisations, have %d", n, len(out))
	}
	return out
}

func TestConsentGrantCategoryExpiryAndRevocation(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	ps := practitioners(t, h, 2)
	doctor, otherOrgDoctor := ps[0][0], ps[1][0]
	base := "/api/v1/patients/" + patient
	for _, e := range sampleEntries {
		h.mustCall(t, http.StatusCreated, http.MethodPost, base+"/records", e, auth.RolePatient, patient)
	}
	asDoctor := func(path string) int {
		code, _ := h.call(t, http.MethodGet, base+path, "", auth.RoleDoctor, doctor)
		return code
	}
	if code := asDoctor("/records"); code != http.StatusForbidden {
		t.Fatalf("before any consent: %d", code)
	}

	// A consent to lab results only.
	grant := decodeAs[struct {
		ID string `json:"id"`
	}](t, h.mustCall(t, http.StatusCreated, http.MethodPost, base+"/consents",
		`{"practitioner_id":"`+doctor+`","category":"observation"}`, auth.RolePatient, patient))
	if code := asDoctor("/records?kind=observation"); code != http.StatusOK {
		t.Errorf("observations under an observation consent: %d", code)
	}
	for _, path := range []string{"/records", "/records?kind=allergy", "/export/fhir"} {
		if code := asDoctor(path); code != http.StatusForbidden {
			t.Errorf("%s under an observation consent: %d, want 403", path, code)
		}
	}
	// The single record route takes the record's own category.
	list := decodeAs[struct{ Items []recordOut }](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"/records", "", auth.RolePatient, patient))
	for _, r := range list.Items {
		want := http.StatusForbidden
		if r.Kind == "observation" {
			want = http.StatusOK
		}
		if code := asDoctor("/records/" + r.ID); code != want {
			t.Errorf("record of kind %s: %d, want %d", r.Kind, code, want)
		}
	}

	// Revocation takes effect on the very next request.
	h.mustCall(t, http.StatusOK, http.MethodDelete, base+"/consents/"+grant.ID, "", auth.RolePatient, patient)
	if code := asDoctor("/records?kind=observation"); code != http.StatusForbidden {
		t.Errorf("after revocation: %d, want 403", code)
	}

	// A consent to an organisation covers its practitioners, not others.
	h.mustCall(t, http.StatusCreated, http.MethodPost, base+"/consents", `{"organization_id":"`+ps[0][1]+`"}`, auth.RolePatient, patient)
	if code := asDoctor("/export/fhir"); code != http.StatusOK {
		t.Errorf("organisation consent: %d", code)
	}
	if code, _ := h.call(t, http.MethodGet, base+"/records", "", auth.RoleDoctor, otherOrgDoctor); code != http.StatusForbidden {
		t.Errorf("a doctor of another organisation: %d", code)
	}

	// Expiry: a consent that has run out no longer counts.
	h.mustCall(t, http.StatusCreated, http.MethodPost, base+"/consents",
		`{"practitioner_id":"`+otherOrgDoctor+`","expires_at":"`+time.Now().Add(2*time.Second).UTC().Format(time.RFC3339)+`"}`, auth.RolePatient, patient)
	if code, _ := h.call(t, http.MethodGet, base+"/records", "", auth.RoleDoctor, otherOrgDoctor); code != http.StatusOK {
		t.Errorf("before expiry: %d", code)
	}
	time.Sleep(2500 * time.Millisecond)
	if code, _ := h.call(t, http.MethodGet, base+"/records", "", auth.RoleDoctor, otherOrgDoctor); code != http.StatusForbidden {
		t.Errorf("after expiry: %d, want 403", code)
	}

	// Bad grants name their field.
	for body, pointer := range map[string]string{
		`{"category":"all"}`: "/practitioner_id",
		`{"practitioner_id":"` + doctor + `","category":"gossip"}`:                  "/category",
		`{"practitioner_id":"` + doctor + `","expires_at":"2001-01-01T00:00:00Z"}`:  "/expires_at",
		`{"practitioner_id":"` + uuid.NewString() + `"}`:                            "/practitioner_id",
		`{"practitioner_id":"` + doctor + `","organization_id":"` + ps[0][1] + `"}`: "/practitioner_id",
	} {
		code, out := h.call(t, http.MethodPost, base+"/consents", body, auth.RolePatient, patient)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), pointer) {
			t.Errorf("%s: %d %s, want 422 naming %s", body, code, out, pointer)
		}
	}
	// Only the patient manages their consents.
	if code, _ := h.call(t, http.MethodPost, base+"/consents", `{"practitioner_id":"`+doctor+`"}`, auth.RoleDoctor, doctor); code != http.StatusForbidden {
		t.Errorf("a doctor granted consent: %d", code)
	}
}

func TestBreakGlassIsTimeLimitedFlaggedAndNotified(t *testing.T) {
	h, _, _ := recordsAPI(t)
	patient := testenv.NewPatient(t, h.store, "Testville")
	doctor := practitioners(t, h, 1)[0][0]
	base := "/api/v1/patients/" + patient
	h.mustCall(t, http.StatusCreated, http.MethodPost, base+"/records", sampleEntries[1], auth.RolePatient, patient)
	if code, _ := h.call(t, http.MethodGet, base+"/records", "", auth.RoleDoctor, doctor); code != http.StatusForbidden {
		t.Fatalf("before break glass: %d", code)
	}
	code, out := h.call(t, http.MethodPost, base+"/break-glass", `{"reason":"urgent"}`, auth.RoleDoctor, doctor)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "/reason") {
		t.Errorf("short reason: %d %s", code, out)
	}
	if code, _ := h.call(t, http.MethodPost, base+"/break-glass", `{"reason":"the patient is unconscious in the emergency room"}`, auth.RolePatient, patient); code != http.StatusForbidden {
		t.Errorf("a patient broke the glass: %d", code)
	}
	res := decodeAs[struct {
		BreakGlass struct {
			ID        string    `json:"id"`
			StartedAt time.Time `json:"started_at"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"break_glass"`
		Flagged         bool `json:"flagged"`
		PatientNotified bool `json:"patient_notified"`
	}](t, h.mustCall(t, http.StatusCreated, http.MethodPost, base+"/break-glass",
		`{"reason":"the patient is unconscious in the emergency room"}`, auth.RoleDoctor, doctor))
	if !res.Flagged || !res.PatientNotified || res.BreakGlass.ExpiresAt.Sub(res.BreakGlass.StartedAt) != 4*time.Hour {
		t.Fatalf("break glass = %+v", res)
	}
	h.mustCall(t, http.StatusOK, http.MethodGet, base+"/records", "", auth.RoleDoctor, doctor)

	// The patient is told, and the access log flags every step.
	notes := decodeAs[struct {
		Items []struct {
			Kind, SubjectID, Message string
		}
	}](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"/notifications", "", auth.RolePatient, patient))
	if len(notes.Items) != 1 || notes.Items[0].Kind != "break_glass" || !strings.Contains(notes.Items[0].Message, "Emergency access") {
		t.Errorf("notifications = %+v", notes.Items)
	}
	log := decodeAs[accessLog](t, h.mustCall(t, http.StatusOK, http.MethodGet, base+"/access-log", "", auth.RolePatient, patient))
	var flagged []string
	for _, e := range log.Items {
		if e.Actor == doctor {
			flagged = append(flagged, e.Route+" "+e.Reason+" "+e.Purpose+" "+e.Outcome)
		}
	}
	got := strings.Join(flagged, " | ")
	for _, want := range []string{"GET /api/v1/patients/:id/records break-glass ETREAT success",
		"POST /api/v1/patients/:id/break-glass break-glass request ETREAT success"} {
		if !strings.Contains(got, want) {
			t.Errorf("access log %q lacks %q", got, want)
		}
	}

	// Time-limited: once it expires, access ends.
	if _, err := h.store.Pool.Exec(context.Background(), `UPDATE break_glass SET started_at = now() - interval '5 hours', expires_at = now() - interval '1 hour' WHERE id = $1`, res.BreakGlass.ID); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.call(t, http.MethodGet, base+"/records", "", auth.RoleDoctor, doctor); code != http.StatusForbidden {
		t.Errorf("after the break glass expired: %d", code)
	}
}
