package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/store"
)

// ErrTypeNoRefillsLeft: the refill would exceed the refills the prescriber
// allowed (medication_request.refills).
const ErrTypeNoRefillsLeft = "NoRefillsLeft"

// Adherence reads what the adherence workflows need from PostgreSQL and
// records refill requests there.
type Adherence struct {
	Store *store.Store
}

// AdherencePlanInput names the journey whose signed prescription to follow.
type AdherencePlanInput struct {
	JourneyID string `json:"journey_id"`
	PatientID string `json:"patient_id"`
}

// AdherenceItem is the schedule of one medication request: no drug name.
type AdherenceItem struct {
	Position     int    `json:"position"`
	Frequency    string `json:"frequency"`
	DurationDays int    `json:"duration_days"`
	Quantity     int    `json:"quantity"`
	Refills      int    `json:"refills"`
}

// AdherencePlanResult is the journey's latest signed prescription as
// schedules, and the patient's time zone.
type AdherencePlanResult struct {
	PrescriptionID string          `json:"prescription_id"`
	TimeZone       string          `json:"time_zone"`
	Items          []AdherenceItem `json:"items"`
}

// AdherencePlan reads the medication requests of the journey's most
// recently signed prescription (every one of them is active: an amendment
// makes a new prescription) and the patient's time zone.
func (a *Adherence) AdherencePlan(ctx context.Context, in AdherencePlanInput) (AdherencePlanResult, error) {
	rx, err := a.Store.LatestSignedPrescription(ctx, in.JourneyID)
	if errors.Is(err, store.ErrNotFound) {
		return AdherencePlanResult{}, temporal.NewNonRetryableApplicationError("adherence plan: the journey has no signed prescription", ErrTypeNoSignedPrescription, err)
	}
	if err != nil {
		return AdherencePlanResult{}, fmt.Errorf("adherence plan: %w", err)
	}
	if rx.PatientID != in.PatientID {
		return AdherencePlanResult{}, temporal.NewNonRetryableApplicationError("adherence plan: the prescription is another patient's", ErrTypeInvalidInput, nil)
	}
	tz, err := a.Store.PatientTimezone(ctx, in.PatientID)
	if errors.Is(err, store.ErrPatientNotFound) {
		return AdherencePlanResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypePatientNotFound, err)
	}
	if err != nil {
		return AdherencePlanResult{}, fmt.Errorf("adherence plan: %w", err)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return AdherencePlanResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("adherence plan: patient %s has time zone %q: %v", in.PatientID, tz, err), ErrTypeInvalidInput, err)
	}
	res := AdherencePlanResult{PrescriptionID: rx.ID, TimeZone: tz, Items: make([]AdherenceItem, len(rx.Items))}
	for i, it := range rx.Items {
		res.Items[i] = AdherenceItem{Position: i, Frequency: it.Frequency, DurationDays: it.DurationDays, Quantity: it.Quantity, Refills: it.Refills}
	}
	return res, nil
}

// RecordRefillInput is one refill request.
type RecordRefillInput struct {
	PrescriptionID string    `json:"prescription_id"`
	Position       int       `json:"position"`
	Number         int       `json:"number"`
	PatientID      string    `json:"patient_id"`
	ActorID        string    `json:"actor_id"`
	ActorRole      string    `json:"actor_role"`
	RequestedAt    time.Time `json:"requested_at"`
}

// RecordRefillRequest stores the request once; PostgreSQL refuses a number
// above the prescription's refills (non-retryable ErrTypeNoRefillsLeft).
func (a *Adherence) RecordRefillRequest(ctx context.Context, in RecordRefillInput) error {
	err := a.Store.RecordRefillRequest(ctx, store.RefillRequest{PrescriptionID: in.PrescriptionID, Position: in.Position,
		Number: in.Number, PatientID: in.PatientID, RequestedBy: in.ActorID, RequestedRole: in.ActorRole, RequestedAt: in.RequestedAt})
	switch {
	case errors.Is(err, store.ErrNoRefillsLeft):
		return temporal.NewNonRetryableApplicationError("record refill: no refills left", ErrTypeNoRefillsLeft, err)
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, err)
	case err != nil:
		return fmt.Errorf("record refill: %w", err)
	}
	return nil
}
