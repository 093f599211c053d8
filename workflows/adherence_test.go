package workflows_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/pharmacy"
	"github.com/carepath/carepath/workflows"
)

const (
	rxID        = "0b9e6c1e-2d3f-4a5b-8c7d-9e0f1a2b3c4d"
	adhJourney  = "journey:" + patient + ":type-2-diabetes:1"
	kolkata     = "Asia/Kolkata"
	newYork     = "America/New_York"
	dosesPerRun = 120
)

var adherenceActs *activities.Adherence

// adhWorld runs one Adherence run in the test environment, with SMS,
// refill records and the alerts to the journey captured.
type adhWorld struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	in  workflows.AdherenceInput

	mu      sync.Mutex
	sms     []sentSMS
	refills []contract.RecordRefillInput
	alerts  []workflows.AdherenceAlert
	// orders are the RefillOrder children started (mocked: refill_test.go
	// runs the real one).
	orders []workflows.RefillOrderInput
}

type sentSMS struct {
	in contract.SendSMSInput
	at time.Time // when the activity ran (simulated time)
}

func adherenceInput(freq string, days, quantity, refills int, tz string) workflows.AdherenceInput {
	return workflows.AdherenceInput{JourneyID: adhJourney, PatientID: patient, PrescriptionID: rxID, Position: 0,
		Frequency: freq, DurationDays: days, Quantity: quantity, Refills: refills, TimeZone: tz}
}

