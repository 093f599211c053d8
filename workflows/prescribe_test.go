package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

var (
	prescriptionActs *activities.Prescriptions
	knowledgeActs    *activities.Knowledge
	pharmacyActs     *activities.Pharmacy
)

var (
	warfarin  = workflows.PrescriptionItem{Drug: "warfarin", Dose: "5 mg", Route: "oral", Frequency: "once daily", DurationDays: 30, Quantity: 30}
	metformin = workflows.PrescriptionItem{Drug: "metformin", Dose: "500 mg", Route: "oral", Frequency: "twice daily", DurationDays: 30, Quantity: 60, Refills: 2}
)

// rxWorld is the general consultation up to a closed consult with
// prescriptions, with the prescription and pharmacy activities mocked.
// The patient already takes aspirin; warfarin with it is a major finding.
type rxWorld struct {
	*consultWorld
	pharmacies []care.Pharmacy
	drafts     []contract.DraftPrescriptionInput
	checks     []contract.CheckPrescriptionInput
	recorded   []contract.RecordCheckInput
	signed     []contract.SignPrescriptionInput
	sent       []contract.SendPrescriptionInput
	closedAt   time.Duration // after the journey's start
}

func newRxWorld(t *testing.T, items ...workflows.PrescriptionItem) *rxWorld {
	t.Helper()
	w := &rxWorld{consultWorld: newConsultWorld(t),
		pharmacies: []care.Pharmacy{{ID: "pharmacy-a", Preferred: true}, {ID: "pharmacy-b", DistanceKm: 3.2}}}
	fulfil := w.in.Plan.Steps["fulfil"]
	fulfil.Next = pathways.End // the steps after it belong to part two
	w.in.Plan.Steps["fulfil"] = fulfil
	env := w.env
	env.RegisterActivity(&activities.Prescriptions{})
	env.RegisterActivity(&activities.Knowledge{})
	env.RegisterActivity(&activities.Pharmacy{})
	drafted := map[string][]workflows.PrescriptionItem{}
	env.OnActivity(prescriptionActs.DraftPrescription, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.DraftPrescriptionInput) (contract.DraftPrescriptionResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.drafts = append(w.drafts, in)
		got := in.Items
		if len(got) == 0 {
			got = items // from the consult, as the store would read them back
		}
		id := fmt.Sprintf("rx-%d", in.Version)
		drafted[id] = got
		res := contract.DraftPrescriptionResult{PrescriptionID: id, Version: in.Version, Items: got, CheckDrugs: []string{"aspirin"}}
		for _, it := range got {
			res.CheckDrugs = append(res.CheckDrugs, it.Drug)
		}
		return res, nil
	})
	env.OnActivity(knowledgeActs.CheckPrescription, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.CheckPrescriptionInput) (contract.CheckPrescriptionResult, error) {
		w.mu.Lock()
		w.checks = append(w.checks, in)
		w.mu.Unlock()
		res := contract.CheckPrescriptionResult{Complete: true, Findings: []care.Finding{}, DetectedIssues: []care.DetectedIssue{}}
		if slices.Contains(in.Drugs, "warfarin") {
			f := care.Finding{Kind: care.KindInteraction, Severity: care.Major, RuleID: "warfarin-aspirin", Summary: "bleeding risk"}
			res.Findings = append(res.Findings, f)
			res.DetectedIssues = append(res.DetectedIssues, f.DetectedIssue())
			res.Highest = care.Major
		}
		return res, nil
	})
	env.OnActivity(prescriptionActs.RecordCheck, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.RecordCheckInput) error {
		w.mu.Lock()
		w.recorded = append(w.recorded, in)
		w.mu.Unlock()
		return nil
	})
	env.OnActivity(prescriptionActs.SignPrescription, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SignPrescriptionInput) (contract.SignPrescriptionResult, error) {
		w.mu.Lock()
		w.signed = append(w.signed, in)
		w.mu.Unlock()
		return contract.SignPrescriptionResult{PrescriptionID: in.PrescriptionID, SHA256: "ab12", KeyID: "k1"}, nil
	})
	env.OnActivity(pharmacyActs.ChoosePharmacies, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.ChoosePharmaciesInput) (contract.ChoosePharmaciesResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.signed) == 0 {
			t.Error("ChoosePharmacies ran before the prescription was signed")
		}
		return contract.ChoosePharmaciesResult{PrescriptionID: w.signed[len(w.signed)-1].PrescriptionID, Candidates: w.pharmacies}, nil
	})
	env.OnActivity(pharmacyActs.SendPrescription, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SendPrescriptionInput) (contract.SendPrescriptionResult, error) {
		w.mu.Lock()
		w.sent = append(w.sent, in)
		w.mu.Unlock()
		return contract.SendPrescriptionResult{OrderID: fmt.Sprintf("order-%d", in.Attempt), PartnerOrderID: fmt.Sprintf("partner-%d", in.Attempt)}, nil
	})

	w.pay(5 * time.Minute)
	w.doctorDecides(time.Hour, "accepted")
	doctor := workflows.Actor{ID: doctorID, Role: "doctor"}
	w.update(w.untilStart()+time.Minute, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: doctor})
	w.closedAt = w.untilStart() + 10*time.Minute
	w.update(w.closedAt, workflows.UpdateCloseConsult, workflows.CloseConsultRequest{
		Actor: doctor, Diagnoses: []string{"I48.91"}, Orders: []string{"prescription"}, Prescriptions: items})
	return w
}

