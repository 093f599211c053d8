package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/pharmacy"
)

// A refill the patient requests on an adherence course goes to a pharmacy as
// an order of its own: the one medication request, sent by the
// RefillOrder workflow, a child of the course. It tries the pharmacies as
// the fulfil step does (the patient's preferred one, else the nearest with
// stock; out of stock moves on), tells the patient at each status that
// matters, and alerts the care team through the journey when no pharmacy
// can fill it or the refill takes too long.

// RefillOrderWorkflowName is the refill workflow's type.
const RefillOrderWorkflowName = "RefillOrder"

// DefaultRefillTimeLimit is how long a refill may take, from the request to
// delivery, before the care team is alerted.
const DefaultRefillTimeLimit = 72 * time.Hour

// RefillOrderInput is one refill of one medication request.
type RefillOrderInput struct {
	JourneyID      string `json:"journey_id"`
	PatientID      string `json:"patient_id"`
	PrescriptionID string `json:"prescription_id"`
	Position       int    `json:"position"`
	// Number is the refill's number on the course: 1 for the first.
	Number int `json:"number"`
	// TimeLimit overrides DefaultRefillTimeLimit (tests, demos).
	TimeLimit time.Duration `json:"time_limit,omitempty"`
}

// RefillOrderWorkflowID is the ID of refill number of the adherence course
// adherenceID: one workflow per refill, so a repeated start is refused.
func RefillOrderWorkflowID(adherenceID string, number int) string {
	return fmt.Sprintf("%s/refill-%d", adherenceID, number)
}

// Outcomes of a refill order (FulfilmentInfo.Status once it has ended).
const (
	RefillNoPharmacy = "no_pharmacy"
	RefillTimedOut   = "timed_out"
)

// RefillOrder sends a refill to pharmacies in turn until one delivers. Its
// state answers QueryFulfilment, as the journey's fulfil step does.
func RefillOrder(ctx workflow.Context, in RefillOrderInput) (FulfilmentInfo, error) {
	if in.JourneyID == "" || in.PatientID == "" || in.PrescriptionID == "" || in.Position < 0 || in.Number < 1 {
		return FulfilmentInfo{}, temporal.NewNonRetryableApplicationError("refill order: journey, patient, prescription, position and number are required",
			contract.ErrTypeInvalidInput, nil)
	}
	limit := in.TimeLimit
	if limit <= 0 {
		limit = DefaultRefillTimeLimit
	}
	r := &refill{in: in, logger: workflow.GetLogger(ctx), self: workflow.GetInfo(ctx).WorkflowExecution.ID}
	r.text = texter{journeyID: in.JourneyID, patientID: in.PatientID, logger: r.logger}
	f, stopSignals, err := startFulfilRun(ctx)
	if err != nil {
		return FulfilmentInfo{}, err
	}
	defer stopSignals()
	// A text that quiet hours hold back is sent by a goroutine when they
	// end; the refill waits for it rather than ending without it.
	defer func() { _ = workflow.Await(ctx, func() bool { return !f.notifying }) }()
	// The orders' step, and the texts' key: the refill's own workflow ID, so
	// that refills of another course of the same journey never share an
	// order (pharmacy_order is unique by journey, step and attempt).
	key := r.self

	position := in.Position
	var chosen contract.ChoosePharmaciesResult
	err = workflow.ExecuteActivity(pharmacyOptions(ctx), contract.ChoosePharmacies, contract.ChoosePharmaciesInput{
		JourneyID: in.JourneyID, PatientID: in.PatientID, PrescriptionID: in.PrescriptionID, Position: &position,
	}).Get(ctx, &chosen)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeNoSignedPrescription {
		f.info.Status = RefillNoPharmacy
		r.alert(ctx, fmt.Sprintf("refill %d cannot be sent: %s", in.Number, appErr.Message()))
		return f.info, nil
	}
	if err != nil {
		return f.info, err
	}
	f.info.PrescriptionID = chosen.PrescriptionID
	deadline := workflow.Now(ctx).Add(limit)
	for i, ph := range chosen.Candidates {
		var sent contract.SendPrescriptionResult
		err := workflow.ExecuteActivity(pharmacyOptions(ctx), contract.SendPrescription, contract.SendPrescriptionInput{
			JourneyID: in.JourneyID, Step: key, Attempt: i + 1, PrescriptionID: chosen.PrescriptionID, PharmacyID: ph.ID,
			Position: &position, WorkflowID: r.self,
		}).Get(ctx, &sent)
		if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypePharmacyRejected {
			r.logger.Warn("Pharmacy refused the refill; trying the next", "Pharmacy", ph.ID)
			continue
		}
		if err != nil {
			return f.info, err
		}
		f.follow(sent.OrderID, ph.ID)
		outcome, err := r.followOrder(ctx, f, key, deadline, i+1 < len(chosen.Candidates))
		if err != nil {
			return f.info, err
		}
		switch outcome {
		case pharmacy.Delivered:
			return f.info, nil
		case RefillTimedOut:
			f.info.Status = RefillTimedOut
			r.alert(ctx, fmt.Sprintf("refill %d waited more than %s for the pharmacy", in.Number, limit))
			return f.info, nil
		}
	}
	f.info.Status = RefillNoPharmacy
	r.alert(ctx, fmt.Sprintf("no pharmacy could fill refill %d", in.Number))
	r.text.pharmacySMS(ctx, f, key+"-delayed", "prescription_delayed")
	return f.info, nil
}

// refill is one RefillOrder run.
type refill struct {
	in     RefillOrderInput
	self   string
	logger log.Logger
	text   texter
}

// followOrder tells the patient the order's statuses until it is delivered
// (PharmacyDelivered), out of stock (PharmacyOutOfStock) or the deadline
// passes (RefillTimedOut). A last pharmacy's out of stock is not told as
// "rerouted": the caller tells the patient the refill is delayed.
func (r *refill) followOrder(ctx workflow.Context, f *fulfilRun, key string, deadline time.Time, more bool) (string, error) {
	for {
		for len(f.changes) > 0 {
			status := f.changes[0]
			f.changes = f.changes[1:]
			if status == pharmacy.OutOfStock && !more {
				return status, nil
			}
			if template := statusTemplate(status); template != "" {
				r.text.pharmacySMS(ctx, f, fmt.Sprintf("%s-%s-%s", key, f.info.OrderID, status), template)
			}
			if status == pharmacy.OutOfStock || status == pharmacy.Delivered {
				return status, nil
			}
		}
		remaining := deadline.Sub(workflow.Now(ctx))
		if remaining <= 0 {
			return RefillTimedOut, nil
		}
		if _, err := workflow.AwaitWithTimeout(ctx, remaining, func() bool { return len(f.changes) > 0 }); err != nil {
			return "", err
		}
	}
}

// alert raises NeedsAttention on the refill and asks the journey to raise
// it too, as an adherence course does. A journey that has ended cannot be
// told; the refill's own flag still shows in the Temporal UI.
func (r *refill) alert(ctx workflow.Context, reason string) {
	r.logger.Warn("Refill needs the care team", "Reason", reason)
	if err := workflow.UpsertTypedSearchAttributes(ctx, NeedsAttentionKey.ValueSet(true)); err != nil {
		r.logger.Warn("Upserting NeedsAttention failed", "Error", err)
	}
	al := AdherenceAlert{AdherenceID: r.self, Raised: true, Reason: reason}
	if err := workflow.SignalExternalWorkflow(ctx, r.in.JourneyID, "", SignalAdherenceAlert, al).Get(ctx, nil); err != nil {
		r.logger.Warn("The journey could not be told about the refill", "Error", err)
	}
}
