package contract

import "github.com/carepath/carepath/care"

// Application error types of the inference activities. Retrying cannot fix
// either, so both are non-retryable; workflows and the API match on them.
const (
	// ErrTypeInvalidModelInput: the measurements were refused before any
	// inference (missing, not finite, wrong unit, implausible). The error
	// message names the fields and reasons only, never the values, because
	// it is stored in workflow history; the details carry the same faults.
	ErrTypeInvalidModelInput = "InvalidModelInput"
	// ErrTypeModelUnavailable: the worker holds no model by that name.
	ErrTypeModelUnavailable = "ModelUnavailable"
)

// ScoreRiskInput is a patient's baseline measurements for the risk model
// (diabetes-progression-risk). Each feature is a value in the unit the model
// card lists, or in another unit it accepts (glucose and cholesterol in
// mmol/L).
type ScoreRiskInput struct {
	PatientID string                   `json:"patient_id"`
	Features  map[string]care.Quantity `json:"features"`
}

// ScoreRiskResult is the calibrated probability of high progression and the
// risk level (low, medium, high) pathways branch on and the journey upserts
// as its RiskLevel search attribute. Model, ModelVersion and ModelSHA256
// say which model made it (for the RiskAssessment record).
type ScoreRiskResult struct {
	Probability  float64  `json:"probability"`
	Level        string   `json:"level"`
	Model        string   `json:"model"`
	ModelVersion string   `json:"model_version"`
	ModelSHA256  string   `json:"model_sha256"`
	Warnings     []string `json:"warnings,omitempty"`
}

// InputFault is one refused field, without its value.
type InputFault struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}
