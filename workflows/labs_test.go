package workflows_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

// labPathway books, holds a short consult (for its lab order and its risk
// score), orders labs, and follows up when the HbA1c is 7% or more.
const labPathway = `id: labs-check
version: 1
title: Labs and follow-up
sources: [{id: ops, citation: Test policy}]
parameters:
  tests: {type: list, value: ["4548-4"], source: ops}
  review: {type: duration, value: 90d, source: ops}
  high_factor: {type: number, value: 0.5, source: ops}
steps:
  - {id: book, type: book, time_limit: 15m, on_timeout: cancel, next: consult}
  - id: consult
    type: consult
    time_limit: 15m
    on_timeout: {action: continue, next: end}
    next: labs
  - id: labs
    type: lab_order
    time_limit: 14d
    on_timeout: {action: escalate, role: coordinator, then: {time_limit: 7d, action: continue, next: end}}
    with: {tests: $tests}
    branches:
      - {when: "labs.hba1c >= 7.0", next: review}
    otherwise: end
  - id: review
    type: follow_up
    time_limit: 14d
    on_timeout: {action: escalate, role: coordinator, then: {time_limit: 7d, action: continue}}
    with: {interval: $review, risk_factors: {high: $high_factor}}
    next: end
`

const nextSlotID = "5a1b2c3d-0000-4000-8000-000000000009"

var (
	labActs     *activities.Labs
	riskActs    *activities.Inference
	labReporter = workflows.Actor{ID: "demo-lab", Role: "integrator"}
)

// labWorld runs labPathway against mocked activities.
type labWorld struct {
	t         *testing.T
	env       *testsuite.TestWorkflowEnvironment
	in        workflows.JourneyInput
	mu        sync.Mutex
	booked    contract.BookLabTestsInput
	recorded  []contract.RecordLabResultInput
	notified  []contract.NotifyPractitionerInput
	slotAsked []contract.FindSlotInput
	slotFree  bool
	noNumber  bool // the doctor has no number: NotifyPractitioner skips
	child     *workflows.JourneyInput
	childID   string // the follow-up episode's workflow ID
	reserved  []contract.ReserveJourneyInput
	risk      string
}

func newLabWorld(t *testing.T, risk string) *labWorld {
	t.Helper()
	return newLabWorldFrom(t, risk, defaultClose())
}

// defaultClose closes the consult with one more test than the pathway's.
func defaultClose() workflows.CloseConsultRequest {
	return workflows.CloseConsultRequest{
		Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, Diagnoses: []string{"E11.9"}, Orders: []string{"lab_tests"},
		LabTests: []string{"2160-0"}, Measurements: map[string]care.Quantity{"age": {Value: 52}}}
}

