package contract

import (
	"time"

	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/diet"
)

// Application error types of the diet activities.
const (
	// ErrTypeDietPlanNotFound: no such diet plan revision awaits review.
	ErrTypeDietPlanNotFound = "DietPlanNotFound"
	// ErrTypeInvalidMeal: the logged meal names an unknown food or an impossible amount.
	ErrTypeInvalidMeal = "InvalidMeal"
)

// GenerateDietPlanInput asks for revision Revision of a journey step's plan.
type GenerateDietPlanInput struct {
	JourneyID  string          `json:"journey_id"`
	Step       string          `json:"step"`
	Revision   int             `json:"revision"`
	PatientID  string          `json:"patient_id"`
	Trigger    string          `json:"trigger"` // initial, glucose, weight_gain, weight_loss, review_interval, amendment
	Adjustment diet.Adjustment `json:"adjustment"`
	// ExcludeFoods are IFCT codes the dietitian's amendments left out.
	ExcludeFoods []string `json:"exclude_foods,omitempty"`
	// AssignUntil, when set, assigns the step's dietitian to the patient
	// until then at the latest (store.AssignDietitian): the relation that
	// lets the dietitian see the patient and review the plan.
	AssignUntil time.Time `json:"assign_until,omitzero"`
}

// DietPlanSummary is what the journey keeps of a revision: no meals, no
// food names.
type DietPlanSummary struct {
	PlanID   string       `json:"plan_id"`
	Revision int          `json:"revision"`
	Status   string       `json:"status"` // awaiting_review or infeasible
	Trigger  string       `json:"trigger"`
	Targets  diet.Targets `json:"targets"`
	// Adjustment is what the revisions have changed so far, for the next one.
	Adjustment diet.Adjustment `json:"adjustment"`
	Totals     diet.Nutrients  `json:"totals"`
	Infeasible string          `json:"infeasible,omitempty"`
	Excluded   int             `json:"excluded_foods"`
	Restricted []string        `json:"restricted_items"` // knowledge graph foods the plan respects
	// Complete is false when a medicine's name could not be resolved, so
	// its food interactions may be missing: the dietitian checks by hand.
	Complete bool `json:"complete"`
	// DietitianID is the dietitian assigned to review it ("" when none
	// could be assigned: there is no dietitian).
	DietitianID string `json:"dietitian_id,omitempty"`
}

// EndDietAssignmentInput names the diet step whose dietitian is released.
type EndDietAssignmentInput struct {
	JourneyID string    `json:"journey_id"`
	Step      string    `json:"step"`
	EndedAt   time.Time `json:"ended_at"`
}

// ReviewDietPlanInput records the dietitian's review of a revision.
type ReviewDietPlanInput struct {
	PlanID     string    `json:"plan_id"`
	ActorID    string    `json:"actor_id"`
	Action     string    `json:"action"`
	Reason     string    `json:"reason,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at"`
}

// RecordMealInput is a meal the patient logged.
type RecordMealInput struct {
	JourneyID string          `json:"journey_id"`
	PatientID string          `json:"patient_id"`
	ClientID  string          `json:"client_id"`
	EatenAt   time.Time       `json:"eaten_at"`
	Slot      string          `json:"slot"`
	Items     []care.MealItem `json:"items"`
}
