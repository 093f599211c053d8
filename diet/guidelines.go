package diet

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed data/targets.yaml
var targetsYAML []byte

//go:embed data/meals.yaml
var mealsYAML []byte

// Range is an inclusive range; Max 0 means no upper bound.
type Range struct {
	Min float64 `json:"min" yaml:"min"`
	Max float64 `json:"max,omitempty" yaml:"max"`
}

// Contains reports whether v lies in the range, within tol (a fraction).
func (r Range) Contains(v, tol float64) bool {
	if v < r.Min*(1-tol)-1e-9 {
		return false
	}
	return r.Max == 0 || v <= r.Max*(1+tol)+1e-9
}

// Cited is a range with the guideline it comes from.
type Cited struct {
	Range  `yaml:",inline"`
	Source string `json:"source" yaml:"source"`
	Ref    string `json:"ref,omitempty" yaml:"ref"`
}

// Source is a guideline the targets cite.
type Source struct {
	ID       string `json:"id" yaml:"id"`
	Citation string `json:"citation" yaml:"citation"`
	URL      string `json:"url,omitempty" yaml:"url"`
}

type conditionTargets struct {
	Name         string `yaml:"name"`
	CarbShare    *Cited `yaml:"carbohydrate_share"`
	ProteinShare *Cited `yaml:"protein_share"`
	FatShare     *Cited `yaml:"fat_share"`
	FibrePer1000 *Cited `yaml:"fibre_per_1000kcal"`
	SodiumMg     *Cited `yaml:"sodium_mg"`
}

type energyRef struct {
	Kcal        float64 `yaml:"kcal"`
	ReferenceKg float64 `yaml:"reference_kg"`
}

type guidelineFile struct {
	Sources []Source `yaml:"sources"`
	Energy  struct {
		Source, Ref string
		Female      energyRef               `yaml:"female"`
		Male        energyRef               `yaml:"male"`
		Tolerance   struct{ Value float64 } `yaml:"tolerance"`
	} `yaml:"energy"`
	General        conditionTargets            `yaml:"general"`
	Conditions     map[string]conditionTargets `yaml:"conditions"`
	VitaminKSteady struct {
		FemaleUg float64 `yaml:"female_ug"`
		MaleUg   float64 `yaml:"male_ug"`
		Source   string  `yaml:"source"`
		Ref      string  `yaml:"ref"`
		Band     Range   `yaml:"band"`
	} `yaml:"vitamin_k_steady"`
	Revision struct {
		Glucose struct {
			Step  float64 `yaml:"carbohydrate_share_step"`
			Floor float64 `yaml:"carbohydrate_share_floor"`
		} `yaml:"glucose_above_target"`
		WeightGain struct {
			EnergyFactor float64 `yaml:"energy_factor"`
		} `yaml:"weight_gain"`
		WeightLoss struct {
			EnergyFactor float64 `yaml:"energy_factor"`
		} `yaml:"weight_loss"`
	} `yaml:"revision"`
}

// Guidelines are the sourced targets (data/targets.yaml) and meal rules
// (data/meals.yaml) the planner works from.
type Guidelines struct {
	g     guidelineFile
	Meals MealRules
}

// LoadGuidelines parses the embedded data files and checks that every
// value cites a known source.
func LoadGuidelines() (*Guidelines, error) {
	var gl Guidelines
	if err := yaml.Unmarshal(targetsYAML, &gl.g); err != nil {
		return nil, fmt.Errorf("diet: targets.yaml: %w", err)
	}
	if err := yaml.Unmarshal(mealsYAML, &gl.Meals); err != nil {
		return nil, fmt.Errorf("diet: meals.yaml: %w", err)
	}
	if err := gl.validate(); err != nil {
		return nil, err
	}
	return &gl, nil
}

func (gl *Guidelines) validate() error {
	known := map[string]bool{}
	for _, s := range gl.g.Sources {
		known[s.ID] = true
	}
	var errs []error
	cite := func(where string, c *Cited) {
		if c != nil && !known[c.Source] {
			errs = append(errs, fmt.Errorf("diet: targets.yaml %s cites unknown source %q", where, c.Source))
		}
	}
	check := func(where string, t conditionTargets) {
		cite(where+".carbohydrate_share", t.CarbShare)
		cite(where+".protein_share", t.ProteinShare)
		cite(where+".fat_share", t.FatShare)
		cite(where+".fibre_per_1000kcal", t.FibrePer1000)
		cite(where+".sodium_mg", t.SodiumMg)
	}
	check("general", gl.g.General)
	for code, t := range gl.g.Conditions {
		check("conditions."+code, t)
	}
	if !known[gl.g.Energy.Source] || !known[gl.g.VitaminKSteady.Source] {
		errs = append(errs, errors.New("diet: targets.yaml energy and vitamin_k_steady must cite known sources"))
	}
	if len(gl.Meals.Slots) == 0 || len(gl.Meals.Groups) == 0 {
		errs = append(errs, errors.New("diet: meals.yaml needs slots and groups"))
	}
	return errors.Join(errs...)
}

