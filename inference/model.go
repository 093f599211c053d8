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

	// mu guards the sessions against Close while calls run.
	mu sync.RWMutex
	// session runs single inputs and small batches on one intra-op thread.
	session *ort.DynamicAdvancedSession
	// wide runs batches of at least WideBatchRows on GOMAXPROCS intra-op
	// threads; nil on a one-core machine.
	wide *ort.DynamicAdvancedSession

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
	// One thread per call for single inputs and small batches: the models
	// are small, those calls arrive concurrently from many workers and
	// handlers, and the machine's cores are shared.
	session, err := newSession(data, spec, 1)
	if err != nil {
		return nil, err
	}
	// A large batch is one caller's bulk work: it gets every core through
	// ONNX Runtime's own thread pool, which splits a tree ensemble's trees
	// between threads (each thread's trees stay in its cache).
	var wide *ort.DynamicAdvancedSession
	if threads := runtime.GOMAXPROCS(0); threads > 1 {
		if wide, err = newSession(data, spec, threads); err != nil {
			_ = session.Destroy()
			return nil, err
		}
	}
	sum := sha256.Sum256(data)
	shape := spec.inputShape(1)
	rowSize := 1
	for _, d := range shape[1:] {
		rowSize *= int(d)
	}
	return &Model{spec: spec, sha256: hex.EncodeToString(sum[:]), session: session, wide: wide, rowSize: rowSize,
		positive: slices.Index(spec.Classes, spec.Postprocess.PositiveClass),
		normal:   slices.Index(spec.Classes, spec.Postprocess.NormalClass)}, nil
}

// newSession opens a session on the model with this many intra-op threads
// (and one inter-op thread: the graphs have no parallel branches).
func newSession(data []byte, spec Spec, threads int) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, fmt.Errorf("session options: intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("session options: inter-op threads: %w", err)
	}
	session, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{spec.ONNX.Input}, []string{spec.ONNX.Output}, opts)
	if err != nil {
		return nil, fmt.Errorf("create session (%d intra-op threads): %w", threads, err)
	}
	return session, nil
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
// no input is scored. A batch of WideBatchRows or more runs on every core;
// its scores may differ from the same rows scored alone in the last bit of
// a float32 (the threads sum the trees in another order).
func (m *Model) Predict(ctx context.Context, inputs []Input) ([]Prediction, error) {
	n := len(inputs)
	if n == 0 || n > MaxBatch {
		return nil, &InputError{Model: m.spec.Name, Problems: []InputProblem{{Input: 0, Field: "", Reason: ReasonBatch,
			Detail: fmt.Sprintf("a batch holds 1 to %d inputs, got %d", MaxBatch, n)}}}
	}
	data := make([]float32, n*m.rowSize)
	warnings := make([][]string, n)
	var p problems
	m.encode(inputs, data, &p, func(i int, msg string) { warnings[i] = append(warnings[i], msg) })
	if len(p.list) > 0 {
		return nil, &InputError{Model: m.spec.Name, Problems: p.list}
	}
	probs, err := m.runBatch(ctx, data, n)
	if err != nil {
		return nil, fmt.Errorf("inference: predict %s: %w", m.spec.Name, err)
	}
	// One allocation per batch for each kind of result, not one per row.
	classes := len(m.spec.Classes)
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

// encode validates inputs and writes them, encoded, into dst.
func (m *Model) encode(inputs []Input, dst []float32, p *problems, warn func(int, string)) {
	switch m.spec.Kind {
	case KindTabular:
		m.spec.encodeTabular(inputs, dst, p, warn)
	case KindWindow:
		m.spec.encodeWindow(inputs, dst, p, warn)
	case KindImage:
		m.spec.encodeImages(inputs, dst, p)
	}
}

// WideBatchRows is the smallest batch that runs on every core (the model's
// wide session). Measured on the built-in models with two cores: at 32 rows
// a second thread gains nothing, from 64 rows it runs 1.4 to 1.7 times as
// many rows a second.
const WideBatchRows = 64

// runBatch runs n encoded inputs, on the wide session when the batch is
// large enough, and returns n rows of one value per class.
func (m *Model) runBatch(ctx context.Context, data []float32, n int) ([]float32, error) {
	result := make([]float32, n*len(m.spec.Classes))
	if err := m.run(ctx, n >= WideBatchRows, data, n, result); err != nil {
		return nil, err
	}
	return result, nil
}

// run feeds n encoded inputs through a session (the wide one when asked
// for and open) and writes the output, n rows of one value per class, into
// result.
func (m *Model) run(ctx context.Context, wide bool, data []float32, n int, result []float32) error {
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
	session := m.session
	if wide && m.wide != nil {
		session = m.wide
	}
	ins, outs := []ort.Value{input}, []ort.Value{output}
	if ctx.Done() == nil {
		err = session.Run(ins, outs)
	} else {
		err = runCancellable(ctx, session, ins, outs)
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
func runCancellable(ctx context.Context, session *ort.DynamicAdvancedSession, ins, outs []ort.Value) error {
	opts, err := ort.NewRunOptions()
	if err != nil {
		return fmt.Errorf("run options: %w", err)
	}
	defer opts.Destroy()
	// The options outlive a Terminate already under way: Destroy (deferred
	// first, so run last) waits for it.
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		_ = opts.Terminate()
	})
	defer func() {
		if !stop() {
			<-terminated
		}
	}()
	return session.RunWithOptions(ins, outs, opts)
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
	if m.wide != nil {
		err = errors.Join(err, m.wide.Destroy())
	}
	m.session, m.wide = nil, nil
	return err
}
