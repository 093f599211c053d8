package workflows

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/pathways"
)

// The diet step: a plan is generated from the patient's conditions,
// medicines and preferences and a dietitian approves (or amends) it. While
// the stage lasts (the step's time limit) the plan is revised when the
// 7-day mean glucose rises above the pathway's target, when weight changes
// by more than the pathway's limit, or at the pathway's review interval;
// each revision needs the dietitian's approval again. Patients log meals;
// intake against the plan's targets is queryable.

const (
	// UpdateReviewDietPlan is the dietitian's review: approve, or amend
	// (with a reason, and optionally a new energy target or foods to leave
	// out), which puts an amended revision in force.
	UpdateReviewDietPlan = "review_diet_plan"
	// SignalReading carries a glucose or weight reading.
	SignalReading = "reading"
	// SignalLogMeal carries a meal the patient ate.
	SignalLogMeal = "log_meal"
	// QueryDietPlan answers the diet step's DietPlanInfo.
	QueryDietPlan = "diet_plan"
)

// Diet review actions.
const (
	DietApprove = "approve"
	DietAmend   = "amend"
)

// ReviewDietPlanRequest is the payload of UpdateReviewDietPlan. Reason is
// clinical free text: stored with the plan, never logged.
type ReviewDietPlanRequest struct {
	Actor        Actor    `json:"actor"`
	PlanID       string   `json:"plan_id"`
	Action       string   `json:"action"`
	Reason       string   `json:"reason,omitempty"`
	EnergyKcal   float64  `json:"energy_kcal,omitempty"`   // amend: a new energy target
	ExcludeFoods []string `json:"exclude_foods,omitempty"` // amend: IFCT codes to leave out
}

// Reading is the payload of SignalReading.
type Reading struct {
	ReadingID string    `json:"reading_id"`
	Kind      string    `json:"kind"` // glucose or weight
	Value     float64   `json:"value"`
	Unit      string    `json:"unit"` // mg/dL or mmol/L for glucose, kg for weight
	At        time.Time `json:"at"`
}

// ReadingUnits are the units each kind of reading may come in.
var ReadingUnits = map[string][]string{"glucose": {"mg/dL", "mmol/L"}, "weight": {"kg"}}

// mgdlPerMmol converts glucose in mmol/L to mg/dL.
const mgdlPerMmol = 18.016

// MealLog is the payload of SignalLogMeal. ClientID makes a retry harmless.
type MealLog struct {
	ClientID string          `json:"client_id"`
	EatenAt  time.Time       `json:"eaten_at"`
	Slot     string          `json:"slot"`
	Items    []care.MealItem `json:"items"`
}

// DietRevision is one revision as the journey shows it.
type DietRevision struct {
	Revision int       `json:"revision"`
	PlanID   string    `json:"plan_id"`
	Trigger  string    `json:"trigger"`
	Status   string    `json:"status"` // awaiting_review, infeasible, approved, superseded, unreviewed
	At       time.Time `json:"at"`
}

// DayIntake is a day's logged meals against the plan in force.
type DayIntake struct {
	Date  string            `json:"date"` // the meals' own local date
	Meals int               `json:"meals"`
	Lines []diet.IntakeLine `json:"lines"`
	total diet.Nutrients
	ids   []string
}

// DietPlanInfo is the diet step's state.
type DietPlanInfo struct {
	Step             string         `json:"step"`
	Status           string         `json:"status"` // generating, awaiting_review, in_force, ended
	PlanID           string         `json:"plan_id"`
	Revision         int            `json:"revision"`
	Trigger          string         `json:"trigger"`
	Targets          diet.Targets   `json:"targets"`
	Infeasible       string         `json:"infeasible,omitempty"`
	Complete         bool           `json:"interactions_complete"`
	Restricted       []string       `json:"restricted_items"`
	InForce          int            `json:"in_force_revision"`      // 0: none approved yet
	DietitianID      string         `json:"dietitian_id,omitempty"` // assigned to review the plans (a care assignment)
	ReviewedBy       string         `json:"reviewed_by,omitempty"`
	ReviewAction     string         `json:"review_action,omitempty"`
	Revisions        []DietRevision `json:"revisions"`
	GlucoseMean7d    *float64       `json:"glucose_mean_7d,omitempty"` // mg/dL, readings since the plan in force
	BaselineWeightKg *float64       `json:"baseline_weight_kg,omitempty"`
	LatestWeightKg   *float64       `json:"latest_weight_kg,omitempty"`
	Intake           []DayIntake    `json:"intake"` // the last 14 days with meals, oldest first
	NextReview       *time.Time     `json:"next_review,omitempty"`
}

