package contract

import "github.com/carepath/carepath/care"

// Application error types of the knowledge activities.
const (
	// ErrTypeInvalidRegimen: the regimen lists no drug. Retrying cannot fix
	// it, so it is non-retryable. A graph that is not loaded or Neo4j that
	// does not answer are ordinary errors: Temporal retries them.
	ErrTypeInvalidRegimen = "InvalidRegimen"
	// ErrTypeKnowledgeUnavailable: Neo4j did not answer or holds no graph
	// (retryable).
	ErrTypeKnowledgeUnavailable = "KnowledgeUnavailable"
)

// CheckPrescriptionInput is a draft regimen (the new drugs and the ones the
// patient already takes, by name) and what is known of the patient.
type CheckPrescriptionInput struct {
	PatientID string       `json:"patient_id"`
	Drugs     []string     `json:"drugs"`
	Profile   care.Profile `json:"profile"`
}

// CheckPrescriptionResult holds the findings, most severe first, and the
// same findings as FHIR DetectedIssue resources for the prescription record.
// Complete is false when a name could not be resolved: the doctor must then
// check that drug by hand.
type CheckPrescriptionResult struct {
	Complete       bool                  `json:"complete"`
	Highest        care.Severity         `json:"highest,omitempty"` // the most severe finding, empty if none
	Findings       []care.Finding        `json:"findings"`
	DetectedIssues []care.DetectedIssue  `json:"detected_issues"`
	Names          []care.NameResolution `json:"names"`
	Warnings       []string              `json:"warnings"`
}