func newAdhWorld(t *testing.T, in workflows.AdherenceInput, start time.Time) *adhWorld {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	w := &adhWorld{t: t, env: s.NewTestWorkflowEnvironment(), in: in}
	env := w.env
	env.SetStartTime(start)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.AdherenceWorkflowID(patient, rxID, in.Position), TaskQueue: "test"})
	env.RegisterWorkflowWithOptions(workflows.Adherence, workflow.RegisterOptions{Name: workflows.AdherenceWorkflowName})
	env.RegisterWorkflowWithOptions(workflows.RefillOrder, workflow.RegisterOptions{Name: workflows.RefillOrderWorkflowName})
	env.OnWorkflow(workflows.RefillOrderWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in workflows.RefillOrderInput) (workflows.FulfilmentInfo, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.orders = append(w.orders, in)
		return workflows.FulfilmentInfo{Status: pharmacy.Delivered}, nil
	})
	env.RegisterActivity(&activities.Messaging{})
	env.RegisterActivity(&activities.Adherence{})
	env.OnActivity(messagingActs.SendSMS, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.sms = append(w.sms, sentSMS{in: in, at: env.Now()})
		return contract.SendSMSResult{Status: contract.SMSSent, MessageSID: "SM1"}, nil
	})
	env.OnActivity(adherenceActs.RecordRefillRequest, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.RecordRefillInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.refills = append(w.refills, in)
		return nil
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

// answer sends the patient's answer to dose n at the simulated time at.
func (w *adhWorld) answer(at time.Time, dose int, action string) {
	w.env.RegisterDelayedCallback(func() {
		w.env.SignalWorkflow(workflows.SignalDoseReport, workflows.DoseReport{Actor: workflows.Actor{ID: patient, Role: "patient"}, Dose: dose, Action: action})
	}, at.Sub(w.env.Now()))
}

// query reads the state at the simulated time at.
func (w *adhWorld) query(at time.Time, into *workflows.AdherenceState) {
	w.env.RegisterDelayedCallback(func() {
		v, err := w.env.QueryWorkflow(workflows.QueryAdherence)
		if err != nil {
			w.t.Errorf("query: %v", err)
			return
		}
		if err := v.Get(into); err != nil {
			w.t.Errorf("query result: %v", err)
		}
	}, at.Sub(w.env.Now()))
}

// finish runs the workflow to its end and returns its final state.
func (w *adhWorld) finish() workflows.AdherenceState {
	w.t.Helper()
	w.env.ExecuteWorkflow(workflows.AdherenceWorkflowName, w.in)
	if !w.env.IsWorkflowCompleted() {
		w.t.Fatal("the workflow did not complete")
	}
	if err := w.env.GetWorkflowError(); err != nil {
		w.t.Fatalf("workflow error: %v", err)
	}
	var st workflows.AdherenceState
	if err := w.env.GetWorkflowResult(&st); err != nil {
		w.t.Fatal(err)
	}
	return st
}

func (w *adhWorld) reminders(template string) []sentSMS {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []sentSMS
	for _, s := range w.sms {
		if s.in.TemplateID == template {
			out = append(out, s)
		}
	}
	return out
}

// localDoseTimes lists when doses are due, worked out independently of the
// workflow: each day from the start day, the clock times in zone tz, from
// the first one after start.
func localDoseTimes(t *testing.T, tz string, start time.Time, clock []string, n int) []time.Time {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	y, m, d := start.In(loc).Date()
	for day := 0; len(out) < n; day++ {
		for _, c := range clock {
			hm, _ := time.Parse("15:04", c)
			at := time.Date(y, m, d+day, hm.Hour(), hm.Minute(), 0, 0, loc)
			if at.After(start) && len(out) < n {
				out = append(out, at.UTC())
			}
		}
	}
	return out
}

func TestAdherenceMissedDosesEscalateThenClear(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // 05:30 in Kolkata
	in := adherenceInput("twice daily", 5, 10, 0, kolkata)
	w := newAdhWorld(t, in, start)
	due := localDoseTimes(t, kolkata, start, []string{"08:00", "20:00"}, 11)
	w.answer(due[0].Add(time.Hour), 1, workflows.DoseTaken)
	// Doses 2, 3 and 4 go unanswered; the rest are taken.
	for n := 5; n <= 10; n++ {
		w.answer(due[n-1].Add(30*time.Minute), n, workflows.DoseTaken)
	}
	var escalated, cleared workflows.AdherenceState
	w.query(due[4].Add(time.Minute), &escalated) // dose 4's window has just closed
	w.query(due[5].Add(time.Minute), &cleared)   // dose 5, taken, has closed
	st := w.finish()

	if !escalated.NeedsAttention || escalated.Escalations != 1 || escalated.Missed != 3 || escalated.NotTakenInARow != 3 {
		t.Errorf("after three missed doses: attention %v, escalations %d, missed %d, in a row %d; want true, 1, 3, 3",
			escalated.NeedsAttention, escalated.Escalations, escalated.Missed, escalated.NotTakenInARow)
	}
	if cleared.NeedsAttention || cleared.NotTakenInARow != 0 {
		t.Errorf("a taken dose did not clear the alert: %+v", cleared)
	}
	if len(w.alerts) != 2 || !w.alerts[0].Raised || w.alerts[0].NotTakenInARow != 3 || w.alerts[1].Raised {
		t.Errorf("alerts to the journey = %+v, want raised (3 in a row) then cleared", w.alerts)
	}
	if st.Status != workflows.AdherenceCompleted || st.Taken != 7 || st.Missed != 3 || st.Skipped != 0 || st.Percent != 70 {
		t.Errorf("final = %s taken %d missed %d skipped %d percent %v; want completed 7 3 0 70", st.Status, st.Taken, st.Missed, st.Skipped, st.Percent)
	}
	if got := len(w.reminders("medication_reminder")); got != 10 || st.RemindersSent != 10 {
		t.Errorf("reminders = %d (state says %d), want 10", got, st.RemindersSent)
	}
}

func TestAdherenceConfirmAndSkipAreCountedApart(t *testing.T) {
	start := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
	in := adherenceInput("once daily", 6, 6, 0, kolkata)
	in.Settings.MissedInARow = 2 // a skip and a miss in a row are enough here
	w := newAdhWorld(t, in, start)
	due := localDoseTimes(t, kolkata, start, []string{"08:00"}, 7)
	w.answer(due[0].Add(time.Hour), 0, workflows.DoseTaken) // 0: the open dose
	w.answer(due[1].Add(time.Hour), 2, workflows.DoseSkipped)
	w.answer(due[1].Add(2*time.Hour), 1, workflows.DoseTaken) // dose 1 is closed: late
	w.answer(due[2].Add(time.Hour), 3, workflows.DoseTaken)
	w.answer(due[2].Add(2*time.Hour), 3, workflows.DoseSkipped) // a second answer: ignored
	w.answer(due[3].Add(time.Hour), 4, workflows.DoseSkipped)
	// Dose 5 goes unanswered.
	w.answer(due[5].Add(time.Hour), 6, workflows.DoseTaken)
	w.answer(due[5].Add(-time.Hour), 6, workflows.DoseTaken) // before dose 6 is due: it answers nothing
	st := w.finish()

	if st.Taken != 3 || st.Skipped != 2 || st.Missed != 1 || st.LateReports != 3 {
		t.Errorf("taken %d skipped %d missed %d late %d; want 3 2 1 3", st.Taken, st.Skipped, st.Missed, st.LateReports)
	}
	if st.Percent != 50 {
		t.Errorf("percent = %v, want 50", st.Percent)
	}
	if st.Escalations != 1 || st.NeedsAttention {
		t.Errorf("escalations %d, attention %v: a skip then a miss should alert once, and dose 6 taken clear it", st.Escalations, st.NeedsAttention)
	}
}

func TestAdherenceRefillReminderAndRequest(t *testing.T) {
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	in := adherenceInput("BID", 10, 20, 1, kolkata)
	in.Settings.RefillLeadDays = 2
	w := newAdhWorld(t, in, start)
	due := localDoseTimes(t, kolkata, start, []string{"08:00", "20:00"}, 41)
	type result struct {
		st  workflows.AdherenceState
		err error
	}
	var first, second result
	refill := func(at time.Time, r *result) {
		w.env.RegisterDelayedCallback(func() {
			w.env.UpdateWorkflow(workflows.UpdateRequestRefill, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { r.err = err },
				OnAccept: func() {},
				OnComplete: func(v any, err error) {
					r.err = err
					if s, ok := v.(workflows.AdherenceState); ok {
						r.st = s
					}
				},
			}, workflows.RefillRequest{Actor: workflows.Actor{ID: patient, Role: "patient"}})
		}, at.Sub(w.env.Now()))
	}
	refill(due[16].Add(time.Hour), &first)    // dose 17: two days of supply are left
	refill(due[16].Add(2*time.Hour), &second) // the only refill is used
	var before workflows.AdherenceState
	w.query(due[15].Add(time.Minute), &before)
	st := w.finish()

	rr := w.reminders("refill_reminder")
	if len(rr) != 1 || !rr[0].at.Equal(due[15]) {
		t.Fatalf("refill reminders = %+v, want one with dose 16 (2 days x 2 doses before dose 21)", rr)
	}
	if rr[0].in.Params["at"] != due[20].Format(time.RFC3339) || !before.SupplyEndsAt.Equal(due[20]) {
		t.Errorf("refill reminder says the supply ends %s (state %s), want %s", rr[0].in.Params["at"], before.SupplyEndsAt, due[20])
	}
	if first.err != nil || first.st.Fills != 2 || first.st.RefillsLeft != 0 || first.st.TotalDoses != 40 {
		t.Errorf("first refill: %v, fills %d, left %d, total %d; want accepted, 2, 0, 40", first.err, first.st.Fills, first.st.RefillsLeft, first.st.TotalDoses)
	}
	if second.err == nil {
		t.Error("a refill beyond the prescription's refills was accepted")
	}
	if len(w.refills) != 1 || w.refills[0].Number != 1 || w.refills[0].PrescriptionID != rxID || w.refills[0].ActorRole != "patient" {
		t.Errorf("refills recorded = %+v, want number 1 by the patient", w.refills)
	}
	if st.Status != workflows.AdherenceCompleted || st.Missed != 40 || len(w.reminders("medication_reminder")) != 40 {
		t.Errorf("the refill should extend the course to 40 doses: status %s, missed %d, reminders %d", st.Status, st.Missed, len(w.reminders("medication_reminder")))
	}
	if len(st.RefillRequests) != 1 || !st.RefillRequests[0].At.Equal(due[16].Add(time.Hour)) {
		t.Errorf("refill requests in the state = %+v", st.RefillRequests)
	}
	// The refill goes to a pharmacy: one RefillOrder for item 0, refill 1.
	wantOrder := workflows.RefillOrderInput{JourneyID: adhJourney, PatientID: patient, PrescriptionID: rxID, Position: 0, Number: 1}
	if len(w.orders) != 1 || w.orders[0] != wantOrder {
		t.Errorf("refill orders started = %+v, want %+v", w.orders, wantOrder)
	}
	wantID := workflows.RefillOrderWorkflowID(workflows.AdherenceWorkflowID(patient, rxID, 0), 1)
	if len(st.RefillOrders) != 1 || st.RefillOrders[0] != wantID {
		t.Errorf("refill orders in the state = %v, want [%s]", st.RefillOrders, wantID)
	}
}

