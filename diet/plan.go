package diet

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// MealRules say how meals are put together (data/meals.yaml).
type MealRules struct {
	Slots []struct {
		Name        string `yaml:"name"`
		EnergyShare Range  `yaml:"energy_share"`
	} `yaml:"slots"`
	Groups map[string]struct {
		Name    string   `yaml:"name"`
		Slots   []string `yaml:"slots"`
		Portion Range    `yaml:"portion"`
		Max2000 float64  `yaml:"per_2000kcal_max"`
	} `yaml:"groups"`
	CandidatesPerGroup int                 `yaml:"candidates_per_group"`
	NotForMeals        []string            `yaml:"not_for_meals"`
	Cuisines           map[string][]string `yaml:"cuisines"`
	Allergens          map[string]struct {
		Groups []string `yaml:"groups"`
		Codes  []string `yaml:"codes"`
	} `yaml:"allergens"`
}

// Preferences are the patient's.
type Preferences struct {
	Diet      string   `json:"diet,omitempty"`      // vegetarian, eggetarian, non-vegetarian (empty: any)
	Cuisine   string   `json:"cuisine,omitempty"`   // north-indian, south-indian, east-indian, west-indian (empty: any)
	Allergies []string `json:"allergies,omitempty"` // allergy classes: milk, egg, fish, peanut, ...
	// ExcludeFoods are IFCT codes the patient or the dietitian leaves out.
	ExcludeFoods []string `json:"exclude_foods,omitempty"`
}

// Exclusion takes foods out of the plan because of a medicine (a
// food-drug interaction from the knowledge graph).
type Exclusion struct {
	Item   string   `json:"item"`   // the knowledge graph's food, e.g. grapefruit
	Advice string   `json:"advice"` // avoid or limit
	Groups []string `json:"groups,omitempty"`
	Codes  []string `json:"codes,omitempty"`
	Rules  []string `json:"rules,omitempty"` // the knowledge graph's rule IDs
}

// Request is what a plan is made from.
type Request struct {
	Foods      []Food
	Targets    Targets
	Prefs      Preferences
	Exclusions []Exclusion
}

// Portion is an amount of one food in a meal.
type Portion struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Grams     float64   `json:"grams"`
	Nutrients Nutrients `json:"nutrients"`
}

// Meal is one meal slot of the day.
type Meal struct {
	Slot  string    `json:"slot"`
	Items []Portion `json:"items"`
}

// Plan is one day of example meals that meets the targets.
type Plan struct {
	Meals    []Meal    `json:"meals"`
	Totals   Nutrients `json:"totals"`
	Targets  Targets   `json:"targets"`
	Excluded []string  `json:"excluded"` // IFCT codes left out for interactions, allergies or preferences
	Notes    []string  `json:"notes"`
}

// InfeasibleError says that no choice of the allowed foods meets the
// targets, and which constraints, each relaxed alone, would make one possible.
type InfeasibleError struct {
	Candidates int
	Culprits   []string
}

func (e *InfeasibleError) Error() string {
	msg := fmt.Sprintf("no choice of the %d allowed foods meets every target within the portion limits", e.Candidates)
	if len(e.Culprits) > 0 {
		msg += "; relaxing any one of these would make a plan possible: " + strings.Join(e.Culprits, ", ")
	} else {
		msg += "; no single target is to blame (several conflict, or too few foods are allowed)"
	}
	return msg
}

// ErrInfeasible matches every *InfeasibleError with errors.Is.
var ErrInfeasible = errors.New("diet: infeasible")

func (e *InfeasibleError) Is(target error) bool { return target == ErrInfeasible }

// variable is one food in one meal slot, in units of 100 g.
type variable struct {
	food Food
	slot int
	max  float64 // 100 g units
	min  float64
	// forced: the food keeps at least its minimum portion.
	forced bool
}

// row is one linear constraint: sum(coef*x) <= rhs (or >= when ge).
type row struct {
	family string // which target it enforces, for infeasibility reports
	coef   []float64
	rhs    float64
	ge     bool
}

