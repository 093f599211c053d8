package inference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// MaxBatch bounds one Predict call, so that one caller cannot hold a model
// for long or allocate without limit.
const MaxBatch = 4096

// Model is one registered model with its ONNX Runtime session. It is safe
// for concurrent use: ONNX Runtime's Run is thread-safe, and each call
// brings its own tensors.
type Model struct {
	spec   Spec
	sha256 string

	// mu guards session against Close while calls run.
	mu      sync.RWMutex
	session *ort.DynamicAdvancedSession

	rowSize int // float32 values per input
	// Class indexes the post-processing reads (-1 when unused).
	positive, normal int
}

// Prediction is the model's answer for one input.
type Prediction struct {
	// Probabilities holds each class's probability.
	Probabilities Probabilities `json:"probabilities"`
	// Label is the most probable class.
	Label string `json:"label"`
	// Risk is set for risk-level models.
	Risk *Risk `json:"risk,omitempty"`
	// Anomaly is set for anomaly models.
	Anomaly *Anomaly `json:"anomaly,omitempty"`
	// Warnings say when a score is an extrapolation beyond the training data.
	Warnings []string `json:"warnings,omitempty"`
}

// Risk is a calibrated probability and the level pathways branch on.
type Risk struct {
	Probability float64 `json:"probability"`
	Level       string  `json:"level"`
}

// Anomaly is an anomaly score (1 - P(normal)) and, when the score reaches
// the model's threshold, the most probable kind; otherwise Kind is "none".
type Anomaly struct {
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	Flagged   bool    `json:"flagged"`
	Kind      string  `json:"kind"`
}

// KindNone is the anomaly kind of a window that is not flagged.
const KindNone = "none"

// Spec is the model's declared spec (a copy).
func (m *Model) Spec() Spec { return m.spec }

// Name and Version identify the model, e.g. in a RiskAssessment record.
func (m *Model) Name() string    { return m.spec.Name }
func (m *Model) Version() string { return m.spec.Version }

// SHA256 is the hex digest of the ONNX file, for provenance.
func (m *Model) SHA256() string { return m.sha256 }

// Preprocessing describes how inputs become the tensor, in words.
func (m *Model) Preprocessing() string {
	switch m.spec.Kind {
	case KindImage:
		return m.spec.Image.describe()
	case KindWindow:
		return fmt.Sprintf("%d readings per channel, %d minutes apart, oldest first; units converted to the declared unit; range-checked",
			m.spec.Window.Length, m.spec.Window.IntervalMinutes)
	default:
		return "features in declared order; units converted to the declared unit; range-checked"
	}
}

func newModel(data []byte, spec Spec) (*Model, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("read inputs and outputs: %w", err)
	}
	if err := checkIO(&spec, ins, outs); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	// One thread per call: the models are small, calls arrive concurrently
	// from many workers and handlers, and the machine's cores are shared.
	// The Python side of the benchmark uses the same settings.
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("session options: intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("session options: inter-op threads: %w", err)
	}
	session, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{spec.ONNX.Input}, []string{spec.ONNX.Output}, opts)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	sum := sha256.Sum256(data)
	shape := spec.inputShape(1)
	rowSize := 1
	for _, d := range shape[1:] {
		rowSize *= int(d)
	}
	return &Model{spec: spec, sha256: hex.EncodeToString(sum[:]), session: session, rowSize: rowSize,
		positive: slices.Index(spec.Classes, spec.Postprocess.PositiveClass),
		normal:   slices.Index(spec.Classes, spec.Postprocess.NormalClass)}, nil
}

