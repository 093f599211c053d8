package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/workflows"
)

var dietActs *activities.Diet

// dietPathway is a journey that is only its diet stage: ten days, a
// dietitian's approval within 72 hours (then a coordinator is alerted and
// the journey waits 72 hours more), glucose and weight triggers.
const dietPathway = `id: diet-only
version: 1
title: Diet
sources: [{id: ops, citation: Test policy}]
parameters:
  glucose_target: {type: number, value: 154, unit: mg/dL, source: ops}
steps:
  - id: diet
    type: diet
    time_limit: 10d
    on_timeout: continue
    approval:
      role: dietitian
      time_limit: 72h
      on_timeout: {action: escalate, role: coordinator, then: {time_limit: 72h, action: continue}}
    with: {glucose_mean_target: $glucose_target, weight_change_limit: 5}
    next: end
`

const dietitianID = "7d1c2a4e-1111-4a3b-9c8d-0000000000d1"

// dietWorld runs the diet-only journey with the diet activities mocked.
type dietWorld struct {
	env       *testsuite.TestWorkflowEnvironment
	in        workflows.JourneyInput
	mu        sync.Mutex
	generated []contract.GenerateDietPlanInput
	reviewed  []contract.ReviewDietPlanInput
	meals     []contract.RecordMealInput
	ended     []contract.EndDietAssignmentInput
	// infeasible makes these revisions infeasible.
	infeasible map[int]bool
}

func newDietWorld(t *testing.T) *dietWorld {
	t.Helper()
	return newDietWorldOn(t, dietPathway)
}

func newDietWorldOn(t *testing.T, src string) *dietWorld {
	t.Helper()
	env, in := newJourneyEnv(t, mustPlan(t, src))
	w := &dietWorld{env: env, in: in, infeasible: map[int]bool{}}
	env.RegisterActivity(&activities.Diet{})
	env.OnActivity(dietActs.GenerateDietPlan, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.GenerateDietPlanInput) (contract.DietPlanSummary, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.generated = append(w.generated, in)
		adj := in.Adjustment
		if in.Trigger == diet.TriggerGlucose {
			adj.CarbohydrateSteps++
		}
		sum := contract.DietPlanSummary{PlanID: fmt.Sprintf("plan-%d", in.Revision), Revision: in.Revision, Status: care.DietAwaitingReview,
			Trigger: in.Trigger, Adjustment: adj, Complete: true, Restricted: []string{"grapefruit"}, DietitianID: dietitianID,
			Targets: diet.Targets{EnergyKcal: 1660, Energy: diet.Target{Range: diet.Range{Min: 1577, Max: 1743}, Unit: "kcal"},
				Carbohydrate: diet.Target{Range: diet.Range{Min: 187, Max: 228}, Unit: "g"}, Protein: diet.Target{Range: diet.Range{Min: 62, Max: 83}, Unit: "g"},
				Fat: diet.Target{Range: diet.Range{Min: 37, Max: 55}, Unit: "g"}, Fibre: diet.Target{Range: diet.Range{Min: 23}, Unit: "g"},
				Sodium: diet.Target{Range: diet.Range{Max: 2000}, Unit: "mg"}}}
		if w.infeasible[in.Revision] {
			sum.Status, sum.Infeasible = care.DietInfeasible, "no choice of the foods meets every target"
		}
		return sum, nil
	})
	env.OnActivity(dietActs.ReviewDietPlan, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.ReviewDietPlanInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.reviewed = append(w.reviewed, in)
		return nil
	})
	env.OnActivity(dietActs.EndDietAssignment, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.EndDietAssignmentInput) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ended = append(w.ended, in)
		return nil
	})
	env.OnActivity(dietActs.RecordMeal, mock.Anything, mock.Anything).Return(func(_ context.Context, in contract.RecordMealInput) (diet.Nutrients, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.meals = append(w.meals, in)
		return diet.Nutrients{EnergyKcal: 450, CarbohydrateG: 70, ProteinG: 15, FatG: 12, FibreG: 9, SodiumMg: 300}, nil
	})
	return w
}

// review sends the dietitian's review after delay.
func (w *dietWorld) review(delay time.Duration, req workflows.ReviewDietPlanRequest) *updateResult {
	r := &updateResult{}
	w.env.RegisterDelayedCallback(func() {
		w.env.UpdateWorkflow(workflows.UpdateReviewDietPlan, "", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { r.rejected = err },
			OnAccept:   func() { r.accepted = true },
			OnComplete: func(v any, err error) { r.err = err },
		}, req)
	}, delay)
	return r
}