func TestAdherenceRemindersAtEightLocal(t *testing.T) {
	for _, tz := range []string{kolkata, newYork} {
		t.Run(tz, func(t *testing.T) {
			// The reminder stays at 08:00 local on both sides of New York's
			// clock change.
			start := time.Date(2026, 3, 6, 18, 0, 0, 0, time.UTC)
			w := newAdhWorld(t, adherenceInput("once daily", 4, 4, 0, tz), start)
			w.finish()
			loc, _ := time.LoadLocation(tz)
			got := w.reminders("medication_reminder")
			if len(got) != 4 {
				t.Fatalf("%d reminders, want 4", len(got))
			}
			for i, s := range got {
				local := s.at.In(loc)
				if local.Hour() != 8 || local.Minute() != 0 {
					t.Errorf("reminder %d sent at %s, want 08:00 local", i+1, local)
				}
				if s.in.Params["at"] != s.at.Format(time.RFC3339) || s.in.Kind != contract.SMSKindReminder {
					t.Errorf("reminder %d: at %s kind %s", i+1, s.in.Params["at"], s.in.Kind)
				}
			}
			// Clocks in New York move forward on 8 March 2026: 08:00 EST to
			// 08:00 EDT is 23 hours. Kolkata has no DST.
			want := 24 * time.Hour
			if tz == newYork {
				want = 23 * time.Hour
			}
			if gap := got[1].at.Sub(got[0].at); gap != want {
				t.Errorf("from the first reminder to the second: %s, want %s", gap, want)
			}
		})
	}
}

