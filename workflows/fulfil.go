package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/pharmacy"
)

// The fulfil step: the signed prescription goes to a partner pharmacy (the
// patient's preferred one, else the nearest with stock); the partner's
// webhooks come back as pharmacy_status signals. Out of stock moves on to
// the next pharmacy; when none is left a coordinator is alerted.

const (
	// SignalPharmacyStatus carries a partner pharmacy's status for an order
	// (the API's pharmacy webhook sends it after checking its signature).
	SignalPharmacyStatus = "pharmacy_status"
	// QueryFulfilment answers the fulfil step's FulfilmentInfo.
	QueryFulfilment = "fulfilment"
)

// PharmacyStatusEvent is the payload of SignalPharmacyStatus. EventID is
// the partner's event ID; an event seen before, for another order, or of a
// status the order has already passed changes nothing.
type PharmacyStatusEvent struct {
	EventID  string `json:"event_id"`
	OrderID  string `json:"order_id"`
	Status   string `json:"status"`
	Sequence int    `json:"sequence"`
}

// FulfilmentInfo is the fulfil step's state. It names pharmacies and
// orders by ID only.
type FulfilmentInfo struct {
	PrescriptionID string   `json:"prescription_id"`
	PharmacyID     string   `json:"pharmacy_id,omitempty"`
	OrderID        string   `json:"order_id,omitempty"`
	Status         string   `json:"status"` // choosing, sent, accepted, ready, dispensed, delivered, no_pharmacy; a refill also timed_out
	Tried          []string `json:"tried"`  // the orders sent, one per pharmacy tried, in order
}

// fulfilRun is one run of a fulfil step; the signal goroutine feeds it.
type fulfilRun struct {
	info    FulfilmentInfo
	seen    map[string]bool
	early   map[string][]PharmacyStatusEvent // events for an order the step has not learnt the ID of yet
	rank    int
	changes []string // statuses reached, not yet acted on
	// deferred is the status SMS waiting for quiet hours to end; notifying
	// says the goroutine that sends it is running.
	deferred  *deferredSMS
	notifying bool
}

func (f *fulfilRun) receive(ev PharmacyStatusEvent) {
	if ev.EventID == "" || f.seen[ev.EventID] {
		return
	}
	if f.info.OrderID == "" || ev.OrderID != f.info.OrderID {
		// The partner may call back before SendPrescription has returned.
		if !containsString(f.info.Tried, ev.OrderID) {
			f.early[ev.OrderID] = append(f.early[ev.OrderID], ev)
		}
		return
	}
	f.seen[ev.EventID] = true
	r := pharmacy.StatusRank(ev.Status)
	if r == 0 || r <= f.rank {
		return // unknown, or out of order: the order is already further on
	}
	f.rank = r
	f.info.Status = ev.Status
	f.changes = append(f.changes, ev.Status)
}