// MakePlan chooses a day's meals: portions of the allowed foods whose
// totals meet every target, as close to the energy target as possible,
// with a slight preference for fibre and against sodium. It solves a linear
// programme with gonum's simplex; foods the solver gives less than their
// minimum portion are dropped and the programme is solved again.
func (gl *Guidelines) MakePlan(req Request) (Plan, error) {
	vars, excluded := gl.candidates(req)
	if len(vars) == 0 {
		return Plan{}, &InfeasibleError{}
	}
	plan := Plan{Targets: req.Targets, Excluded: excluded, Notes: []string{}}
	x, err := gl.solve(vars, req.Targets, "")
	if err != nil {
		return Plan{}, gl.diagnose(vars, req.Targets, err)
	}
	// A food the solver gives less than its minimum portion is dropped, the
	// smallest first; if the plan then fails, it gets its minimum instead.
	for round := 0; round < 4*len(vars); round++ {
		j := smallestBelowMin(vars, x)
		if j < 0 {
			plan.fill(gl, x, vars)
			return plan, nil
		}
		// First try leaving out every such food at once, then the smallest alone.
		if all := keepAtLeastMin(vars, x); len(all) < len(vars)-1 {
			if xa, err := gl.solve(all, req.Targets, ""); err == nil {
				vars, x = all, xa
				continue
			}
		}
		without := slices.Delete(slices.Clone(vars), j, j+1)
		if xw, err := gl.solve(without, req.Targets, ""); err == nil {
			vars, x = without, xw
			continue
		}
		vars[j].forced = true
		if x, err = gl.solve(vars, req.Targets, ""); err != nil {
			return Plan{}, gl.diagnose(vars, req.Targets, err)
		}
	}
	return Plan{}, &InfeasibleError{Candidates: len(vars)}
}

// keepAtLeastMin drops the variables with a non-zero amount below their
// minimum portion.
func keepAtLeastMin(vars []variable, x []float64) []variable {
	var keep []variable
	for j, v := range vars {
		if v.forced || x[j] < 1e-6 || x[j] >= v.min-1e-6 {
			keep = append(keep, v)
		}
	}
	return keep
}

// smallestBelowMin is the variable with the smallest non-zero amount below
// its minimum portion, or -1.
func smallestBelowMin(vars []variable, x []float64) int {
	best := -1
	for j, v := range vars {
		if x[j] > 1e-6 && x[j] < v.min-1e-6 && !v.forced && (best < 0 || x[j] < x[best]) {
			best = j
		}
	}
	return best
}

// candidates lists the (food, slot) pairs the solver may use, and the
// codes left out.
func (gl *Guidelines) candidates(req Request) ([]variable, []string) {
	out := map[string]bool{}
	outGroups := map[string]bool{}
	for _, c := range gl.Meals.NotForMeals {
		out[c] = true
	}
	for _, c := range req.Prefs.ExcludeFoods {
		out[c] = true
	}
	for _, a := range req.Prefs.Allergies {
		al := gl.Meals.Allergens[a]
		for _, c := range al.Codes {
			out[c] = true
		}
		for _, g := range al.Groups {
			outGroups[g] = true
		}
	}
	for _, e := range req.Exclusions {
		for _, c := range e.Codes {
			out[c] = true
		}
		for _, g := range e.Groups {
			outGroups[g] = true
		}
	}
	staples := gl.Meals.Cuisines[req.Prefs.Cuisine]
	byGroup := map[string][]Food{}
	var excluded []string
	for _, f := range req.Foods {
		if out[f.Code] || outGroups[f.GroupCode()] {
			excluded = append(excluded, f.Code)
			continue
		}
		if _, ok := gl.Meals.Groups[f.GroupCode()]; !ok || !f.Suits(req.Prefs.Diet) || f.EnergyKcal <= 0 {
			continue
		}
		if f.GroupCode() == "A" && len(staples) > 0 && !slices.Contains(staples, f.Code) {
			continue
		}
		byGroup[f.GroupCode()] = append(byGroup[f.GroupCode()], f)
	}
	var vars []variable
	for _, g := range sortedKeys(byGroup) {
		foods := byGroup[g]
		sort.SliceStable(foods, func(i, j int) bool {
			si, sj := density(foods[i]), density(foods[j])
			if si != sj {
				return si > sj
			}
			return foods[i].Code < foods[j].Code
		})
		if n := gl.Meals.CandidatesPerGroup; n > 0 && len(foods) > n {
			foods = foods[:n]
		}
		rule := gl.Meals.Groups[g]
		for _, f := range foods {
			for s, slot := range gl.Meals.Slots {
				if slices.Contains(rule.Slots, slot.Name) {
					vars = append(vars, variable{food: f, slot: s, min: rule.Portion.Min / 100, max: rule.Portion.Max / 100})
				}
			}
		}
	}
	sort.Strings(excluded)
	return vars, excluded
}

