package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

const (
	dietRoute         = "/api/v1/journeys/:id/diet"
	dietReviewRoute   = "/api/v1/journeys/:id/diet/review"
	dietMealsRoute    = "/api/v1/journeys/:id/diet/meals"
	dietIntakeRoute   = "/api/v1/journeys/:id/diet/intake"
	journeyReadingsRt = "/api/v1/journeys/:id/readings"
)

func (s *Server) dietRoutes(r *gin.Engine) {
	r.GET(dietRoute, s.getDiet)
	r.POST(dietReviewRoute, s.reviewDiet)
	r.POST(dietMealsRoute, s.logMeal)
	r.GET(dietIntakeRoute, s.getIntake)
	r.POST(journeyReadingsRt, s.postReading)
}

// dietState asks the journey for its diet step; 409 when the journey is
// not at one.
func (s *Server) dietState(c *gin.Context) (workflows.DietPlanInfo, bool) {
	id := c.Param("id")
	var info workflows.DietPlanInfo
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return info, false
	}
	info, err := s.journeys.DietPlan(c.Request.Context(), id)
	var failed *serviceerror.QueryFailed
	if errors.As(err, &failed) {
		s.writeError(c, &conflictError{detail: "the journey has not reached its diet step"})
		return info, false
	}
	if err != nil {
		s.writeError(c, err)
		return info, false
	}
	return info, true
}

type dietResponse struct {
	State workflows.DietPlanInfo `json:"state"`
	// Plan is the revision under review or in force: targets with their
	// sources, the example meals and the exclusions applied.
	Plan *store.DietPlan `json:"plan,omitempty"`
}

// getDiet answers the journey's diet step and its current revision.
func (s *Server) getDiet(c *gin.Context) {
	info, ok := s.dietState(c)
	if !ok {
		return
	}
	out := dietResponse{State: info}
	if info.Revision > 0 {
		p, err := s.store.DietPlanRevision(c.Request.Context(), c.Param("id"), info.Step, info.Revision)
		if err != nil {
			s.writeError(c, err)
			return
		}
		out.Plan = &p
	}
	c.JSON(http.StatusOK, out)
}

type reviewDietBody struct {
	PlanID       string   `json:"plan_id"`
	Action       string   `json:"action"`
	Reason       string   `json:"reason"`
	EnergyKcal   float64  `json:"energy_kcal"`
	ExcludeFoods []string `json:"exclude_foods"`
}