func newLabWorldFrom(t *testing.T, risk string, close workflows.CloseConsultRequest) *labWorld {
	t.Helper()
	plan := mustPlan(t, labPathway)
	env, in := newJourneyEnv(t, plan)
	in.SlotID = slotID
	w := &labWorld{t: t, env: env, in: in, slotFree: true, risk: risk}
	env.RegisterActivity(&activities.Booking{})
	env.RegisterActivity(&activities.Labs{})
	env.RegisterActivity(&activities.Messaging{})
	env.RegisterActivity(&activities.Inference{})
	env.RegisterWorkflowWithOptions(workflows.Journey, workflow.RegisterOptions{Name: workflows.JourneyWorkflowName})
	start := env.Now().Add(time.Minute)
	env.OnActivity(bookingActs.HoldSlot, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.HoldSlotInput) (care.Appointment, error) {
		if in.SlotID != slotID { // the follow-up episode: end it quickly, its start is what the test checks
			return care.Appointment{}, temporal.NewNonRetryableApplicationError("taken", contract.ErrTypeSlotUnavailable, nil)
		}
		return care.Appointment{ID: "appt-1", PatientID: patient, PractitionerID: doctorID, SlotID: slotID, Start: start,
			Status: care.AppointmentBooked, FeeMinor: feeMinor, Currency: "INR"}, nil
	})
	env.OnActivity(bookingActs.CloseEncounter, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.CloseEncounterInput) (care.Encounter, error) {
		return care.Encounter{ID: "enc-1", Diagnoses: in.Diagnoses, Orders: in.Orders}, nil
	})
	env.OnActivity(riskActs.ScoreRisk, mock.Anything, mock.Anything).Return(func(context.Context, contract.ScoreRiskInput) (contract.ScoreRiskResult, error) {
		return contract.ScoreRiskResult{Level: w.risk, Probability: 0.5, Model: "m", ModelVersion: "1"}, nil
	})
	env.OnActivity(labActs.BookLabTests, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.BookLabTestsInput) ([]care.LabOrder, error) {
		w.mu.Lock()
		w.booked = in
		w.mu.Unlock()
		var out []care.LabOrder
		for _, code := range in.Tests {
			out = append(out, care.LabOrder{ID: "order-" + code, LOINC: code, TestName: "test " + code, Status: care.LabOrderScheduled})
		}
		return out, nil
	})
	env.OnActivity(labActs.RecordLabResult, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.RecordLabResultInput) (contract.LabObservation, error) {
		w.mu.Lock()
		w.recorded = append(w.recorded, in)
		w.mu.Unlock()
		return contract.LabObservation{LabOrderID: in.LabOrderID, Result: in.Result, Interpretation: in.Interpretation}, nil
	})
	env.OnActivity(messagingActs.NotifyPractitioner, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.NotifyPractitionerInput) (care.StaffNotification, error) {
		w.mu.Lock()
		w.notified = append(w.notified, in)
		w.mu.Unlock()
		if w.noNumber {
			return care.StaffNotification{Status: care.CommunicationSkipped, SkipReason: contract.SkipNoPractitionerNumber}, nil
		}
		return care.StaffNotification{Status: care.CommunicationSent}, nil
	})
	env.OnActivity(bookingActs.FindFreeSlot, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.FindSlotInput) (contract.FindSlotResult, error) {
		w.mu.Lock()
		w.slotAsked = append(w.slotAsked, in)
		w.mu.Unlock()
		if !w.slotFree {
			return contract.FindSlotResult{}, nil
		}
		return contract.FindSlotResult{Found: true, Slot: care.Slot{ID: nextSlotID, PractitionerID: doctorID, Start: in.From.Add(time.Hour)}}, nil
	})
	// The follow-up episode's ID is drawn and recorded by an activity.
	nextID := workflows.NewJourneyWorkflowID(patient)
	env.OnActivity(journeyActs.ReserveJourney, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.ReserveJourneyInput) (contract.ReserveJourneyResult, error) {
		w.mu.Lock()
		w.reserved = append(w.reserved, in)
		w.mu.Unlock()
		return contract.ReserveJourneyResult{WorkflowID: nextID, Created: true}, nil
	})
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		w.childID = info.WorkflowExecution.ID
		var child workflows.JourneyInput
		if err := args.Get(&child); err != nil {
			t.Errorf("child input: %v", err)
		}
		w.child = &child
	})
	// The consult: started at 5 minutes, closed at 10.
	w.update(5*time.Minute, workflows.UpdateStartConsult, workflows.StartConsultRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}})
	w.update(10*time.Minute, workflows.UpdateCloseConsult, close)
	return w
}

func (w *labWorld) update(d time.Duration, name string, arg any) *updateResult {
	r := &updateResult{}
	w.env.RegisterDelayedCallback(func() {
		w.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { r.rejected = err }, OnAccept: func() { r.accepted = true },
			OnComplete: func(_ any, err error) { r.err = err },
		}, arg)
	}, d)
	return r
}

func (w *labWorld) result(d time.Duration, by workflows.Actor, res pathways.LabResult) *updateResult {
	return w.update(d, workflows.UpdateRecordLabResult, workflows.RecordLabResultRequest{Actor: by, Result: res})
}