// density ranks foods within a group: protein and fibre per kcal, less
// sodium.
func density(f Food) float64 {
	return (f.ProteinG+2*f.FibreG)/math.Max(f.EnergyKcal, 1) - f.SodiumMg/1e4
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// rows builds the constraints; skip names a family to leave out (for the
// infeasibility diagnosis).
func (gl *Guidelines) rows(vars []variable, t Targets, skip string) []row {
	n := len(vars)
	var rows []row
	nutrient := func(family string, get func(Nutrients) float64, r Range) {
		if family == skip {
			return
		}
		coef := make([]float64, n)
		for j, v := range vars {
			coef[j] = get(v.food.Nutrients)
		}
		if r.Min > 0 {
			rows = append(rows, row{family: family, coef: coef, rhs: r.Min, ge: true})
		}
		if r.Max > 0 {
			rows = append(rows, row{family: family, coef: coef, rhs: r.Max})
		}
	}
	nutrient("energy", func(x Nutrients) float64 { return x.EnergyKcal }, t.Energy.Range)
	nutrient("carbohydrate", func(x Nutrients) float64 { return x.CarbohydrateG }, t.Carbohydrate.Range)
	nutrient("protein", func(x Nutrients) float64 { return x.ProteinG }, t.Protein.Range)
	nutrient("fat", func(x Nutrients) float64 { return x.FatG }, t.Fat.Range)
	nutrient("fibre", func(x Nutrients) float64 { return x.FibreG }, t.Fibre.Range)
	nutrient("sodium", func(x Nutrients) float64 { return x.SodiumMg }, t.Sodium.Range)
	if t.VitaminK != nil {
		nutrient("vitamin K", func(x Nutrients) float64 { return x.VitaminKUg }, t.VitaminK.Range)
	}
	if skip != "meal shares" {
		for s, slot := range gl.Meals.Slots {
			coef := make([]float64, n)
			for j, v := range vars {
				if v.slot == s {
					coef[j] = v.food.EnergyKcal
				}
			}
			rows = append(rows, row{family: "meal shares", coef: coef, rhs: slot.EnergyShare.Min * t.EnergyKcal, ge: true},
				row{family: "meal shares", coef: coef, rhs: slot.EnergyShare.Max * t.EnergyKcal})
		}
	}
	if skip != "group limits" {
		for _, g := range sortedKeys(gl.Meals.Groups) {
			coef := make([]float64, n)
			used := false
			for j, v := range vars {
				if v.food.GroupCode() == g {
					coef[j], used = 1, true
				}
			}
			if used {
				rows = append(rows, row{family: "group limits", coef: coef, rhs: gl.Meals.Groups[g].Max2000 / 100 * t.EnergyKcal / 2000})
			}
		}
	}
	for j, v := range vars {
		coef := make([]float64, n)
		coef[j] = 1
		rows = append(rows, row{family: "portions", coef: coef, rhs: v.max})
		if v.forced {
			rows = append(rows, row{family: "portions", coef: coef, rhs: v.min, ge: true})
		}
	}
	return rows
}

// solve builds the programme in standard form (one slack per inequality,
// two deviation variables for the distance from the energy target) and
// runs the simplex. It returns the food amounts in 100 g units.
func (gl *Guidelines) solve(vars []variable, t Targets, skip string) ([]float64, error) {
	rows := gl.rows(vars, t, skip)
	n, m := len(vars), len(rows)
	cols := n + m + 2 // foods, slacks, energy over, energy under
	A := mat.NewDense(m+1, cols, nil)
	b := make([]float64, m+1)
	for i, r := range rows {
		// Each row is scaled to a largest coefficient of 1, which keeps the
		// simplex's bases well conditioned (energy is in hundreds, portions in ones).
		scale := 0.0
		for _, v := range r.coef {
			scale = math.Max(scale, math.Abs(v))
		}
		if scale == 0 {
			scale = 1
		}
		r.rhs /= scale
		for j, v := range r.coef {
			A.Set(i, j, v/scale)
		}
		if r.ge {
			A.Set(i, n+i, -1)
		} else {
			A.Set(i, n+i, 1)
		}
		b[i] = r.rhs
	}
	// Energy deviation: sum(energy*x) - over + under = target.
	for j, v := range vars {
		A.Set(m, j, v.food.EnergyKcal/t.EnergyKcal)
	}
	A.Set(m, n+m, -1)
	A.Set(m, n+m+1, 1)
	b[m] = 1

	c := make([]float64, cols)
	fibreScale, sodiumScale := math.Max(t.Fibre.Min, 1), math.Max(t.Sodium.Max, 1)
	for j, v := range vars {
		c[j] = 0.01 * (v.food.SodiumMg/sodiumScale - v.food.FibreG/fibreScale)
	}
	c[n+m], c[n+m+1] = 1, 1
	_, x, err := lp.Simplex(c, A, b, 1e-9, nil)
	if err != nil {
		return nil, err
	}
	return x[:n], nil
}

// diagnose turns a solver failure into an InfeasibleError naming the
// constraint families that, relaxed alone, would allow a plan.
func (gl *Guidelines) diagnose(vars []variable, t Targets, err error) error {
	ie := &InfeasibleError{Candidates: len(vars)}
	for _, family := range []string{"energy", "carbohydrate", "protein", "fat", "fibre", "sodium", "vitamin K", "meal shares", "group limits"} {
		if _, rerr := gl.solve(vars, t, family); rerr == nil {
			ie.Culprits = append(ie.Culprits, family)
		}
	}
	// The simplex reports some infeasible programmes as a singular basis;
	// a programme that a single relaxation makes solvable was infeasible.
	if len(ie.Culprits) > 0 || errors.Is(err, lp.ErrInfeasible) {
		return ie
	}
	return fmt.Errorf("diet: solver: %w", err)
}

// fill turns the solution into meals, rounding portions to whole grams,
// and totals what the meals hold.
func (p *Plan) fill(gl *Guidelines, x []float64, vars []variable) {
	bySlot := make([][]Portion, len(gl.Meals.Slots))
	for j, v := range vars {
		if x[j] < 1e-6 {
			continue
		}
		g := math.Round(x[j] * 100)
		por := Portion{Code: v.food.Code, Name: v.food.Name, Grams: g, Nutrients: Nutrients{}.Add(v.food.Nutrients, g).rounded()}
		bySlot[v.slot] = append(bySlot[v.slot], por)
		p.Totals = p.Totals.Add(v.food.Nutrients, g)
	}
	for s, slot := range gl.Meals.Slots {
		items := bySlot[s]
		sort.Slice(items, func(i, j int) bool { return items[i].Grams > items[j].Grams })
		if items == nil {
			items = []Portion{}
		}
		p.Meals = append(p.Meals, Meal{Slot: slot.Name, Items: items})
	}
	p.Totals = p.Totals.rounded()
	if p.Targets.Sodium.Max > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("sodium counts the foods only; about %.0f mg is left for salt added in cooking (1 g salt holds about 390 mg sodium)",
			math.Max(0, p.Targets.Sodium.Max-p.Totals.SodiumMg)))
	}
	if p.Targets.VitaminK != nil {
		p.Notes = append(p.Notes, "vitamin K is kept within a steady daily band: keep green leafy vegetables at similar amounts every week")
	}
}

func (n Nutrients) rounded() Nutrients {
	r := func(v float64) float64 { return math.Round(v*10) / 10 }
	return Nutrients{EnergyKcal: r(n.EnergyKcal), CarbohydrateG: r(n.CarbohydrateG), ProteinG: r(n.ProteinG), FatG: r(n.FatG),
		FibreG: r(n.FibreG), SodiumMg: r(n.SodiumMg), PotassiumMg: r(n.PotassiumMg), VitaminKUg: r(n.VitaminKUg)}
}
