package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/knowledge"
)

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

// Knowledge asks the treatment and interaction knowledge graph. The
// prescription step checks a draft prescription with it before the doctor
// approves; the diet step reads the foods and herbs to avoid. Its answers
// support clinicians and do not replace them.
type Knowledge struct {
	Graph *knowledge.Graph
}

// CheckPrescriptionInput is a draft regimen (the new drugs and the ones the
// patient already takes, by name) and what is known of the patient.
type CheckPrescriptionInput struct {
	PatientID string            `json:"patient_id"`
	Drugs     []string          `json:"drugs"`
	Profile   knowledge.Profile `json:"profile"`
}

// CheckPrescriptionResult holds the findings, most severe first, and the
// same findings as FHIR DetectedIssue resources for the prescription record.
// Complete is false when a name could not be resolved: the doctor must then
// check that drug by hand.
type CheckPrescriptionResult struct {
	Complete       bool                       `json:"complete"`
	Highest        knowledge.Severity         `json:"highest,omitempty"` // the most severe finding, empty if none
	Findings       []knowledge.Finding        `json:"findings"`
	DetectedIssues []knowledge.DetectedIssue  `json:"detected_issues"`
	Names          []knowledge.NameResolution `json:"names"`
	Warnings       []string                   `json:"warnings"`
}

// CheckPrescription checks a regimen against itself and the patient.
func (a *Knowledge) CheckPrescription(ctx context.Context, in CheckPrescriptionInput) (CheckPrescriptionResult, error) {
	res, err := a.Graph.CheckRegimen(ctx, in.Drugs, in.Profile)
	if err != nil {
		return CheckPrescriptionResult{}, knowledgeActivityError("check prescription", err)
	}
	out := CheckPrescriptionResult{Complete: res.Complete, Findings: res.Findings, DetectedIssues: res.DetectedIssues(),
		Names: res.Names, Warnings: res.Warnings}
	if len(res.Findings) > 0 {
		out.Highest = res.Findings[0].Severity
	}
	return out, nil
}

// DietForRegimenInput names the drugs a diet plan must respect.
type DietForRegimenInput struct {
	PatientID string   `json:"patient_id"`
	Drugs     []string `json:"drugs"`
}

// DietForRegimenResult lists the foods and herbs to avoid, limit, keep
// steady or take apart from doses; Complete is false when a drug name could
// not be resolved.
type DietForRegimenResult struct {
	Complete bool                       `json:"complete"`
	Diet     []knowledge.DietAdvice     `json:"diet"`
	Names    []knowledge.NameResolution `json:"names"`
}

// DietForRegimen reads the food and herb rules for a regimen.
func (a *Knowledge) DietForRegimen(ctx context.Context, in DietForRegimenInput) (DietForRegimenResult, error) {
	diet, names, err := a.Graph.DietForRegimen(ctx, in.Drugs)
	if err != nil {
		return DietForRegimenResult{}, knowledgeActivityError("diet for regimen", err)
	}
	complete := true
	for _, n := range names {
		complete = complete && n.Status == knowledge.Resolved
	}
	return DietForRegimenResult{Complete: complete, Diet: diet, Names: names}, nil
}

// knowledgeActivityError keeps drug names out of the message (it is stored
// in workflow history) and marks what retrying cannot fix.
func knowledgeActivityError(op string, err error) error {
	if errors.Is(err, knowledge.ErrInvalidInput) {
		return temporal.NewNonRetryableApplicationError(op+": the regimen lists no drug", ErrTypeInvalidRegimen, nil)
	}
	return temporal.NewApplicationErrorWithCause(op+": the knowledge graph did not answer", ErrTypeKnowledgeUnavailable, err)
}
