package care

// Lab order statuses and origins.
const (
	LabOrderScheduled = "scheduled"
	LabOrderResulted  = "resulted"
	LabOriginJourney  = "journey"
	LabOriginLink     = "healthlink"
)

// LabOrder is one booked test.
type LabOrder struct {
	ID             string `json:"id"`
	Origin         string `json:"origin"`
	JourneyID      string `json:"journey_id,omitempty"`
	PatientID      string `json:"patient_id"`
	PractitionerID string `json:"practitioner_id,omitempty"`
	LOINC          string `json:"loinc_code"`
	TestName       string `json:"test_name"`
	ScheduledFor   string `json:"scheduled_for"` // a date, 2006-01-02
	Status         string `json:"status"`
	// LabClientID is the lab partner (OAuth client) the order was sent to;
	// only it may report the result. Empty: no partner lab.
	LabClientID string `json:"lab_client_id,omitempty"`
}
