package inference_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
)

// parityTolerance is the bar: Go equals Python ONNX Runtime to 1e-5.
const parityTolerance = 1e-5

// registry loads ONNX Runtime from the configured path and the built-in
// models. A missing library fails the test with instructions.
func registry(t testing.TB) *inference.Registry {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	r, err := inference.Open(cfg.ONNXRuntimeLib)
	if err != nil {
		t.Fatalf("%v\n(run `make tools`, which fetches ONNX Runtime 1.24.3 into the tools cache)", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close registry: %v", err)
		}
	})
	return r
}

func model(t testing.TB, r *inference.Registry, name string) *inference.Model {
	t.Helper()
	m, err := r.Model(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type riskFixture struct {
	Model         string      `json:"model"`
	Version       string      `json:"version"`
	ONNXRuntime   string      `json:"onnxruntime"`
	Features      []string    `json:"features"`
	Units         []string    `json:"units"`
	Rows          [][]float64 `json:"rows"`
	Probabilities [][]float64 `json:"probabilities"`
	Levels        []string    `json:"levels"`
}

type anomalyFixture struct {
	Model         string        `json:"model"`
	Version       string        `json:"version"`
	Channels      []string      `json:"channels"`
	Windows       [][][]float64 `json:"windows"`
	Labels        []string      `json:"labels"`
	Probabilities [][]float64   `json:"probabilities"`
	Kinds         []string      `json:"kinds"`
}

func readFixture(t testing.TB, name string, dst any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "models", "fixtures", name+".json"))
	if err != nil {
		t.Fatalf("parity fixture: %v (it is written by `make models`)", err)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("parity fixture %s: %v", name, err)
	}
}

func riskInputs(fx riskFixture) []inference.Input {
	inputs := make([]inference.Input, len(fx.Rows))
	for i, row := range fx.Rows {
		f := map[string]inference.Quantity{}
		for j, v := range row {
			f[fx.Features[j]] = inference.Quantity{Value: v}
		}
		inputs[i] = inference.Input{Features: f}
	}
	return inputs
}

func anomalyInputs(fx anomalyFixture) []inference.Input {
	inputs := make([]inference.Input, len(fx.Windows))
	for i, w := range fx.Windows {
		ch := map[string]inference.Series{}
		for c, values := range w {
			ch[fx.Channels[c]] = inference.Series{Values: values}
		}
		inputs[i] = inference.Input{Channels: ch}
	}
	return inputs
}

func TestRuntimeVersion(t *testing.T) {
	registry(t)
	if got := inference.RuntimeVersion(); got != "1.24.3" {
		t.Errorf("ONNX Runtime version = %q, want 1.24.3 (the library `make tools` fetches)", got)
	}
}

func TestInitNamesTheMissingLibrary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	err := inference.Init(missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Init(%s) = %v, want an error naming the path and `make tools`", missing, err)
	}
}

func TestBuiltinModelsCarryTheirCards(t *testing.T) {
	r := registry(t)
	ms := r.Models()
	if len(ms) != 2 || ms[0].Name() != inference.RiskModel || ms[1].Name() != inference.AnomalyModel {
		names := []string{}
		for _, m := range ms {
			names = append(names, m.Name())
		}
		t.Fatalf("built-in models = %v, want [%s %s]", names, inference.RiskModel, inference.AnomalyModel)
	}
	for _, m := range ms {
		s := m.Spec()
		if s.Version == "" || s.Card.Data == "" || s.Card.Licence == "" || s.Card.IntendedUse == "" || s.Card.Limits == "" || len(s.Card.Metrics) == 0 {
			t.Errorf("%s: card is missing key facts: %+v", m.Name(), s.Card)
		}
		if !strings.Contains(s.Disclaimer, "does not replace") {
			t.Errorf("%s: disclaimer %q does not say the model does not replace clinicians", m.Name(), s.Disclaimer)
		}
		if len(m.SHA256()) != 64 {
			t.Errorf("%s: sha256 = %q", m.Name(), m.SHA256())
		}
	}
	if !strings.Contains(model(t, r, inference.AnomalyModel).Spec().Card.Data, "No real stream data") {
		t.Error("the anomaly card must say plainly that no real stream data was available")
	}
}

