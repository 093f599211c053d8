package contract

import (
	"time"

	"github.com/carepath/carepath/care"
)

// Application error types of the prescription activities.
const (
	// ErrTypeNothingToPrescribe: the consult ordered a prescription but
	// listed no medicine. Asking again will not change it.
	ErrTypeNothingToPrescribe = "NothingToPrescribe"
	// ErrTypePrescriptionNotFound: no such prescription.
	ErrTypePrescriptionNotFound = "PrescriptionNotFound"
)

// DraftPrescriptionInput drafts version Version of a journey step's
// prescription. Items empty means: take them from the journey's consult.
type DraftPrescriptionInput struct {
	JourneyID      string                `json:"journey_id"`
	Step           string                `json:"step"`
	Version        int                   `json:"version"`
	PatientID      string                `json:"patient_id"`
	PractitionerID string                `json:"practitioner_id"`
	Items          []care.MedicationItem `json:"items,omitempty"`
}

// DraftPrescriptionResult is the stored draft and what the knowledge check
// needs: every drug (the new ones and those the patient already takes) and
// the patient's profile.
type DraftPrescriptionResult struct {
	PrescriptionID string                `json:"prescription_id"`
	Version        int                   `json:"version"`
	Items          []care.MedicationItem `json:"items"`
	CheckDrugs     []string              `json:"check_drugs"`
	Profile        care.Profile          `json:"profile"`
}

// RecordCheckInput is the knowledge graph's answer for a draft.
type RecordCheckInput struct {
	PrescriptionID string               `json:"prescription_id"`
	Complete       bool                 `json:"complete"`
	Highest        care.Severity        `json:"highest,omitempty"`
	Findings       []care.Finding       `json:"findings"`
	DetectedIssues []care.DetectedIssue `json:"detected_issues"`
}

// SignPrescriptionInput is the doctor's approval to sign.
type SignPrescriptionInput struct {
	PrescriptionID string    `json:"prescription_id"`
	ActorID        string    `json:"actor_id"`
	Action         string    `json:"action"` // approve or override
	Reason         string    `json:"reason,omitempty"`
	ReviewedAt     time.Time `json:"reviewed_at"`
}

// SignPrescriptionResult names the signed record.
type SignPrescriptionResult struct {
	PrescriptionID string `json:"prescription_id"`
	SHA256         string `json:"sha256"`
	KeyID          string `json:"key_id"`
}
