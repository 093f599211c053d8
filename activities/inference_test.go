package activities_test

import (
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
)

func inferenceActivities(t *testing.T) (*activities.Inference, *testsuite.TestActivityEnvironment) {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := inference.Open(cfg.ONNXRuntimeLib)
	if err != nil {
		t.Fatalf("%v\n(run `make tools`)", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	a := &activities.Inference{Models: reg}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return a, env
}

func riskFeatures() map[string]inference.Quantity {
	return map[string]inference.Quantity{
		"age": {Value: 55}, "sex": {Value: 1}, "bmi": {Value: 36}, "mean_arterial_pressure": {Value: 112},
		"total_cholesterol": {Value: 5.4, Unit: "mmol/L"}, "ldl": {Value: 3.3, Unit: "mmol/L"}, "hdl": {Value: 1.0, Unit: "mmol/L"},
		"cholesterol_hdl_ratio": {Value: 5.4}, "log_triglycerides": {Value: 5.6}, "glucose": {Value: 6.1, Unit: "mmol/L"},
	}
}

func TestScoreRisk(t *testing.T) {
	a, env := inferenceActivities(t)
	val, err := env.ExecuteActivity(a.ScoreRisk, contract.ScoreRiskInput{PatientID: "p-1", Features: riskFeatures()})
	if err != nil {
		t.Fatal(err)
	}
	var res contract.ScoreRiskResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Probability <= 0 || res.Probability >= 1 || res.Model != inference.RiskModel || res.ModelVersion == "" || len(res.ModelSHA256) != 64 {
		t.Errorf("result = %+v", res)
	}
	// The same patient through the registry directly gives the same answer.
	m, err := a.Models.Model(inference.RiskModel)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := m.Predict(t.Context(), []inference.Input{{Features: riskFeatures()}})
	if err != nil {
		t.Fatal(err)
	}
	if preds[0].Risk.Probability != res.Probability || preds[0].Risk.Level != res.Level {
		t.Errorf("activity %+v, model %+v", res, preds[0].Risk)
	}
}

func TestScoreRiskInvalidInputIsNonRetryableAndHidesValues(t *testing.T) {
	a, env := inferenceActivities(t)
	f := riskFeatures()
	f["mean_arterial_pressure"] = inference.Quantity{Value: 431}
	delete(f, "hdl")
	_, err := env.ExecuteActivity(a.ScoreRisk, contract.ScoreRiskInput{PatientID: "p-1", Features: f})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("err = %v, want an application error", err)
	}
	if appErr.Type() != contract.ErrTypeInvalidModelInput || !appErr.NonRetryable() {
		t.Errorf("type %q, non-retryable %v; want %s, true", appErr.Type(), appErr.NonRetryable(), contract.ErrTypeInvalidModelInput)
	}
	msg := appErr.Error()
	if !strings.Contains(msg, "features/mean_arterial_pressure: "+inference.ReasonImplausible) || !strings.Contains(msg, "features/hdl: "+inference.ReasonRequired) {
		t.Errorf("message %q does not name both fields and reasons", msg)
	}
	if strings.Contains(msg, "431") {
		t.Errorf("message %q quotes the clinical value; it is stored in workflow history", msg)
	}
	var faults []contract.InputFault
	if err := appErr.Details(&faults); err != nil || len(faults) != 2 {
		t.Errorf("details = %+v, %v; want the two faults", faults, err)
	}
}

func TestDetectAnomaly(t *testing.T) {
	a, env := inferenceActivities(t)
	window := map[string]inference.Series{
		"heart_rate": {Values: []float64{70, 71, 72, 70, 69, 71, 72, 70, 71, 72, 70, 71}},
		"spo2":       {Values: []float64{97, 97, 96, 97, 86, 85, 85, 84, 85, 86, 85, 84}},
		"glucose":    {Values: []float64{6.1, 6.2, 6.2, 6.3, 6.3, 6.4, 6.3, 6.2, 6.2, 6.1, 6.1, 6.0}, Unit: "mmol/L"},
	}
	val, err := env.ExecuteActivity(a.DetectAnomaly, activities.DetectAnomalyInput{PatientID: "p-1", Channels: window})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.DetectAnomalyResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if !res.Flagged || res.Kind != "desaturation" || res.Score < res.Threshold || res.Model != inference.AnomalyModel {
		t.Errorf("result = %+v, want a flagged desaturation", res)
	}

	window["spo2"] = inference.Series{Values: window["spo2"].Values[:6]}
	_, err = env.ExecuteActivity(a.DetectAnomaly, activities.DetectAnomalyInput{PatientID: "p-1", Channels: window})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeInvalidModelInput || !appErr.NonRetryable() {
		t.Fatalf("short window: err = %v, want a non-retryable %s", err, contract.ErrTypeInvalidModelInput)
	}
}

func TestInferenceWithoutModels(t *testing.T) {
	a := &activities.Inference{}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.ScoreRisk, contract.ScoreRiskInput{Features: riskFeatures()})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeModelUnavailable || !appErr.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable %s", err, contract.ErrTypeModelUnavailable)
	}
}