func (w *rxWorld) review(after time.Duration, req workflows.ReviewPrescriptionRequest) *updateResult {
	if req.Actor.ID == "" {
		req.Actor = workflows.Actor{ID: doctorID, Role: "doctor"}
	}
	return w.update(w.closedAt+after, workflows.UpdateReviewPrescription, req)
}

// pharmacy delivers a partner status for order at after the consult closed.
func (w *rxWorld) pharmacy(after time.Duration, eventID, order, status string, seq int) {
	w.at(w.closedAt+after, func() {
		w.env.SignalWorkflow(workflows.SignalPharmacyStatus, workflows.PharmacyStatusEvent{EventID: eventID, OrderID: order, Status: status, Sequence: seq})
	})
}

func (w *rxWorld) templates() []string {
	var out []string
	for _, m := range w.sms {
		if len(m.TemplateID) > 13 && m.TemplateID[:13] == "prescription_" {
			out = append(out, m.TemplateID)
		}
	}
	return out
}

func (w *rxWorld) deliver(after time.Duration, order string) {
	w.pharmacy(after, order+"-e1", order, "accepted", 1)
	w.pharmacy(after+time.Hour, order+"-e2", order, "ready", 2)
	w.pharmacy(after+2*time.Hour, order+"-e3", order, "dispensed", 3)
	w.pharmacy(after+3*time.Hour, order+"-e4", order, "delivered", 4)
}

func TestOverridingAMajorFindingNeedsAWrittenReason(t *testing.T) {
	w := newRxWorld(t, warfarin)
	approve := w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
	noReason := w.review(time.Hour+time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewOverride, Reason: "  "})
	otherDoctor := w.review(time.Hour+2*time.Minute, workflows.ReviewPrescriptionRequest{Actor: workflows.Actor{ID: "someone-else", Role: "doctor"},
		PrescriptionID: "rx-1", Action: workflows.ReviewOverride, Reason: "monitored INR"})
	override := w.review(time.Hour+3*time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewOverride, Reason: "INR monitored weekly"})
	again := w.review(time.Hour+4*time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewOverride, Reason: "twice"})
	w.deliver(2*time.Hour, "order-1")
	st := w.run()

	assertRejected(t, approve, workflows.ErrTypeInvalidMessage)
	assertRejected(t, noReason, workflows.ErrTypeInvalidMessage)
	assertRejected(t, otherDoctor, workflows.ErrTypeNotAllowed)
	assertRejected(t, again, workflows.ErrTypeNotAwaitingThat)
	if !override.accepted || override.err != nil {
		t.Fatalf("override: %+v", override)
	}
	if len(w.signed) != 1 || w.signed[0].Action != "override" || w.signed[0].Reason != "INR monitored weekly" || w.signed[0].ActorID != doctorID {
		t.Fatalf("signed = %+v", w.signed)
	}
	if len(w.recorded) != 1 || len(w.recorded[0].DetectedIssues) != 1 || w.recorded[0].Highest != care.Major {
		t.Errorf("the findings were not stored with the prescription: %+v", w.recorded)
	}
	if !slices.Contains(w.checks[0].Drugs, "aspirin") {
		t.Errorf("the check did not include the patient's other medicines: %+v", w.checks[0].Drugs)
	}
	if got := stepIDs(st); got != "book=done pay=done doctor_review=accepted reminders=done consult=done prescribe=overridden fulfil=done" {
		t.Errorf("steps = %s", got)
	}
	if st.Status != workflows.StatusCompleted || st.NeedsAttention {
		t.Errorf("status = %s attention=%v", st.Status, st.NeedsAttention)
	}
	want := []string{"prescription_accepted", "prescription_ready", "prescription_delivered"}
	if got := w.templates(); !slices.Equal(got, want) {
		t.Errorf("SMS = %v, want %v", got, want)
	}
}

