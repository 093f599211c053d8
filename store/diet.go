package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/carepath/carepath/diet"
)

// SeedFoods loads the IFCT 2017 foods (diet.LoadIFCT) in one transaction.
// Loading them again changes nothing.
func (s *Store) SeedFoods(ctx context.Context, foods []diet.Food) (int, error) {
	b := &pgx.Batch{}
	for _, f := range foods {
		b.Queue(`
			INSERT INTO food_composition (code, name, food_group, diet, energy_kcal, energy_derived, carbohydrate_g, protein_g,
				fat_g, fibre_g, sodium_mg, potassium_mg, vitamin_k_ug, source, licence)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, food_group = EXCLUDED.food_group, diet = EXCLUDED.diet,
				energy_kcal = EXCLUDED.energy_kcal, energy_derived = EXCLUDED.energy_derived,
				carbohydrate_g = EXCLUDED.carbohydrate_g, protein_g = EXCLUDED.protein_g, fat_g = EXCLUDED.fat_g,
				fibre_g = EXCLUDED.fibre_g, sodium_mg = EXCLUDED.sodium_mg, potassium_mg = EXCLUDED.potassium_mg,
				vitamin_k_ug = EXCLUDED.vitamin_k_ug, source = EXCLUDED.source, licence = EXCLUDED.licence
			WHERE (food_composition.name, food_composition.food_group, food_composition.diet, food_composition.energy_kcal,
				food_composition.energy_derived, food_composition.carbohydrate_g, food_composition.protein_g, food_composition.fat_g,
				food_composition.fibre_g, food_composition.sodium_mg, food_composition.potassium_mg, food_composition.vitamin_k_ug,
				food_composition.source, food_composition.licence)
			IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.food_group, EXCLUDED.diet, EXCLUDED.energy_kcal, EXCLUDED.energy_derived,
				EXCLUDED.carbohydrate_g, EXCLUDED.protein_g, EXCLUDED.fat_g, EXCLUDED.fibre_g, EXCLUDED.sodium_mg,
				EXCLUDED.potassium_mg, EXCLUDED.vitamin_k_ug, EXCLUDED.source, EXCLUDED.licence)`,
			f.Code, f.Name, f.Group, f.Diet, f.EnergyKcal, f.EnergyDerived, f.CarbohydrateG, f.ProteinG, f.FatG, f.FibreG,
			f.SodiumMg, f.PotassiumMg, f.VitaminKUg, diet.IFCTSource, diet.IFCTLicence)
	}
	var n int
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM food_composition`).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("store: seed foods: %w", err)
	}
	return n, nil
}

// Foods reads the food composition table, by code.
func (s *Store) Foods(ctx context.Context) ([]diet.Food, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT code, name, food_group, diet, energy_kcal, energy_derived, carbohydrate_g, protein_g, fat_g, fibre_g,
			sodium_mg, potassium_mg, vitamin_k_ug
		FROM food_composition ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("store: foods: %w", err)
	}
	foods, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (diet.Food, error) {
		var f diet.Food
		err := r.Scan(&f.Code, &f.Name, &f.Group, &f.Diet, &f.EnergyKcal, &f.EnergyDerived, &f.CarbohydrateG, &f.ProteinG,
			&f.FatG, &f.FibreG, &f.SodiumMg, &f.PotassiumMg, &f.VitaminKUg)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: foods: %w", err)
	}
	if len(foods) == 0 {
		return nil, fmt.Errorf("store: foods: the food composition table is empty; run carepath seed: %w", ErrNotFound)
	}
	return foods, nil
}

// DietPreference is what a patient prefers to eat.
type DietPreference struct {
	Diet         string   `json:"diet,omitempty"`
	Cuisine      string   `json:"cuisine,omitempty"`
	ExcludeFoods []string `json:"exclude_foods,omitempty"`
	WeightKg     float64  `json:"weight_kg,omitempty"`
}

// SetDietPreference records a patient's diet preference.
func (s *Store) SetDietPreference(ctx context.Context, patientID string, p DietPreference) error {
	var weight *float64
	if p.WeightKg > 0 {
		weight = &p.WeightKg
	}
	if p.ExcludeFoods == nil {
		p.ExcludeFoods = []string{}
	}
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO diet_preference (patient_id, diet, cuisine, exclude_foods, weight_kg) VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), $4, $5)
		ON CONFLICT (patient_id) DO UPDATE SET diet = EXCLUDED.diet, cuisine = EXCLUDED.cuisine,
			exclude_foods = EXCLUDED.exclude_foods, weight_kg = EXCLUDED.weight_kg, updated_at = now()`,
		patientID, p.Diet, p.Cuisine, p.ExcludeFoods, weight)
	if IsForeignKeyViolation(err) {
		return fmt.Errorf("store: set diet preference: %w", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: set diet preference: %w", err)
	}
	return nil
}

