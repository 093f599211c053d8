package care

import (
	"errors"
	"strconv"
)

// MedicationItem is one medicine of a prescription, shaped after FHIR
// MedicationRequest's dosage and dispense request.
type MedicationItem struct {
	Drug         string `json:"drug"`
	Dose         string `json:"dose"`      // e.g. "500 mg"
	Route        string `json:"route"`     // e.g. "oral"
	Frequency    string `json:"frequency"` // e.g. "twice daily"
	DurationDays int    `json:"duration_days"`
	Quantity     int    `json:"quantity"`
	Refills      int    `json:"refills"`
}

// Validate reports what is missing from an item, naming fields, never the
// drug (a drug name is health data).
func (m MedicationItem) Validate() error {
	var errs []error
	if m.Drug == "" || m.Dose == "" || m.Route == "" || m.Frequency == "" {
		errs = append(errs, errors.New("drug, dose, route and frequency are required"))
	}
	if m.DurationDays <= 0 || m.Quantity <= 0 || m.Refills < 0 {
		errs = append(errs, errors.New("duration_days and quantity must be positive and refills not negative"))
	}
	return errors.Join(errs...)
}

// OrderFromItem is the encounter order that carries an item from the
// consult to the prescription step.
func OrderFromItem(m MedicationItem) EncounterOrder {
	return EncounterOrder{Kind: OrderPrescription, Display: m.Drug, Detail: map[string]string{
		"dose": m.Dose, "route": m.Route, "frequency": m.Frequency, "duration_days": strconv.Itoa(m.DurationDays),
		"quantity": strconv.Itoa(m.Quantity), "refills": strconv.Itoa(m.Refills)}}
}

// Pharmacy is a partner pharmacy, with its distance from the patient.
type Pharmacy struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	City       string  `json:"city"`
	Preferred  bool    `json:"preferred"`
	DistanceKm float64 `json:"distance_km"`
}
