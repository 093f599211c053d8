package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// dietCheckPathway is a journey that is only its diet stage.
const dietCheckPathway = `id: diet-check
version: 1
title: Diet check
sources: [{id: test, citation: Test fixture}]
parameters:
  glucose_target: {type: number, value: 154, unit: mg/dL, source: test}
steps:
  - id: diet
    type: diet
    time_limit: 1h
    on_timeout: continue
    approval:
      role: dietitian
      time_limit: 1h
      on_timeout: {action: escalate, role: coordinator, then: {time_limit: 1h, action: continue}}
    with: {glucose_mean_target: $glucose_target, weight_change_limit: 5}
    next: end
`

// TestDietPlanThroughTheAPI runs a diet stage on the dev server with the
// real activities (PostgreSQL, Neo4j, the LP planner): the plan respects
// metronidazole and the vegetarian preference, the dietitian the step
// assigned approves it (no consent needed: the assignment relates them), a
// meal is logged and counted, and high glucose readings revise the plan.
func TestDietPlanThroughTheAPI(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	loadDietData(t, h)
	patient := store.SeedPatientID(16)
	for _, q := range []string{
		`DELETE FROM condition WHERE patient_id = $1`, `DELETE FROM medication_statement WHERE patient_id = $1`,
		`INSERT INTO condition (id, patient_id, code) VALUES (gen_random_uuid(), $1, 'E11')`,
		`INSERT INTO medication_statement (id, patient_id, drug) VALUES (gen_random_uuid(), $1, 'metronidazole')`,
	} {
		if _, err := h.store.Pool.Exec(ctx, q, patient); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.store.SetDietPreference(ctx, patient, store.DietPreference{Diet: diet.Vegetarian}); err != nil {
		t.Fatal(err)
	}
	episode := testenv.FreshEpisode(t, h.store, patient, "diet-check")
	resp, raw := h.do(t, http.MethodPost, "/api/v1/journeys", fmt.Sprintf(`{"patient_id":%q,"pathway_id":"diet-check","episode":%d}`, patient, episode))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	id := testenv.JourneyID(t, h.store, patient, "diet-check", episode)
	base := "/api/v1/journeys/" + id

	plan := waitDiet(t, h, base, func(d dietView) bool { return d.State.Status == store.DietAwaitingReview })
	if plan.Plan == nil || plan.Plan.Plan == nil || len(plan.Plan.Exclusions) == 0 || plan.Plan.Exclusions[0].Item != "alcohol" {
		t.Fatalf("revision 1: %+v", plan.Plan)
	}
	for _, m := range plan.Plan.Plan.Meals {
		for _, it := range m.Items {
			if it.Code == "K001" {
				t.Errorf("toddy (alcohol) is in a plan for a patient on metronidazole")
			}
		}
	}

	// The step assigned a dietitian, whose care assignment lets them see the
	// patient. Only a dietitian reviews; an amendment needs a reason.
	dietitian := plan.State.DietitianID
	if dietitian == "" {
		t.Fatalf("no dietitian assigned: %+v", plan.State)
	}
	review := fmt.Sprintf(`{"plan_id":%q,"action":"approve"}`, plan.State.PlanID)
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/review", review, uuid.NewString(), auth.RoleDoctor); resp.StatusCode != http.StatusForbidden {
		t.Errorf("doctor review: %d %s", resp.StatusCode, raw)
	}
	// A dietitian who sees the patient (a consent) but is not the one the
	// step assigned may not review: 403, and the plan still awaits review.
	unassigned, _ := testenv.NewPractitioner(t, h.store, "Unassigned Dietitian")
	if _, err := h.store.Pool.Exec(ctx, `INSERT INTO consent (id, patient_id, practitioner_id, status) VALUES ($1, $2, $3, 'active')`,
		uuid.New(), patient, unassigned); err != nil {
		t.Fatal(err)
	}
	if resp, raw := h.doAs(t, http.MethodGet, base+"/diet", "", unassigned, auth.RoleDietitian); resp.StatusCode != http.StatusOK {
		t.Fatalf("the consented dietitian reads the plan: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/review", review, unassigned, auth.RoleDietitian); resp.StatusCode != http.StatusForbidden {
		t.Errorf("unassigned dietitian's review: %d %s, want 403", resp.StatusCode, raw)
	}
	if after := waitDiet(t, h, base, func(dietView) bool { return true }); after.State.Status != store.DietAwaitingReview ||
		after.State.InForce != 0 || after.State.ReviewedBy != "" {
		t.Errorf("after the refused review: %+v", after.State)
	}
	noReason := fmt.Sprintf(`{"plan_id":%q,"action":"amend"}`, plan.State.PlanID)
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/review", noReason, dietitian, auth.RoleDietitian); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "/reason") {
		t.Errorf("amend without reason: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/review", review, dietitian, auth.RoleDietitian); resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"in_force_revision":1`) {
		t.Fatalf("approve: %d %s", resp.StatusCode, raw)
	}

	// A meal with an unknown food is refused naming the field; a good one is counted once.
	bad := `{"client_id":"m-0","eaten_at":"2026-03-02T08:00:00+05:30","slot":"breakfast","items":[{"code":"Z999","grams":50}]}`
	if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/meals", bad, patient, auth.RolePatient); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "/items/0/code") {
		t.Errorf("bad meal: %d %s", resp.StatusCode, raw)
	}
	meal := `{"client_id":"m-1","eaten_at":"2026-03-02T08:00:00+05:30","slot":"breakfast","items":[{"code":"A010","grams":80},{"code":"L002","grams":200}]}`
	for range 2 {
		if resp, raw := h.doAs(t, http.MethodPost, base+"/diet/meals", meal, patient, auth.RolePatient); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("meal: %d %s", resp.StatusCode, raw)
		}
	}
	waitDiet(t, h, base, func(d dietView) bool { return len(d.State.Intake) == 1 })
	resp, raw = h.doAs(t, http.MethodGet, base+"/diet/intake?date=2026-03-02", "", patient, auth.RolePatient)
	var intake store.Intake
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &intake) != nil || intake.Meals != 1 || intake.Lines[0].Intake < 300 {
		t.Errorf("intake: %d %s", resp.StatusCode, raw)
	}

	if resp, raw := h.doAs(t, http.MethodGet, base+"/diet/intake", "", patient, auth.RolePatient); resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"meals":0`) {
		t.Errorf("intake today: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.doAs(t, http.MethodGet, base+"/diet/intake?date=2-March", "", patient, auth.RolePatient); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), `"date"`) {
		t.Errorf("intake on a bad date: %d %s", resp.StatusCode, raw)
	}

	// Three high glucose readings: the plan is revised and waits for the dietitian again.
	if resp, raw := h.doAs(t, http.MethodPost, base+"/readings", `{"reading_id":"r0","kind":"glucose","value":190,"unit":"kg","at":"2026-03-02T08:00:00Z"}`, patient, auth.RolePatient); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "/unit") {
		t.Errorf("bad reading: %d %s", resp.StatusCode, raw)
	}
	// Readings taken before the plan's approval do not count: their times
	// keep their fraction of a second, as the approval's does.
	for i, v := range []float64{190, 200, 210} {
		body := fmt.Sprintf(`{"reading_id":"r%d","kind":"glucose","value":%g,"unit":"mg/dL","at":%q}`, i+1, v, time.Now().UTC().Format(time.RFC3339Nano))
		if resp, raw := h.doAs(t, http.MethodPost, base+"/readings", body, patient, auth.RolePatient); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("reading: %d %s", resp.StatusCode, raw)
		}
	}
	revised := waitDiet(t, h, base, func(d dietView) bool { return d.State.Revision == 2 && d.State.Status == store.DietAwaitingReview })
	if revised.State.Trigger != diet.TriggerGlucose || revised.Plan.Targets.CarbohydrateShare.Max >= plan.Plan.Targets.CarbohydrateShare.Max {
		t.Errorf("revision 2: trigger %s, carbohydrate share %+v (was %+v)", revised.State.Trigger, revised.Plan.Targets.CarbohydrateShare, plan.Plan.Targets.CarbohydrateShare)
	}
	if err := h.deps.Temporal.CancelWorkflow(ctx, id, ""); err != nil { // the stage would run its hour
		t.Log(err)
	}
}

type dietView struct {
	State workflows.DietPlanInfo `json:"state"`
	Plan  *store.DietPlan        `json:"plan"`
}

func waitDiet(t *testing.T, h *harness, base string, ok func(dietView) bool) dietView {
	t.Helper()
	get := func() (*http.Response, []byte) { return h.do(t, http.MethodGet, base+"/diet", "") }
	return pollJSON(t, "the diet step's expected state", 90*time.Second, get, ok)
}

// loadDietData loads what the diet stage reads: the knowledge graph (its
// food-drug rules) and the IFCT food table.
func loadDietData(t *testing.T, h *harness) {
	t.Helper()
	knowledgeServer(t) // loads the graph
	foods, err := diet.LoadIFCT(diet.DefaultIFCTPath())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.SeedFoods(context.Background(), foods); err != nil {
		t.Fatal(err)
	}
}