// TestAdherenceSimulatedYear runs a year of twice-daily doses in New York
// (two clock changes) and continues as new every 120 doses. Each run is a
// fresh test environment started with the input the previous one handed
// over, at the time it stopped, as the server would.
func TestAdherenceSimulatedYear(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := adherenceInput("twice daily", 365, 730, 0, newYork)
	due := localDoseTimes(t, newYork, start, []string{"08:00", "20:00"}, 731)
	action := func(n int) string {
		switch {
		case n%10 == 0:
			return workflows.DoseSkipped
		case n%7 == 0:
			return "" // missed
		}
		return workflows.DoseTaken
	}
	var wantTaken, wantSkipped, wantMissed int
	for n := 1; n <= 730; n++ {
		switch action(n) {
		case workflows.DoseTaken:
			wantTaken++
		case workflows.DoseSkipped:
			wantSkipped++
		default:
			wantMissed++
		}
	}

	now, runs, reminders := start, 0, 0
	var final workflows.AdherenceState
	for {
		runs++
		if runs > 10 {
			t.Fatal("more than 10 runs for a year")
		}
		w := newAdhWorld(t, in, now)
		for n := 1; n <= 730; n++ {
			if at := due[n-1].Add(time.Hour); at.After(now) && action(n) != "" {
				w.answer(at, n, action(n))
			}
		}
		w.env.ExecuteWorkflow(workflows.AdherenceWorkflowName, in)
		reminders += len(w.reminders("medication_reminder"))
		for _, s := range w.reminders("medication_reminder") {
			if l := s.at.In(mustLoc(t, newYork)); l.Minute() != 0 || (l.Hour() != 8 && l.Hour() != 20) {
				t.Fatalf("a reminder at %s local", l)
			}
		}
		err := w.env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			var next workflows.AdherenceInput
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
				t.Fatal(err)
			}
			if next.State == nil || next.State.NextDose != runs*dosesPerRun+1 {
				t.Fatalf("run %d handed over %+v, want next dose %d", runs, next.State, runs*dosesPerRun+1)
			}
			in, now = next, w.env.Now()
			continue
		}
		if err != nil {
			t.Fatalf("run %d: %v", runs, err)
		}
		if err := w.env.GetWorkflowResult(&final); err != nil {
			t.Fatal(err)
		}
		break
	}
	if runs != 7 || final.Run != 7 {
		t.Errorf("runs = %d (state says %d), want 7: 730 doses at 120 a run", runs, final.Run)
	}
	if final.Taken != wantTaken || final.Skipped != wantSkipped || final.Missed != wantMissed {
		t.Errorf("taken %d skipped %d missed %d; want %d %d %d", final.Taken, final.Skipped, final.Missed, wantTaken, wantSkipped, wantMissed)
	}
	if reminders != 730 || final.RemindersSent != 730 || final.Escalations != 0 || final.Status != workflows.AdherenceCompleted {
		t.Errorf("reminders %d (state %d), escalations %d, status %s; want 730, 730, 0, completed", reminders, final.RemindersSent, final.Escalations, final.Status)
	}
}

