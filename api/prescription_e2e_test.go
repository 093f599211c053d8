package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// A consult that ends with a prescription, end to end on the dev server:
// the close carries the medicines, the prescribe step drafts and checks them
// through the knowledge graph, the prescribing doctor reads the findings and
// approves through the API, the signed prescription goes as FHIR to the
// pharmacy simulator (in-process), and its signed webhooks come back through
// the API until the order is delivered. Demo patient 14 is this test's.
func TestPrescriptionAndFulfilmentEndToEnd(t *testing.T) {
	h, sim := newHarnessWithPharmacy(t, nil)
	ctx := context.Background()
	patient := store.SeedPatientID(14)

	slot := testenv.SlotSoon(t, h.store, 1, 30*time.Second)
	practitioner := slot.PractitionerID
	episode := testenv.FreshEpisode(t, h.store, patient, "general-consult")
	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys",
		fmt.Sprintf(`{"patient_id":%q,"pathway_id":"general-consult","pathway_version":900,"episode":%d,"slot_id":%q}`, patient, episode, slot.ID))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	id := testenv.JourneyID(t, h.store, patient, "general-consult", episode)
	st := h.waitFor(t, id, "the PaymentIntent", func(s workflows.JourneyState) bool { return s.Stage == "pay" && s.Payment != nil })
	event := stripeEvent(fmt.Sprintf("evt_rx_e2e_%d", episode), "payment_intent.succeeded", id, st.Payment.PaymentIntentID, st.Payment.AmountMinor)
	if code, body, _ := h.postStripe(t, event, signStripe(event, testStripeSecret, time.Now())); code != http.StatusOK {
		t.Fatalf("stripe webhook: %d %v", code, body)
	}
	h.waitFor(t, id, "the doctor's review", func(s workflows.JourneyState) bool { return s.Stage == "doctor_review" })
	if resp, raw := h.act(t, "/decisions", practitioner, "doctor", `{"step_id":"doctor_review","outcome":"accepted"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("decide: %d %s", resp.StatusCode, raw)
	}
	h.waitFor(t, id, "the consult to open", func(s workflows.JourneyState) bool { return s.Stage == "consult" })
	if resp, raw := h.act(t, "/consult/start", practitioner, "doctor", `{}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("start consult: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.doAs(t, http.MethodGet, "/api/v1/journeys/"+id+"/prescription", "", practitioner, "doctor"); resp.StatusCode != http.StatusConflict {
		t.Errorf("prescription before the prescribe step: %d %s", resp.StatusCode, raw)
	}
	// Before the prescribe step the journey has no review handler: the
	// review is a conflict, not a server error (found by schemathesis).
	early := `{"prescription_id":"00000000-0000-4000-8000-000000000001","action":"approve"}`
	if resp, raw := h.act(t, "/prescription/review", practitioner, "doctor", early); resp.StatusCode != http.StatusConflict {
		t.Errorf("review before the prescribe step: %d %s", resp.StatusCode, raw)
	}
	closeBody := `{"diagnoses":["E11.9"],"notes":"Newly diagnosed.","orders":["prescription"],
		"prescriptions":[{"drug":"metformin","dose":"500 mg","route":"oral","frequency":"twice daily","duration_days":30,"quantity":60,"refills":2}]}`
	if resp, raw := h.act(t, "/consult/close", practitioner, "doctor", closeBody); resp.StatusCode != http.StatusOK {
		t.Fatalf("close consult: %d %s", resp.StatusCode, raw)
	}

	// The doctor reads the checked draft, then approves it.
	var info workflows.PrescriptionInfo
	deadline := time.Now().Add(60 * time.Second)
	for info.Status != "awaiting_review" {
		if time.Now().After(deadline) {
			t.Fatalf("the draft never reached review: %+v", info)
		}
		time.Sleep(250 * time.Millisecond)
		resp, raw := h.doAs(t, http.MethodGet, "/api/v1/journeys/"+id+"/prescription", "", practitioner, "doctor")
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(raw, &info); err != nil {
				t.Fatal(err)
			}
		}
	}
	if info.ID == "" || info.PrescriberID != practitioner || !info.CheckComplete || info.NeedsOverride {
		t.Fatalf("draft = %+v", info)
	}
	review := fmt.Sprintf(`{"prescription_id":%q,"action":"approve"}`, info.ID)
	if resp, raw := h.act(t, "/prescription/review", practitioner, "doctor", `{"prescription_id":"`+info.ID+`","action":"override"}`); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("an override with nothing to override: %d %s", resp.StatusCode, raw)
	}
	resp, raw = h.act(t, "/prescription/review", practitioner, "doctor", review)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &info); err != nil || info.Status != "signed" || len(info.SHA256) != 64 {
		t.Fatalf("after approval: %+v %v", info, err)
	}

	// The pharmacy's signed callbacks bring the fulfil step to its end.
	h.waitFor(t, id, "delivery", func(s workflows.JourneyState) bool {
		for _, step := range s.Steps {
			if step.StepID == "fulfil" && step.EndedAt != nil {
				return true
			}
		}
		return false
	})
	final := h.waitFor(t, id, "the fulfil result", func(workflows.JourneyState) bool { return true })
	for _, step := range final.Steps {
		if step.StepID == "fulfil" && step.Result != "done" {
			t.Errorf("fulfil ended %q", step.Result)
		}
	}
	var orderStatus string
	var events, sms int
	if err := h.store.Pool.QueryRow(ctx, `SELECT
		(SELECT status FROM pharmacy_order WHERE journey_id = $1 AND step = 'fulfil' AND attempt = 1),
		(SELECT count(*) FROM pharmacy_event e JOIN pharmacy_order o ON o.id = e.order_id WHERE o.journey_id = $1),
		(SELECT count(*) FROM communication WHERE journey_id = $1 AND template_id LIKE 'prescription_%')`, id).Scan(&orderStatus, &events, &sms); err != nil {
		t.Fatal(err)
	}
	if orderStatus != "delivered" || events != 4 {
		t.Errorf("order status %q with %d events", orderStatus, events)
	}
	if sms < 3 {
		t.Errorf("%d prescription SMS recorded, want accepted, ready and delivered", sms)
	}
	if len(sim.Orders()) != 1 {
		t.Errorf("the partner got %d orders", len(sim.Orders()))
	}
}
