package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pharmacy"
	"github.com/carepath/carepath/workflows"
)

// refillWorld runs one RefillOrder with the pharmacy and SMS activities
// mocked and the alerts to the journey captured.
type refillWorld struct {
	t          *testing.T
	env        *testsuite.TestWorkflowEnvironment
	id         string
	pharmacies []care.Pharmacy
	chooseErr  error
	// quietFor holds the first delivery text back this long, as the
	// patient's quiet hours would.
	quietFor time.Duration

	held  bool
	smsAt []time.Time

	mu     sync.Mutex
	chosen []contract.ChoosePharmaciesInput
	sent   []contract.SendPrescriptionInput
	sms    []string
	alerts []workflows.AdherenceAlert
}

func newRefillWorld(t *testing.T, pharmacies ...string) *refillWorld {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	w := &refillWorld{t: t, env: s.NewTestWorkflowEnvironment(),
		id: workflows.RefillOrderWorkflowID(workflows.AdherenceWorkflowID(patient, rxID, 1), 2)}
	for _, p := range pharmacies {
		w.pharmacies = append(w.pharmacies, care.Pharmacy{ID: p})
	}
	env := w.env
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: w.id, TaskQueue: "test"})
	env.RegisterWorkflowWithOptions(workflows.RefillOrder, workflow.RegisterOptions{Name: workflows.RefillOrderWorkflowName})
	env.RegisterActivity(&activities.Pharmacy{})
	env.RegisterActivity(&activities.Messaging{})
	env.OnActivity(pharmacyActs.ChoosePharmacies, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.ChoosePharmaciesInput) (contract.ChoosePharmaciesResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.chosen = append(w.chosen, in)
		if w.chooseErr != nil {
			return contract.ChoosePharmaciesResult{}, w.chooseErr
		}
		return contract.ChoosePharmaciesResult{PrescriptionID: rxID, Candidates: w.pharmacies}, nil
	})
	env.OnActivity(pharmacyActs.SendPrescription, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SendPrescriptionInput) (contract.SendPrescriptionResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.sent = append(w.sent, in)
		return contract.SendPrescriptionResult{OrderID: fmt.Sprintf("order-%d", in.Attempt), PartnerOrderID: fmt.Sprintf("partner-%d", in.Attempt)}, nil
	})
	env.OnActivity(messagingActs.SendSMS, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if in.JourneyID != adhJourney || in.PatientID != patient || !strings.HasPrefix(in.Step, w.id) {
			t.Errorf("SMS for journey %s, patient %s, key %s; want the course's journey and patient, key %s...", in.JourneyID, in.PatientID, in.Step, w.id)
		}
		w.sms = append(w.sms, in.TemplateID)
		w.smsAt = append(w.smsAt, env.Now())
		if in.TemplateID == "prescription_delivered" && w.quietFor > 0 && !w.held {
			w.held = true
			return contract.SendSMSResult{Status: contract.SMSDeferred, NextAllowedAt: env.Now().Add(w.quietFor)}, nil
		}
		return contract.SendSMSResult{Status: contract.SMSSent, MessageSID: "SM1"}, nil
	})
	env.OnSignalExternalWorkflow(mock.Anything, adhJourney, "", workflows.SignalAdherenceAlert, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.alerts = append(w.alerts, arg.(workflows.AdherenceAlert))
			return nil
		})
	return w
}

// status delivers a partner status for order after d.
func (w *refillWorld) status(d time.Duration, eventID, order, status string, seq int) {
	w.env.RegisterDelayedCallback(func() {
		w.env.SignalWorkflow(workflows.SignalPharmacyStatus, workflows.PharmacyStatusEvent{EventID: eventID, OrderID: order, Status: status, Sequence: seq})
	}, d)
}

func (w *refillWorld) run(limit time.Duration) workflows.FulfilmentInfo {
	w.t.Helper()
	w.env.ExecuteWorkflow(workflows.RefillOrderWorkflowName, workflows.RefillOrderInput{
		JourneyID: adhJourney, PatientID: patient, PrescriptionID: rxID, Position: 1, Number: 2, TimeLimit: limit})
	if !w.env.IsWorkflowCompleted() {
		w.t.Fatal("the refill did not end")
	}
	var info workflows.FulfilmentInfo
	if err := w.env.GetWorkflowResult(&info); err != nil {
		w.t.Fatal(err)
	}
	return info
}