// dietSettings are the step's with: values.
type dietSettings struct {
	reviewInterval time.Duration // 0: no scheduled review
	glucoseTarget  float64       // mg/dL; 0: glucose does not trigger
	weightLimitPct float64       // percent; 0: weight does not trigger
}

// Glucose revisions need at least this many readings in the window, so one
// high value does not revise the plan.
const minGlucoseReadings = 3

const glucoseWindow = 7 * 24 * time.Hour

var ifctCode = regexp.MustCompile(`^[A-U][0-9]{3}$`)

func dietSettingsOf(step pathways.PlanStep) (dietSettings, error) {
	var s dietSettings
	if v, ok := step.With["review_interval"]; ok {
		str, _ := v.(string)
		d, err := pathways.ParseDuration(str)
		if err != nil {
			return s, fmt.Errorf("review_interval: %w", err)
		}
		s.reviewInterval = d
	}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"glucose_mean_target", &s.glucoseTarget}, {"weight_change_limit", &s.weightLimitPct}} {
		name, dst := f.name, f.dst
		if v, ok := step.With[name]; ok {
			n, ok := number(v)
			if !ok || n <= 0 {
				return s, fmt.Errorf("%s must be a positive number", name)
			}
			*dst = n
		}
	}
	return s, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// dietRun is one run of a diet step; handlers and the query read it.
type dietRun struct {
	info     DietPlanInfo
	role     string
	settings dietSettings
	awaiting bool // a revision waits for the dietitian
	review   *ReviewDietPlanRequest
	handled  bool
	at       time.Time
	trigger  string // a reading asked for a revision
	adj      diet.Adjustment
	excluded []string
	glucose  []Reading // mg/dL, within the window, since the plan in force
	seen     []string  // reading IDs within the window
	approved time.Time // when the plan in force was approved
	baseline float64   // kg at the plan in force
	latestKg float64
	end      time.Time // when the stage runs its course
}

func (dr *dietRun) validate(req ReviewDietPlanRequest) error {
	if !dr.awaiting || dr.review != nil {
		return temporal.NewApplicationError("no diet plan is waiting for review", ErrTypeNotAwaitingThat)
	}
	if req.PlanID != dr.info.PlanID {
		return temporal.NewApplicationError("that plan is not the revision under review", ErrTypeNotAwaitingThat)
	}
	if req.Actor.ID == "" || req.Actor.Role != dr.role {
		return temporal.NewApplicationError("only a "+dr.role+" may review the diet plan", ErrTypeNotAllowed)
	}
	switch req.Action {
	case DietApprove:
		if dr.info.Infeasible != "" {
			return temporal.NewApplicationError("this revision has no plan (its targets cannot be met): amend it", ErrTypeInvalidMessage)
		}
	case DietAmend:
		var problems []string
		if strings.TrimSpace(req.Reason) == "" {
			problems = append(problems, "an amendment needs a written reason")
		}
		if req.EnergyKcal != 0 && (req.EnergyKcal < 800 || req.EnergyKcal > 4500) {
			problems = append(problems, "energy_kcal must be between 800 and 4500")
		}
		for i, c := range req.ExcludeFoods {
			if !ifctCode.MatchString(c) {
				problems = append(problems, fmt.Sprintf("exclude_foods[%d] is not an IFCT food code", i))
			}
		}
		if len(problems) > 0 {
			return temporal.NewApplicationError(strings.Join(problems, "; "), ErrTypeInvalidMessage)
		}
	default:
		return temporal.NewApplicationError("action must be approve or amend", ErrTypeInvalidMessage)
	}
	return nil
}