// DietProfile is what the diet planner knows of a patient.
type DietProfile struct {
	Sex         string         `json:"sex"`
	Timezone    string         `json:"timezone"`
	Conditions  []string       `json:"conditions"`
	Allergies   []string       `json:"allergies"`
	ActiveDrugs []string       `json:"active_drugs"`
	Preference  DietPreference `json:"preference"`
}

// PatientDietProfile reads the patient's sex, active conditions,
// allergies, medicines and diet preference.
func (s *Store) PatientDietProfile(ctx context.Context, patientID string) (DietProfile, error) {
	var p DietProfile
	var dietPref, cuisine *string
	var weight *float64
	err := s.Pool.QueryRow(ctx, `
		SELECT p.gender, p.timezone,
			COALESCE((SELECT array_agg(code ORDER BY code) FROM condition WHERE patient_id = p.id AND clinical_status = 'active'), '{}'),
			COALESCE((SELECT array_agg(substance ORDER BY substance) FROM allergy_intolerance WHERE patient_id = p.id AND clinical_status = 'active'), '{}'),
			COALESCE((SELECT array_agg(drug ORDER BY drug) FROM medication_statement WHERE patient_id = p.id AND status = 'active'), '{}'),
			d.diet, d.cuisine, COALESCE(d.exclude_foods, '{}'), d.weight_kg
		FROM patient p LEFT JOIN diet_preference d ON d.patient_id = p.id WHERE p.id = $1`, patientID).Scan(
		&p.Sex, &p.Timezone, &p.Conditions, &p.Allergies, &p.ActiveDrugs, &dietPref, &cuisine, &p.Preference.ExcludeFoods, &weight)
	if errors.Is(err, pgx.ErrNoRows) {
		return DietProfile{}, fmt.Errorf("store: diet profile of %s: %w", patientID, ErrNotFound)
	}
	if err != nil {
		return DietProfile{}, fmt.Errorf("store: diet profile of %s: %w", patientID, err)
	}
	if dietPref != nil {
		p.Preference.Diet = *dietPref
	}
	if cuisine != nil {
		p.Preference.Cuisine = *cuisine
	}
	if weight != nil {
		p.Preference.WeightKg = *weight
	}
	return p, nil
}

// DietPlan is one revision of a journey step's diet plan.
type DietPlan struct {
	ID           string           `json:"id"`
	JourneyID    string           `json:"journey_id"`
	Step         string           `json:"step"`
	Revision     int              `json:"revision"`
	PatientID    string           `json:"patient_id"`
	Trigger      string           `json:"trigger"`
	Status       string           `json:"status"`
	Targets      diet.Targets     `json:"targets"`
	Plan         *diet.Plan       `json:"plan,omitempty"`
	Exclusions   []diet.Exclusion `json:"exclusions"`
	Infeasible   string           `json:"infeasible,omitempty"`
	ReviewedBy   string           `json:"reviewed_by,omitempty"`
	ReviewAction string           `json:"review_action,omitempty"`
	ReviewedAt   *time.Time       `json:"reviewed_at,omitempty"`
	CreatedAt    time.Time        `json:"created_at"`
}

