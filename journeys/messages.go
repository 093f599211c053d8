package journeys

import (
	"context"

	"github.com/carepath/carepath/workflows"
)

// Typed messages: one method per update, signal and query the edge sends.
// Journey updates answer with the journey's new state.

// State is the journey's state query, decoded.
func (c *Client) State(ctx context.Context, id string) (workflows.JourneyState, error) {
	return query[workflows.JourneyState](ctx, c, id, workflows.QueryJourneyState)
}

// BookingStatus waits until the journey's booking has settled (see
// workflows.UpdateBookingStatus) and answers with it.
func (c *Client) BookingStatus(ctx context.Context, id string) (workflows.BookingStatus, error) {
	return update[workflows.BookingStatus](ctx, c, id, workflows.UpdateBookingStatus, workflows.BookingStatusRequest{})
}

// Decide records a person's decision at a decide step.
func (c *Client) Decide(ctx context.Context, id string, req workflows.DecideRequest) (workflows.JourneyState, error) {
	return update[workflows.JourneyState](ctx, c, id, workflows.UpdateDecide, req)
}

// Cancel cancels the journey; the pathway's policy decides the refund.
func (c *Client) Cancel(ctx context.Context, id string, req workflows.CancelRequest) (workflows.JourneyState, error) {
	return update[workflows.JourneyState](ctx, c, id, workflows.UpdateCancel, req)
}

// Reschedule moves the journey's appointment to another free slot.
func (c *Client) Reschedule(ctx context.Context, id string, req workflows.RescheduleRequest) (workflows.JourneyState, error) {
	return update[workflows.JourneyState](ctx, c, id, workflows.UpdateReschedule, req)
}

// StartConsult marks the video consult as started.
func (c *Client) StartConsult(ctx context.Context, id string, req workflows.StartConsultRequest) (workflows.JourneyState, error) {
	return update[workflows.JourneyState](ctx, c, id, workflows.UpdateStartConsult, req)
}

// CloseConsult closes the consult with its notes and orders.
func (c *Client) CloseConsult(ctx context.Context, id string, req workflows.CloseConsultRequest) (workflows.JourneyState, error) {
	return update[workflows.JourneyState](ctx, c, id, workflows.UpdateCloseConsult, req)
}

// RecordLabResult records a laboratory's result for one of the journey's orders.
func (c *Client) RecordLabResult(ctx context.Context, id string, req workflows.RecordLabResultRequest) (workflows.JourneyState, error) {
	return update[workflows.JourneyState](ctx, c, id, workflows.UpdateRecordLabResult, req)
}

// Prescription is the journey's prescription, from its prescribe step. A
// journey not at that step fails the query (serviceerror.QueryFailed).
func (c *Client) Prescription(ctx context.Context, id string) (workflows.PrescriptionInfo, error) {
	return query[workflows.PrescriptionInfo](ctx, c, id, workflows.QueryPrescription)
}

// ReviewPrescription sends the prescribing doctor's review.
func (c *Client) ReviewPrescription(ctx context.Context, id string, req workflows.ReviewPrescriptionRequest) (workflows.PrescriptionInfo, error) {
	return update[workflows.PrescriptionInfo](ctx, c, id, workflows.UpdateReviewPrescription, req)
}

// DietPlan is the journey's diet step. A journey not at one fails the
// query (serviceerror.QueryFailed).
func (c *Client) DietPlan(ctx context.Context, id string) (workflows.DietPlanInfo, error) {
	return query[workflows.DietPlanInfo](ctx, c, id, workflows.QueryDietPlan)
}

// ReviewDietPlan sends the dietitian's review of the proposed plan.
func (c *Client) ReviewDietPlan(ctx context.Context, id string, req workflows.ReviewDietPlanRequest) (workflows.DietPlanInfo, error) {
	return update[workflows.DietPlanInfo](ctx, c, id, workflows.UpdateReviewDietPlan, req)
}

// SendReading sends a glucose or weight reading to the journey's diet step.
func (c *Client) SendReading(ctx context.Context, id string, r workflows.Reading) error {
	return c.signal(ctx, id, workflows.SignalReading, r)
}

// LogMeal sends a meal the patient ate to the journey's diet step.
func (c *Client) LogMeal(ctx context.Context, id string, m workflows.MealLog) error {
	return c.signal(ctx, id, workflows.SignalLogMeal, m)
}

// PaymentConfirmed tells the journey its PaymentIntent succeeded.
func (c *Client) PaymentConfirmed(ctx context.Context, id string, ev workflows.PaymentEvent) error {
	return c.signal(ctx, id, workflows.SignalPaymentConfirmed, ev)
}

// PaymentFailed tells the journey a payment attempt failed.
func (c *Client) PaymentFailed(ctx context.Context, id string, ev workflows.PaymentEvent) error {
	return c.signal(ctx, id, workflows.SignalPaymentFailed, ev)
}

// PharmacyStatus passes a pharmacy's order event to the workflow that
// follows the order (a journey's fulfil step or a refill order).
func (c *Client) PharmacyStatus(ctx context.Context, workflowID string, ev workflows.PharmacyStatusEvent) error {
	return c.signal(ctx, workflowID, workflows.SignalPharmacyStatus, ev)
}

// Adherence is an adherence course's state.
func (c *Client) Adherence(ctx context.Context, id string) (workflows.AdherenceState, error) {
	return query[workflows.AdherenceState](ctx, c, id, workflows.QueryAdherence)
}

// ReportDose sends the patient's answer (taken or skipped) to a dose.
func (c *Client) ReportDose(ctx context.Context, id string, r workflows.DoseReport) error {
	return c.signal(ctx, id, workflows.SignalDoseReport, r)
}

// RequestRefill asks an adherence course for its next refill.
func (c *Client) RequestRefill(ctx context.Context, id string, req workflows.RefillRequest) (workflows.AdherenceState, error) {
	return update[workflows.AdherenceState](ctx, c, id, workflows.UpdateRequestRefill, req)
}

// Fulfilment is a refill order's progress at the pharmacy.
func (c *Client) Fulfilment(ctx context.Context, id string) (workflows.FulfilmentInfo, error) {
	return query[workflows.FulfilmentInfo](ctx, c, id, workflows.QueryFulfilment)
}
