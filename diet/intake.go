package diet

import "math"

// IntakeLine is one nutrient's intake against its daily target.
type IntakeLine struct {
	Nutrient string  `json:"nutrient"`
	Unit     string  `json:"unit"`
	Intake   float64 `json:"intake"`
	Target   Range   `json:"target"`
	Status   string  `json:"status"` // below, within, above
}

// IntakeLines compares intake with targets, nutrient by nutrient.
func IntakeLines(n Nutrients, t Targets) []IntakeLine {
	line := func(name string, v float64, tg Target) IntakeLine {
		status := "within"
		switch {
		case v < tg.Min:
			status = "below"
		case tg.Max > 0 && v > tg.Max:
			status = "above"
		}
		return IntakeLine{Nutrient: name, Unit: tg.Unit, Intake: math.Round(v*10) / 10, Target: tg.Range, Status: status}
	}
	return []IntakeLine{
		line("energy", n.EnergyKcal, t.Energy), line("carbohydrate", n.CarbohydrateG, t.Carbohydrate),
		line("protein", n.ProteinG, t.Protein), line("fat", n.FatG, t.Fat),
		line("fibre", n.FibreG, t.Fibre), line("sodium", n.SodiumMg, t.Sodium),
	}
}