// Sources lists the guidelines the targets cite.
func (gl *Guidelines) Sources() []Source { return slices.Clone(gl.g.Sources) }

// Patient is what the targets depend on.
type Patient struct {
	Sex        string   `json:"sex"`                 // female, male, other or unknown
	WeightKg   float64  `json:"weight_kg,omitempty"` // 0: unknown, the reference weight
	Conditions []string `json:"conditions"`          // ICD-10 codes
	// SteadyVitaminK: a medicine asks for steady vitamin K (warfarin).
	SteadyVitaminK bool `json:"steady_vitamin_k,omitempty"`
}

// Adjustment is what revisions have changed so far.
type Adjustment struct {
	// EnergyKcal replaces the reference energy (a dietitian's amendment).
	EnergyKcal   float64 `json:"energy_kcal,omitempty"`
	EnergyFactor float64 `json:"energy_factor,omitempty"` // 0 means 1
	// CarbohydrateSteps counts the glucose revisions.
	CarbohydrateSteps int `json:"carbohydrate_steps,omitempty"`
}

// Target is a daily amount with its unit and the guideline behind it.
type Target struct {
	Range
	Unit   string `json:"unit"`
	Source string `json:"source"`
	Ref    string `json:"ref,omitempty"`
}

// Targets are a plan's daily targets.
type Targets struct {
	EnergyKcal        float64  `json:"energy_kcal"`
	Energy            Target   `json:"energy"`
	Carbohydrate      Target   `json:"carbohydrate"`
	Protein           Target   `json:"protein"`
	Fat               Target   `json:"fat"`
	Fibre             Target   `json:"fibre"`
	Sodium            Target   `json:"sodium"`
	VitaminK          *Target  `json:"vitamin_k,omitempty"`
	CarbohydrateShare Range    `json:"carbohydrate_share"`
	ProteinShare      Range    `json:"protein_share"`
	FatShare          Range    `json:"fat_share"`
	Conditions        []string `json:"conditions"` // the codes that set targets
}

// ErrConflictingTargets: the patient's conditions ask for targets that no
// single plan can meet; the dietitian decides.
var ErrConflictingTargets = errors.New("the conditions' targets conflict")

// TargetsFor sets the daily targets for a patient: the general adult
// targets, narrowed by each condition the guidelines cover (the strictest
// holds), energy for the patient's sex and weight, and the revisions' adjustments.
func (gl *Guidelines) TargetsFor(p Patient, adj Adjustment) (Targets, error) {
	t := Targets{Conditions: []string{}}
	base := gl.energy(p)
	if adj.EnergyKcal > 0 {
		base = adj.EnergyKcal
	}
	t.EnergyKcal = math.Round(base * adj.factor())
	tol := gl.g.Energy.Tolerance.Value
	t.Energy = Target{Range: Range{Min: t.EnergyKcal * (1 - tol), Max: t.EnergyKcal * (1 + tol)}, Unit: "kcal", Source: gl.g.Energy.Source, Ref: gl.g.Energy.Ref}

	carb, prot, fat := *gl.g.General.CarbShare, *gl.g.General.ProteinShare, *gl.g.General.FatShare
	fibre, sodium := *gl.g.General.FibrePer1000, *gl.g.General.SodiumMg
	codes := slices.Clone(p.Conditions)
	slices.Sort(codes)
	for _, code := range slices.Compact(codes) {
		ct, ok := gl.condition(code)
		if !ok {
			continue
		}
		t.Conditions = append(t.Conditions, code)
		narrow(&carb, ct.CarbShare)
		narrow(&prot, ct.ProteinShare)
		narrow(&fat, ct.FatShare)
		narrow(&fibre, ct.FibrePer1000)
		narrow(&sodium, ct.SodiumMg)
	}
	gl.lowerCarbohydrate(&carb, &prot, &fat, adj.CarbohydrateSteps)
	for _, c := range []struct {
		name string
		r    Cited
	}{{"carbohydrate", carb}, {"protein", prot}, {"fat", fat}} {
		if c.r.Max != 0 && c.r.Min > c.r.Max {
			return Targets{}, fmt.Errorf("diet: %s share: %w", c.name, ErrConflictingTargets)
		}
	}
	t.CarbohydrateShare, t.ProteinShare, t.FatShare = carb.Range, prot.Range, fat.Range
	grams := func(c Cited, kcalPerG float64) Target {
		return Target{Range: Range{Min: c.Min * t.EnergyKcal / kcalPerG, Max: c.Max * t.EnergyKcal / kcalPerG}, Unit: "g", Source: c.Source, Ref: c.Ref}
	}
	t.Carbohydrate, t.Protein, t.Fat = grams(carb, 4), grams(prot, 4), grams(fat, 9)
	t.Fibre = Target{Range: Range{Min: fibre.Min * t.EnergyKcal / 1000}, Unit: "g", Source: fibre.Source, Ref: fibre.Ref}
	t.Sodium = Target{Range: Range{Max: sodium.Max}, Unit: "mg", Source: sodium.Source, Ref: sodium.Ref}
	if p.SteadyVitaminK {
		vk := gl.g.VitaminKSteady
		ai := vk.FemaleUg
		if p.Sex == "male" {
			ai = vk.MaleUg
		}
		t.VitaminK = &Target{Range: Range{Min: ai * vk.Band.Min, Max: ai * vk.Band.Max}, Unit: "ug", Source: vk.Source, Ref: vk.Ref}
	}
	return t, nil
}

