package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/knowledge"
	"github.com/carepath/carepath/store"
)

// Diet makes and records diet plans: the patient's conditions, medicines
// and preferences from PostgreSQL, the food-drug interactions from the
// knowledge graph, IFCT 2017 foods from PostgreSQL, and the planner in
// package diet. Plans support the dietitian, who approves each revision.
type Diet struct {
	Store      *store.Store
	Graph      *knowledge.Graph
	Guidelines *diet.Guidelines
}

// GenerateDietPlan makes one revision and stores it for the dietitian's
// review. A plan that cannot meet the targets is stored as infeasible with
// the reason; the journey asks the dietitian to amend it.
func (a *Diet) GenerateDietPlan(ctx context.Context, in contract.GenerateDietPlanInput) (contract.DietPlanSummary, error) {
	dietitian, err := a.assignDietitian(ctx, in)
	if err != nil {
		return contract.DietPlanSummary{}, err
	}
	if existing, err := a.Store.DietPlanRevision(ctx, in.JourneyID, in.Step, in.Revision); err == nil {
		s := summarize(existing, true) // written by an earlier attempt
		s.Adjustment = a.Guidelines.Revise(in.Adjustment, in.Trigger)
		s.DietitianID = dietitian
		return s, nil
	}
	profile, err := a.Store.PatientDietProfile(ctx, in.PatientID)
	if err != nil {
		return contract.DietPlanSummary{}, dietError("generate diet plan", err)
	}
	restrictions, complete, err := a.restrictions(ctx, profile.ActiveDrugs)
	if err != nil {
		return contract.DietPlanSummary{}, err
	}
	patient := diet.Patient{Sex: profile.Sex, WeightKg: profile.Preference.WeightKg, Conditions: profile.Conditions}
	var exclusions []diet.Exclusion
	for _, r := range restrictions {
		switch r.Advice {
		case "avoid", "limit":
			rules := make([]string, 0, len(r.Because))
			for _, b := range r.Because {
				rules = append(rules, b.RuleID)
			}
			exclusions = append(exclusions, diet.Exclusion{Item: r.Item, Advice: r.Advice, Groups: r.IFCTGroups, Codes: r.IFCTFoods, Rules: rules})
		case "keep-steady":
			patient.SteadyVitaminK = patient.SteadyVitaminK || r.Item == "vitamin-k-foods"
		}
	}
	prefs := diet.Preferences{Diet: profile.Preference.Diet, Cuisine: profile.Preference.Cuisine,
		Allergies: a.allergyClasses(profile.Allergies), ExcludeFoods: append(slices.Clone(profile.Preference.ExcludeFoods), in.ExcludeFoods...)}
	rec := store.DietPlan{JourneyID: in.JourneyID, Step: in.Step, Revision: in.Revision, PatientID: in.PatientID,
		Trigger: in.Trigger, Exclusions: exclusions}
	adj := a.Guidelines.Revise(in.Adjustment, in.Trigger)
	targets, err := a.Guidelines.TargetsFor(patient, adj)
	switch {
	case errors.Is(err, diet.ErrConflictingTargets):
		rec.Infeasible = err.Error()
	case err != nil:
		return contract.DietPlanSummary{}, temporal.NewNonRetryableApplicationError("generate diet plan: targets: "+err.Error(), contract.ErrTypeInvalidInput, nil)
	default:
		rec.Targets = targets
		if err := a.plan(ctx, &rec, prefs, exclusions); err != nil {
			return contract.DietPlanSummary{}, err
		}
	}
	saved, err := a.Store.SaveDietPlan(ctx, rec)
	if err != nil {
		return contract.DietPlanSummary{}, dietError("generate diet plan", err)
	}
	s := summarize(saved, complete)
	s.Adjustment, s.DietitianID = adj, dietitian
	return s, nil
}

// assignDietitian keeps the step's dietitian assigned until in.AssignUntil.
// With no dietitian to assign the plan is still made: its review waits and
// escalates as the pathway says, and a dietitian with another relation to
// the patient (a consent) may still review it.
func (a *Diet) assignDietitian(ctx context.Context, in contract.GenerateDietPlanInput) (string, error) {
	if in.AssignUntil.IsZero() {
		return "", nil
	}
	id, err := a.Store.AssignDietitian(ctx, in.JourneyID, in.Step, in.PatientID, in.AssignUntil)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return id, dietError("assign dietitian", err)
}

