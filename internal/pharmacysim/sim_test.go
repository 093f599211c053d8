package pharmacysim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/internal/pharmacysim"
	"github.com/carepath/carepath/pharmacy"
)

func bundle(t *testing.T, mutate func(m map[string]any)) []byte {
	t.Helper()
	p := pharmacy.SignedPrescription{ID: "rx-1", PatientID: "p-1", PractitionerID: "d-1",
		Items:  []care.MedicationItem{{Drug: "metformin", Dose: "500 mg", Route: "oral", Frequency: "twice daily", DurationDays: 30, Quantity: 60}},
		SHA256: "ab", SignedAt: time.Now()}
	raw, err := json.Marshal(pharmacy.MedicationRequestBundle(p, "order-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if mutate == nil {
		return raw
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	mutate(b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any))
	raw, _ = json.Marshal(b)
	return raw
}

func TestValidateBundleChecksTheFHIRFields(t *testing.T) {
	ref, items, err := pharmacysim.ValidateBundle(bundle(t, nil))
	if err != nil || ref != "order-1" || len(items) != 1 || items[0].Quantity != 60 {
		t.Fatalf("a valid bundle: %q %+v %v", ref, items, err)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"no subject":    func(m map[string]any) { delete(m, "subject") },
		"intent plan":   func(m map[string]any) { m["intent"] = "plan" },
		"no medication": func(m map[string]any) { delete(m, "medicationCodeableConcept") },
		"quantity zero": func(m map[string]any) { m["dispenseRequest"].(map[string]any)["quantity"] = map[string]any{"value": 0} },
		"supply in weeks": func(m map[string]any) {
			m["dispenseRequest"].(map[string]any)["expectedSupplyDuration"] = map[string]any{"value": 4, "code": "wk"}
		},
		"no dosage route":   func(m map[string]any) { m["dosageInstruction"] = []any{map[string]any{"text": "500 mg"}} },
		"not a med request": func(m map[string]any) { m["resourceType"] = "MedicationDispense" },
	} {
		if _, _, err := pharmacysim.ValidateBundle(bundle(t, mutate)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOrdersNeedFHIRAndAnIdempotencyKey(t *testing.T) {
	sim := pharmacysim.New(pharmacysim.Options{DefaultStock: 100})
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	post := func(contentType, key string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/pharmacies/ph-1/MedicationRequest", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", contentType)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("application/json", "k1", bundle(t, nil)); got != http.StatusUnsupportedMediaType {
		t.Errorf("plain JSON: %d", got)
	}
	if got := post("application/fhir+json", "", bundle(t, nil)); got != http.StatusBadRequest {
		t.Errorf("no key: %d", got)
	}
	if got := post("application/fhir+json", "k1", bundle(t, func(m map[string]any) { delete(m, "requester") })); got != http.StatusUnprocessableEntity {
		t.Errorf("no requester: %d", got)
	}
	if a, b := post("application/fhir+json", "k1", bundle(t, nil)), post("application/fhir+json", "k1", bundle(t, nil)); a != http.StatusCreated || b != http.StatusOK || len(sim.Orders()) != 1 {
		t.Errorf("idempotent order: %d %d, %d orders", a, b, len(sim.Orders()))
	}
}

func TestWebhookSignatures(t *testing.T) {
	body := []byte(`{"event_id":"e1"}`)
	now := time.Now()
	h := pharmacy.SignWebhook("s3cret", body, now)
	if err := pharmacy.VerifyWebhook("s3cret", h, body, now, time.Minute); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	for name, check := range map[string]error{
		"wrong secret": pharmacy.VerifyWebhook("other", h, body, now, time.Minute),
		"changed body": pharmacy.VerifyWebhook("s3cret", h, []byte(`{"event_id":"e2"}`), now, time.Minute),
		"too old":      pharmacy.VerifyWebhook("s3cret", h, body, now.Add(10*time.Minute), time.Minute),
		"no header":    pharmacy.VerifyWebhook("s3cret", "", body, now, time.Minute),
	} {
		if check == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