func TestAnApprovalWithoutSeriousFindingsSigns(t *testing.T) {
	w := newRxWorld(t, metformin)
	override := w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewOverride, Reason: "just because"})
	wrongRx := w.review(time.Hour+time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-9", Action: workflows.ReviewApprove})
	approve := w.review(time.Hour+2*time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
	w.deliver(2*time.Hour, "order-1")
	st := w.run()
	assertRejected(t, override, workflows.ErrTypeInvalidMessage)
	assertRejected(t, wrongRx, workflows.ErrTypeNotAwaitingThat)
	if !approve.accepted || approve.err != nil || len(w.signed) != 1 || w.signed[0].Action != "approve" || w.signed[0].Reason != "" {
		t.Fatalf("approve=%+v signed=%+v", approve, w.signed)
	}
	if len(w.drafts) != 1 || len(w.drafts[0].Items) != 0 || w.drafts[0].PractitionerID != doctorID || w.drafts[0].Step != "prescribe" {
		t.Errorf("the first draft must come from the consult: %+v", w.drafts)
	}
	if st.Status != workflows.StatusCompleted {
		t.Errorf("status = %s (%s)", st.Status, st.Outcome)
	}
}

func TestAnAmendmentIsCheckedAgainBeforeItIsSigned(t *testing.T) {
	w := newRxWorld(t, warfarin)
	amend := w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewAmend, Items: []workflows.PrescriptionItem{metformin}})
	badAmend := w.review(time.Hour-time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewAmend,
		Items: []workflows.PrescriptionItem{{Drug: "metformin"}}})
	stale := w.review(time.Hour+time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
	approve := w.review(time.Hour+2*time.Minute, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-2", Action: workflows.ReviewApprove})
	w.deliver(2*time.Hour, "order-1")
	st := w.run()
	assertRejected(t, badAmend, workflows.ErrTypeInvalidMessage)
	assertRejected(t, stale, workflows.ErrTypeNotAwaitingThat)
	if !amend.accepted || amend.err != nil || !approve.accepted || approve.err != nil {
		t.Fatalf("amend=%+v approve=%+v", amend, approve)
	}
	if len(w.drafts) != 2 || w.drafts[1].Version != 2 || !slices.Equal(w.drafts[1].Items, []workflows.PrescriptionItem{metformin}) {
		t.Fatalf("drafts = %+v", w.drafts)
	}
	if len(w.checks) != 2 || slices.Contains(w.checks[1].Drugs, "warfarin") {
		t.Errorf("the amendment was not checked on its own: %+v", w.checks)
	}
	if len(w.signed) != 1 || w.signed[0].PrescriptionID != "rx-2" {
		t.Errorf("signed = %+v", w.signed)
	}
	if st.Status != workflows.StatusCompleted {
		t.Errorf("status = %s (%s)", st.Status, st.Outcome)
	}
}

func TestNoReviewInTimeEscalatesThenCancels(t *testing.T) {
	w := newRxWorld(t, metformin)
	st := w.run()
	if st.Status != workflows.StatusCancelled || len(w.signed) != 0 || len(w.sent) != 0 {
		t.Fatalf("status = %s signed=%v sent=%v", st.Status, w.signed, w.sent)
	}
}

func TestOutOfStockTriesTheNextPharmacy(t *testing.T) {
	w := newRxWorld(t, metformin)
	w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
	w.pharmacy(2*time.Hour, "a-1", "order-1", "out_of_stock", 1)
	// A late status from the first pharmacy must not move the second order.
	w.pharmacy(2*time.Hour+30*time.Minute, "a-2", "order-1", "delivered", 2)
	w.deliver(3*time.Hour, "order-2")
	st := w.run()
	if len(w.sent) != 2 || w.sent[0].PharmacyID != "pharmacy-a" || w.sent[1].PharmacyID != "pharmacy-b" || w.sent[1].Attempt != 2 {
		t.Fatalf("sent = %+v", w.sent)
	}
	want := []string{"prescription_rerouted", "prescription_accepted", "prescription_ready", "prescription_delivered"}
	if got := w.templates(); !slices.Equal(got, want) {
		t.Errorf("SMS = %v, want %v", got, want)
	}
	if st.Status != workflows.StatusCompleted || st.NeedsAttention {
		t.Errorf("status = %s attention=%v", st.Status, st.NeedsAttention)
	}
	var fulfilEnd time.Time
	for _, s := range st.Steps {
		if s.StepID == "fulfil" && s.EndedAt != nil {
			fulfilEnd = *s.EndedAt
		}
	}
	if got := fulfilEnd.Sub(st.StartedAt); got != w.closedAt+6*time.Hour {
		t.Errorf("fulfil ended %s after the start; want at order-2's delivery (%s)", got, w.closedAt+6*time.Hour)
	}
}

func TestNoPharmacyCanFillItAlertsACoordinator(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pharmacies []care.Pharmacy
	}{
		{"the only one is out of stock", []care.Pharmacy{{ID: "pharmacy-a"}}},
		{"none has stock", []care.Pharmacy{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newRxWorld(t, metformin)
			w.pharmacies = tc.pharmacies
			w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
			w.pharmacy(2*time.Hour, "a-1", "order-1", "out_of_stock", 1)
			st := w.run()
			if !st.NeedsAttention || st.AttentionReason == "" {
				t.Fatalf("NeedsAttention not raised: %+v", st)
			}
			if got := stepIDs(st); got != "book=done pay=done doctor_review=accepted reminders=done consult=done prescribe=done fulfil=no_pharmacy" {
				t.Errorf("steps = %s", got)
			}
			if got := w.templates(); !slices.Equal(got, []string{"prescription_delayed"}) {
				t.Errorf("SMS = %v", got)
			}
		})
	}
}