func TestRefillOrderMovesOnFromOutOfStockAndTellsThePatient(t *testing.T) {
	w := newRefillWorld(t, "pharmacy-a", "pharmacy-b")
	w.status(time.Minute, "e1", "order-1", pharmacy.Accepted, 1)
	w.status(2*time.Minute, "e2", "order-1", pharmacy.OutOfStock, 2)
	w.status(3*time.Minute, "e3", "order-2", pharmacy.Accepted, 1)
	w.status(4*time.Minute, "e3", "order-2", pharmacy.Accepted, 1) // a duplicate changes nothing
	w.status(5*time.Minute, "e4", "order-2", pharmacy.Ready, 2)
	w.status(6*time.Minute, "e5", "order-2", pharmacy.Delivered, 3)
	info := w.run(time.Hour)

	if info.Status != pharmacy.Delivered || info.OrderID != "order-2" || info.PharmacyID != "pharmacy-b" || len(info.Tried) != 2 {
		t.Errorf("refill ended %+v, want delivered by pharmacy-b after two orders", info)
	}
	// The one item, from this prescription, followed by this workflow.
	if len(w.chosen) != 1 || w.chosen[0].PrescriptionID != rxID || w.chosen[0].Position == nil || *w.chosen[0].Position != 1 {
		t.Errorf("pharmacies chosen for %+v, want prescription %s item 1", w.chosen, rxID)
	}
	for i, s := range w.sent {
		if s.Step != w.id || s.Attempt != i+1 || s.Position == nil || *s.Position != 1 || s.WorkflowID != w.id || s.JourneyID != adhJourney {
			t.Errorf("order %d sent as %+v; want step and follower %s, attempt %d, item 1", i+1, s, w.id, i+1)
		}
	}
	want := []string{"prescription_accepted", "prescription_rerouted", "prescription_accepted", "prescription_ready", "prescription_delivered"}
	if !slices.Equal(w.sms, want) {
		t.Errorf("SMS %v, want %v", w.sms, want)
	}
	if len(w.alerts) != 0 {
		t.Errorf("alerts %+v, want none", w.alerts)
	}
}

func TestRefillOrderWithNoPharmacyAlertsTheJourney(t *testing.T) {
	w := newRefillWorld(t, "pharmacy-a")
	w.status(time.Minute, "e1", "order-1", pharmacy.OutOfStock, 1)
	info := w.run(time.Hour)

	if info.Status != workflows.RefillNoPharmacy || len(info.Tried) != 1 {
		t.Errorf("refill ended %+v, want no_pharmacy after one order", info)
	}
	if !slices.Equal(w.sms, []string{"prescription_delayed"}) {
		t.Errorf("SMS %v, want only prescription_delayed", w.sms)
	}
	if len(w.alerts) != 1 || !w.alerts[0].Raised || w.alerts[0].AdherenceID != w.id || !strings.Contains(w.alerts[0].Reason, "no pharmacy could fill refill 2") {
		t.Errorf("alerts %+v, want one raised for %s naming refill 2", w.alerts, w.id)
	}
}

func TestRefillOrderPastItsTimeLimitAlertsTheJourney(t *testing.T) {
	w := newRefillWorld(t, "pharmacy-a", "pharmacy-b")
	w.status(time.Minute, "e1", "order-1", pharmacy.Accepted, 1)
	info := w.run(2 * time.Hour) // accepted, never delivered

	if info.Status != workflows.RefillTimedOut || info.OrderID != "order-1" || len(w.sent) != 1 {
		t.Errorf("refill ended %+v after %d orders, want timed_out on the one order", info, len(w.sent))
	}
	if len(w.alerts) != 1 || !strings.Contains(w.alerts[0].Reason, "waited more than 2h0m0s") {
		t.Errorf("alerts %+v, want one about the time limit", w.alerts)
	}
}

func TestRefillOrderWithoutASignedPrescriptionAlertsTheJourney(t *testing.T) {
	w := newRefillWorld(t, "pharmacy-a")
	w.chooseErr = temporal.NewNonRetryableApplicationError("choose pharmacies: the prescription is not the patient's", contract.ErrTypeNoSignedPrescription, nil)
	info := w.run(time.Hour)
	if info.Status != workflows.RefillNoPharmacy || len(w.sent) != 0 {
		t.Errorf("refill ended %+v after %d orders, want no_pharmacy and none sent", info, len(w.sent))
	}
	if len(w.alerts) != 1 || !strings.Contains(w.alerts[0].Reason, "not the patient's") {
		t.Errorf("alerts %+v, want one saying why", w.alerts)
	}
}

// A text held back by the patient's quiet hours is sent when they end, and
// the refill ends only then.
func TestRefillOrderWaitsForATextHeldByQuietHours(t *testing.T) {
	w := newRefillWorld(t, "pharmacy-a")
	w.quietFor = 8 * time.Hour
	w.status(time.Minute, "e1", "order-1", pharmacy.Delivered, 1)
	info := w.run(time.Hour)
	if info.Status != pharmacy.Delivered {
		t.Errorf("refill ended %+v, want delivered", info)
	}
	if !slices.Equal(w.sms, []string{"prescription_delivered", "prescription_delivered"}) || w.smsAt[1].Sub(w.smsAt[0]) < 8*time.Hour {
		t.Errorf("texts %v at %v, want the delivery text held, then sent 8h later", w.sms, w.smsAt)
	}
}