func (w *labWorld) query(d time.Duration) *workflows.JourneyState {
	st := &workflows.JourneyState{}
	w.env.RegisterDelayedCallback(func() {
		v, err := w.env.QueryWorkflow(workflows.QueryJourneyState)
		if err == nil {
			err = v.Get(st)
		}
		if err != nil {
			w.t.Errorf("query: %v", err)
		}
	}, d)
	return st
}

func (w *labWorld) run() workflows.JourneyState {
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	return result(w.t, w.env)
}

func f(v float64) *float64 { return &v }

func hba1c(v float64) pathways.LabResult {
	return pathways.LabResult{LOINC: "4548-4", Value: v, Unit: "%", ReferenceLow: f(4.0), ReferenceHigh: f(5.6)}
}

func creatinine(v float64) pathways.LabResult {
	return pathways.LabResult{LOINC: "2160-0", Value: v, Unit: "mg/dL", ReferenceLow: f(0.6), ReferenceHigh: f(1.2), CriticalHigh: f(4.0)}
}

func TestLabOrderNormalResultsAreStoredAndTheJourneyMovesOn(t *testing.T) {
	w := newLabWorld(t, "low")
	wrongUnit := w.result(24*time.Hour, labReporter, pathways.LabResult{LOINC: "4548-4", Value: 5.2, Unit: "mmol/mol", ReferenceHigh: f(5.6)})
	notOrdered := w.result(25*time.Hour, labReporter, pathways.LabResult{LOINC: "2093-3", Value: 180, Unit: "mg/dL", ReferenceHigh: f(200)})
	byPatient := w.result(26*time.Hour, workflows.Actor{ID: patient, Role: "patient"}, hba1c(5.2))
	first := w.result(48*time.Hour, labReporter, hba1c(5.2))
	again := w.result(49*time.Hour, labReporter, hba1c(5.3))
	second := w.result(72*time.Hour, labReporter, creatinine(0.9))
	st := w.run()

	assertRejected(t, wrongUnit, workflows.ErrTypeInvalidMessage)
	assertRejected(t, notOrdered, workflows.ErrTypeNotAwaitingThat)
	assertRejected(t, byPatient, workflows.ErrTypeNotAllowed)
	assertRejected(t, again, workflows.ErrTypeNotAwaitingThat)
	if !first.accepted || first.err != nil || !second.accepted || second.err != nil {
		t.Fatalf("results: first %+v second %+v", first, second)
	}
	if got := stepIDs(st); got != "book=done consult=done labs=done" {
		t.Errorf("steps = %s", got)
	}
	if strings.Join(w.booked.Tests, ",") != "4548-4,2160-0" || w.booked.PractitionerID != doctorID || w.booked.KeyPrefix != st.JourneyID+":labs" {
		t.Errorf("booked %+v: want the pathway's test then the consult's, by the doctor, keyed by the step", w.booked)
	}
	if len(w.recorded) != 2 || w.recorded[0].LabOrderID != "order-4548-4" || w.recorded[0].Interpretation != "N" || w.recorded[0].ReportedBy != "demo-lab" {
		t.Errorf("recorded = %+v", w.recorded)
	}
	if len(w.notified) != 0 || st.NeedsAttention {
		t.Errorf("normal results alerted someone: %+v attention=%v", w.notified, st.NeedsAttention)
	}
	if len(st.Labs) != 2 || st.Labs[0].Status != care.LabOrderResulted || *st.Labs[0].Value != 5.2 || st.Labs[0].Name != "hba1c" {
		t.Errorf("labs = %+v", st.Labs)
	}
	if w.child != nil {
		t.Errorf("an HbA1c of 5.2%% started a follow-up: %+v", w.child)
	}
}