// follow starts following order: the events that came early apply now.
func (f *fulfilRun) follow(orderID, pharmacyID string) {
	f.info.OrderID, f.info.PharmacyID, f.info.Status, f.rank, f.changes = orderID, pharmacyID, "sent", 0, nil
	f.info.Tried = append(f.info.Tried, orderID)
	early := f.early[orderID]
	delete(f.early, orderID)
	for _, ev := range early {
		f.receive(ev)
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// startFulfilRun answers QueryFulfilment from a new run's state and feeds
// the run the pharmacy_status signals until stop is called.
func startFulfilRun(ctx workflow.Context) (f *fulfilRun, stop func(), err error) {
	f = &fulfilRun{info: FulfilmentInfo{Status: "choosing", Tried: []string{}}, seen: map[string]bool{}, early: map[string][]PharmacyStatusEvent{}}
	if err := workflow.SetQueryHandler(ctx, QueryFulfilment, func() (FulfilmentInfo, error) { return f.info, nil }); err != nil {
		return nil, nil, fmt.Errorf("register %s query: %w", QueryFulfilment, err)
	}
	sigCtx, stop := workflow.WithCancel(ctx)
	ch := workflow.GetSignalChannel(ctx, SignalPharmacyStatus)
	workflow.Go(sigCtx, func(gctx workflow.Context) {
		for {
			var ev PharmacyStatusEvent
			if more := ch.Receive(gctx, &ev); !more || gctx.Err() != nil {
				return
			}
			f.receive(ev)
		}
	})
	return f, stop, nil
}

// runFulfil sends the signed prescription to pharmacies in turn until one
// delivers, within the step's time limit.
func (j *journey) runFulfil(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	f, stopSignals, err := startFulfilRun(ctx)
	if err != nil {
		return stepResult{}, err
	}
	defer stopSignals()

	var chosen contract.ChoosePharmaciesResult
	err = workflow.ExecuteActivity(pharmacyOptions(ctx), contract.ChoosePharmacies, contract.ChoosePharmaciesInput{
		JourneyID: j.state.JourneyID, PatientID: j.state.PatientID,
	}).Get(ctx, &chosen)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeNoSignedPrescription {
		return stepResult{result: "no_prescription"}, j.setAttention(ctx, true, fmt.Sprintf("step %s: there is no signed prescription to send", step.ID))
	}
	if err != nil {
		return stepResult{}, err
	}
	f.info.PrescriptionID = chosen.PrescriptionID
	deadline := workflow.Now(ctx).Add(step.TimeLimit)
	for i, ph := range chosen.Candidates {
		var sent contract.SendPrescriptionResult
		err := workflow.ExecuteActivity(pharmacyOptions(ctx), contract.SendPrescription, contract.SendPrescriptionInput{
			JourneyID: j.state.JourneyID, Step: step.ID, Attempt: i + 1, PrescriptionID: chosen.PrescriptionID, PharmacyID: ph.ID,
		}).Get(ctx, &sent)
		if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypePharmacyRejected {
			j.logger.Warn("Pharmacy refused the order; trying the next", "Pharmacy", ph.ID)
			continue
		}
		if err != nil {
			return stepResult{}, err
		}
		f.follow(sent.OrderID, ph.ID)
		res, outOfStock, err := j.followOrder(ctx, step, f, deadline, i+1 < len(chosen.Candidates))
		if err != nil || !outOfStock {
			return res, err
		}
	}
	f.info.Status = "no_pharmacy"
	if err := j.setAttention(ctx, true, fmt.Sprintf("step %s: no pharmacy could fill the prescription", step.ID)); err != nil {
		return stepResult{}, err
	}
	j.texter().pharmacySMS(ctx, f, step.ID+"-delayed", "prescription_delayed")
	return stepResult{result: "no_pharmacy"}, nil
}

// followOrder acts on the order's statuses until it is delivered or out of
// stock, or the step's time limit runs out (then on_timeout applies).
func (j *journey) followOrder(ctx workflow.Context, step pathways.PlanStep, f *fulfilRun, deadline time.Time, more bool) (stepResult, bool, error) {
	delivered := func() bool {
		return f.rank >= pharmacy.StatusRank(pharmacy.Delivered) && f.info.Status == pharmacy.Delivered
	}
	for {
		for len(f.changes) > 0 {
			status := f.changes[0]
			f.changes = f.changes[1:]
			key := fmt.Sprintf("%s-%s-%s", step.ID, f.info.OrderID, status)
			if status == pharmacy.OutOfStock && !more {
				return stepResult{}, true, nil // the caller alerts the coordinator and tells the patient
			}
			if template := statusTemplate(status); template != "" {
				j.texter().pharmacySMS(ctx, f, key, template)
			}
			switch status {
			case pharmacy.OutOfStock:
				j.logger.Info("Pharmacy out of stock; trying the next", "Order", f.info.OrderID)
				return stepResult{}, true, nil
			case pharmacy.Delivered:
				return stepResult{result: resultDone}, false, nil
			}
		}
		remaining := deadline.Sub(workflow.Now(ctx))
		if remaining <= 0 {
			res, err := j.applyTimeout(ctx, step, "pharmacy", step.OnTimeout, delivered)
			return res, false, err
		}
		if _, err := j.await(ctx, step, "pharmacy", remaining, nil, func() bool { return len(f.changes) > 0 }); err != nil {
			return stepResult{result: resultCancelled}, false, err
		}
	}
}

// statusTemplate is the SMS template that tells the patient an order's
// status ("" for a status that needs no message). Out of stock is told as
// "rerouted": the caller tells a last pharmacy's out of stock as delayed.
func statusTemplate(status string) string {
	switch status {
	case pharmacy.Accepted:
		return "prescription_accepted"
	case pharmacy.Ready:
		return "prescription_ready"
	case pharmacy.Delivered:
		return "prescription_delivered"
	case pharmacy.OutOfStock:
		return "prescription_rerouted"
	}
	return ""
}

// texter sends the patient a journey's messages: the journey itself, or a
// workflow working for it (a refill's).
type texter struct {
	journeyID, patientID string
	logger               log.Logger
}

func (j *journey) texter() texter {
	return texter{journeyID: j.state.JourneyID, patientID: j.state.PatientID, logger: j.logger}
}

// deferredSMS is a status message held back by the patient's quiet hours.
type deferredSMS struct {
	key, template string
	until         time.Time
}

// pharmacySMS tells the patient about a status. The order must not wait
// for the patient's quiet hours, so a deferred message is handed to a
// goroutine that sends it when they end; a newer status replaces a message
// still waiting (the patient wakes to "delivered", not to "ready" as well).
// A message that cannot be sent is logged and the care goes on.
func (t texter) pharmacySMS(ctx workflow.Context, f *fulfilRun, key, template string) {
	until, deferred := t.trySMS(ctx, key, template)
	if !deferred {
		return
	}
	f.deferred = &deferredSMS{key: key, template: template, until: until}
	if f.notifying {
		return
	}
	f.notifying = true
	workflow.Go(ctx, func(gctx workflow.Context) {
		defer func() { f.notifying = false }()
		for f.deferred != nil {
			d := f.deferred
			replaced, err := workflow.AwaitWithTimeout(gctx, d.until.Sub(workflow.Now(gctx)), func() bool { return f.deferred != d })
			if err != nil {
				return
			}
			if replaced {
				continue
			}
			f.deferred = nil
			if until, again := t.trySMS(gctx, d.key, d.template); again && f.deferred == nil {
				f.deferred = &deferredSMS{key: d.key, template: d.template, until: until}
			}
		}
	})
}

// trySMS sends once; it reports when quiet hours end if the message was deferred.
func (t texter) trySMS(ctx workflow.Context, key, template string) (time.Time, bool) {
	var res contract.SendSMSResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, contract.SMSActivityOptions()), contract.SendSMS, contract.SendSMSInput{
		JourneyID: t.journeyID, Step: key, PatientID: t.patientID, Kind: contract.SMSKindNotification, TemplateID: template,
		Params: map[string]string{"at": workflow.Now(ctx).Format(time.RFC3339), "link": "/journeys/" + t.journeyID},
	}).Get(ctx, &res)
	if err != nil {
		t.logger.Warn("SMS not sent", "Step", key, "Error", err)
		return time.Time{}, false
	}
	if res.Status != contract.SMSDeferred || !res.NextAllowedAt.After(workflow.Now(ctx)) {
		return time.Time{}, false
	}
	return res.NextAllowedAt, true
}

func pharmacyOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{contract.ErrTypePharmacyRejected, contract.ErrTypeNoSignedPrescription, contract.ErrTypeInvalidInput}},
	})
}