// checkIO refuses a model whose graph disagrees with its spec: the named
// input must be a float tensor of the declared shape, and the named output a
// float tensor with one column per class.
func checkIO(spec *Spec, ins, outs []ort.InputOutputInfo) error {
	i := slices.IndexFunc(ins, func(io ort.InputOutputInfo) bool { return io.Name == spec.ONNX.Input })
	if i < 0 {
		return fmt.Errorf("the graph has no input %q", spec.ONNX.Input)
	}
	o := slices.IndexFunc(outs, func(io ort.InputOutputInfo) bool { return io.Name == spec.ONNX.Output })
	if o < 0 {
		return fmt.Errorf("the graph has no output %q", spec.ONNX.Output)
	}
	in, out := ins[i], outs[o]
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("input %q must be a float tensor, is %s", in.Name, in.String())
	}
	if out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("output %q must be a float tensor, is %s", out.Name, out.String())
	}
	want := spec.inputShape(-1)
	if !shapeFits(in.Dimensions, want) {
		return fmt.Errorf("input %q has shape %v; the spec implies %v", in.Name, in.Dimensions, want)
	}
	if !shapeFits(out.Dimensions, []int64{-1, int64(len(spec.Classes))}) {
		return fmt.Errorf("output %q has shape %v; the spec has %d classes", out.Name, out.Dimensions, len(spec.Classes))
	}
	return nil
}

// shapeFits compares a graph shape with a wanted one; -1 in either is free.
func shapeFits(got ort.Shape, want []int64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] >= 0 && want[i] >= 0 && got[i] != want[i] {
			return false
		}
	}
	return true
}

// Predict validates every input, then scores the whole batch in one run.
// If any input is invalid it returns an *InputError naming each fault, and
// no input is scored.
func (m *Model) Predict(ctx context.Context, inputs []Input) ([]Prediction, error) {
	if len(inputs) == 0 || len(inputs) > MaxBatch {
		return nil, &InputError{Model: m.spec.Name, Problems: []InputProblem{{Input: 0, Field: "", Reason: ReasonBatch,
			Detail: fmt.Sprintf("a batch holds 1 to %d inputs, got %d", MaxBatch, len(inputs))}}}
	}
	data := make([]float32, len(inputs)*m.rowSize)
	var p problems
	warnings := make([][]string, len(inputs))
	warn := func(i int, msg string) { warnings[i] = append(warnings[i], msg) }
	switch m.spec.Kind {
	case KindTabular:
		m.spec.encodeTabular(inputs, data, &p, warn)
	case KindWindow:
		m.spec.encodeWindow(inputs, data, &p, warn)
	case KindImage:
		m.spec.encodeImages(inputs, data, &p)
	}
	if len(p.list) > 0 {
		return nil, &InputError{Model: m.spec.Name, Problems: p.list}
	}
	probs, err := m.runBatch(ctx, data, len(inputs))
	if err != nil {
		return nil, fmt.Errorf("inference: predict %s: %w", m.spec.Name, err)
	}
	// One allocation per batch for each kind of result, not one per row.
	n, classes := len(inputs), len(m.spec.Classes)
	out := make([]Prediction, n)
	values := make([]float64, n*classes)
	var risks []Risk
	var anomalies []Anomaly
	switch m.spec.Postprocess.Type {
	case PostRiskLevels:
		risks = make([]Risk, n)
	case PostAnomaly:
		anomalies = make([]Anomaly, n)
	}
	for i := range out {
		row := values[i*classes : (i+1)*classes : (i+1)*classes]
		if err := m.decide(probs[i*classes:(i+1)*classes], row, &out[i]); err != nil {
			return nil, fmt.Errorf("inference: predict %s: input %d: %w", m.spec.Name, i, err)
		}
		if risks != nil {
			out[i].Risk = &risks[i]
			m.riskOf(row, out[i].Risk)
		}
		if anomalies != nil {
			out[i].Anomaly = &anomalies[i]
			m.anomalyOf(row, out[i].Anomaly)
		}
		out[i].Warnings = warnings[i]
	}
	return out, nil
}

// ShardRows is the smallest slice of a batch worth a run of its own. A
// batch of at least twice this many rows is split into up to GOMAXPROCS
// contiguous shards that run at the same time on the shared session (one
// intra-op thread each) and write into one output. Below it, one run is
// cheaper than the goroutines. Measured on the tree ensembles: shards of
// 256 rows run as fast per row as one run of 1,024.
const ShardRows = 256