func (a Adjustment) factor() float64 {
	if a.EnergyFactor <= 0 {
		return 1
	}
	return a.EnergyFactor
}

// energy is the sedentary reference energy for the patient's sex (the
// mean of both for other or unknown), per kg of the patient's weight when known.
func (gl *Guidelines) energy(p Patient) float64 {
	e := gl.g.Energy
	var kcal, refKg float64
	switch p.Sex {
	case "female":
		kcal, refKg = e.Female.Kcal, e.Female.ReferenceKg
	case "male":
		kcal, refKg = e.Male.Kcal, e.Male.ReferenceKg
	default:
		kcal, refKg = (e.Female.Kcal+e.Male.Kcal)/2, (e.Female.ReferenceKg+e.Male.ReferenceKg)/2
	}
	if p.WeightKg > 0 {
		kcal *= p.WeightKg / refKg
	}
	return math.Round(kcal)
}

func (gl *Guidelines) condition(code string) (conditionTargets, bool) {
	if ct, ok := gl.g.Conditions[code]; ok {
		return ct, true
	}
	// E11.9 is covered by E11.
	if head, _, ok := strings.Cut(code, "."); ok {
		ct, found := gl.g.Conditions[head]
		return ct, found
	}
	return conditionTargets{}, false
}

// narrow keeps the stricter of two ranges, with the source of whichever
// bound now binds.
func narrow(cur *Cited, c *Cited) {
	if c == nil {
		return
	}
	changed := false
	if c.Min > cur.Min {
		cur.Min, changed = c.Min, true
	}
	if c.Max != 0 && (cur.Max == 0 || c.Max < cur.Max) {
		cur.Max, changed = c.Max, true
	}
	if changed {
		cur.Source, cur.Ref = c.Source, c.Ref
	}
}

// lowerCarbohydrate moves the carbohydrate share down by the glucose
// revision step per revision, not below the floor, and lets fat take up
// the energy given up, so the shares can still add up to the whole day.
func (gl *Guidelines) lowerCarbohydrate(carb, prot, fat *Cited, steps int) {
	if steps <= 0 {
		return
	}
	r := gl.g.Revision.Glucose
	for i := 0; i < steps; i++ {
		carb.Min = math.Max(r.Floor, carb.Min+r.Step)
		carb.Max = math.Max(r.Floor+0.05, carb.Max+r.Step)
	}
	if need := 1 - carb.Max - prot.Max; need > fat.Max {
		fat.Max = need
	}
	carb.Ref += fmt.Sprintf("; lowered %d step(s) after glucose above target", steps)
}

// Revision triggers that change the targets.
const (
	TriggerGlucose    = "glucose"
	TriggerWeightGain = "weight_gain"
	TriggerWeightLoss = "weight_loss"
)

// Revise returns the adjustment after a revision for trigger: glucose
// above target lowers the carbohydrate share one step; weight change past
// the pathway's limit moves energy by the revision factor. Other triggers
// (the review interval, an amendment) leave it as it is.
func (gl *Guidelines) Revise(adj Adjustment, trigger string) Adjustment {
	r := gl.g.Revision
	switch trigger {
	case TriggerGlucose:
		adj.CarbohydrateSteps++
	case TriggerWeightGain:
		adj.EnergyFactor = adj.factor() * r.WeightGain.EnergyFactor
	case TriggerWeightLoss:
		adj.EnergyFactor = adj.factor() * r.WeightLoss.EnergyFactor
	}
	return adj
}
