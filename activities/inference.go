package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/inference"
)

// Inference scores patients with CarePath's clinical models. Its models
// support clinicians; pathways use the results to choose how closely to
// follow a patient, and a clinician reviews them.
type Inference struct {
	Models *inference.Registry
}

// ScoreRisk scores one patient with the risk model.
func (a *Inference) ScoreRisk(ctx context.Context, in contract.ScoreRiskInput) (contract.ScoreRiskResult, error) {
	m, err := a.model(inference.RiskModel)
	if err != nil {
		return contract.ScoreRiskResult{}, err
	}
	preds, err := m.Predict(ctx, []inference.Input{{Features: in.Features}})
	if err != nil {
		return contract.ScoreRiskResult{}, modelError("score risk", err)
	}
	p := preds[0]
	if p.Risk == nil {
		return contract.ScoreRiskResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("score risk: model %s gives no risk level", m.Name()), contract.ErrTypeModelUnavailable, nil)
	}
	return contract.ScoreRiskResult{
		Probability: p.Risk.Probability, Level: p.Risk.Level,
		Model: m.Name(), ModelVersion: m.Version(), ModelSHA256: m.SHA256(), Warnings: p.Warnings,
	}, nil
}

// DetectAnomalyInput is one window of wearable readings: per channel
// (heart_rate, spo2, glucose), the model's fixed number of readings at its
// interval, oldest first.
type DetectAnomalyInput struct {
	PatientID string                      `json:"patient_id"`
	Channels  map[string]inference.Series `json:"channels"`
}

// DetectAnomalyResult is the anomaly score (1 - P(normal)), whether it
// reaches the model's threshold, and the kind (tachycardia, bradycardia,
// desaturation, hypoglycaemia, hyperglycaemia, or "none").
type DetectAnomalyResult struct {
	Score        float64  `json:"score"`
	Threshold    float64  `json:"threshold"`
	Flagged      bool     `json:"flagged"`
	Kind         string   `json:"kind"`
	Model        string   `json:"model"`
	ModelVersion string   `json:"model_version"`
	ModelSHA256  string   `json:"model_sha256"`
	Warnings     []string `json:"warnings,omitempty"`
}

// DetectAnomaly scores one window with the vitals anomaly model.
func (a *Inference) DetectAnomaly(ctx context.Context, in DetectAnomalyInput) (DetectAnomalyResult, error) {
	m, err := a.model(inference.AnomalyModel)
	if err != nil {
		return DetectAnomalyResult{}, err
	}
	preds, err := m.Predict(ctx, []inference.Input{{Channels: in.Channels}})
	if err != nil {
		return DetectAnomalyResult{}, modelError("detect anomaly", err)
	}
	p := preds[0]
	if p.Anomaly == nil {
		return DetectAnomalyResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("detect anomaly: model %s gives no anomaly score", m.Name()), contract.ErrTypeModelUnavailable, nil)
	}
	return DetectAnomalyResult{
		Score: p.Anomaly.Score, Threshold: p.Anomaly.Threshold, Flagged: p.Anomaly.Flagged, Kind: p.Anomaly.Kind,
		Model: m.Name(), ModelVersion: m.Version(), ModelSHA256: m.SHA256(), Warnings: p.Warnings,
	}, nil
}

func (a *Inference) model(name string) (*inference.Model, error) {
	if a.Models == nil {
		return nil, temporal.NewNonRetryableApplicationError("the worker has no model registry", contract.ErrTypeModelUnavailable, nil)
	}
	m, err := a.Models.Model(name)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), contract.ErrTypeModelUnavailable, nil)
	}
	return m, nil
}

// modelError makes an input refusal non-retryable, with a message that
// names fields and reasons but no values. Other errors (ONNX Runtime
// failures, cancellation) stay retryable.
func modelError(op string, err error) error {
	var ie *inference.InputError
	if !errors.As(err, &ie) {
		return fmt.Errorf("%s: %w", op, err)
	}
	faults := make([]contract.InputFault, len(ie.Problems))
	parts := make([]string, len(ie.Problems))
	for i, p := range ie.Problems {
		faults[i] = contract.InputFault{Field: p.Field, Reason: p.Reason}
		parts[i] = p.Field + ": " + p.Reason
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: model %s refused the input: %s", op, ie.Model, strings.Join(parts, "; ")),
		contract.ErrTypeInvalidModelInput, nil, faults)
}