// SaveDietPlan stores a revision (awaiting review, or infeasible). Saving
// the same revision again returns the stored one, so a retried activity
// writes nothing twice.
func (s *Store) SaveDietPlan(ctx context.Context, p DietPlan) (DietPlan, error) {
	if p.Revision < 1 || (p.Plan == nil) == (p.Infeasible == "") {
		return DietPlan{}, fmt.Errorf("store: save diet plan: a revision and exactly one of plan or infeasible: %w", ErrInvalid)
	}
	status := DietAwaitingReview
	if p.Plan == nil {
		status = DietInfeasible
	}
	targets, err := json.Marshal(p.Targets)
	if err != nil {
		return DietPlan{}, fmt.Errorf("store: save diet plan: %w", err)
	}
	var plan []byte
	if p.Plan != nil {
		if plan, err = json.Marshal(p.Plan); err != nil {
			return DietPlan{}, fmt.Errorf("store: save diet plan: %w", err)
		}
	}
	if p.Exclusions == nil {
		p.Exclusions = []diet.Exclusion{}
	}
	excl, err := json.Marshal(p.Exclusions)
	if err != nil {
		return DietPlan{}, fmt.Errorf("store: save diet plan: %w", err)
	}
	_, err = s.Pool.Exec(ctx, `
		INSERT INTO diet_plan (id, journey_id, step, revision, patient_id, trigger, status, targets, plan, exclusions, infeasible)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULLIF($11, ''))
		ON CONFLICT (journey_id, step, revision) DO NOTHING`,
		uuid.NewString(), p.JourneyID, p.Step, p.Revision, p.PatientID, p.Trigger, status, targets, plan, excl, p.Infeasible)
	if IsForeignKeyViolation(err) {
		return DietPlan{}, fmt.Errorf("store: save diet plan: unknown patient: %w", ErrNotFound)
	}
	if err != nil {
		return DietPlan{}, fmt.Errorf("store: save diet plan: %w", err)
	}
	return s.DietPlanRevision(ctx, p.JourneyID, p.Step, p.Revision)
}

const dietPlanColumns = `id, journey_id, step, revision, patient_id, trigger, status, targets, plan, exclusions,
	COALESCE(infeasible, ''), COALESCE(reviewed_by::text, ''), COALESCE(review_action, ''), reviewed_at, created_at`

func scanDietPlan(r pgx.Row) (DietPlan, error) {
	var p DietPlan
	var targets, plan, excl []byte
	if err := r.Scan(&p.ID, &p.JourneyID, &p.Step, &p.Revision, &p.PatientID, &p.Trigger, &p.Status, &targets, &plan, &excl,
		&p.Infeasible, &p.ReviewedBy, &p.ReviewAction, &p.ReviewedAt, &p.CreatedAt); err != nil {
		return p, err
	}
	if plan != nil {
		p.Plan = &diet.Plan{}
		if err := json.Unmarshal(plan, p.Plan); err != nil {
			return p, err
		}
	}
	return p, errors.Join(json.Unmarshal(targets, &p.Targets), json.Unmarshal(excl, &p.Exclusions))
}

// DietPlanRevision reads one revision.
func (s *Store) DietPlanRevision(ctx context.Context, journeyID, step string, revision int) (DietPlan, error) {
	p, err := scanDietPlan(s.Pool.QueryRow(ctx, `SELECT `+dietPlanColumns+` FROM diet_plan
		WHERE journey_id = $1 AND step = $2 AND revision = $3`, journeyID, step, revision))
	if errors.Is(err, pgx.ErrNoRows) {
		return DietPlan{}, fmt.Errorf("store: diet plan revision %d: %w", revision, ErrNotFound)
	}
	if err != nil {
		return DietPlan{}, fmt.Errorf("store: diet plan revision %d: %w", revision, err)
	}
	return p, nil
}

// CurrentDietPlan is the journey's approved plan in force.
func (s *Store) CurrentDietPlan(ctx context.Context, journeyID string) (DietPlan, error) {
	p, err := scanDietPlan(s.Pool.QueryRow(ctx, `SELECT `+dietPlanColumns+` FROM diet_plan
		WHERE journey_id = $1 AND status = 'approved' ORDER BY revision DESC LIMIT 1`, journeyID))
	if errors.Is(err, pgx.ErrNoRows) {
		return DietPlan{}, fmt.Errorf("store: current diet plan: %w", ErrNotFound)
	}
	if err != nil {
		return DietPlan{}, fmt.Errorf("store: current diet plan: %w", err)
	}
	return p, nil
}

// DietReview is the dietitian's review of a revision.
type DietReview struct {
	PlanID   string
	ActorID  string
	Action   string // approve or amend
	Reason   string // required to amend; stored, never logged
	Reviewed time.Time
}