func (w *dietWorld) reading(delay time.Duration, id, kind string, value float64, unit string) {
	w.env.RegisterDelayedCallback(func() {
		w.env.SignalWorkflow(workflows.SignalReading, workflows.Reading{ReadingID: id, Kind: kind, Value: value, Unit: unit, At: w.env.Now()})
	}, delay)
}

func (w *dietWorld) dietInfo(t *testing.T, at time.Duration, into *workflows.DietPlanInfo) {
	w.env.RegisterDelayedCallback(func() {
		v, err := w.env.QueryWorkflow(workflows.QueryDietPlan)
		if err != nil {
			t.Errorf("query %s: %v", workflows.QueryDietPlan, err)
			return
		}
		if err := v.Get(into); err != nil {
			t.Error(err)
		}
	}, at)
}

func approve(plan string) workflows.ReviewDietPlanRequest {
	return workflows.ReviewDietPlanRequest{Actor: workflows.Actor{ID: dietitianID, Role: "dietitian"}, PlanID: plan, Action: workflows.DietApprove}
}

const day = 24 * time.Hour

func TestDietRevisionTriggeredByGlucose(t *testing.T) {
	w := newDietWorld(t)
	w.reading(30*time.Minute, "g0", "glucose", 260, "mg/dL") // before any plan is in force: ignored
	first := w.review(time.Hour, approve("plan-1"))
	// Two high readings are not yet a trend; the third makes the 7-day mean 191 mg/dL.
	w.reading(1*day, "g1", "glucose", 190, "mg/dL")
	w.reading(2*day, "g2", "glucose", 11.1, "mmol/L") // 200 mg/dL
	w.reading(2*day+time.Minute, "g2", "glucose", 11.1, "mmol/L")
	var before workflows.DietPlanInfo
	w.dietInfo(t, 2*day+time.Hour, &before)
	w.reading(3*day, "g3", "glucose", 183, "mg/dL")
	second := w.review(3*day+2*time.Hour, approve("plan-2"))
	var after workflows.DietPlanInfo
	w.dietInfo(t, 4*day, &after)
	w.env.ExecuteWorkflow(workflows.Journey, w.in)

	st := result(t, w.env)
	if first.rejected != nil || first.err != nil || second.rejected != nil || second.err != nil {
		t.Fatalf("reviews: %+v %+v", first, second)
	}
	if len(w.generated) != 2 || w.generated[0].Trigger != "initial" || w.generated[1].Trigger != diet.TriggerGlucose {
		t.Fatalf("generated %+v", w.generated)
	}
	if w.generated[1].Revision != 2 || w.generated[1].Adjustment.CarbohydrateSteps != 0 {
		t.Errorf("revision 2 input %+v (the activity applies the glucose step to the adjustment it is given)", w.generated[1])
	}
	if len(w.reviewed) != 2 || w.reviewed[1].PlanID != "plan-2" || w.reviewed[1].ActorID != dietitianID {
		t.Errorf("reviewed %+v", w.reviewed)
	}
	if before.InForce != 1 || before.GlucoseMean7d == nil || *before.GlucoseMean7d < 194 || *before.GlucoseMean7d > 196 || before.Revision != 1 {
		t.Errorf("after two readings: %+v", before)
	}
	if after.InForce != 2 || after.Trigger != diet.TriggerGlucose || after.Status != "in_force" || after.GlucoseMean7d != nil ||
		len(after.Revisions) != 2 || after.Revisions[0].Status != care.DietSuperseded || after.Revisions[1].Status != care.DietApproved {
		t.Errorf("after the revision: %+v", after)
	}
	if got := stepIDs(st); got != "diet=timed_out" || st.Status != workflows.StatusCompleted {
		t.Errorf("steps %s, status %s", got, st.Status)
	}
	// The dietitian is assigned for the stage (10 days here, longer than a
	// revision's review: 72h, then 72h after the escalation), and released
	// when the step ends.
	stageEnd := st.Steps[0].StartedAt.Add(10 * day)
	if after.DietitianID != dietitianID || !w.generated[0].AssignUntil.Equal(stageEnd) || !w.generated[1].AssignUntil.Equal(stageEnd) {
		t.Errorf("assignment: dietitian %q, until %v then %v, want %v", after.DietitianID, w.generated[0].AssignUntil, w.generated[1].AssignUntil, stageEnd)
	}
	if len(w.ended) != 1 || w.ended[0].Step != "diet" || w.ended[0].JourneyID != st.JourneyID {
		t.Errorf("assignment ends %+v, want one for the diet step", w.ended)
	}
}