// Go's probabilities equal Python ONNX Runtime's on every held-out row, in
// one batch and one row at a time.
func TestRiskParityWithPython(t *testing.T) {
	var fx riskFixture
	readFixture(t, inference.RiskModel, &fx)
	m := model(t, registry(t), inference.RiskModel)
	if fx.Version != m.Version() {
		t.Fatalf("fixture is for version %s, model is %s: rerun `make models`", fx.Version, m.Version())
	}
	inputs := riskInputs(fx)
	batch, err := m.Predict(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	classes := m.Spec().Classes
	worst := 0.0
	for i, want := range fx.Probabilities {
		single, err := m.Predict(context.Background(), inputs[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []inference.Prediction{batch[i], single[0]} {
			for c, p := range want {
				d := math.Abs(got.Probabilities.Of(classes[c]) - p)
				worst = max(worst, d)
				if d > parityTolerance {
					t.Errorf("row %d class %s: Go %.8f, Python %.8f", i, classes[c], got.Probabilities.Of(classes[c]), p)
				}
			}
			if got.Risk == nil || got.Risk.Level != fx.Levels[i] {
				t.Errorf("row %d: level %+v, Python's %s", i, got.Risk, fx.Levels[i])
			}
		}
	}
	t.Logf("%d held-out rows, largest difference from Python ONNX Runtime %s: %.3g", len(fx.Rows), fx.ONNXRuntime, worst)
}

func TestAnomalyParityWithPython(t *testing.T) {
	var fx anomalyFixture
	readFixture(t, inference.AnomalyModel, &fx)
	m := model(t, registry(t), inference.AnomalyModel)
	if fx.Version != m.Version() {
		t.Fatalf("fixture is for version %s, model is %s: rerun `make models`", fx.Version, m.Version())
	}
	preds, err := m.Predict(context.Background(), anomalyInputs(fx))
	if err != nil {
		t.Fatal(err)
	}
	classes := m.Spec().Classes
	worst, agree := 0.0, 0
	for i, want := range fx.Probabilities {
		for c, p := range want {
			d := math.Abs(preds[i].Probabilities.Of(classes[c]) - p)
			worst = max(worst, d)
			if d > parityTolerance {
				t.Errorf("window %d class %s: Go %.8f, Python %.8f", i, classes[c], preds[i].Probabilities.Of(classes[c]), p)
			}
		}
		if preds[i].Anomaly == nil || preds[i].Anomaly.Kind != fx.Kinds[i] {
			t.Errorf("window %d: anomaly %+v, Python's kind %s", i, preds[i].Anomaly, fx.Kinds[i])
		}
		label := fx.Labels[i]
		if label == "normal" {
			label = inference.KindNone
		}
		if preds[i].Anomaly != nil && preds[i].Anomaly.Kind == label {
			agree++
		}
	}
	// The windows are labelled simulator output; the card reports the model
	// recovering nearly all of them, so most must agree here too.
	if agree < len(fx.Labels)*95/100 {
		t.Errorf("kind matches the injected label in %d of %d windows, want at least 95%%", agree, len(fx.Labels))
	}
	t.Logf("%d windows, largest difference from Python: %.3g; kind matches label in %d", len(fx.Windows), worst, agree)
}

// baseRisk is a valid patient within the training ranges.
func baseRisk() map[string]inference.Quantity {
	return map[string]inference.Quantity{
		"age": {Value: 55}, "sex": {Value: 2}, "bmi": {Value: 31.2}, "mean_arterial_pressure": {Value: 101},
		"total_cholesterol": {Value: 210}, "ldl": {Value: 130}, "hdl": {Value: 42}, "cholesterol_hdl_ratio": {Value: 5},
		"log_triglycerides": {Value: 5.1}, "glucose": {Value: 104},
	}
}

func with(f map[string]inference.Quantity, name string, q inference.Quantity) map[string]inference.Quantity {
	out := map[string]inference.Quantity{}
	for k, v := range f {
		out[k] = v
	}
	out[name] = q
	return out
}

func without(f map[string]inference.Quantity, name string) map[string]inference.Quantity {
	out := with(f, name, inference.Quantity{})
	delete(out, name)
	return out
}

func wantInputError(t *testing.T, preds []inference.Prediction, err error, field, detail string) {
	t.Helper()
	var ie *inference.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *InputError", err)
	}
	if preds != nil {
		t.Fatalf("an invalid input was scored: %+v", preds)
	}
	for _, p := range ie.Problems {
		if p.Field == field && strings.Contains(p.Detail, detail) {
			return
		}
	}
	t.Fatalf("problems %+v, want one on %q containing %q", ie.Problems, field, detail)
}

func TestRiskRefusesBadInput(t *testing.T) {
	m := model(t, registry(t), inference.RiskModel)
	ok := baseRisk()
	cases := []struct {
		name, field, detail string
		features            map[string]inference.Quantity
	}{
		{"missing feature", "features/glucose", "is required", without(ok, "glucose")},
		{"unknown feature", "features/hba1c", "is not a feature", with(ok, "hba1c", inference.Quantity{Value: 7})},
		{"NaN", "features/bmi", "finite", with(ok, "bmi", inference.Quantity{Value: math.NaN()})},
		{"infinity", "features/age", "finite", with(ok, "age", inference.Quantity{Value: math.Inf(1)})},
		{"unknown unit", "features/glucose", `unit "g/L" is not accepted`, with(ok, "glucose", inference.Quantity{Value: 1, Unit: "g/L"})},
		{"implausible value", "features/mean_arterial_pressure", "outside the plausible range", with(ok, "mean_arterial_pressure", inference.Quantity{Value: 400})},
		{"glucose in mmol/L sent as mg/dL", "features/glucose", "outside the plausible range", with(ok, "glucose", inference.Quantity{Value: 5.8})},
		{"not a sex code", "features/sex", "must be one of 1, 2", with(ok, "sex", inference.Quantity{Value: 3})},
		{"a child", "features/age", "outside the plausible range", with(ok, "age", inference.Quantity{Value: 9})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			preds, err := m.Predict(context.Background(), []inference.Input{{Features: c.features}})
			wantInputError(t, preds, err, c.field, c.detail)
		})
	}
	t.Run("one bad row refuses the whole batch", func(t *testing.T) {
		preds, err := m.Predict(context.Background(), []inference.Input{{Features: ok}, {Features: without(ok, "ldl")}})
		wantInputError(t, preds, err, "features/ldl", "is required")
		if ie := (*inference.InputError)(nil); errors.As(err, &ie) && ie.Problems[0].Input != 1 {
			t.Errorf("problem names input %d, want 1", ie.Problems[0].Input)
		}
	})
	t.Run("empty batch", func(t *testing.T) {
		preds, err := m.Predict(context.Background(), nil)
		wantInputError(t, preds, err, "", "a batch holds")
	})
	t.Run("too large a batch", func(t *testing.T) {
		preds, err := m.Predict(context.Background(), make([]inference.Input, inference.MaxBatch+1))
		wantInputError(t, preds, err, "", "a batch holds")
	})
	t.Run("channels sent to a tabular model", func(t *testing.T) {
		preds, err := m.Predict(context.Background(), []inference.Input{{Features: ok, Channels: map[string]inference.Series{"spo2": {}}}})
		wantInputError(t, preds, err, "", "features only")
	})
}

func TestRiskUnitsAndWarnings(t *testing.T) {
	m := model(t, registry(t), inference.RiskModel)
	ctx := context.Background()
	mgdl, err := m.Predict(ctx, []inference.Input{{Features: with(baseRisk(), "glucose", inference.Quantity{Value: 99.088, Unit: "mg/dL"})}})
	if err != nil {
		t.Fatal(err)
	}
	mmol, err := m.Predict(ctx, []inference.Input{{Features: with(baseRisk(), "glucose", inference.Quantity{Value: 5.5, Unit: "mmol/L"})}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(mgdl[0].Risk.Probability-mmol[0].Risk.Probability) > 1e-6 {
		t.Errorf("5.5 mmol/L scored %v, 99.088 mg/dL scored %v; the conversion is wrong", mmol[0].Risk, mgdl[0].Risk)
	}
	if len(mgdl[0].Warnings) != 0 {
		t.Errorf("a patient inside the training ranges got warnings: %v", mgdl[0].Warnings)
	}
	old, err := m.Predict(ctx, []inference.Input{{Features: with(baseRisk(), "age", inference.Quantity{Value: 92})}})
	if err != nil {
		t.Fatal(err)
	}
	if len(old[0].Warnings) != 1 || !strings.Contains(old[0].Warnings[0], "extrapolation") {
		t.Errorf("age 92 (trained on 19-79) warnings = %v, want one about extrapolation", old[0].Warnings)
	}
	p := old[0].Risk
	if p == nil || p.Probability < 0 || p.Probability > 1 || (p.Level != "low" && p.Level != "medium" && p.Level != "high") {
		t.Errorf("risk = %+v", p)
	}
}

// The level follows the thresholds in the spec, and a riskier profile does
// not score lower than a healthier one.
func TestRiskLevelsFollowSpecThresholds(t *testing.T) {
	m := model(t, registry(t), inference.RiskModel)
	levels := m.Spec().Postprocess.Levels
	healthy := with(with(with(baseRisk(), "bmi", inference.Quantity{Value: 21}), "log_triglycerides", inference.Quantity{Value: 4.0}), "mean_arterial_pressure", inference.Quantity{Value: 80})
	sick := with(with(with(baseRisk(), "bmi", inference.Quantity{Value: 38}), "log_triglycerides", inference.Quantity{Value: 5.8}), "mean_arterial_pressure", inference.Quantity{Value: 120})
	preds, err := m.Predict(context.Background(), []inference.Input{{Features: healthy}, {Features: sick}})
	if err != nil {
		t.Fatal(err)
	}
	if preds[0].Risk.Probability >= preds[1].Risk.Probability {
		t.Errorf("healthy profile %.3f >= high-BMI, high-TG, high-BP profile %.3f", preds[0].Risk.Probability, preds[1].Risk.Probability)
	}
	for _, p := range preds {
		want := levels[len(levels)-1].Level
		for _, l := range levels {
			if l.Below != nil && p.Risk.Probability < *l.Below {
				want = l.Level
				break
			}
		}
		if p.Risk.Level != want {
			t.Errorf("probability %.3f has level %s, thresholds say %s", p.Risk.Probability, p.Risk.Level, want)
		}
	}
	if preds[0].Risk.Level != "low" || preds[1].Risk.Level != "high" {
		t.Errorf("levels %s and %s, want low and high for these profiles", preds[0].Risk.Level, preds[1].Risk.Level)
	}
}

func steady(v float64) []float64 {
	out := make([]float64, 12)
	for i := range out {
		out[i] = v
	}
	return out
}

func baseWindow() map[string]inference.Series {
	return map[string]inference.Series{
		"heart_rate": {Values: []float64{72, 74, 71, 73, 75, 72, 70, 71, 73, 74, 72, 71}},
		"spo2":       {Values: []float64{97, 97, 98, 97, 96, 97, 97, 98, 97, 97, 96, 97}},
		"glucose":    {Values: []float64{110, 112, 111, 115, 118, 121, 119, 117, 116, 114, 112, 111}},
	}
}

func withSeries(w map[string]inference.Series, name string, s inference.Series) map[string]inference.Series {
	out := map[string]inference.Series{}
	for k, v := range w {
		out[k] = v
	}
	out[name] = s
	return out
}

func TestAnomalyScoresKinds(t *testing.T) {
	m := model(t, registry(t), inference.AnomalyModel)
	hypo := []float64{110, 100, 88, 75, 62, 55, 52, 50, 51, 50, 49, 50}
	cases := []struct {
		name, kind string
		window     map[string]inference.Series
	}{
		{"normal", inference.KindNone, baseWindow()},
		{"tachycardia", "tachycardia", withSeries(baseWindow(), "heart_rate", inference.Series{Values: []float64{72, 74, 72, 140, 145, 148, 150, 147, 149, 151, 150, 148}})},
		{"desaturation", "desaturation", withSeries(baseWindow(), "spo2", inference.Series{Values: []float64{97, 97, 96, 97, 86, 85, 84, 85, 86, 84, 85, 85}})},
		{"hypoglycaemia", "hypoglycaemia", withSeries(baseWindow(), "glucose", inference.Series{Values: hypo})},
		{"hypoglycaemia in mmol/L", "hypoglycaemia", withSeries(baseWindow(), "glucose", inference.Series{Values: mmol(hypo), Unit: "mmol/L"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			preds, err := m.Predict(context.Background(), []inference.Input{{Channels: c.window}})
			if err != nil {
				t.Fatal(err)
			}
			a := preds[0].Anomaly
			if a == nil || a.Kind != c.kind || a.Flagged != (c.kind != inference.KindNone) {
				t.Fatalf("anomaly = %+v, want kind %s", a, c.kind)
			}
		})
	}
}

func mmol(mgdl []float64) []float64 {
	out := make([]float64, len(mgdl))
	for i, v := range mgdl {
		out[i] = v / 18.016
	}
	return out
}

func TestAnomalyRefusesBadInput(t *testing.T) {
	m := model(t, registry(t), inference.AnomalyModel)
	cases := []struct {
		name, field, detail string
		window              map[string]inference.Series
	}{
		{"short window", "channels/spo2", "exactly 12 readings", withSeries(baseWindow(), "spo2", inference.Series{Values: steady(97)[:11]})},
		{"missing channel", "channels/glucose", "is required", func() map[string]inference.Series {
			w := baseWindow()
			delete(w, "glucose")
			return w
		}()},
		{"unknown channel", "channels/temperature", "is not a channel", withSeries(baseWindow(), "temperature", inference.Series{Values: steady(37)})},
		{"NaN reading", "channels/heart_rate/4", "finite", withSeries(baseWindow(), "heart_rate", inference.Series{Values: append(append(steady(70)[:4:4], math.NaN()), steady(70)[:7]...)})},
		{"SpO2 above 100", "channels/spo2/0", "outside the plausible range", withSeries(baseWindow(), "spo2", inference.Series{Values: steady(101)})},
		{"heart rate of zero", "channels/heart_rate/0", "outside the plausible range", withSeries(baseWindow(), "heart_rate", inference.Series{Values: steady(0)})},
		{"unknown unit", "channels/glucose", `unit "mg%" is not accepted`, withSeries(baseWindow(), "glucose", inference.Series{Values: steady(100), Unit: "mg%"})},
		{"mmol/L values labelled mg/dL", "channels/glucose/0", "outside the plausible range", withSeries(baseWindow(), "glucose", inference.Series{Values: steady(6.1), Unit: "mg/dL"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			preds, err := m.Predict(context.Background(), []inference.Input{{Channels: c.window}})
			wantInputError(t, preds, err, c.field, c.detail)
		})
	}
	t.Run("features sent to a window model", func(t *testing.T) {
		preds, err := m.Predict(context.Background(), []inference.Input{{Channels: baseWindow(), Features: baseRisk()}})
		wantInputError(t, preds, err, "", "channels only")
	})
}

// Many goroutines share one session; each gets the answer it would get alone.
func TestConcurrentPredictions(t *testing.T) {
	var fx riskFixture
	readFixture(t, inference.RiskModel, &fx)
	m := model(t, registry(t), inference.RiskModel)
	inputs := riskInputs(fx)
	// Each row alone, as the goroutines below score them (a batch of the
	// whole fixture would run on the wide session, which may differ in the
	// last bit).
	want := make([]inference.Prediction, len(inputs))
	for i := range inputs {
		p, err := m.Predict(context.Background(), inputs[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = p[0]
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 100 {
				i := (g*31 + k) % len(inputs)
				got, err := m.Predict(context.Background(), inputs[i:i+1])
				if err != nil {
					errs <- err
					return
				}
				if got[0].Risk.Probability != want[i].Risk.Probability {
					errs <- errors.New("a concurrent prediction differs from the sequential one")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCancelledContextGivesNoScore(t *testing.T) {
	m := model(t, registry(t), inference.RiskModel)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	preds, err := m.Predict(ctx, []inference.Input{{Features: baseRisk()}})
	if !errors.Is(err, context.Canceled) || preds != nil {
		t.Fatalf("Predict with a cancelled context = %v, %v; want context.Canceled and no score", preds, err)
	}
}

func TestClosedRegistry(t *testing.T) {
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	r, err := inference.Open(cfg.ONNXRuntimeLib)
	if err != nil {
		t.Fatal(err)
	}
	m := model(t, r, inference.RiskModel)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(context.Background(), []inference.Input{{Features: baseRisk()}}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Predict on a closed model = %v, want an error saying it is closed", err)
	}
	if _, err := r.Model(inference.RiskModel); !errors.Is(err, inference.ErrUnknownModel) {
		t.Errorf("Model after Close = %v, want ErrUnknownModel", err)
	}
}

func TestQuantityAndSeriesJSON(t *testing.T) {
	var in inference.Input
	raw := `{"features":{"age":61,"glucose":{"value":6.2,"unit":"mmol/L"}},"channels":{"spo2":[97,96],"glucose":{"values":[5.5],"unit":"mmol/L"}}}`
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		t.Fatal(err)
	}
	if in.Features["age"] != (inference.Quantity{Value: 61}) || in.Features["glucose"] != (inference.Quantity{Value: 6.2, Unit: "mmol/L"}) {
		t.Errorf("features = %+v", in.Features)
	}
	if len(in.Channels["spo2"].Values) != 2 || in.Channels["glucose"].Unit != "mmol/L" {
		t.Errorf("channels = %+v", in.Channels)
	}
	for _, bad := range []string{`{"features":{"age":"61"}}`, `{"features":{"age":{"value":61,"units":"y"}}}`, `{"channels":{"spo2":{"value":[1]}}}`} {
		if err := json.Unmarshal([]byte(bad), &in); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

func TestProbabilitiesJSONKeepsClassOrder(t *testing.T) {
	m := model(t, registry(t), inference.AnomalyModel)
	preds, err := m.Predict(context.Background(), []inference.Input{{Channels: baseWindow()}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(preds[0].Probabilities)
	if err != nil {
		t.Fatal(err)
	}
	classes := m.Spec().Classes
	last := -1
	for _, c := range classes {
		i := strings.Index(string(raw), `"`+c+`":`)
		if i <= last {
			t.Fatalf("%s: class %s out of the model's order %v", raw, c, classes)
		}
		last = i
	}
	var back inference.Probabilities
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for _, c := range classes {
		if back.Of(c) != preds[0].Probabilities.Of(c) {
			t.Errorf("%s: %v after a JSON round trip, %v before", c, back.Of(c), preds[0].Probabilities.Of(c))
		}
	}
	if back.Of("no-such-class") != 0 {
		t.Error("an unknown class has a probability")
	}
}

// A large batch (inference.WideBatchRows or more) runs on the model's wide
// session, with several intra-op threads. Each row's answer must still be
// the one that row gets alone, in its own place, and a warning or a fault
// must name its own input.
func TestLargeBatchMatchesRowByRow(t *testing.T) {
	// Four cores even on a smaller machine, set before the registry opens
	// its sessions, so that the wide session has a pool of threads.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var fx riskFixture
	readFixture(t, inference.RiskModel, &fx)
	m := model(t, registry(t), inference.RiskModel)
	ctx := context.Background()
	inputs := riskInputs(fx)
	alone := make([]inference.Prediction, len(inputs))
	for i := range inputs {
		p, err := m.Predict(ctx, inputs[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = p[0]
	}
	// An odd size, so that rows do not line up with the fixture's period;
	// one row near the end is an extrapolation.
	batch := make([]inference.Input, 1031)
	for i := range batch {
		batch[i] = inputs[i%len(inputs)]
	}
	old := len(batch) - 3
	batch[old] = inference.Input{Features: with(baseRisk(), "age", inference.Quantity{Value: 92})}
	got, err := m.Predict(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(batch) {
		t.Fatalf("%d predictions for %d inputs", len(got), len(batch))
	}
	for i := range got {
		if i == old {
			if len(got[i].Warnings) != 1 || !strings.Contains(got[i].Warnings[0], "age 92") {
				t.Errorf("row %d (age 92): warnings %v, want one", i, got[i].Warnings)
			}
			continue
		}
		// The wide session sums the trees in another order: equal to
		// float32 rounding, far inside the parity tolerance.
		want := alone[i%len(inputs)]
		if math.Abs(got[i].Risk.Probability-want.Risk.Probability) > 1e-6 || got[i].Risk.Level != want.Risk.Level ||
			!slices.Equal(got[i].Warnings, want.Warnings) {
			t.Fatalf("row %d: %+v %v in the batch, %+v alone", i, *got[i].Risk, got[i].Warnings, *want.Risk)
		}
	}

	// Two faults far apart: both named, by their place in the batch.
	batch[600] = inference.Input{Features: without(baseRisk(), "ldl")}
	batch[old] = inference.Input{Features: with(baseRisk(), "age", inference.Quantity{Value: 9})}
	preds, err := m.Predict(ctx, batch)
	var ie *inference.InputError
	if !errors.As(err, &ie) || preds != nil {
		t.Fatalf("two bad rows: %d predictions, %v", len(preds), err)
	}
	if len(ie.Problems) != 2 || ie.Problems[0].Input != 600 || ie.Problems[0].Field != "features/ldl" ||
		ie.Problems[1].Input != old || ie.Problems[1].Field != "features/age" {
		t.Errorf("problems %+v, want ldl at 600 and age at %d", ie.Problems, old)
	}
}