func mustLoc(t *testing.T, tz string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDosesPerDay(t *testing.T) {
	for freq, want := range map[string]int{"twice daily": 2, "BID": 2, "once daily": 1, "every 8 hours": 3, "q6h": 4, "TDS": 3} {
		if got, err := workflows.DosesPerDay(freq); err != nil || got != want {
			t.Errorf("DosesPerDay(%q) = %d, %v; want %d", freq, got, err, want)
		}
	}
	for _, bad := range []string{"as needed", "weekly", "every 5 hours", "every 2 hours", ""} {
		if _, err := workflows.DosesPerDay(bad); err == nil {
			t.Errorf("DosesPerDay(%q) accepted a frequency with no daily schedule", bad)
		}
	}
}

func TestAdherenceWorkflowIDRoundTrips(t *testing.T) {
	id := workflows.AdherenceWorkflowID(patient, rxID, 2)
	p, rx, pos, err := workflows.ParseAdherenceWorkflowID(id)
	if err != nil || p != patient || rx != rxID || pos != 2 {
		t.Fatalf("parse %q = %q %q %d %v", id, p, rx, pos, err)
	}
	for _, bad := range []string{"", "adherence:" + patient + ":" + rxID, "adherence:" + patient + ":" + rxID + ":01",
		"adherence:" + patient + ":" + rxID + ":-1", "journey:" + patient + ":" + rxID + ":1", "adherence:x:" + rxID + ":1"} {
		if _, _, _, err := workflows.ParseAdherenceWorkflowID(bad); err == nil {
			t.Errorf("ParseAdherenceWorkflowID(%q) accepted a bad ID", bad)
		}
	}
}

// adhereJourney is a journey of one adhere step (its fields after the
// type, as pathway YAML), whose prescription has these items, with real
// Adherence children and the plan activity mocked.
func adhereJourney(t *testing.T, stepFields string, items ...contract.AdherenceItem) (*testsuite.TestWorkflowEnvironment, workflows.JourneyInput) {
	t.Helper()
	plan := mustPlan(t, `id: adhere-test
version: 1
title: Adherence test
sources: [{id: ops, citation: Test policy}]
steps:
  - {id: adherence, type: adhere, `+stepFields+`, next: end}
`)
	env, in := newJourneyEnv(t, plan)
	env.RegisterWorkflowWithOptions(workflows.Adherence, workflow.RegisterOptions{Name: workflows.AdherenceWorkflowName})
	env.RegisterActivity(&activities.Adherence{})
	env.RegisterActivity(&activities.Messaging{})
	env.OnActivity(adherenceActs.AdherencePlan, mock.Anything, mock.Anything).Return(contract.AdherencePlanResult{
		PrescriptionID: rxID, TimeZone: kolkata, Items: items}, nil)
	return env, in
}

// journeyAttention queries the running journey's NeedsAttention and reason.
func journeyAttention(t *testing.T, env *testsuite.TestWorkflowEnvironment) (bool, string) {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryJourneyState)
	if err != nil {
		t.Errorf("query: %v", err)
		return false, ""
	}
	var st workflows.JourneyState
	if err := v.Get(&st); err != nil {
		t.Error(err)
	}
	return st.NeedsAttention, st.AttentionReason
}

