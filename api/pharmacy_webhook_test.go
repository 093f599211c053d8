package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/pharmacy"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

const testPharmacySecret = "pharmacy-webhook-test-secret"

// pharmacyProbe stands in for the journey: it collects pharmacy_status
// signals for three seconds after the first.
func pharmacyProbe(ctx workflow.Context) ([]workflows.PharmacyStatusEvent, error) {
	ch := workflow.GetSignalChannel(ctx, workflows.SignalPharmacyStatus)
	var got []workflows.PharmacyStatusEvent
	var ev workflows.PharmacyStatusEvent
	ch.Receive(ctx, &ev)
	got = append(got, ev)
	timer := workflow.NewTimer(ctx, 3*time.Second)
	for done := false; !done; {
		s := workflow.NewSelector(ctx)
		s.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
			var e workflows.PharmacyStatusEvent
			c.Receive(ctx, &e)
			got = append(got, e)
		})
		s.AddFuture(timer, func(workflow.Future) { done = true })
		s.Select(ctx)
	}
	return got, nil
}

func TestPharmacyWebhookVerifiesSignalsOnceAndRecords(t *testing.T) {
	cfg := testenv.Config(t)
	s := testenv.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	tc, err := platform.DialTemporal(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	queue := fmt.Sprintf("pharmacy-webhook-test-%d", time.Now().UnixNano())
	w := worker.New(tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(pharmacyProbe, workflow.RegisterOptions{Name: "PharmacyProbe"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	srv := httptest.NewServer(api.NewRouter(api.Options{Temporal: tc, Store: s, Logger: testenv.Logger(t),
		Webhooks: api.WebhookOptions{PharmacySecret: testPharmacySecret}}))
	defer srv.Close()

	journeyID := workflows.NewJourneyWorkflowID(uuid.NewString())
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: journeyID, TaskQueue: queue, WorkflowExecutionTimeout: time.Minute}, "PharmacyProbe")
	if err != nil {
		t.Fatal(err)
	}
	var doctorID, pharmacyID string
	if err := s.Pool.QueryRow(ctx, `SELECT (SELECT id::text FROM practitioner ORDER BY id LIMIT 1), (SELECT id::text FROM organization WHERE kind = 'pharmacy' ORDER BY id LIMIT 1)`).
		Scan(&doctorID, &pharmacyID); err != nil {
		t.Fatal(err)
	}
	rx, err := s.CreatePrescription(ctx, store.NewPrescription{JourneyID: journeyID, Step: "prescribe", Version: 1, PatientID: store.SeedPatientID(19),
		PractitionerID: doctorID, Items: []store.MedicationItem{{Drug: "metformin", Dose: "500 mg", Route: "oral", Frequency: "twice daily", DurationDays: 30, Quantity: 60}}})
	if err != nil {
		t.Fatal(err)
	}
	order, err := s.CreatePharmacyOrder(ctx, store.PharmacyOrder{JourneyID: journeyID, Step: "fulfil", Attempt: 1, PrescriptionID: rx.ID, PharmacyID: pharmacyID})
	if err != nil {
		t.Fatal(err)
	}

	post := func(ev pharmacy.Event, secret string) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(ev)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v1/webhooks/pharmacy", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(pharmacy.SignatureHeader, pharmacy.SignWebhook(secret, body, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("response %d is not JSON: %s", resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	ready := pharmacy.Event{EventID: "evt_" + uuid.NewString(), OrderID: order.ID, Status: "ready", Sequence: 2}
	if code, body := post(ready, "wrong-secret"); code != http.StatusBadRequest {
		t.Errorf("a forged call got %d %v", code, body)
	}
	if code, body := post(ready, testPharmacySecret); code != http.StatusOK || body["outcome"] != "signalled" {
		t.Fatalf("first delivery: %d %v", code, body)
	}
	if code, body := post(ready, testPharmacySecret); code != http.StatusOK || body["duplicate"] != true {
		t.Errorf("redelivery: %d %v", code, body)
	}
	if code, body := post(pharmacy.Event{EventID: "evt_" + uuid.NewString(), OrderID: uuid.NewString(), Status: "ready", Sequence: 1}, testPharmacySecret); code != http.StatusOK || body["outcome"] != "no-journey" {
		t.Errorf("unknown order: %d %v", code, body)
	}
	if code, _ := post(pharmacy.Event{EventID: "evt_x", OrderID: order.ID, Status: "lost", Sequence: 1}, testPharmacySecret); code != http.StatusBadRequest {
		t.Errorf("an unknown status got %d", code)
	}
	// A refill's order is followed by the refill's own workflow: its events
	// go there, not to the journey.
	refillID := workflows.RefillOrderWorkflowID(workflows.AdherenceWorkflowID(store.SeedPatientID(19), rx.ID, 0), 1)
	refillRun, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: refillID, TaskQueue: queue, WorkflowExecutionTimeout: time.Minute}, "PharmacyProbe")
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	refillOrder, err := s.CreatePharmacyOrder(ctx, store.PharmacyOrder{JourneyID: journeyID, Step: "refill-0-1", Attempt: 1, PrescriptionID: rx.ID,
		PharmacyID: pharmacyID, Position: &zero, WorkflowID: refillID})
	if err != nil {
		t.Fatal(err)
	}
	accepted := pharmacy.Event{EventID: "evt_" + uuid.NewString(), OrderID: refillOrder.ID, Status: "accepted", Sequence: 1}
	if code, body := post(accepted, testPharmacySecret); code != http.StatusOK || body["outcome"] != "signalled" {
		t.Fatalf("refill delivery: %d %v", code, body)
	}
	var got, refillGot []workflows.PharmacyStatusEvent
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EventID != ready.EventID || got[0].OrderID != order.ID || got[0].Status != "ready" {
		t.Errorf("signals = %+v", got)
	}
	if err := refillRun.Get(ctx, &refillGot); err != nil {
		t.Fatal(err)
	}
	if len(refillGot) != 1 || refillGot[0].EventID != accepted.EventID || refillGot[0].OrderID != refillOrder.ID {
		t.Errorf("the refill's signals = %+v, want the one accepted event", refillGot)
	}
	stored, err := s.GetPharmacyOrder(ctx, order.ID)
	if err != nil || stored.Status != "ready" || stored.LastSequence != 2 {
		t.Errorf("order = %+v %v", stored, err)
	}
}
