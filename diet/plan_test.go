package diet

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// ifct loads the pinned table once for the package's tests.
func ifct(t *testing.T) []Food {
	t.Helper()
	foods, err := LoadIFCT(DefaultIFCTPath())
	if err != nil {
		t.Fatalf("IFCT 2017 (scripts/ifct.sh fetches it): %v", err)
	}
	return foods
}

func guidelines(t *testing.T) *Guidelines {
	t.Helper()
	gl, err := LoadGuidelines()
	if err != nil {
		t.Fatal(err)
	}
	return gl
}

func TestIFCTColumnsAndUnits(t *testing.T) {
	foods := ifct(t)
	if len(foods) != 542 {
		t.Fatalf("foods = %d, want the 542 rows of index.csv %s", len(foods), IFCTVersion)
	}
	by := map[string]Food{}
	for _, f := range foods {
		by[f.Code] = f
	}
	milk := by["L002"] // Milk, whole, Cow: 305 kJ, 4.48 g fat, 25.46 mg sodium per 100 g in the table
	if milk.Name != "Milk, whole, Cow" || !near(milk.EnergyKcal, 305/4.184, 0.01) || milk.FatG != 4.48 || !near(milk.SodiumMg, 25.46, 0.01) {
		t.Errorf("L002 = %+v", milk)
	}
	if milk.Diet != Vegetarian || by["M001"].Diet != Eggetarian || by["N001"].Diet != NonVegetarian {
		t.Errorf("diet classes: milk %s, egg %s, poultry %s", milk.Diet, by["M001"].Diet, by["N001"].Diet)
	}
	if sp := by["C033"]; !near(sp.VitaminKUg, 325, 0.01) { // spinach: 0.000325 g
		t.Errorf("spinach vitamin K = %v ug", sp.VitaminKUg)
	}
	ghee := by["T013"]
	if !ghee.EnergyDerived || !near(ghee.EnergyKcal, 37*100/4.184, 0.01) {
		t.Errorf("ghee energy = %v (derived %v)", ghee.EnergyKcal, ghee.EnergyDerived)
	}
}

func TestIFCTRefusesAnotherTable(t *testing.T) {
	_, err := ParseIFCT(strings.NewReader("\"Food Code; code\",\"Food Name; name\"\nA001,x\n"))
	if err == nil || !strings.Contains(err.Error(), "no \"grup\" column") {
		t.Fatalf("err = %v, want a missing column", err)
	}
}

func near(a, b, tol float64) bool { return a >= b-tol && a <= b+tol }