func TestDuplicateAndOutOfOrderWebhooksChangeNothing(t *testing.T) {
	w := newRxWorld(t, metformin)
	w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
	w.pharmacy(2*time.Hour, "e-ready", "order-1", "ready", 2)
	w.pharmacy(2*time.Hour+time.Minute, "e-ready", "order-1", "ready", 2)         // redelivered
	w.pharmacy(2*time.Hour+2*time.Minute, "e-accepted", "order-1", "accepted", 1) // arrives late
	w.pharmacy(2*time.Hour+3*time.Minute, "e-other", "order-9", "delivered", 4)   // not our order
	w.pharmacy(3*time.Hour, "e-delivered", "order-1", "delivered", 4)
	w.pharmacy(3*time.Hour+time.Minute, "e-delivered", "order-1", "delivered", 4)
	st := w.run()
	if got := w.templates(); !slices.Equal(got, []string{"prescription_ready", "prescription_delivered"}) {
		t.Errorf("SMS = %v", got)
	}
	if len(w.sent) != 1 || st.Status != workflows.StatusCompleted {
		t.Errorf("sent=%d status=%s", len(w.sent), st.Status)
	}
}

func TestQuietHoursDoNotHoldTheOrderAndTheLatestStatusIsSentAfter(t *testing.T) {
	w := newRxWorld(t, metformin)
	// The journey waits a while after fulfilment, so the held message can go.
	fulfil := w.in.Plan.Steps["fulfil"]
	fulfil.Next = "settle"
	w.in.Plan.Steps["fulfil"] = fulfil
	w.in.Plan.Steps["settle"] = pathways.PlanStep{ID: "settle", Type: "wait", TimeLimit: 12 * time.Hour,
		OnTimeout: &pathways.PlanTimeout{Action: "continue"}, Next: pathways.End}
	var quietUntil time.Time
	w.at(w.closedAt, func() { quietUntil = w.env.Now().Add(10 * time.Hour) })
	var sent []string
	w.smsStatus = func(in contract.SendSMSInput) contract.SendSMSResult {
		if len(in.TemplateID) > 13 && in.TemplateID[:13] == "prescription_" {
			if w.env.Now().Before(quietUntil) {
				return contract.SendSMSResult{Status: contract.SMSDeferred, NextAllowedAt: quietUntil}
			}
			sent = append(sent, in.TemplateID)
		}
		return contract.SendSMSResult{Status: contract.SMSSent}
	}
	w.review(time.Hour, workflows.ReviewPrescriptionRequest{PrescriptionID: "rx-1", Action: workflows.ReviewApprove})
	w.deliver(2*time.Hour, "order-1")
	st := w.run()
	if st.Status != workflows.StatusCompleted {
		t.Fatalf("status = %s (%s)", st.Status, st.Outcome)
	}
	for _, s := range st.Steps {
		if s.StepID == "fulfil" && (s.EndedAt == nil || s.EndedAt.Sub(st.StartedAt) != w.closedAt+5*time.Hour) {
			t.Errorf("fulfil waited for quiet hours: ended %v", s.EndedAt)
		}
	}
	if !slices.Equal(sent, []string{"prescription_delivered"}) {
		t.Errorf("after quiet hours sent %v, want only the latest status", sent)
	}
}