// runDiet generates the plan, has it approved, and keeps it current until
// the step's time limit.
func (j *journey) runDiet(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	settings, err := dietSettingsOf(step)
	if err != nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s: %v", step.ID, err), ErrTypeInvalidInput, err)
	}
	dr := &dietRun{role: "dietitian", settings: settings, info: DietPlanInfo{Step: step.ID, Status: "generating", Revisions: []DietRevision{}, Intake: []DayIntake{}, Restricted: []string{}}}
	if step.Approval != nil {
		dr.role = step.Approval.Role
	}
	if err := j.registerDiet(ctx, dr); err != nil {
		return stepResult{}, err
	}
	defer func() { dr.awaiting, dr.handled, dr.info.Status = false, true, "ended" }()
	defer j.endDietAssignment(ctx, step)
	j.handleDietSignals(ctx, step, dr)

	end := workflow.Now(ctx).Add(step.TimeLimit)
	dr.end = end
	if res, done, err := j.reviseDiet(ctx, step, dr, care.DietTriggerInitial); done || err != nil {
		return res, err
	}
	for {
		wait := end.Sub(workflow.Now(ctx))
		next := ""
		if settings.reviewInterval > 0 && settings.reviewInterval < wait {
			wait, next = settings.reviewInterval, "review_interval"
			at := workflow.Now(ctx).Add(wait)
			dr.info.NextReview = &at
		}
		triggered, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return dr.trigger != "" })
		if err != nil {
			return stepResult{result: resultCancelled}, err
		}
		switch {
		case triggered:
			next = dr.trigger
		case next == "":
			// The stage has run its course with the plan in force.
			return j.applyTimeout(ctx, step, "diet stage", step.OnTimeout, func() bool { return false })
		}
		dr.trigger, dr.info.NextReview = "", nil
		if res, done, err := j.reviseDiet(ctx, step, dr, next); done || err != nil {
			return res, err
		}
	}
}

// reviseDiet generates a revision and waits for the dietitian: approve,
// or amend (a new revision, checked again, in force once it has a plan).
// done is true when the step must end (no plan was ever approved in time,
// or a time limit said so).
func (j *journey) reviseDiet(ctx workflow.Context, step pathways.PlanStep, dr *dietRun, trigger string) (stepResult, bool, error) {
	for {
		if err := j.generateDiet(ctx, step, dr, trigger); err != nil {
			return stepResult{}, true, err
		}
		dr.handled = true // an amendment's update may answer now
		dr.awaiting, dr.review, dr.info.Status = true, nil, care.DietAwaitingReview
		limit, onTimeout := step.TimeLimit, step.OnTimeout
		if a := step.Approval; a != nil {
			limit, onTimeout = a.TimeLimit, a.OnTimeout
		}
		reviewed := func() bool { return dr.review != nil }
		res, err := j.await(ctx, step, dr.role, limit, onTimeout, reviewed)
		dr.awaiting = false
		if err != nil {
			return res, true, err
		}
		if !reviewed() {
			j.markRevision(dr, "unreviewed")
			if dr.info.InForce == 0 || res.next != "" {
				return res, true, nil // nothing approved in time: the step ends as its time limit says
			}
			dr.info.Status = "in_force" // the earlier plan stays in force
			return res, false, nil
		}
		req := *dr.review
		if req.Action == DietAmend {
			dr.adj = dr.nextAdjustment(req)
			dr.excluded = append(dr.excluded, req.ExcludeFoods...)
			j.markRevision(dr, care.DietSuperseded)
			trigger = care.DietTriggerAmendment
			// An amended plan is in force once it has a plan; the update
			// answers after the new revision is generated.
			if err := j.generateDiet(ctx, step, dr, trigger); err != nil {
				return stepResult{}, true, err
			}
			if dr.info.Infeasible != "" {
				dr.handled = true
				dr.awaiting, dr.review, dr.info.Status = true, nil, care.DietAwaitingReview
				trigger = ""
				continue
			}
		}
		if err := workflow.ExecuteActivity(dbOptions(ctx), contract.ReviewDietPlan, contract.ReviewDietPlanInput{
			PlanID: dr.info.PlanID, ActorID: req.Actor.ID,
			Action: req.Action, Reason: req.Reason, ReviewedAt: dr.at,
		}).Get(ctx, nil); err != nil {
			return stepResult{}, true, err
		}
		dr.putInForce(ctx, req)
		j.logger.Info("Diet plan in force", "Plan", dr.info.PlanID, "Revision", dr.info.Revision, "Action", req.Action)
		return res, false, nil
	}
}