func TestAbnormalLabNotifiesTheDoctorAndCriticalRaisesAttention(t *testing.T) {
	w := newLabWorld(t, "high")
	w.result(24*time.Hour, labReporter, hba1c(8.1))
	w.result(30*time.Hour, labReporter, creatinine(4.6))
	mid := w.query(31 * time.Hour)
	st := w.run()

	if len(w.notified) != 2 || w.notified[0].TemplateID != "lab_result_abnormal" || w.notified[1].TemplateID != "lab_result_critical" ||
		w.notified[0].PractitionerID != doctorID || w.notified[0].Step != "lab-result-order-4548-4" {
		t.Fatalf("doctor notified = %+v", w.notified)
	}
	for _, n := range w.notified {
		if strings.Contains(n.Link, "8.1") || strings.Contains(n.Link, "4548") {
			t.Errorf("a value or a test in the doctor's SMS link: %+v", n)
		}
	}
	if !mid.NeedsAttention || !strings.Contains(mid.AttentionReason, "critical lab result") {
		t.Errorf("after a critical result: attention=%v %q", mid.NeedsAttention, mid.AttentionReason)
	}
	if st.Labs[0].Interpretation != "H" || st.Labs[1].Interpretation != "HH" || !st.Labs[0].DoctorNotified {
		t.Errorf("labs = %+v", st.Labs)
	}
	// labs.hba1c >= 7 took the follow-up branch.
	if got := stepIDs(st); got != "book=done consult=done labs=done review=next_episode_started" {
		t.Errorf("steps = %s", got)
	}
}

func TestAbnormalLabForADoctorWithoutANumberAlertsTheCareTeam(t *testing.T) {
	w := newLabWorld(t, "low")
	w.noNumber = true
	w.result(24*time.Hour, labReporter, hba1c(5.0))
	w.result(30*time.Hour, labReporter, creatinine(1.5)) // high, not critical
	st := w.run()
	if len(w.notified) != 1 || w.notified[0].TemplateID != "lab_result_abnormal" || st.Labs[1].DoctorNotified {
		t.Fatalf("notified = %+v labs = %+v", w.notified, st.Labs)
	}
	if !st.NeedsAttention || !strings.Contains(st.AttentionReason, "could not be texted") {
		t.Errorf("attention = %v %q", st.NeedsAttention, st.AttentionReason)
	}
}

func TestFollowUpIntervalFollowsTheRiskAndReentersBooking(t *testing.T) {
	for _, tc := range []struct {
		risk string
		want time.Duration
	}{{"low", 90 * 24 * time.Hour}, {"high", 45 * 24 * time.Hour}} {
		t.Run(tc.risk, func(t *testing.T) {
			w := newLabWorld(t, tc.risk)
			w.result(24*time.Hour, labReporter, hba1c(7.4))
			w.result(25*time.Hour, labReporter, creatinine(1.0))
			st := w.run()
			var reviewStart time.Time
			for _, s := range st.Steps {
				if s.StepID == "review" {
					reviewStart = s.StartedAt
				}
			}
			if len(w.slotAsked) != 1 || w.slotAsked[0].From.Sub(reviewStart) != tc.want || w.slotAsked[0].PractitionerID != doctorID ||
				w.slotAsked[0].Until.Sub(w.slotAsked[0].From) != 14*24*time.Hour {
				t.Fatalf("slot searched %+v, want from %v after the step", w.slotAsked, tc.want)
			}
			if st.FollowUp == nil || st.FollowUp.RiskLevel != tc.risk || st.FollowUp.Status != "booked" || st.FollowUp.Basis != "pathway" {
				t.Fatalf("follow-up = %+v", st.FollowUp)
			}
			// The next episode's ID is the opaque one journey_ref recorded
			// for episode 2, and it names no pathway.
			next := st.FollowUp.NextJourneyID
			if len(w.reserved) != 1 || w.reserved[0] != (contract.ReserveJourneyInput{PatientID: patient, PathwayID: "labs-check", Episode: 2}) ||
				w.childID != next || strings.Contains(next, "labs-check") || workflows.IsLegacyJourneyWorkflowID(next) {
				t.Fatalf("next episode ID %q (reserved %+v, child started as %q)", next, w.reserved, w.childID)
			}
			if w.child == nil || w.child.Episode != 2 || w.child.StartAt != "book" || w.child.SlotID != nextSlotID ||
				w.child.FollowUpOf != st.JourneyID {
				t.Fatalf("next episode = %+v (state %+v)", w.child, st.FollowUp)
			}
		})
	}
}