// runBatch runs n encoded inputs, split into shards when the batch is large
// enough, and returns n rows of one value per class.
func (m *Model) runBatch(ctx context.Context, data []float32, n int) ([]float32, error) {
	classes := len(m.spec.Classes)
	result := make([]float32, n*classes)
	shards := min(runtime.GOMAXPROCS(0), n/ShardRows)
	if shards < 2 {
		if err := m.run(ctx, data, n, result); err != nil {
			return nil, err
		}
		return result, nil
	}
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for i := range shards {
		from, to := i*n/shards, (i+1)*n/shards
		wg.Go(func() {
			errs[i] = m.run(ctx, data[from*m.rowSize:to*m.rowSize], to-from, result[from*classes:to*classes])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return result, nil
}

// run feeds n encoded inputs through the session and writes the output,
// n rows of one value per class, into result.
func (m *Model) run(ctx context.Context, data []float32, n int, result []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	input, err := ort.NewTensor(ort.NewShape(m.spec.inputShape(n)...), data)
	if err != nil {
		return fmt.Errorf("input tensor: %w", err)
	}
	defer input.Destroy()
	output, err := ort.NewTensor(ort.NewShape(int64(n), int64(len(m.spec.Classes))), result)
	if err != nil {
		return fmt.Errorf("output tensor: %w", err)
	}
	defer output.Destroy()

	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.session == nil {
		return errors.New("the model has been closed")
	}
	ins, outs := []ort.Value{input}, []ort.Value{output}
	if ctx.Done() == nil {
		err = m.session.Run(ins, outs)
	} else {
		err = m.runCancellable(ctx, ins, outs)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// runCancellable asks ONNX Runtime to stop the run when ctx ends, so an
// abandoned request does not keep a large model busy.
func (m *Model) runCancellable(ctx context.Context, ins, outs []ort.Value) error {
	opts, err := ort.NewRunOptions()
	if err != nil {
		return fmt.Errorf("run options: %w", err)
	}
	defer opts.Destroy()
	stop := context.AfterFunc(ctx, func() { _ = opts.Terminate() })
	defer stop()
	return m.session.RunWithOptions(ins, outs, opts)
}

// decide fills pred from one row of model output; probs receives the row
// as probabilities (softmax applied to logits).
func (m *Model) decide(row []float32, probs []float64, pred *Prediction) error {
	for i, v := range row {
		probs[i] = float64(v)
	}
	if m.spec.Kind == KindImage && m.spec.Image.Output == "logits" {
		softmax(probs)
	}
	best := 0
	for i, v := range probs {
		if math.IsNaN(v) || v < -1e-6 || v > 1+1e-6 {
			return fmt.Errorf("class %s has probability %g: the model's output is not a probability", m.spec.Classes[i], v)
		}
		if v > probs[best] {
			best = i
		}
	}
	pred.Probabilities = Probabilities{classes: m.spec.Classes, values: probs}
	pred.Label = m.spec.Classes[best]
	return nil
}

// riskOf reads the positive class's probability and its level.
func (m *Model) riskOf(probs []float64, r *Risk) {
	pp := m.spec.Postprocess
	p := probs[m.positive]
	*r = Risk{Probability: p, Level: levelOf(pp.Levels, p)}
}

// anomalyOf scores 1 - P(normal) and, when flagged, names the most probable
// anomalous class.
func (m *Model) anomalyOf(probs []float64, a *Anomaly) {
	pp := m.spec.Postprocess
	score := 1 - probs[m.normal]
	*a = Anomaly{Score: score, Threshold: pp.Threshold, Kind: KindNone}
	if score < pp.Threshold {
		return
	}
	a.Flagged = true
	kindP := -1.0
	for i, c := range m.spec.Classes {
		if i != m.normal && probs[i] > kindP {
			a.Kind, kindP = c, probs[i]
		}
	}
}

func levelOf(levels []Level, p float64) string {
	for _, l := range levels {
		if l.Below == nil || p < *l.Below {
			return l.Level
		}
	}
	return levels[len(levels)-1].Level
}

// softmax turns logits into probabilities in place.
func softmax(v []float64) {
	peak := slices.Max(v)
	sum := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - peak)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}

// close releases the session once running calls have finished.
func (m *Model) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		return nil
	}
	err := m.session.Destroy()
	m.session = nil
	return err
}