// generateDiet stores the next revision (the activity makes the plan).
// With trigger empty it regenerates nothing: the amendment loop already did.
func (j *journey) generateDiet(ctx workflow.Context, step pathways.PlanStep, dr *dietRun, trigger string) error {
	if trigger == "" {
		return nil
	}
	dr.info.Status = "generating"
	rev := dr.info.Revision + 1
	planCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{contract.ErrTypeInvalidInput, contract.ErrTypeInvalidRegimen}},
	})
	// The dietitian stays assigned while the stage runs, and while this
	// revision's review may still be waited for.
	assignUntil := workflow.Now(ctx).Add(reviewSpan(step))
	if dr.end.After(assignUntil) {
		assignUntil = dr.end
	}
	var sum contract.DietPlanSummary
	if err := workflow.ExecuteActivity(planCtx, contract.GenerateDietPlan, contract.GenerateDietPlanInput{
		JourneyID: j.state.JourneyID, Step: step.ID, Revision: rev, PatientID: j.state.PatientID, Trigger: trigger,
		Adjustment: dr.adj, ExcludeFoods: dr.excluded, AssignUntil: assignUntil,
	}).Get(ctx, &sum); err != nil {
		return err
	}
	dr.info.DietitianID = sum.DietitianID
	dr.adj = sum.Adjustment
	dr.info.PlanID, dr.info.Revision, dr.info.Trigger, dr.info.Targets = sum.PlanID, sum.Revision, sum.Trigger, sum.Targets
	dr.info.Infeasible, dr.info.Complete, dr.info.Restricted = sum.Infeasible, sum.Complete, sum.Restricted
	dr.info.Revisions = append(dr.info.Revisions, DietRevision{Revision: sum.Revision, PlanID: sum.PlanID, Trigger: sum.Trigger,
		Status: sum.Status, At: workflow.Now(ctx)})
	if sum.Infeasible != "" {
		j.logger.Warn("Diet plan infeasible; the dietitian must amend it", "Plan", sum.PlanID, "Revision", sum.Revision)
	}
	return nil
}

// reviewSpan is the longest a revision's review may be waited for: the
// approval's time limit and every limit of its on_timeout chain.
func reviewSpan(step pathways.PlanStep) time.Duration {
	limit, onTimeout := step.TimeLimit, step.OnTimeout
	if a := step.Approval; a != nil {
		limit, onTimeout = a.TimeLimit, a.OnTimeout
	}
	for t := onTimeout; t != nil; t = t.Then {
		limit += t.TimeLimit
	}
	return limit
}

// dietAssignmentVersion marks journeys whose diet step releases its
// dietitian's care assignment when it ends.
const dietAssignmentVersion = "diet-assignment-end"

