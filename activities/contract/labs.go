package contract

import (
	"time"

	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
)

// Application error types of the lab activities.
const (
	// ErrTypeUnknownLabTest: a test code the catalogue does not have.
	ErrTypeUnknownLabTest = "UnknownLabTest"
	// ErrTypeLabOrderNotFound: no such lab order.
	ErrTypeLabOrderNotFound = "LabOrderNotFound"
)

// BookLabTestsInput books tests for a journey step. Each test's order is
// keyed KeyPrefix + ":" + LOINC, so a retry books nothing twice. Its fields
// and JSON names are those of store.BookLabTestsRequest.
type BookLabTestsInput struct {
	KeyPrefix      string    `json:"key_prefix"`
	Origin         string    `json:"origin"`
	JourneyID      string    `json:"journey_id,omitempty"`
	PatientID      string    `json:"patient_id"`
	PractitionerID string    `json:"practitioner_id,omitempty"`
	Tests          []string  `json:"tests"` // LOINC codes
	ScheduledFor   time.Time `json:"scheduled_for"`
	// LabClientID sends the orders to this lab partner; empty: to the lab
	// partner the patient is enrolled with, if any.
	LabClientID string `json:"lab_client_id,omitempty"`
}

// RecordLabResultInput stores one order's result.
type RecordLabResultInput struct {
	LabOrderID     string             `json:"lab_order_id"`
	Result         pathways.LabResult `json:"result"`
	Interpretation string             `json:"interpretation"`
	ReportedBy     string             `json:"reported_by"`
}

// LabObservation is a stored result, as RecordLabResult returns it.
type LabObservation struct {
	ID             string             `json:"id"`
	LabOrderID     string             `json:"lab_order_id"`
	PatientID      string             `json:"patient_id"`
	Result         pathways.LabResult `json:"result"`
	Interpretation string             `json:"interpretation"`
	RecordedAt     time.Time          `json:"recorded_at"`
}

// FindSlotInput asks for a practitioner's first free slot in a window.
type FindSlotInput struct {
	PractitionerID string    `json:"practitioner_id"`
	From           time.Time `json:"from"`
	Until          time.Time `json:"until"`
}

// FindSlotResult is the slot found; Found is false when the window has none.
type FindSlotResult struct {
	Found bool      `json:"found"`
	Slot  care.Slot `json:"slot"`
}

// NotifyPractitionerInput asks to text a practitioner about a journey step.
type NotifyPractitionerInput struct {
	JourneyID      string `json:"journey_id"`
	Step           string `json:"step"`
	PractitionerID string `json:"practitioner_id"`
	TemplateID     string `json:"template_id"`
	// Link is a path under LinkBase; the only parameter a staff template takes.
	Link string `json:"link"`
}

// Skip reason of a practitioner without a phone on their user account.
const SkipNoPractitionerNumber = "no-practitioner-number"