// reviewDiet sends the dietitian's review. Only the dietitian the diet step
// assigned to the patient's care (an open care assignment) may review: the
// role alone, or seeing the patient through a consent, is not enough. The
// journey's validator then decides what an amendment needs.
func (s *Server) reviewDiet(c *gin.Context) {
	var body reviewDietBody
	actor, ok := s.actorAndBody(c, &body)
	if !ok {
		return
	}
	if !s.assignedReviewer(c) {
		return
	}
	var fields []FieldError
	if body.PlanID == "" {
		fields = append(fields, FieldError{Pointer: "/plan_id", Detail: "is required"})
	}
	if body.Action != workflows.DietApprove && body.Action != workflows.DietAmend {
		fields = append(fields, FieldError{Pointer: "/action", Detail: "must be approve or amend"})
	}
	if body.Action == workflows.DietAmend && strings.TrimSpace(body.Reason) == "" {
		fields = append(fields, FieldError{Pointer: "/reason", Detail: "an amendment needs a written reason"})
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	id := c.Param("id")
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	info, err := s.journeys.ReviewDietPlan(c.Request.Context(), id,
		workflows.ReviewDietPlanRequest{Actor: actor, PlanID: body.PlanID, Action: body.Action, Reason: body.Reason,
			EnergyKcal: body.EnergyKcal, ExcludeFoods: body.ExcludeFoods})
	if err != nil {
		s.writeError(c, notAtThatStep(err))
		return
	}
	c.JSON(http.StatusOK, info)
}

// assignedReviewer refuses (403) a reviewer who is not the journey's
// assigned dietitian.
func (s *Server) assignedReviewer(c *gin.Context) bool {
	p, ok := principalFrom(c)
	if !ok || s.auth == nil {
		s.writeError(c, &unauthorizedError{detail: "sign in and send the access token as Authorization: Bearer <token>"})
		return false
	}
	assigned, err := s.auth.IsAssignedDietitian(c.Request.Context(), p.PractitionerID, c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return false
	}
	if !assigned {
		s.logger.InfoContext(c.Request.Context(), "Diet review refused: not the assigned dietitian", "subject", p.Subject)
		s.writeError(c, &forbiddenError{detail: "only the dietitian assigned to this patient's care reviews its diet plans"})
		return false
	}
	return true
}

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// logMeal validates a meal (known IFCT foods, sensible amounts) and sends
// it to the journey, which records it. 202: the journey records it shortly.
func (s *Server) logMeal(c *gin.Context) {
	var m workflows.MealLog
	if err := decodeStrict(c.Request.Body, &m); err != nil {
		s.writeError(c, err)
		return
	}
	var fields []FieldError
	if !clientIDPattern.MatchString(m.ClientID) {
		fields = append(fields, FieldError{Pointer: "/client_id", Detail: "is required: 1 to 64 letters, digits or ._:-"})
	}
	if m.EatenAt.IsZero() || m.EatenAt.After(time.Now().Add(time.Hour)) {
		fields = append(fields, FieldError{Pointer: "/eaten_at", Detail: "is required (RFC 3339) and not in the future"})
	}
	if !slices.Contains(store.MealSlots, m.Slot) {
		fields = append(fields, FieldError{Pointer: "/slot", Detail: "must be one of " + strings.Join(store.MealSlots, ", ")})
	}
	if len(m.Items) == 0 || len(m.Items) > 30 {
		fields = append(fields, FieldError{Pointer: "/items", Detail: "must list 1 to 30 foods"})
	}
	known, err := s.knownFoods(c, m.Items)
	if err != nil {
		s.writeError(c, err)
		return
	}
	for i, it := range m.Items {
		if !known[it.Code] {
			fields = append(fields, FieldError{Pointer: fmt.Sprintf("/items/%d/code", i), Detail: "is not an IFCT 2017 food code"})
		}
		if it.Grams <= 0 || it.Grams > 2000 {
			fields = append(fields, FieldError{Pointer: fmt.Sprintf("/items/%d/grams", i), Detail: "must be more than 0 and at most 2000"})
		}
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	s.signalDiet(c, func(ctx context.Context, id string) error { return s.journeys.LogMeal(ctx, id, m) }, gin.H{"client_id": m.ClientID, "status": "accepted"})
}

func (s *Server) knownFoods(c *gin.Context, items []store.MealItem) (map[string]bool, error) {
	codes := make([]string, 0, len(items))
	for _, it := range items {
		codes = append(codes, it.Code)
	}
	return s.store.KnownFoodCodes(c.Request.Context(), codes)
}

// postReading validates a glucose or weight reading and sends it to the
// journey's diet step.
func (s *Server) postReading(c *gin.Context) {
	var r workflows.Reading
	if err := decodeStrict(c.Request.Body, &r); err != nil {
		s.writeError(c, err)
		return
	}
	var fields []FieldError
	if !clientIDPattern.MatchString(r.ReadingID) {
		fields = append(fields, FieldError{Pointer: "/reading_id", Detail: "is required: 1 to 64 letters, digits or ._:-"})
	}
	units, ok := workflows.ReadingUnits[r.Kind]
	switch {
	case !ok:
		fields = append(fields, FieldError{Pointer: "/kind", Detail: "must be glucose or weight"})
	case !slices.Contains(units, r.Unit):
		fields = append(fields, FieldError{Pointer: "/unit", Detail: "must be one of " + strings.Join(units, ", ")})
	case !plausible(r):
		fields = append(fields, FieldError{Pointer: "/value", Detail: "is outside the range a meter or scale reports"})
	}
	if r.At.IsZero() || r.At.After(time.Now().Add(time.Hour)) {
		fields = append(fields, FieldError{Pointer: "/at", Detail: "is required (RFC 3339) and not in the future"})
	}
	if len(fields) > 0 {
		s.writeError(c, &invalidError{fields: fields})
		return
	}
	s.signalDiet(c, func(ctx context.Context, id string) error { return s.journeys.SendReading(ctx, id, r) }, gin.H{"reading_id": r.ReadingID, "status": "accepted"})
}

// plausible bounds what glucose meters (20-600 mg/dL) and scales report.
func plausible(r workflows.Reading) bool {
	switch r.Unit {
	case "mg/dL":
		return r.Value >= 20 && r.Value <= 600
	case "mmol/L":
		return r.Value >= 1.1 && r.Value <= 33.3
	case "kg":
		return r.Value >= 2 && r.Value <= 400
	}
	return false
}

// signalDiet sends a signal (through send) to a journey at its diet step
// and answers 202.
func (s *Server) signalDiet(c *gin.Context, send func(ctx context.Context, id string) error, answer gin.H) {
	if _, ok := s.dietState(c); !ok {
		return
	}
	id := c.Param("id")
	if err := send(c.Request.Context(), id); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, answer)
}

// getIntake answers a day's logged meals against the plan in force, from
// PostgreSQL. ?date=YYYY-MM-DD in the patient's time zone; today by default.
func (s *Server) getIntake(c *gin.Context) {
	id := c.Param("id")
	if !journeys.ValidID(id) {
		s.writeError(c, &notFoundError{detail: "no journey has this ID"})
		return
	}
	date := c.Query("date") // empty: today in the patient's time zone
	if _, err := time.Parse(time.DateOnly, date); date != "" && err != nil {
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "date", Detail: "must be a date, YYYY-MM-DD"}}})
		return
	}
	in, err := s.store.DailyIntake(c.Request.Context(), id, date)
	if errors.Is(err, store.ErrNotFound) {
		s.writeError(c, &conflictError{detail: "the journey has no approved diet plan yet"})
		return
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, in)
}
