package activities_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/store"
)

// The diet tests use demo patient 15 only: its clinical facts and diet
// preference are set here.

func dietActivities(t *testing.T) (context.Context, *store.Store, *activities.Diet, *testsuite.TestActivityEnvironment) {
	t.Helper()
	ctx, s := seededStore(t)
	foods, err := diet.LoadIFCT(diet.DefaultIFCTPath())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.SeedFoods(ctx, foods); err != nil || n != len(foods) {
		t.Fatalf("seed foods: %d, %v", n, err)
	}
	k, _ := knowledgeActivities(t) // loads the graph
	gl, err := diet.LoadGuidelines()
	if err != nil {
		t.Fatal(err)
	}
	a := &activities.Diet{Store: s, Graph: k.Graph, Guidelines: gl}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return ctx, s, a, env
}

func TestDietPlanRespectsMedicinesAllergiesAndPreferences(t *testing.T) {
	ctx, s, a, env := dietActivities(t)
	patientID := store.SeedPatientID(15)
	for _, q := range []string{
		`DELETE FROM condition WHERE patient_id = $1`, `DELETE FROM medication_statement WHERE patient_id = $1`,
		`DELETE FROM allergy_intolerance WHERE patient_id = $1`,
		`INSERT INTO condition (id, patient_id, code) VALUES (gen_random_uuid(), $1, 'E11.9')`,
		`INSERT INTO medication_statement (id, patient_id, drug) VALUES (gen_random_uuid(), $1, 'simvastatin'), (gen_random_uuid(), $1, 'warfarin')`,
		`INSERT INTO allergy_intolerance (id, patient_id, substance) VALUES (gen_random_uuid(), $1, 'Peanut')`,
	} {
		if _, err := s.Pool.Exec(ctx, q, patientID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetDietPreference(ctx, patientID, store.DietPreference{Diet: diet.Vegetarian, Cuisine: "south-indian", WeightKg: 60}); err != nil {
		t.Fatal(err)
	}
	journeyID := "journey:" + patientID + ":type-2-diabetes:" + uuid.NewString()[:8]
	in := contract.GenerateDietPlanInput{JourneyID: journeyID, Step: "diet", Revision: 1, PatientID: patientID, Trigger: care.DietTriggerInitial}
	sum := run[contract.DietPlanSummary](t, env, a.GenerateDietPlan, in)
	if sum.Status != care.DietAwaitingReview || !sum.Complete || sum.Targets.VitaminK == nil || !slices.Contains(sum.Restricted, "grapefruit") {
		t.Fatalf("summary = %+v", sum)
	}
	if again := run[contract.DietPlanSummary](t, env, a.GenerateDietPlan, in); again.PlanID != sum.PlanID {
		t.Errorf("a retried generation wrote a second plan: %s, %s", sum.PlanID, again.PlanID)
	}
	rec, err := s.DietPlanRevision(ctx, journeyID, "diet", 1)
	if err != nil || rec.Plan == nil {
		t.Fatalf("stored revision: %+v, %v", rec, err)
	}
	foods := map[string]diet.Food{}
	all, _ := s.Foods(ctx)
	for _, f := range all {
		foods[f.Code] = f
	}
	for _, m := range rec.Plan.Meals {
		for _, it := range m.Items {
			f := foods[it.Code]
			if it.Code == "E056" || it.Code == "H012" || it.Code == "T005" || f.Diet != diet.Vegetarian {
				t.Errorf("%s (%s, %s) is in the plan", it.Code, f.Name, f.Diet)
			}
		}
	}
	vk := rec.Plan.Totals.VitaminKUg
	if !rec.Targets.VitaminK.Contains(vk, 0.02) {
		t.Errorf("vitamin K %.1f ug is outside the steady band %+v", vk, rec.Targets.VitaminK.Range)
	}

	// The dietitian approves; a meal is logged twice (a retry) and counted once.
	var dietitian string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM practitioner WHERE specialty_code = 'nutrition' ORDER BY id LIMIT 1`).Scan(&dietitian); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ExecuteActivity(a.ReviewDietPlan, contract.ReviewDietPlanInput{PlanID: sum.PlanID, ActorID: dietitian, Action: "approve", ReviewedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	eaten := time.Date(2026, 3, 2, 8, 30, 0, 0, time.FixedZone("IST", 19800))
	meal := contract.RecordMealInput{JourneyID: journeyID, PatientID: patientID, ClientID: "m-1", EatenAt: eaten, Slot: "breakfast",
		Items: []care.MealItem{{Code: "A010", Grams: 80}, {Code: "L002", Grams: 200}}}
	got := run[diet.Nutrients](t, env, a.RecordMeal, meal)
	want := diet.Nutrients{}.Add(foods["A010"].Nutrients, 80).Add(foods["L002"].Nutrients, 200)
	if !near(got.EnergyKcal, want.EnergyKcal) || !near(got.ProteinG, want.ProteinG) {
		t.Errorf("meal nutrients %+v, want %+v", got, want)
	}
	run[diet.Nutrients](t, env, a.RecordMeal, meal)
	intake, err := s.DailyIntake(ctx, journeyID, "2026-03-02")
	if err != nil {
		t.Fatal(err)
	}
	if intake.Meals != 1 || intake.PlanRevision != 1 || intake.Lines[0].Nutrient != "energy" || !near(intake.Lines[0].Intake, want.EnergyKcal) || intake.Lines[0].Status != "below" {
		t.Errorf("intake = %+v", intake)
	}
	if _, err := env.ExecuteActivity(a.RecordMeal, contract.RecordMealInput{JourneyID: journeyID, PatientID: patientID, ClientID: "m-2",
		EatenAt: eaten, Slot: "lunch", Items: []care.MealItem{{Code: "Z999", Grams: 80}}}); err == nil {
		t.Error("a meal with an unknown food was recorded")
	}
}

func near(a, b float64) bool { return a > b-0.2 && a < b+0.2 }
