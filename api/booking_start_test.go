package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// A pathway that starts by booking answers its start once the slot is held
// and the payment is ready (update-with-start: no polling), and a slot
// taken in between is a 409, through the real worker, Temporal, PostgreSQL
// and stripe-mock.
func TestBookingStartAnswersOnceTheSlotIsHeldOrRefused(t *testing.T) {
	h := newHarness(t, nil)
	patient, other := store.SeedPatientID(13), store.SeedPatientID(14)
	slot := testenv.SlotSoon(t, h.store, 2, 48*time.Hour)
	body := func(patientID string, episode int) string {
		return fmt.Sprintf(`{"patient_id":%q,"pathway_id":"general-consult","pathway_version":900,"episode":%d,"slot_id":%q}`, patientID, episode, slot.ID)
	}

	episode := testenv.FreshEpisode(t, h.store, patient, "general-consult")
	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys", body(patient, episode))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	var started struct {
		ID    string                  `json:"id"`
		RunID string                  `json:"run_id"`
		State *workflows.JourneyState `json:"state"`
	}
	if err := json.Unmarshal(raw, &started); err != nil {
		t.Fatal(err)
	}
	if id := testenv.JourneyID(t, h.store, patient, "general-consult", episode); started.ID != id || started.RunID == "" ||
		resp.Header.Get("Location") != "/api/v1/journeys/"+id {
		t.Fatalf("start answered id %q run %q Location %q; journey_ref says %q", started.ID, started.RunID, resp.Header.Get("Location"), id)
	}
	t.Logf("booked journey %s (its history is workflows/testdata/general-consult-booked-cancelled.json)", started.ID)
	st := started.State
	if st == nil || st.Appointment == nil || st.Appointment.SlotID != slot.ID || st.Payment == nil || st.Payment.PaymentIntentID == "" ||
		st.Stage != "pay" || st.Status != workflows.StatusActive {
		t.Fatalf("want the answer to hold the slot and the PaymentIntent, got %s", raw)
	}

	// The same episode again is the same journey: a conflict, not a second one.
	if resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys", body(patient, episode)); resp.StatusCode != http.StatusConflict {
		t.Errorf("second start of the same episode: %d %s", resp.StatusCode, raw)
	}

	// Another patient on the held slot: refused in the answer itself.
	otherEpisode := testenv.FreshEpisode(t, h.store, other, "general-consult")
	resp, raw = h.do(t, http.MethodPost, "/api/v1/journeys", body(other, otherEpisode))
	var problem api.Problem
	if err := json.Unmarshal(raw, &problem); err != nil {
		t.Fatalf("taken slot: %d %s", resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusConflict || problem.Type != "https://carepath.dev/problems/journey-slotunavailable" {
		t.Errorf("taken slot: want 409 journey-slotunavailable, got %d %s", resp.StatusCode, raw)
	}

	// Cancelling ends the journey and frees the slot again. (The journey
	// then texts the patient, which quiet hours may defer: the run itself
	// may go on for hours, so the test does not wait for it.)
	resp, raw = h.doAs(t, http.MethodPost, "/api/v1/journeys/"+started.ID+"/cancel", `{"reason":"test"}`, patient, auth.RolePatient)
	var cancelled workflows.JourneyState
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &cancelled) != nil || cancelled.Status != workflows.StatusCancelled {
		t.Fatalf("cancel: %d %s", resp.StatusCode, raw)
	}
	var slotStatus string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := h.store.Pool.QueryRow(context.Background(), `SELECT status FROM slot WHERE id = $1`, slot.ID).Scan(&slotStatus); err != nil {
			t.Fatal(err)
		}
		if slotStatus == store.SlotFree {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled journey's slot is still %q", slotStatus)
		}
	}
}
