package api_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// A medication course on the dev server with short dosing intervals:
// reminders through the real SMS activity (twilio-fake), a dose confirmed
// and a bad answer refused through the API, a refill requested through the
// API and recorded in PostgreSQL against medication_request.refills, then
// sent to the pharmacy simulator and delivered, a second refill refused,
// and continue-as-new every three doses.
func TestAdherenceCourseEndToEnd(t *testing.T) {
	// The refill goes to the pharmacy simulator (in-process), whose signed
	// webhooks come back through the API to the refill's workflow.
	h, sim := newHarnessWithPharmacy(t, nil)
	ctx := context.Background()
	// A patient of the test's own (the messaging tests change the seeded
	// patients' SMS preferences), with no quiet hours, so that reminders go
	// at whatever hour the test runs.
	patient := testenv.NewPatient(t, h.store, "Pune")
	if err := h.store.SetQuietHours(ctx, patient, "", ""); err != nil {
		t.Fatal(err)
	}
	rxID := signedPrescription(t, h, patient)

	id := workflows.AdherenceWorkflowID(patient, rxID, 0)
	in := workflows.AdherenceInput{JourneyID: workflows.NewJourneyWorkflowID(patient), PatientID: patient,
		PrescriptionID: rxID, Position: 0, Frequency: "twice daily", DurationDays: 2, Quantity: 4, Refills: 1, TimeZone: "Asia/Kolkata",
		Settings: workflows.AdherenceSettings{Interval: 1500 * time.Millisecond, DosesPerRun: 3, RefillLeadDays: 1}}
	run, err := h.deps.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue}, workflows.AdherenceWorkflowName, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("adherence workflow %s run %s", id, run.GetRunID())
	path := "/api/v1/adherence/" + id

	st := waitForCourse(t, h, path, patient, "dose 1 to open", func(s workflows.AdherenceState) bool { return s.Open != nil })
	if resp, raw := h.doAs(t, http.MethodPost, path+"/doses", `{"action":"maybe"}`, patient, "patient"); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(string(raw), "/action") {
		t.Errorf("a bad answer: %d %s", resp.StatusCode, raw)
	}
	body := fmt.Sprintf(`{"dose":%d,"action":"taken"}`, st.Open.Number)
	if resp, raw := h.doAs(t, http.MethodPost, path+"/doses", body, patient, "patient"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("confirm dose: %d %s", resp.StatusCode, raw)
	}
	waitForCourse(t, h, path, patient, "the confirmation", func(s workflows.AdherenceState) bool { return s.Taken == 1 })

	// Two doses of supply left: the refill reminder goes with dose 2.
	waitForCourse(t, h, path, patient, "the refill reminder", func(s workflows.AdherenceState) bool { return s.RefillRemindedAt == 1 })
	resp, raw := h.doAs(t, http.MethodPost, path+"/refills", `{}`, patient, "patient")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refill: %d %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Fills != 2 || st.RefillsLeft != 0 || st.TotalDoses != 8 {
		t.Fatalf("after the refill: %+v %v", st, err)
	}
	if resp, raw := h.doAs(t, http.MethodPost, path+"/refills", `{}`, patient, "patient"); resp.StatusCode != http.StatusConflict {
		t.Errorf("a refill beyond the prescription's: %d %s", resp.StatusCode, raw)
	}

	// The refill reaches a pharmacy as an order of its own and is delivered.
	refillID := workflows.RefillOrderWorkflowID(id, 1)
	var filled workflows.FulfilmentInfo
	refillCtx, cancelRefill := context.WithTimeout(ctx, 60*time.Second)
	defer cancelRefill()
	if err := h.deps.Temporal.GetWorkflow(refillCtx, refillID, "").Get(refillCtx, &filled); err != nil {
		t.Fatalf("the refill order did not end: %v", err)
	}
	if filled.Status != "delivered" || filled.PrescriptionID != rxID || len(filled.Tried) != 1 {
		t.Errorf("refill order: %+v, want delivered by the first pharmacy", filled)
	}
	var position, partnerEvents int
	var followedBy string
	if err := h.store.Pool.QueryRow(ctx, `SELECT o.item_position, o.workflow_id, (SELECT count(*) FROM pharmacy_event e WHERE e.order_id = o.id)
		FROM pharmacy_order o WHERE o.id = $1`, filled.OrderID).Scan(&position, &followedBy, &partnerEvents); err != nil {
		t.Fatal(err)
	}
	if position != 0 || followedBy != refillID || partnerEvents != 4 {
		t.Errorf("refill order row: item %d, followed by %s, %d partner events; want item 0, %s, 4", position, followedBy, partnerEvents, refillID)
	}
	if orders := sim.Orders(); len(orders) != 1 || len(orders[0].Items) != 1 || orders[0].Items[0].Quantity != 4 {
		t.Errorf("partner orders = %+v, want one of the 4 units", orders)
	}
	// The patient sees where the refill has got to.
	resp, raw = h.doAs(t, http.MethodGet, path, "", patient, "patient")
	var view struct {
		RefillOrders []string `json:"refill_orders"`
		Refills      []struct {
			Number     int    `json:"number"`
			WorkflowID string `json:"workflow_id"`
			Status     string `json:"status"`
		} `json:"refills"`
	}
	if err := json.Unmarshal(raw, &view); resp.StatusCode != http.StatusOK || err != nil || len(view.Refills) != 1 ||
		view.Refills[0].Number != 1 || view.Refills[0].WorkflowID != refillID || view.Refills[0].Status != "delivered" {
		t.Errorf("the course's refills: %d %s (%v)", resp.StatusCode, raw, err)
	}

	var final workflows.AdherenceState
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := h.deps.Temporal.GetWorkflow(waitCtx, id, "").Get(waitCtx, &final); err != nil {
		t.Fatalf("the course did not end: %v", err)
	}
	if final.Status != workflows.AdherenceCompleted || final.Run < 3 || final.Taken != 1 || final.Taken+final.Skipped+final.Missed != 8 {
		t.Errorf("final: status %s run %d taken %d skipped %d missed %d; want completed, 3 runs or more, 8 doses with 1 taken",
			final.Status, final.Run, final.Taken, final.Skipped, final.Missed)
	}
	var reminders, refillSMS, refills, delivered int
	if err := h.store.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM communication WHERE journey_id = $1 AND template_id = 'medication_reminder' AND status = 'sent'),
		(SELECT count(*) FROM communication WHERE journey_id = $1 AND template_id = 'refill_reminder' AND status = 'sent'),
		(SELECT count(*) FROM refill_request WHERE prescription_id = $2 AND position = 0 AND number = 1),
		(SELECT count(*) FROM communication WHERE journey_id = $1 AND template_id = 'prescription_delivered' AND status = 'sent')`,
		in.JourneyID, rxID).Scan(&reminders, &refillSMS, &refills, &delivered); err != nil {
		t.Fatal(err)
	}
	if reminders != 8 || final.RemindersSent != 8 || refillSMS != 1 || refills != 1 || delivered != 1 {
		t.Errorf("%d dose reminders sent (state %d), %d refill reminders, %d refill rows, %d delivery texts; want 8, 8, 1, 1, 1",
			reminders, final.RemindersSent, refillSMS, refills, delivered)
	}
}

// signedPrescription drafts and signs a one-medicine prescription for the
// patient through the prescription activities, as the prescribe step does.
func signedPrescription(t *testing.T, h *harness, patient string) string {
	t.Helper()
	ctx := context.Background()
	var practitioner string
	if err := h.store.Pool.QueryRow(ctx, `SELECT id::text FROM practitioner ORDER BY id LIMIT 1`).Scan(&practitioner); err != nil {
		t.Fatal(err)
	}
	rx, err := h.store.CreatePrescription(ctx, store.NewPrescription{JourneyID: fmt.Sprintf("adherence-e2e-%d", time.Now().UnixNano()),
		Step: "prescribe", Version: 1, PatientID: patient, PractitionerID: practitioner,
		Items: []store.MedicationItem{{Drug: "metformin", Dose: "500 mg", Route: "oral", Frequency: "twice daily", DurationDays: 2, Quantity: 4, Refills: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	signer, err := activities.NewPrescriptionSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	acts := &activities.Prescriptions{Store: h.store, Signer: signer}
	if _, err := acts.SignPrescription(ctx, contract.SignPrescriptionInput{PrescriptionID: rx.ID, ActorID: practitioner,
		Action: "approve", ReviewedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return rx.ID
}

func waitForCourse(t *testing.T, h *harness, path, patient, what string, ok func(workflows.AdherenceState) bool) workflows.AdherenceState {
	t.Helper()
	get := func() (*http.Response, []byte) { return h.doAs(t, http.MethodGet, path, "", patient, "patient") }
	return pollJSON(t, what, 30*time.Second, get, ok)
}
