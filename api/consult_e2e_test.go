package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// A general consultation, end to end through the API on the dev server:
// book a real slot, pay through stripe-mock and a signed Stripe webhook, the
// doctor accepts, the consult opens at the slot's time, the doctor closes
// it. Time limits come from a short test version of the pathway.
func TestGeneralConsultationEndToEnd(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	patient := store.SeedPatientID(11)

	slot := testenv.SlotSoon(t, h.store, 0, 40*time.Second)
	practitioner := slot.PractitionerID

	episode := testenv.FreshEpisode(t, h.store, patient, "general-consult")
	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys",
		fmt.Sprintf(`{"patient_id":%q,"pathway_id":"general-consult","pathway_version":900,"episode":%d,"slot_id":%q}`, patient, episode, slot.ID))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	id := testenv.JourneyID(t, h.store, patient, "general-consult", episode)

	st := h.waitFor(t, id, "the PaymentIntent", func(s workflows.JourneyState) bool { return s.Stage == "pay" && s.Payment != nil })
	if st.Appointment == nil || st.Appointment.SlotID != slot.ID || st.Appointment.PractitionerID != practitioner {
		t.Fatalf("appointment = %+v", st.Appointment)
	}

	// Stripe tells us the payment went through; the webhook signals the journey.
	event := stripeEvent(fmt.Sprintf("evt_e2e_%d", episode), "payment_intent.succeeded", id, st.Payment.PaymentIntentID, st.Payment.AmountMinor)
	for i := 0; i < 2; i++ { // delivered twice, as Stripe may
		code, body, _ := h.postStripe(t, event, signStripe(event, testStripeSecret, time.Now()))
		if code != http.StatusOK {
			t.Fatalf("webhook: %d %v", code, body)
		}
	}
	h.waitFor(t, id, "the doctor's review", func(s workflows.JourneyState) bool { return s.Stage == "doctor_review" })

	decide := `{"step_id":"doctor_review","outcome":"accepted"}`
	if resp, raw := h.act(t, "/decisions", store.SeedPatientID(1), "doctor", decide); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another doctor decided: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.act(t, "/decisions", practitioner, "doctor", decide); resp.StatusCode != http.StatusOK {
		t.Fatalf("decide: %d %s", resp.StatusCode, raw)
	}

	h.waitFor(t, id, "the consult to open", func(s workflows.JourneyState) bool { return s.Stage == "consult" })
	if resp, raw := h.act(t, "/consult/start", practitioner, "doctor", `{}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("start consult: %d %s", resp.StatusCode, raw)
	}
	closeBody := `{"diagnoses":["J06.9"],"notes":"Viral URTI; rest and fluids.","orders":[]}`
	resp, raw = h.act(t, "/consult/close", practitioner, "doctor", closeBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("close consult: %d %s", resp.StatusCode, raw)
	}

	var final workflows.JourneyState
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.deps.Temporal.GetWorkflow(waitCtx, id, "").Get(waitCtx, &final); err != nil {
		t.Fatalf("journey did not finish: %v", err)
	}
	if final.Status != workflows.StatusCompleted || final.Payment.Status != "succeeded" || final.Appointment.Status != store.AppointmentFulfilled {
		t.Fatalf("final state: %s payment=%+v appointment=%+v", final.Status, final.Payment, final.Appointment)
	}

	// The system of record agrees, and holds exactly one payment.
	var payments, encounters, messages int
	var apptStatus, note string
	q := h.store.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM payment WHERE journey_id = $1),
		(SELECT count(*) FROM encounter WHERE journey_id = $1),
		(SELECT count(*) FROM communication WHERE journey_id = $1),
		(SELECT status FROM appointment WHERE journey_id = $1),
		(SELECT note FROM encounter WHERE journey_id = $1)`, id)
	if err := q.Scan(&payments, &encounters, &messages, &apptStatus, &note); err != nil {
		t.Fatal(err)
	}
	if payments != 1 || encounters != 1 || apptStatus != store.AppointmentFulfilled || note != "Viral URTI; rest and fluids." {
		t.Errorf("database: payments=%d encounters=%d appointment=%s note=%q", payments, encounters, apptStatus, note)
	}
	if messages < 1 {
		t.Errorf("no reminder was sent or deferred")
	}
	if row, err := h.store.GetJourney(ctx, id); err != nil || row.Status != workflows.StatusCompleted {
		t.Errorf("journey row: %+v %v", row, err)
	}

	// The patient's journeys list it (visibility is eventually consistent).
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, raw := h.do(t, http.MethodGet, "/api/v1/patients/"+patient+"/journeys", "")
		if resp.StatusCode == 200 && strings.Contains(string(raw), id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journey not listed for the patient: %d %s", resp.StatusCode, raw)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// act posts a journey message as an actor.
func (h *harness) act(t *testing.T, path, actorID, role, body string) (*http.Response, []byte) {
	t.Helper()
	return h.doAs(t, http.MethodPost, "/api/v1/journeys/"+h.lastJourney+path, body, actorID, role)
}

// waitFor polls the journey's state until ok holds.
func (h *harness) waitFor(t *testing.T, id, what string, ok func(workflows.JourneyState) bool) workflows.JourneyState {
	t.Helper()
	h.lastJourney = id
	get := func() (*http.Response, []byte) { return h.do(t, http.MethodGet, "/api/v1/journeys/"+id, "") }
	return pollJSON(t, what, 90*time.Second, get, func(st workflows.JourneyState) bool {
		if ok(st) {
			return true
		}
		if st.Status != workflows.StatusActive {
			t.Fatalf("journey ended (%s: %s) while waiting for %s", st.Status, st.Outcome, what)
		}
		return false
	})
}

// postStripe delivers a Stripe webhook to the API.
func (h *harness) postStripe(t *testing.T, payload []byte, signature string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/api/v1/webhooks/stripe", strings.NewReader(string(payload)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	if _, err := io.Copy(&body, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.String(), resp.Header
}
