package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	twapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/store"
)

// Application error types of the lab activities.
const (
	// ErrTypeUnknownLabTest: a test code the catalogue does not have.
	ErrTypeUnknownLabTest = "UnknownLabTest"
	// ErrTypeLabOrderNotFound: no such lab order.
	ErrTypeLabOrderNotFound = "LabOrderNotFound"
)

// Labs books lab tests and stores their results in PostgreSQL. Both are
// idempotent: a retry returns what the first call stored.
type Labs struct {
	Store *store.Store
}

type (
	// BookLabTestsInput books tests for a journey step (store.BookLabTestsRequest).
	BookLabTestsInput = store.BookLabTestsRequest
	// RecordLabResultInput stores one order's result.
	RecordLabResultInput = store.RecordLabObservationRequest
)

// BookLabTests books the tests and returns one order per test.
func (a *Labs) BookLabTests(ctx context.Context, in BookLabTestsInput) ([]store.LabOrder, error) {
	orders, err := a.Store.BookLabTests(ctx, in)
	return orders, labError("book lab tests", err)
}

// RecordLabResult stores the result of an order (an Observation).
func (a *Labs) RecordLabResult(ctx context.Context, in RecordLabResultInput) (store.LabObservation, error) {
	obs, err := a.Store.RecordLabObservation(ctx, in)
	return obs, labError("record lab result", err)
}

func labError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnknownLabTest):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeUnknownLabTest, err)
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeLabOrderNotFound, err)
	case errors.Is(err, store.ErrPatientNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypePatientNotFound, err)
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrKeyReused):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeInvalidInput, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// FindSlotInput asks for a practitioner's first free slot in a window.
type FindSlotInput struct {
	PractitionerID string    `json:"practitioner_id"`
	From           time.Time `json:"from"`
	Until          time.Time `json:"until"`
}

// FindSlotResult is the slot found; Found is false when the window has none.
type FindSlotResult struct {
	Found bool       `json:"found"`
	Slot  store.Slot `json:"slot"`
}

// FindFreeSlot looks up the practitioner's first free slot in the window,
// for a follow-up; it holds nothing (the next episode's book step does).
func (a *Booking) FindFreeSlot(ctx context.Context, in FindSlotInput) (FindSlotResult, error) {
	sl, err := a.Store.FirstFreeSlot(ctx, in.PractitionerID, in.From, in.Until)
	if errors.Is(err, store.ErrNotFound) {
		return FindSlotResult{}, nil
	}
	if err != nil {
		return FindSlotResult{}, fmt.Errorf("find free slot: %w", err)
	}
	return FindSlotResult{Found: true, Slot: sl}, nil
}

// NotifyPractitionerInput asks to text a practitioner about a journey step.
type NotifyPractitionerInput struct {
	JourneyID      string `json:"journey_id"`
	Step           string `json:"step"`
	PractitionerID string `json:"practitioner_id"`
	TemplateID     string `json:"template_id"`
	// Link is a path under LinkBase; the only parameter a staff template takes.
	Link string `json:"link"`
}

// staffTemplates say that something needs the practitioner's attention and
// where to look: never a value, a test name or the patient's name.
var staffTemplates = map[string]string{
	"lab_result_abnormal": "CarePath: a lab result of one of your patients is outside its reference range. Review: {link}",
	"lab_result_critical": "CarePath: URGENT - a lab result of one of your patients is at a critical level. Review now: {link}",
}

// Skip reason of a practitioner without a phone on their user account.
const SkipNoPractitionerNumber = "no-practitioner-number"

// NotifyPractitioner texts the practitioner once per journey step. Staff
// messages are operational, so opt-out and quiet hours do not apply. A
// practitioner without a number is skipped, and the journey raises
// NeedsAttention instead.
func (a *Messaging) NotifyPractitioner(ctx context.Context, in NotifyPractitionerInput) (store.StaffNotification, error) {
	const op = "notify practitioner"
	if a.Twilio == nil || a.Store == nil {
		return store.StaffNotification{}, errors.New(op + ": this worker has no Twilio client or store (workers.Deps)")
	}
	text, ok := staffTemplates[in.TemplateID]
	if !ok {
		return store.StaffNotification{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: unknown template %q", op, in.TemplateID), ErrTypeUnknownTemplate, nil)
	}
	link, ok := a.carePathLink(in.Link)
	if !ok || in.JourneyID == "" || in.Step == "" {
		return store.StaffNotification{}, temporal.NewNonRetryableApplicationError(op+": a journey, a step and a CarePath link are required", ErrTypeInvalidInput, nil)
	}
	if prev, err := a.Store.StaffNotificationByStep(ctx, in.JourneyID, in.Step); err == nil && prev.Status != store.CommunicationSending {
		return prev, nil
	}
	record := store.StaffNotification{JourneyID: in.JourneyID, Step: in.Step, PractitionerID: in.PractitionerID, TemplateID: in.TemplateID}
	phone, err := a.Store.PractitionerPhone(ctx, in.PractitionerID)
	if err != nil {
		return record, fmt.Errorf("%s: %w", op, err)
	}
	if phone == "" {
		record.Status, record.SkipReason = store.CommunicationSkipped, SkipNoPractitionerNumber
		return a.saveStaff(ctx, record)
	}
	record.Status = store.CommunicationSending
	if _, err := a.saveStaff(ctx, record); err != nil {
		return record, err
	}
	if link, err = a.shortLink(ctx, linkScopeStaff, in.JourneyID, in.Step, link); err != nil {
		return record, fmt.Errorf("%s: %w", op, err)
	}
	req := &twapi.CreateMessageParams{}
	req.SetTo(phone)
	req.SetBody(strings.ReplaceAll(text, "{link}", link))
	setSender(req, a.From)
	msg, err := a.Twilio.API(ctx).CreateMessage(req)
	if err != nil {
		return record, fmt.Errorf("%s: twilio: %w", op, err)
	}
	record.Status = store.CommunicationSent
	if msg.Sid != nil {
		record.ProviderMessageID = *msg.Sid
	}
	return a.saveStaff(ctx, record)
}

func (a *Messaging) saveStaff(ctx context.Context, n store.StaffNotification) (store.StaffNotification, error) {
	saved, err := a.Store.SaveStaffNotification(ctx, n)
	if err != nil {
		return n, fmt.Errorf("notify practitioner: %w", err)
	}
	return saved, nil
}