func TestDietWeightChangeRevisesEnergy(t *testing.T) {
	w := newDietWorld(t)
	w.reading(30*time.Minute, "w0", "weight", 80, "kg") // the baseline
	w.review(time.Hour, approve("plan-1"))
	w.reading(2*day, "w1", "weight", 83.5, "kg") // +4.4%: within the limit
	w.reading(5*day, "w2", "weight", 84.5, "kg") // +5.6%: past it
	w.review(5*day+time.Hour, approve("plan-2"))
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	result(t, w.env)
	if len(w.generated) != 2 || w.generated[1].Trigger != diet.TriggerWeightGain {
		t.Fatalf("generated %+v", w.generated)
	}
}

func TestDietDietitianTimeLimitEscalates(t *testing.T) {
	w := newDietWorld(t)
	var waiting, late workflows.JourneyState
	for at, into := range map[time.Duration]*workflows.JourneyState{71 * time.Hour: &waiting, 73 * time.Hour: &late} {
		w.env.RegisterDelayedCallback(func() {
			v, err := w.env.QueryWorkflow(workflows.QueryJourneyState)
			if err == nil {
				err = v.Get(into)
			}
			if err != nil {
				t.Error(err)
			}
		}, at)
	}
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	st := result(t, w.env)
	if waiting.NeedsAttention || len(waiting.Waiting) != 1 || waiting.Waiting[0].For != "dietitian" {
		t.Errorf("before the limit: attention %v, waiting %+v", waiting.NeedsAttention, waiting.Waiting)
	}
	if !late.NeedsAttention || !strings.Contains(late.AttentionReason, "coordinator") {
		t.Errorf("after the limit: attention %v (%q)", late.NeedsAttention, late.AttentionReason)
	}
	// Nobody answered in the further 72 hours: the step continues without a plan in force.
	if got := stepIDs(st); got != "diet=timed_out" || st.NeedsAttention || len(w.reviewed) != 0 {
		t.Errorf("steps %s, attention %v, reviewed %+v", got, st.NeedsAttention, w.reviewed)
	}
}

func TestDietLateApprovalAfterEscalation(t *testing.T) {
	w := newDietWorld(t)
	ok := w.review(100*time.Hour, approve("plan-1"))
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	st := result(t, w.env)
	if ok.err != nil || ok.rejected != nil || len(w.reviewed) != 1 {
		t.Fatalf("late review %+v, reviewed %+v", ok, w.reviewed)
	}
	if st.NeedsAttention || stepIDs(st) != "diet=timed_out" {
		t.Errorf("attention %v, steps %s", st.NeedsAttention, stepIDs(st))
	}
}

