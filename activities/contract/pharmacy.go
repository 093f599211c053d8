package contract

import "github.com/carepath/carepath/care"

// Application error types of the pharmacy activities.
const (
	// ErrTypePharmacyRejected: the partner refused the request as invalid
	// (a 4xx answer). Sending the same request again will not help.
	ErrTypePharmacyRejected = "PharmacyRejected"
	// ErrTypeNoSignedPrescription: the journey has no signed prescription to send.
	ErrTypeNoSignedPrescription = "NoSignedPrescription"
)

// ChoosePharmaciesInput names the journey whose signed prescription is to be
// filled. A refill names the prescription and the one item (Position) to
// fill again instead.
type ChoosePharmaciesInput struct {
	JourneyID      string `json:"journey_id"`
	PatientID      string `json:"patient_id"`
	PrescriptionID string `json:"prescription_id,omitempty"`
	Position       *int   `json:"position,omitempty"`
}

// ChoosePharmaciesResult is the prescription to send and the pharmacies to
// try, in order: the patient's preferred one, then the nearest; only those
// that report stock for every item.
type ChoosePharmaciesResult struct {
	PrescriptionID string          `json:"prescription_id"`
	Candidates     []care.Pharmacy `json:"candidates"`
}

// SendPrescriptionInput sends the prescription to one pharmacy; Attempt
// counts the pharmacies tried by the step. A refill sends the one item at
// Position, and names the workflow that follows the order (WorkflowID).
type SendPrescriptionInput struct {
	JourneyID      string `json:"journey_id"`
	Step           string `json:"step"`
	Attempt        int    `json:"attempt"`
	PrescriptionID string `json:"prescription_id"`
	PharmacyID     string `json:"pharmacy_id"`
	Position       *int   `json:"position,omitempty"`
	WorkflowID     string `json:"workflow_id,omitempty"`
}

// SendPrescriptionResult names the order, ours and the partner's.
type SendPrescriptionResult struct {
	OrderID        string `json:"order_id"`
	PartnerOrderID string `json:"partner_order_id"`
}
