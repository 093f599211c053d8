package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	twapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/store"
)

// Labs books lab tests and stores their results in PostgreSQL. Both are
// idempotent: a retry returns what the first call stored.
type Labs struct {
	Store *store.Store
}

// BookLabTests books the tests and returns one order per test.
func (a *Labs) BookLabTests(ctx context.Context, in contract.BookLabTestsInput) ([]care.LabOrder, error) {
	orders, err := a.Store.BookLabTests(ctx, store.BookLabTestsRequest(in))
	return orders, labError("book lab tests", err)
}

// RecordLabResult stores the result of an order (an Observation).
func (a *Labs) RecordLabResult(ctx context.Context, in contract.RecordLabResultInput) (contract.LabObservation, error) {
	obs, err := a.Store.RecordLabObservation(ctx, store.RecordLabObservationRequest(in))
	return contract.LabObservation(obs), labError("record lab result", err)
}

func labError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnknownLabTest):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeUnknownLabTest, err)
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeLabOrderNotFound, err)
	case errors.Is(err, store.ErrPatientNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypePatientNotFound, err)
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrKeyReused):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeInvalidInput, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// FindFreeSlot looks up the practitioner's first free slot in the window,
// for a follow-up; it holds nothing (the next episode's book step does).
func (a *Booking) FindFreeSlot(ctx context.Context, in contract.FindSlotInput) (contract.FindSlotResult, error) {
	sl, err := a.Store.FirstFreeSlot(ctx, in.PractitionerID, in.From, in.Until)
	if errors.Is(err, store.ErrNotFound) {
		return contract.FindSlotResult{}, nil
	}
	if err != nil {
		return contract.FindSlotResult{}, fmt.Errorf("find free slot: %w", err)
	}
	return contract.FindSlotResult{Found: true, Slot: sl}, nil
}

// staffTemplates say that something needs the practitioner's attention and
// where to look: never a value, a test name or the patient's name.
var staffTemplates = map[string]string{
	"lab_result_abnormal": "CarePath: a lab result of one of your patients is outside its reference range. Review: {link}",
	"lab_result_critical": "CarePath: URGENT - a lab result of one of your patients is at a critical level. Review now: {link}",
}

// NotifyPractitioner texts the practitioner once per journey step. Staff
// messages are operational, so opt-out and quiet hours do not apply. A
// practitioner without a number is skipped, and the journey raises
// NeedsAttention instead.
func (a *Messaging) NotifyPractitioner(ctx context.Context, in contract.NotifyPractitionerInput) (care.StaffNotification, error) {
	const op = "notify practitioner"
	if a.Twilio == nil || a.Store == nil {
		return care.StaffNotification{}, errors.New(op + ": this worker has no Twilio client or store (workers.Deps)")
	}
	text, ok := staffTemplates[in.TemplateID]
	if !ok {
		return care.StaffNotification{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: unknown template %q", op, in.TemplateID), contract.ErrTypeUnknownTemplate, nil)
	}
	link, ok := a.carePathLink(in.Link)
	if !ok || in.JourneyID == "" || in.Step == "" {
		return care.StaffNotification{}, temporal.NewNonRetryableApplicationError(op+": a journey, a step and a CarePath link are required", contract.ErrTypeInvalidInput, nil)
	}
	if prev, err := a.Store.StaffNotificationByStep(ctx, in.JourneyID, in.Step); err == nil && prev.Status != care.CommunicationSending {
		return prev, nil
	}
	record := care.StaffNotification{JourneyID: in.JourneyID, Step: in.Step, PractitionerID: in.PractitionerID, TemplateID: in.TemplateID}
	phone, err := a.Store.PractitionerPhone(ctx, in.PractitionerID)
	if err != nil {
		return record, fmt.Errorf("%s: %w", op, err)
	}
	if phone == "" {
		record.Status, record.SkipReason = care.CommunicationSkipped, contract.SkipNoPractitionerNumber
		return a.saveStaff(ctx, record)
	}
	record.Status = care.CommunicationSending
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
	record.Status = care.CommunicationSent
	if msg.Sid != nil {
		record.ProviderMessageID = *msg.Sid
	}
	return a.saveStaff(ctx, record)
}

func (a *Messaging) saveStaff(ctx context.Context, n care.StaffNotification) (care.StaffNotification, error) {
	saved, err := a.Store.SaveStaffNotification(ctx, n)
	if err != nil {
		return n, fmt.Errorf("notify practitioner: %w", err)
	}
	return saved, nil
}