func TestDoctorsFollowUpDaysReplaceThePathwaysInterval(t *testing.T) {
	close := defaultClose()
	close.Orders, close.FollowUpDays = []string{"lab_tests", "follow_up"}, 30
	w := newLabWorldFrom(t, "high", close)
	w.result(24*time.Hour, labReporter, hba1c(7.4))
	w.result(25*time.Hour, labReporter, creatinine(1.0))
	st := w.run()
	if st.FollowUp == nil || st.FollowUp.Basis != "doctor" || st.FollowUp.Interval != "30d" || st.FollowUp.RiskFactor != 1 {
		t.Fatalf("follow-up = %+v", st.FollowUp)
	}
}

func TestLabTimeLimitEscalatesThenContinues(t *testing.T) {
	w := newLabWorld(t, "low")
	w.result(24*time.Hour, labReporter, hba1c(5.0)) // the creatinine never comes
	escalated := w.query(15 * 24 * time.Hour)
	st := w.run()
	if !escalated.NeedsAttention || !strings.Contains(escalated.AttentionReason, "lab results") || !strings.Contains(escalated.AttentionReason, "coordinator") {
		t.Errorf("at 15 days: attention=%v %q", escalated.NeedsAttention, escalated.AttentionReason)
	}
	if got := stepIDs(st); got != "book=done consult=done labs=timed_out" || st.NeedsAttention {
		t.Errorf("steps = %s attention=%v", got, st.NeedsAttention)
	}
	if st.Labs[1].Status != care.LabOrderScheduled {
		t.Errorf("the missing result shows as %+v", st.Labs[1])
	}
}

func TestFollowUpWithoutAFreeSlotEscalates(t *testing.T) {
	w := newLabWorld(t, "high")
	w.slotFree = false
	w.result(24*time.Hour, labReporter, hba1c(7.4))
	w.result(25*time.Hour, labReporter, creatinine(1.0))
	st := w.run()
	if st.FollowUp == nil || st.FollowUp.Status != "no_slot" || w.child != nil {
		t.Fatalf("follow-up = %+v child = %+v", st.FollowUp, w.child)
	}
	if got := stepIDs(st); !strings.HasSuffix(got, "review=timed_out") {
		t.Errorf("steps = %s", got)
	}
}

func TestLabResultChecksNameTheField(t *testing.T) {
	cases := map[string]pathways.LabResult{
		"unit":           {LOINC: "4548-4", Value: 6, Unit: "mg", ReferenceHigh: f(5.6)},
		"loinc_code":     {LOINC: "0000-0", Value: 6, Unit: "%", ReferenceHigh: f(5.6)},
		"reference_low":  {LOINC: "4548-4", Value: 6, Unit: "%"},
		"reference_high": {LOINC: "4548-4", Value: 6, Unit: "%", ReferenceLow: f(6), ReferenceHigh: f(5)},
	}
	for field, r := range cases {
		problems := r.Check()
		if len(problems) == 0 || problems[0].Field != field {
			t.Errorf("%s: problems = %+v", field, problems)
		}
	}
	if p := hba1c(5.0).Check(); len(p) != 0 {
		t.Errorf("a good result has problems: %+v", p)
	}
	for v, want := range map[float64]string{3.0: "L", 5.0: "N", 6.0: "H"} {
		if got := hba1c(v).Interpretation(); got != want {
			t.Errorf("HbA1c %v: %s, want %s", v, got, want)
		}
	}
	if got := creatinine(4.0).Interpretation(); got != "HH" {
		t.Errorf("creatinine at the critical limit: %s", got)
	}
}