func TestDietReviewValidatorAndAmendment(t *testing.T) {
	w := newDietWorld(t)
	w.infeasible[1] = true
	doctor := w.review(time.Hour, workflows.ReviewDietPlanRequest{Actor: workflows.Actor{ID: doctorID, Role: "doctor"}, PlanID: "plan-1", Action: workflows.DietAmend, Reason: "x"})
	approveInfeasible := w.review(time.Hour+time.Minute, approve("plan-1"))
	noReason := w.review(time.Hour+2*time.Minute, workflows.ReviewDietPlanRequest{Actor: workflows.Actor{ID: dietitianID, Role: "dietitian"}, PlanID: "plan-1", Action: workflows.DietAmend, Reason: "  "})
	wrongPlan := w.review(time.Hour+3*time.Minute, workflows.ReviewDietPlanRequest{Actor: workflows.Actor{ID: dietitianID, Role: "dietitian"}, PlanID: "plan-9", Action: workflows.DietApprove})
	badCode := w.review(time.Hour+4*time.Minute, workflows.ReviewDietPlanRequest{Actor: workflows.Actor{ID: dietitianID, Role: "dietitian"}, PlanID: "plan-1", Action: workflows.DietAmend, Reason: "r", ExcludeFoods: []string{"grapefruit"}})
	amend := w.review(2*time.Hour, workflows.ReviewDietPlanRequest{Actor: workflows.Actor{ID: dietitianID, Role: "dietitian"}, PlanID: "plan-1",
		Action: workflows.DietAmend, Reason: "patient fasts on Mondays", EnergyKcal: 1500, ExcludeFoods: []string{"A015"}})
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	result(t, w.env)
	for name, r := range map[string]*updateResult{"doctor": doctor, "approve infeasible": approveInfeasible, "no reason": noReason, "wrong plan": wrongPlan, "bad code": badCode} {
		if r.rejected == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if !strings.Contains(doctor.rejected.Error(), "dietitian") || !strings.Contains(noReason.rejected.Error(), "reason") {
		t.Errorf("rejections: %v; %v", doctor.rejected, noReason.rejected)
	}
	if amend.rejected != nil || amend.err != nil {
		t.Fatalf("amend: %+v", amend)
	}
	if len(w.generated) != 2 || w.generated[1].Trigger != "amendment" || w.generated[1].Adjustment.EnergyKcal != 1500 ||
		len(w.generated[1].ExcludeFoods) != 1 || w.generated[1].ExcludeFoods[0] != "A015" {
		t.Fatalf("generated %+v", w.generated)
	}
	if len(w.reviewed) != 1 || w.reviewed[0].PlanID != "plan-2" || w.reviewed[0].Action != "amend" || w.reviewed[0].Reason != "patient fasts on Mondays" {
		t.Errorf("reviewed %+v", w.reviewed)
	}
}

func TestDietMealLogAndIntake(t *testing.T) {
	w := newDietWorld(t)
	w.review(time.Hour, approve("plan-1"))
	meal := workflows.MealLog{ClientID: "m-1", EatenAt: time.Date(2030, 1, 1, 8, 0, 0, 0, time.FixedZone("IST", 19800)), Slot: "breakfast",
		Items: []care.MealItem{{Code: "A010", Grams: 80}}}
	for i, d := range []time.Duration{2 * time.Hour, 2*time.Hour + time.Minute} { // the second is a retry
		w.env.RegisterDelayedCallback(func() { w.env.SignalWorkflow(workflows.SignalLogMeal, meal) }, d+time.Duration(i))
	}
	var info workflows.DietPlanInfo
	w.dietInfo(t, 3*time.Hour, &info)
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	result(t, w.env)
	if len(w.meals) != 1 || w.meals[0].ClientID != "m-1" || w.meals[0].PatientID != patient {
		t.Fatalf("recorded %+v", w.meals)
	}
	if len(info.Intake) != 1 || info.Intake[0].Date != "2030-01-01" || info.Intake[0].Meals != 1 {
		t.Fatalf("intake %+v", info.Intake)
	}
	lines := map[string]diet.IntakeLine{}
	for _, l := range info.Intake[0].Lines {
		lines[l.Nutrient] = l
	}
	if lines["energy"].Intake != 450 || lines["energy"].Status != "below" || lines["sodium"].Status != "within" || lines["energy"].Target.Min != 1577 {
		t.Errorf("lines %+v", lines)
	}
}

func TestDietReviewIntervalRevisesAndNeedsApprovalAgain(t *testing.T) {
	src := strings.Replace(dietPathway, "weight_change_limit: 5}", "weight_change_limit: 5, review_interval: 4d}", 1)
	w := newDietWorldOn(t, src)
	w.review(time.Hour, approve("plan-1"))
	// The review at day 4 (plus the hour) is never approved: the coordinator is
	// alerted, the earlier plan stays in force, and the stage runs to day 10.
	var pending workflows.DietPlanInfo
	w.dietInfo(t, 4*day+2*time.Hour, &pending)
	w.env.ExecuteWorkflow(workflows.Journey, w.in)
	st := result(t, w.env)
	if len(w.generated) < 2 || w.generated[1].Trigger != "review_interval" {
		t.Fatalf("generated %+v", w.generated)
	}
	if pending.Status != care.DietAwaitingReview || pending.Revision != 2 || pending.InForce != 1 {
		t.Errorf("at the review: %+v", pending)
	}
	if len(w.reviewed) != 1 || stepIDs(st) != "diet=timed_out" || st.NeedsAttention {
		t.Errorf("reviewed %+v, steps %s, attention %v", w.reviewed, stepIDs(st), st.NeedsAttention)
	}
}