// endDietAssignment releases the step's dietitian when the step ends, even
// when the journey is being cancelled (a disconnected context).
func (j *journey) endDietAssignment(ctx workflow.Context, step pathways.PlanStep) {
	if workflow.GetVersion(ctx, dietAssignmentVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	if err := workflow.ExecuteActivity(dbOptions(dctx), contract.EndDietAssignment, contract.EndDietAssignmentInput{
		JourneyID: j.state.JourneyID, Step: step.ID, EndedAt: workflow.Now(dctx),
	}).Get(dctx, nil); err != nil {
		j.logger.Error("Dietitian assignment not ended; it lapses at its horizon", "Step", step.ID, "Error", err)
	}
}

// nextAdjustment applies an amendment's energy target.
func (dr *dietRun) nextAdjustment(req ReviewDietPlanRequest) diet.Adjustment {
	adj := dr.adj
	if req.EnergyKcal > 0 {
		adj.EnergyKcal, adj.EnergyFactor = req.EnergyKcal, 0
	}
	return adj
}

func (j *journey) markRevision(dr *dietRun, status string) {
	if n := len(dr.info.Revisions); n > 0 {
		dr.info.Revisions[n-1].Status = status
	}
}

// putInForce makes the reviewed revision the plan in force and restarts
// the trend windows from it.
func (dr *dietRun) putInForce(ctx workflow.Context, req ReviewDietPlanRequest) {
	for i := range dr.info.Revisions {
		if dr.info.Revisions[i].Status == care.DietApproved {
			dr.info.Revisions[i].Status = care.DietSuperseded
		}
	}
	if n := len(dr.info.Revisions); n > 0 {
		dr.info.Revisions[n-1].Status = care.DietApproved
	}
	dr.info.InForce, dr.info.ReviewedBy, dr.info.ReviewAction = dr.info.Revision, req.Actor.ID, req.Action
	dr.info.Status, dr.handled = "in_force", true
	dr.approved = workflow.Now(ctx)
	dr.glucose, dr.info.GlucoseMean7d = nil, nil
	if dr.latestKg > 0 {
		dr.baseline = dr.latestKg
		b := dr.baseline
		dr.info.BaselineWeightKg = &b
	}
	for i := range dr.info.Intake {
		dr.info.Intake[i].Lines = diet.IntakeLines(dr.info.Intake[i].total, dr.info.Targets)
	}
}

func (j *journey) registerDiet(ctx workflow.Context, dr *dietRun) error {
	if err := workflow.SetQueryHandler(ctx, QueryDietPlan, func() (DietPlanInfo, error) { return dr.info, nil }); err != nil {
		return fmt.Errorf("register %s query: %w", QueryDietPlan, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReviewDietPlan,
		func(ctx workflow.Context, req ReviewDietPlanRequest) (DietPlanInfo, error) {
			dr.review, dr.at, dr.handled = &req, workflow.Now(ctx), false
			err := workflow.Await(ctx, func() bool { return dr.handled })
			return dr.info, err
		},
		workflow.UpdateHandlerOptions{Validator: dr.validate},
	); err != nil {
		return fmt.Errorf("register %s update: %w", UpdateReviewDietPlan, err)
	}
	return nil
}

// handleDietSignals takes readings and meals for as long as the step runs.
func (j *journey) handleDietSignals(ctx workflow.Context, step pathways.PlanStep, dr *dietRun) {
	readings := workflow.GetSignalChannel(ctx, SignalReading)
	meals := workflow.GetSignalChannel(ctx, SignalLogMeal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(readings, func(c workflow.ReceiveChannel, _ bool) {
				var r Reading
				c.Receive(ctx, &r)
				j.takeReading(ctx, dr, r)
			})
			sel.AddReceive(meals, func(c workflow.ReceiveChannel, _ bool) {
				var m MealLog
				c.Receive(ctx, &m)
				j.logMeal(ctx, dr, m)
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})
}

// takeReading records a reading and asks for a revision when the trend is
// out of range. Readings before the plan in force, older than the window,
// or seen before change nothing.
func (j *journey) takeReading(ctx workflow.Context, dr *dietRun, r Reading) {
	now := workflow.Now(ctx)
	if slices.Contains(dr.seen, r.ReadingID) || r.At.Before(now.Add(-glucoseWindow)) || r.At.After(now.Add(time.Hour)) {
		return
	}
	dr.seen = append(dr.seen, r.ReadingID)
	switch r.Kind {
	case "glucose":
		if r.Unit == "mmol/L" {
			r.Value, r.Unit = r.Value*mgdlPerMmol, "mg/dL"
		}
		// Readings carry whole seconds (RFC 3339 from devices), so one taken
		// in the second the plan was approved counts for that plan.
		if dr.info.InForce == 0 || r.At.Before(dr.approved.Truncate(time.Second)) {
			return
		}
		dr.glucose = append(dr.glucose, r)
		dr.glucose = slices.DeleteFunc(dr.glucose, func(g Reading) bool { return g.At.Before(now.Add(-glucoseWindow)) })
		sum := 0.0
		for _, g := range dr.glucose {
			sum += g.Value
		}
		mean := sum / float64(len(dr.glucose))
		dr.info.GlucoseMean7d = &mean
		j.setVitals("glucose", dr.glucose)
		if t := dr.settings.glucoseTarget; t > 0 && len(dr.glucose) >= minGlucoseReadings && mean > t && dr.trigger == "" && !dr.awaiting {
			dr.trigger = diet.TriggerGlucose
		}
	case "weight":
		dr.latestKg = r.Value
		kg := r.Value
		dr.info.LatestWeightKg = &kg
		if dr.baseline == 0 {
			dr.baseline = r.Value
			b := r.Value
			dr.info.BaselineWeightKg = &b
			return
		}
		change := (r.Value - dr.baseline) / dr.baseline * 100
		if lim := dr.settings.weightLimitPct; lim > 0 && dr.info.InForce > 0 && dr.trigger == "" && !dr.awaiting {
			switch {
			case change > lim:
				dr.trigger = diet.TriggerWeightGain
			case change < -lim:
				dr.trigger = diet.TriggerWeightLoss
			}
		}
	}
}

// setVitals shows the window's glucose to pathway expressions
// (vitals.glucose.mean and friends).
func (j *journey) setVitals(metric string, rs []Reading) {
	if len(rs) == 0 {
		return
	}
	agg := map[string]float64{"count": float64(len(rs)), "min": rs[0].Value, "max": rs[0].Value, "last": rs[len(rs)-1].Value}
	sum := 0.0
	for _, r := range rs {
		sum += r.Value
		agg["min"], agg["max"] = min(agg["min"], r.Value), max(agg["max"], r.Value)
	}
	agg["mean"] = sum / float64(len(rs))
	if j.vars.Vitals == nil {
		j.vars.Vitals = map[string]map[string]float64{}
	}
	j.vars.Vitals[metric] = agg
}

// logMeal stores the meal and adds it to its day's intake.
func (j *journey) logMeal(ctx workflow.Context, dr *dietRun, m MealLog) {
	date := m.EatenAt.Format(time.DateOnly)
	for _, d := range dr.info.Intake {
		if d.Date == date && slices.Contains(d.ids, m.ClientID) {
			return
		}
	}
	var n diet.Nutrients
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.RecordMeal, contract.RecordMealInput{
		JourneyID: j.state.JourneyID, PatientID: j.state.PatientID, ClientID: m.ClientID, EatenAt: m.EatenAt, Slot: m.Slot, Items: m.Items,
	}).Get(ctx, &n); err != nil {
		j.logger.Warn("A logged meal could not be recorded", "ClientID", m.ClientID, "Error", err)
		return
	}
	i := slices.IndexFunc(dr.info.Intake, func(d DayIntake) bool { return d.Date == date })
	if i < 0 {
		dr.info.Intake = append(dr.info.Intake, DayIntake{Date: date})
		slices.SortFunc(dr.info.Intake, func(a, b DayIntake) int { return strings.Compare(a.Date, b.Date) })
		if len(dr.info.Intake) > 14 {
			dr.info.Intake = dr.info.Intake[len(dr.info.Intake)-14:]
		}
		i = slices.IndexFunc(dr.info.Intake, func(d DayIntake) bool { return d.Date == date })
		if i < 0 {
			return // older than the days kept
		}
	}
	d := &dr.info.Intake[i]
	d.total = d.total.Add(n, 100)
	d.ids = append(d.ids, m.ClientID)
	d.Meals++
	d.Lines = diet.IntakeLines(d.total, dr.info.Targets)
}