// ReviewDietPlan records the review and puts the revision in force: the
// revisions before it are superseded. Reviewing it again with the same
// action changes nothing.
func (s *Store) ReviewDietPlan(ctx context.Context, r DietReview) (DietPlan, error) {
	if (r.Action != "approve" && r.Action != "amend") || (r.Action == "amend" && r.Reason == "") || r.Reviewed.IsZero() {
		return DietPlan{}, fmt.Errorf("store: review diet plan: action approve or amend (with a reason) and a time: %w", ErrInvalid)
	}
	var p DietPlan
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		p, err = scanDietPlan(tx.QueryRow(ctx, `
			UPDATE diet_plan SET status = 'approved', reviewed_by = $2, review_action = $3, review_reason = NULLIF($4, ''), reviewed_at = $5
			WHERE id = $1 AND (status = 'awaiting_review' OR (status = 'approved' AND review_action = $3))
			RETURNING `+dietPlanColumns, r.PlanID, r.ActorID, r.Action, r.Reason, r.Reviewed))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE diet_plan SET status = 'superseded'
			WHERE journey_id = $1 AND step = $2 AND revision < $3 AND status <> 'superseded'`, p.JourneyID, p.Step, p.Revision)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return DietPlan{}, fmt.Errorf("store: review diet plan: no revision awaiting review has this ID: %w", ErrNotFound)
	}
	if IsForeignKeyViolation(err) {
		return DietPlan{}, fmt.Errorf("store: review diet plan: unknown dietitian: %w", ErrNotFound)
	}
	if err != nil {
		return DietPlan{}, fmt.Errorf("store: review diet plan: %w", err)
	}
	return p, nil
}

// MealSlots are the slots a meal is logged in.
var MealSlots = []string{"breakfast", "lunch", "snack", "dinner"}

// MealLog is a meal the patient logged.
type MealLog struct {
	ID        string         `json:"id"`
	JourneyID string         `json:"journey_id"`
	PatientID string         `json:"patient_id"`
	ClientID  string         `json:"client_id"`
	EatenAt   time.Time      `json:"eaten_at"`
	Slot      string         `json:"slot"`
	Items     []MealItem     `json:"items"`
	Totals    diet.Nutrients `json:"totals"`
}

// RecordMeal stores a logged meal with the nutrients of its items from the
// food composition table. Logging the same client ID again returns the
// stored meal.
func (s *Store) RecordMeal(ctx context.Context, m MealLog) (MealLog, error) {
	if len(m.Items) == 0 || m.ClientID == "" || m.EatenAt.IsZero() {
		return MealLog{}, fmt.Errorf("store: record meal: items, client_id and eaten_at are required: %w", ErrInvalid)
	}
	var totals diet.Nutrients
	for i, it := range m.Items {
		if it.Grams <= 0 || it.Grams > 2000 {
			return MealLog{}, fmt.Errorf("store: record meal: item %d: grams must be between 0 and 2000: %w", i, ErrInvalid)
		}
		var f diet.Nutrients
		err := s.Pool.QueryRow(ctx, `SELECT energy_kcal, carbohydrate_g, protein_g, fat_g, fibre_g, sodium_mg, potassium_mg, vitamin_k_ug
			FROM food_composition WHERE code = $1`, it.Code).Scan(&f.EnergyKcal, &f.CarbohydrateG, &f.ProteinG, &f.FatG, &f.FibreG,
			&f.SodiumMg, &f.PotassiumMg, &f.VitaminKUg)
		if errors.Is(err, pgx.ErrNoRows) {
			return MealLog{}, fmt.Errorf("store: record meal: item %d: no IFCT food has this code: %w", i, ErrInvalid)
		}
		if err != nil {
			return MealLog{}, fmt.Errorf("store: record meal: item %d: %w", i, err)
		}
		totals = totals.Add(f, it.Grams)
	}
	items, err := json.Marshal(m.Items)
	if err != nil {
		return MealLog{}, fmt.Errorf("store: record meal: %w", err)
	}
	_, err = s.Pool.Exec(ctx, `
		INSERT INTO meal_log (id, journey_id, patient_id, client_id, eaten_at, slot, items, energy_kcal, carbohydrate_g, protein_g, fat_g, fibre_g, sodium_mg)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (journey_id, client_id) DO NOTHING`,
		uuid.NewString(), m.JourneyID, m.PatientID, m.ClientID, m.EatenAt, m.Slot, items, totals.EnergyKcal, totals.CarbohydrateG,
		totals.ProteinG, totals.FatG, totals.FibreG, totals.SodiumMg)
	if IsForeignKeyViolation(err) {
		return MealLog{}, fmt.Errorf("store: record meal: unknown patient: %w", ErrNotFound)
	}
	if err != nil {
		return MealLog{}, fmt.Errorf("store: record meal: %w", err)
	}
	var out MealLog
	err = s.Pool.QueryRow(ctx, `SELECT id, journey_id, patient_id, client_id, eaten_at, slot, items, energy_kcal, carbohydrate_g,
			protein_g, fat_g, fibre_g, sodium_mg FROM meal_log WHERE journey_id = $1 AND client_id = $2`, m.JourneyID, m.ClientID).Scan(
		&out.ID, &out.JourneyID, &out.PatientID, &out.ClientID, &out.EatenAt, &out.Slot, &items, &out.Totals.EnergyKcal,
		&out.Totals.CarbohydrateG, &out.Totals.ProteinG, &out.Totals.FatG, &out.Totals.FibreG, &out.Totals.SodiumMg)
	if err != nil {
		return MealLog{}, fmt.Errorf("store: record meal: read back: %w", err)
	}
	return out, json.Unmarshal(items, &out.Items)
}

// Intake is a day's logged meals against the plan in force.
type Intake struct {
	JourneyID    string       `json:"journey_id"`
	Date         string       `json:"date"` // in the patient's time zone
	Meals        int          `json:"meals"`
	PlanRevision int          `json:"plan_revision"`
	Lines        []IntakeLine `json:"lines"`
}

// DailyIntake sums the meals logged on date (YYYY-MM-DD, in the patient's
// time zone; empty: today there) and compares them with the approved
// plan's targets.
func (s *Store) DailyIntake(ctx context.Context, journeyID, date string) (Intake, error) {
	plan, err := s.CurrentDietPlan(ctx, journeyID)
	if err != nil {
		return Intake{}, fmt.Errorf("store: daily intake: no approved diet plan yet: %w", err)
	}
	var tz string
	if err := s.Pool.QueryRow(ctx, `SELECT timezone FROM patient WHERE id = $1`, plan.PatientID).Scan(&tz); err != nil {
		return Intake{}, fmt.Errorf("store: daily intake: %w", err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return Intake{}, fmt.Errorf("store: daily intake: time zone: %w", err)
	}
	if date == "" {
		date = time.Now().In(loc).Format(time.DateOnly)
	}
	day, err := time.ParseInLocation(time.DateOnly, date, loc)
	if err != nil {
		return Intake{}, fmt.Errorf("store: daily intake: date must be YYYY-MM-DD: %w", ErrInvalid)
	}
	in := Intake{JourneyID: journeyID, Date: date, PlanRevision: plan.Revision}
	var n diet.Nutrients
	err = s.Pool.QueryRow(ctx, `
		SELECT count(*), COALESCE(sum(energy_kcal), 0), COALESCE(sum(carbohydrate_g), 0), COALESCE(sum(protein_g), 0),
			COALESCE(sum(fat_g), 0), COALESCE(sum(fibre_g), 0), COALESCE(sum(sodium_mg), 0)
		FROM meal_log WHERE journey_id = $1 AND eaten_at >= $2 AND eaten_at < $3`, journeyID, day, day.AddDate(0, 0, 1)).Scan(
		&in.Meals, &n.EnergyKcal, &n.CarbohydrateG, &n.ProteinG, &n.FatG, &n.FibreG, &n.SodiumMg)
	if err != nil {
		return Intake{}, fmt.Errorf("store: daily intake: %w", err)
	}
	in.Lines = diet.IntakeLines(n, plan.Targets)
	return in, nil
}

// KnownFoodCodes says which of codes are foods of the composition table.
func (s *Store) KnownFoodCodes(ctx context.Context, codes []string) (map[string]bool, error) {
	rows, err := s.Pool.Query(ctx, `SELECT code FROM food_composition WHERE code = ANY($1)`, codes)
	if err != nil {
		return nil, fmt.Errorf("store: known food codes: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: known food codes: %w", err)
	}
	out := make(map[string]bool, len(found))
	for _, c := range found {
		out[c] = true
	}
	return out, nil
}