func TestTargetsPerCondition(t *testing.T) {
	gl := guidelines(t)
	t2d, err := gl.TargetsFor(Patient{Sex: "female", Conditions: []string{"E11.9"}}, Adjustment{})
	if err != nil {
		t.Fatal(err)
	}
	if t2d.EnergyKcal != 1660 || t2d.CarbohydrateShare != (Range{0.45, 0.55}) || t2d.Protein.Source != "ada-soc-2025-s5" {
		t.Errorf("E11 targets = %+v", t2d)
	}
	if t2d.Sodium.Max != 2000 || t2d.Sodium.Source != "icmr-nin-rda-2020" || t2d.Fibre.Min != 20*1.66 {
		t.Errorf("sodium = %+v, want the stricter general 2000 mg", t2d.Sodium)
	}
	both, err := gl.TargetsFor(Patient{Sex: "male", WeightKg: 78, Conditions: []string{"I10", "E11"}}, Adjustment{})
	if err != nil {
		t.Fatal(err)
	}
	if both.EnergyKcal != 2532 || both.CarbohydrateShare != (Range{0.50, 0.55}) || both.FatShare.Min != 0.22 {
		t.Errorf("E11+I10 targets = %+v", both)
	}
	rev, err := gl.TargetsFor(Patient{Sex: "female", Conditions: []string{"E11"}}, Adjustment{CarbohydrateSteps: 1, EnergyFactor: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if !near(rev.CarbohydrateShare.Max, 0.50, 1e-9) || rev.EnergyKcal != 1494 {
		t.Errorf("revised = %+v", rev)
	}
}

// checkPlan asserts that the plan's totals meet every target within 2%
// (portions are rounded to whole grams after solving).
func checkPlan(t *testing.T, p Plan) {
	t.Helper()
	tg := p.Targets
	for _, c := range []struct {
		name string
		v    float64
		r    Range
	}{
		{"energy", p.Totals.EnergyKcal, tg.Energy.Range}, {"carbohydrate", p.Totals.CarbohydrateG, tg.Carbohydrate.Range},
		{"protein", p.Totals.ProteinG, tg.Protein.Range}, {"fat", p.Totals.FatG, tg.Fat.Range},
		{"fibre", p.Totals.FibreG, tg.Fibre.Range}, {"sodium", p.Totals.SodiumMg, tg.Sodium.Range},
	} {
		if !c.r.Contains(c.v, 0.02) {
			t.Errorf("%s = %.1f, outside %+v", c.name, c.v, c.r)
		}
	}
	if tg.VitaminK != nil && !tg.VitaminK.Contains(p.Totals.VitaminKUg, 0.02) {
		t.Errorf("vitamin K = %.1f, outside %+v", p.Totals.VitaminKUg, tg.VitaminK.Range)
	}
	for _, m := range p.Meals {
		if len(m.Items) == 0 {
			t.Errorf("meal %s is empty", m.Slot)
		}
	}
}

func codes(p Plan) []string {
	var out []string
	for _, m := range p.Meals {
		for _, it := range m.Items {
			out = append(out, it.Code)
		}
	}
	return out
}

func TestPlanMeetsTargetsVegetarian(t *testing.T) {
	gl, foods := guidelines(t), ifct(t)
	tg, err := gl.TargetsFor(Patient{Sex: "female", Conditions: []string{"E11"}}, Adjustment{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := gl.MakePlan(Request{Foods: foods, Targets: tg, Prefs: Preferences{Diet: Vegetarian, Cuisine: "south-indian"}})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p)
	by := map[string]Food{}
	for _, f := range foods {
		by[f.Code] = f
	}
	staples := gl.Meals.Cuisines["south-indian"]
	for _, c := range codes(p) {
		if by[c].Diet != Vegetarian {
			t.Errorf("%s (%s) is %s in a vegetarian plan", c, by[c].Name, by[c].Diet)
		}
		if by[c].GroupCode() == "A" && !slices.Contains(staples, c) {
			t.Errorf("cereal %s is not a south-indian staple", c)
		}
	}
	t.Logf("plan: %+v", p.Meals)
}

func TestPlanLeavesOutInteractingAndAllergenFoods(t *testing.T) {
	gl, foods := guidelines(t), ifct(t)
	tg, err := gl.TargetsFor(Patient{Sex: "male", Conditions: []string{"I10"}, SteadyVitaminK: true}, Adjustment{})
	if err != nil {
		t.Fatal(err)
	}
	// Pummelo (grapefruit family, simvastatin) and every marine fish left out; milk allergy.
	p, err := gl.MakePlan(Request{Foods: foods, Targets: tg, Prefs: Preferences{Allergies: []string{"milk"}},
		Exclusions: []Exclusion{{Item: "grapefruit", Advice: "avoid", Codes: []string{"E056"}}, {Item: "test", Advice: "avoid", Groups: []string{"P"}}}})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p)
	for _, c := range codes(p) {
		if c == "E056" || c[0] == 'P' || c[0] == 'L' || c == "T013" {
			t.Errorf("%s is in the plan although excluded", c)
		}
	}
	if !slices.Contains(p.Excluded, "E056") || !slices.Contains(p.Excluded, "L002") {
		t.Errorf("excluded = %v", p.Excluded)
	}
}

func TestPlanReportsInfeasible(t *testing.T) {
	gl, foods := guidelines(t), ifct(t)
	tg, err := gl.TargetsFor(Patient{Sex: "female", Conditions: []string{"E11"}}, Adjustment{})
	if err != nil {
		t.Fatal(err)
	}
	tg.Fibre.Min = 400 // far above what a day of foods within the portion limits holds
	_, err = gl.MakePlan(Request{Foods: foods, Targets: tg, Prefs: Preferences{Diet: Vegetarian}})
	var ie *InfeasibleError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInfeasible) || !slices.Contains(ie.Culprits, "fibre") {
		t.Fatalf("err = %v, want infeasible naming fibre", err)
	}
}
