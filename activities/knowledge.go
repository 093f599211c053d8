package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/knowledge"
)

// Knowledge asks the treatment and interaction knowledge graph. The
// prescription step checks a draft prescription with it before the doctor
// approves; the diet step reads the foods and herbs to avoid. Its answers
// support clinicians and do not replace them.
type Knowledge struct {
	Graph *knowledge.Graph
}

// CheckPrescription checks a regimen against itself and the patient.
func (a *Knowledge) CheckPrescription(ctx context.Context, in contract.CheckPrescriptionInput) (contract.CheckPrescriptionResult, error) {
	res, err := a.Graph.CheckRegimen(ctx, in.Drugs, in.Profile)
	if err != nil {
		return contract.CheckPrescriptionResult{}, knowledgeActivityError("check prescription", err)
	}
	out := contract.CheckPrescriptionResult{Complete: res.Complete, Findings: res.Findings, DetectedIssues: res.DetectedIssues(),
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
	Complete bool                   `json:"complete"`
	Diet     []knowledge.DietAdvice `json:"diet"`
	Names    []care.NameResolution  `json:"names"`
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
		return temporal.NewNonRetryableApplicationError(op+": the regimen lists no drug", contract.ErrTypeInvalidRegimen, nil)
	}
	return temporal.NewApplicationErrorWithCause(op+": the knowledge graph did not answer", contract.ErrTypeKnowledgeUnavailable, err)
}
