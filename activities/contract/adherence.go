package contract

import "time"

// ErrTypeNoRefillsLeft: the refill would exceed the refills the prescriber
// allowed (medication_request.refills).
const ErrTypeNoRefillsLeft = "NoRefillsLeft"

// AdherencePlanInput names the journey whose signed prescription to follow.
type AdherencePlanInput struct {
	JourneyID string `json:"journey_id"`
	PatientID string `json:"patient_id"`
}

// AdherenceItem is the schedule of one medication request: no drug name.
type AdherenceItem struct {
	Position     int    `json:"position"`
	Frequency    string `json:"frequency"`
	DurationDays int    `json:"duration_days"`
	Quantity     int    `json:"quantity"`
	Refills      int    `json:"refills"`
}

// AdherencePlanResult is the journey's latest signed prescription as
// schedules, and the patient's time zone.
type AdherencePlanResult struct {
	PrescriptionID string          `json:"prescription_id"`
	TimeZone       string          `json:"time_zone"`
	Items          []AdherenceItem `json:"items"`
}

// RecordRefillInput is one refill request.
type RecordRefillInput struct {
	PrescriptionID string    `json:"prescription_id"`
	Position       int       `json:"position"`
	Number         int       `json:"number"`
	PatientID      string    `json:"patient_id"`
	ActorID        string    `json:"actor_id"`
	ActorRole      string    `json:"actor_role"`
	RequestedAt    time.Time `json:"requested_at"`
}
