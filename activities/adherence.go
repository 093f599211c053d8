package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/store"
)

// Adherence reads what the adherence workflows need from PostgreSQL and
// records refill requests there.
type Adherence struct {
	Store *store.Store
}

// AdherencePlan reads the medication requests of the journey's most
// recently signed prescription (every one of them is active: an amendment
// makes a new prescription) and the patient's time zone.
func (a *Adherence) AdherencePlan(ctx context.Context, in contract.AdherencePlanInput) (contract.AdherencePlanResult, error) {
	rx, err := a.Store.LatestSignedPrescription(ctx, in.JourneyID)
	if errors.Is(err, store.ErrNotFound) {
		return contract.AdherencePlanResult{}, temporal.NewNonRetryableApplicationError("adherence plan: the journey has no signed prescription", contract.ErrTypeNoSignedPrescription, err)
	}
	if err != nil {
		return contract.AdherencePlanResult{}, fmt.Errorf("adherence plan: %w", err)
	}
	if rx.PatientID != in.PatientID {
		return contract.AdherencePlanResult{}, temporal.NewNonRetryableApplicationError("adherence plan: the prescription is another patient's", contract.ErrTypeInvalidInput, nil)
	}
	tz, err := a.Store.PatientTimezone(ctx, in.PatientID)
	if errors.Is(err, store.ErrPatientNotFound) {
		return contract.AdherencePlanResult{}, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypePatientNotFound, err)
	}
	if err != nil {
		return contract.AdherencePlanResult{}, fmt.Errorf("adherence plan: %w", err)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return contract.AdherencePlanResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("adherence plan: patient %s has time zone %q: %v", in.PatientID, tz, err), contract.ErrTypeInvalidInput, err)
	}
	res := contract.AdherencePlanResult{PrescriptionID: rx.ID, TimeZone: tz, Items: make([]contract.AdherenceItem, len(rx.Items))}
	for i, it := range rx.Items {
		res.Items[i] = contract.AdherenceItem{Position: i, Frequency: it.Frequency, DurationDays: it.DurationDays, Quantity: it.Quantity, Refills: it.Refills}
	}
	return res, nil
}

// RecordRefillRequest stores the request once; PostgreSQL refuses a number
// above the prescription's refills (non-retryable contract.ErrTypeNoRefillsLeft).
func (a *Adherence) RecordRefillRequest(ctx context.Context, in contract.RecordRefillInput) error {
	err := a.Store.RecordRefillRequest(ctx, store.RefillRequest{PrescriptionID: in.PrescriptionID, Position: in.Position,
		Number: in.Number, PatientID: in.PatientID, RequestedBy: in.ActorID, RequestedRole: in.ActorRole, RequestedAt: in.RequestedAt})
	switch {
	case errors.Is(err, store.ErrNoRefillsLeft):
		return temporal.NewNonRetryableApplicationError("record refill: no refills left", contract.ErrTypeNoRefillsLeft, err)
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeInvalidInput, err)
	case err != nil:
		return fmt.Errorf("record refill: %w", err)
	}
	return nil
}
