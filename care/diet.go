package care

// Diet plan statuses and triggers.
const (
	DietAwaitingReview = "awaiting_review"
	DietInfeasible     = "infeasible"
	DietApproved       = "approved"
	DietSuperseded     = "superseded"

	DietTriggerInitial   = "initial"
	DietTriggerAmendment = "amendment"
)

// MealItem is an amount of one IFCT food.
type MealItem struct {
	Code  string  `json:"code"`
	Grams float64 `json:"grams"`
}
