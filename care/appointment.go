package care

import "time"

// Slot statuses.
const (
	SlotFree   = "free"
	SlotHeld   = "held"
	SlotBooked = "booked"
)

// Appointment statuses (FHIR Appointment.status).
const (
	AppointmentPending   = "pending"
	AppointmentBooked    = "booked"
	AppointmentFulfilled = "fulfilled"
	AppointmentCancelled = "cancelled"
	AppointmentNoShow    = "noshow"
)

// Doctor responses (FHIR AppointmentResponse.participantStatus).
const (
	ResponseNeedsAction = "needs-action"
	ResponseAccepted    = "accepted"
	ResponseDeclined    = "declined"
)

// Slot is one bookable interval of a practitioner's schedule.
type Slot struct {
	ID             string     `json:"id"`
	ScheduleID     string     `json:"schedule_id"`
	PractitionerID string     `json:"practitioner_id"`
	Start          time.Time  `json:"start"`
	End            time.Time  `json:"end"`
	Status         string     `json:"status"`
	AppointmentID  string     `json:"appointment_id,omitempty"`
	HeldUntil      *time.Time `json:"held_until,omitempty"`
}

// Appointment is a patient's booking of a slot.
type Appointment struct {
	ID                 string     `json:"id"`
	JourneyID          string     `json:"journey_id"`
	Step               string     `json:"step"`
	PatientID          string     `json:"patient_id"`
	PractitionerID     string     `json:"practitioner_id"`
	SlotID             string     `json:"slot_id"`
	Start              time.Time  `json:"start"`
	End                time.Time  `json:"end"`
	Status             string     `json:"status"`
	DoctorResponse     string     `json:"doctor_response"`
	FeeMinor           int64      `json:"fee_minor"`
	Currency           string     `json:"currency"`
	CancellationReason string     `json:"cancellation_reason,omitempty"`
	HoldUntil          *time.Time `json:"hold_until,omitempty"` // set while the slot is held for it
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// ReschedulePolicy bounds where an appointment may move. The zero value
// allows any free future slot of the same practitioner.
type ReschedulePolicy struct {
	// MinLeadTime: the new slot starts at least this long from now.
	MinLeadTime time.Duration `json:"min_lead_time"`
	// MaxHorizon: the new slot starts at most this long from now (0: no limit).
	MaxHorizon time.Duration `json:"max_horizon"`
	// Cutoff: no rescheduling once the current start is this close.
	Cutoff time.Duration `json:"cutoff"`
	// AllowOtherPractitioner lets the appointment move to another doctor.
	AllowOtherPractitioner bool `json:"allow_other_practitioner"`
}

// Order kinds the doctor can place when closing an encounter.
const (
	OrderPrescription = "prescription"
	OrderLabTest      = "lab_test"
	OrderDietReferral = "diet_referral"
	OrderFollowUp     = "follow_up"
)

// EncounterOrder is one order placed at the end of a consult.
type EncounterOrder struct {
	Kind      string            `json:"kind"`
	Code      string            `json:"code,omitempty"`    // LOINC code of a lab test; product SKU of a prescription
	Display   string            `json:"display,omitempty"` // e.g. the medicine as written
	AfterDays int               `json:"after_days,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"` // structured extras (dose, frequency)
}

// Encounter is the closed consult as returned to the journey. It carries
// the codes and orders that decide the next steps, never the notes.
type Encounter struct {
	ID             string           `json:"id"`
	AppointmentID  string           `json:"appointment_id"`
	PractitionerID string           `json:"practitioner_id"`
	Diagnoses      []string         `json:"diagnoses"`
	Orders         []EncounterOrder `json:"orders"`
	PeriodStart    time.Time        `json:"period_start"`
	PeriodEnd      time.Time        `json:"period_end"`
}