// TestAdhereStepStartsOneCoursePerScheduledRequest runs the journey's
// adhere step: one Adherence child per medication request with a schedule,
// none for an as-needed one; missed doses reach the journey as an alert
// (NeedsAttention); the step ends when the courses end.
func TestAdhereStepStartsOneCoursePerScheduledRequest(t *testing.T) {
	env, in := adhereJourney(t, "time_limit: 30d, on_timeout: continue, with: {missed_in_a_row: 2}",
		contract.AdherenceItem{Position: 0, Frequency: "twice daily", DurationDays: 3, Quantity: 6},
		contract.AdherenceItem{Position: 1, Frequency: "as needed", DurationDays: 30, Quantity: 10})
	var mu sync.Mutex
	var steps []string
	env.OnActivity(messagingActs.SendSMS, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, in.Step)
		return contract.SendSMSResult{Status: contract.SMSSent}, nil
	})
	var attention bool
	var reason string
	env.RegisterDelayedCallback(func() { attention, reason = journeyAttention(t, env) }, 36*time.Hour) // two doses have gone unanswered by now
	env.ExecuteWorkflow(workflows.Journey, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("journey failed: %v", err)
	}
	var st workflows.JourneyState
	if err := env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	if !attention || !strings.Contains(reason, "adherence") {
		t.Errorf("after two missed doses the journey shows attention %v (%q), want an adherence alert", attention, reason)
	}
	last := st.Steps[len(st.Steps)-1]
	if last.StepID != "adherence" || last.Result != "done" || st.Status != workflows.StatusCompleted {
		t.Errorf("step %s ended %s, journey %s; want adherence done, completed", last.StepID, last.Result, st.Status)
	}
	wantID := workflows.AdherenceWorkflowID(patient, rxID, 0)
	if len(steps) != 6 || !strings.HasPrefix(steps[0], wantID+":dose-1") {
		t.Errorf("reminders = %v, want 6 for %s only", steps, wantID)
	}
}

// When the step's time limit runs out first, on_timeout applies and the
// journey moves on; the course is not waited for.
func TestAdhereStepTimeLimitLeavesTheCourseRunning(t *testing.T) {
	env, in := adhereJourney(t, "time_limit: 1d, on_timeout: continue",
		contract.AdherenceItem{Position: 0, Frequency: "once daily", DurationDays: 30, Quantity: 30})
	env.OnActivity(messagingActs.SendSMS, mock.Anything, mock.Anything).Return(contract.SendSMSResult{Status: contract.SMSSent}, nil)
	env.ExecuteWorkflow(workflows.Journey, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("journey failed: %v", err)
	}
	var st workflows.JourneyState
	if err := env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	last := st.Steps[len(st.Steps)-1]
	if last.Result != "timed_out" || st.Status != workflows.StatusCompleted || last.EndedAt.Sub(last.StartedAt) != 24*time.Hour {
		t.Errorf("step ended %s after %s, journey %s; want timed_out after 24h, completed", last.Result, last.EndedAt.Sub(last.StartedAt), st.Status)
	}
}

// A refill's alert raises the journey's attention with a reason of its own.
// It is not one of the courses' alerts: a course back on track clears the
// journey's adherence attention even while a refill has alerted before.
func TestRefillAlertsDoNotHoldTheCoursesAttention(t *testing.T) {
	env, in := adhereJourney(t, "time_limit: 30d, on_timeout: continue, with: {missed_in_a_row: 100}",
		contract.AdherenceItem{Position: 0, Frequency: "twice daily", DurationDays: 3, Quantity: 6})
	env.OnActivity(messagingActs.SendSMS, mock.Anything, mock.Anything).Return(contract.SendSMSResult{Status: contract.SMSSent}, nil)
	course := workflows.AdherenceWorkflowID(patient, rxID, 0)
	type seen struct {
		attention bool
		reason    string
	}
	var afterRefill, afterCourse, afterClear seen
	signal := func(at time.Duration, al workflows.AdherenceAlert, into *seen) {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalAdherenceAlert, al) }, at)
		env.RegisterDelayedCallback(func() { into.attention, into.reason = journeyAttention(t, env) }, at+time.Minute)
	}
	signal(12*time.Hour, workflows.AdherenceAlert{AdherenceID: course + "/refill-1", Raised: true, Reason: "no pharmacy could fill refill 1"}, &afterRefill)
	signal(13*time.Hour, workflows.AdherenceAlert{AdherenceID: course, Raised: true, NotTakenInARow: 2}, &afterCourse)
	signal(14*time.Hour, workflows.AdherenceAlert{AdherenceID: course, Raised: false}, &afterClear)
	env.ExecuteWorkflow(workflows.Journey, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("journey failed: %v", err)
	}
	if !afterRefill.attention || !strings.HasPrefix(afterRefill.reason, "refill: no pharmacy could fill refill 1") {
		t.Errorf("after the refill's alert: %+v, want attention with the refill's reason", afterRefill)
	}
	if !afterCourse.attention || !strings.HasPrefix(afterCourse.reason, "adherence: 2 doses") {
		t.Errorf("after the course's alert: %+v, want attention for the doses", afterCourse)
	}
	if afterClear.attention {
		t.Errorf("after the course is back on track: %+v, want the attention cleared", afterClear)
	}
}