// EndDietAssignment ends the step's care assignment when the step ends:
// the dietitian's access through it lapses.
func (a *Diet) EndDietAssignment(ctx context.Context, in contract.EndDietAssignmentInput) error {
	return dietError("end diet assignment", a.Store.EndCareAssignment(ctx, in.JourneyID, in.Step, in.EndedAt))
}

// plan runs the planner over the stored foods; an infeasible plan is
// recorded with its reason rather than failing the activity.
func (a *Diet) plan(ctx context.Context, rec *store.DietPlan, prefs diet.Preferences, exclusions []diet.Exclusion) error {
	foods, err := a.Store.Foods(ctx)
	if err != nil {
		return fmt.Errorf("generate diet plan: %w", err)
	}
	p, err := a.Guidelines.MakePlan(diet.Request{Foods: foods, Targets: rec.Targets, Prefs: prefs, Exclusions: exclusions})
	if errors.Is(err, diet.ErrInfeasible) {
		rec.Infeasible = err.Error()
		return nil
	}
	if err != nil {
		return fmt.Errorf("generate diet plan: %w", err)
	}
	rec.Plan = &p
	return nil
}

// restrictions asks the knowledge graph about the patient's medicines.
func (a *Diet) restrictions(ctx context.Context, drugs []string) ([]knowledge.FoodRestriction, bool, error) {
	if len(drugs) == 0 {
		return nil, true, nil
	}
	rs, names, err := a.Graph.FoodRestrictions(ctx, drugs)
	if err != nil {
		return nil, false, knowledgeActivityError("diet restrictions", err)
	}
	complete := true
	for _, n := range names {
		complete = complete && n.Status == knowledge.Resolved
	}
	return rs, complete, nil
}

// allergyClasses keeps the patient's allergies that name a food allergen
// class the planner knows (milk, egg, peanut, ...).
func (a *Diet) allergyClasses(substances []string) []string {
	var out []string
	for _, s := range substances {
		key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "-")
		if _, ok := a.Guidelines.Meals.Allergens[key]; ok {
			out = append(out, key)
		}
	}
	return out
}

func summarize(p store.DietPlan, complete bool) contract.DietPlanSummary {
	s := contract.DietPlanSummary{PlanID: p.ID, Revision: p.Revision, Status: p.Status, Trigger: p.Trigger, Targets: p.Targets,
		Infeasible: p.Infeasible, Restricted: []string{}, Complete: complete}
	if p.Plan != nil {
		s.Totals, s.Excluded = p.Plan.Totals, len(p.Plan.Excluded)
	}
	for _, e := range p.Exclusions {
		s.Restricted = append(s.Restricted, e.Item)
	}
	return s
}

// ReviewDietPlan puts the reviewed revision in force; the revisions before
// it (the one an amendment replaced among them) are superseded.
func (a *Diet) ReviewDietPlan(ctx context.Context, in contract.ReviewDietPlanInput) error {
	_, err := a.Store.ReviewDietPlan(ctx, store.DietReview{PlanID: in.PlanID, ActorID: in.ActorID, Action: in.Action,
		Reason: in.Reason, Reviewed: in.ReviewedAt})
	return dietError("review diet plan", err)
}

// RecordMeal stores the meal with its nutrients and returns them.
func (a *Diet) RecordMeal(ctx context.Context, in contract.RecordMealInput) (diet.Nutrients, error) {
	m, err := a.Store.RecordMeal(ctx, store.MealLog{JourneyID: in.JourneyID, PatientID: in.PatientID, ClientID: in.ClientID,
		EatenAt: in.EatenAt, Slot: in.Slot, Items: in.Items})
	if errors.Is(err, store.ErrInvalid) {
		return diet.Nutrients{}, temporal.NewNonRetryableApplicationError("record meal: "+err.Error(), contract.ErrTypeInvalidMeal, nil)
	}
	if err != nil {
		return diet.Nutrients{}, dietError("record meal", err)
	}
	return m.Totals, nil
}

// dietError marks what retrying cannot fix; messages carry no free text.
func dietError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(op+": invalid", contract.ErrTypeInvalidInput, nil)
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(op+": "+err.Error(), contract.ErrTypeDietPlanNotFound, nil)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}
