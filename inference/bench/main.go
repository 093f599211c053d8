// Command bench compares serving CarePath's models from Go with Python's
// onnxruntime on the same models, the same rows, the same machine and in the
// same run (`make bench-models`). Each figure is printed for both sides with
// their ratio:
//
//   - single rows: Go's Model.Predict as callers use it (validation, unit
//     conversion, the ONNX Runtime call, post-processing) against Python's
//     InferenceSession.run alone on a ready one-row array, both on a session
//     with one intra-op thread. This is conservative for Go.
//   - a batch, the whole job: Model.Predict against models/bench.py's Job,
//     which does the same work in Python (dicts in, values converted and
//     checked, the tensor built, the session run, one result per input).
//     Both run on a session with GOMAXPROCS intra-op threads, and the bench
//     checks that both give the same count of each risk level or kind.
//   - a batch, the runtime call alone: a ready tensor through a session
//     with GOMAXPROCS intra-op threads, from Go and from Python. Both call
//     the same ONNX Runtime build, so this shows what the library costs on
//     each side and what the rest of the job costs.
//
// The machine is shared, so its load changes from second to second. The
// two sides therefore run in alternating rounds (Python stays up between
// its rounds, answering on a pipe), and each figure is the median over
// rounds.
//
//	go run ./inference/bench -python ~/.cache/carepath/models-venv/bin/python
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
	"github.com/carepath/carepath/models"
)

type roundResult struct {
	SingleP50us float64 `json:"single_p50_us"`
	SingleP99us float64 `json:"single_p99_us"`
	// RunRowsPerS is the runtime call alone on a ready tensor.
	RunRowsPerS float64 `json:"run_rows_per_s"`
	// JobRowsPerS is the whole job: Model.Predict, or Python's Job.
	JobRowsPerS float64 `json:"job_rows_per_s"`
	// JobSummary counts the batch's results by risk level or anomaly kind.
	JobSummary map[string]int `json:"job_summary"`
}

type options struct {
	python, modelsDir                  string
	rounds, single, batchSize, batches int
}

func main() {
	var o options
	flag.StringVar(&o.python, "python", "python3", "Python with the pinned models/requirements.txt installed")
	flag.StringVar(&o.modelsDir, "models-dir", "models", "the models folder (training code, fixtures)")
	flag.IntVar(&o.rounds, "rounds", 7, "alternating rounds per side; figures are medians over rounds")
	flag.IntVar(&o.single, "single", 1000, "single-row calls timed per round")
	flag.IntVar(&o.batchSize, "batch-size", 1024, "rows per batch")
	flag.IntVar(&o.batches, "batches", 5, "batches timed per round")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.rounds < 1 || o.rounds > 50 || o.single < 100 || o.single > 20000 || o.batches < 1 || o.batches > 100 || o.batchSize < 1 || o.batchSize > inference.MaxBatch {
		return fmt.Errorf("keep the benchmark bounded: -rounds 1..50, -single 100..20000, -batches 1..100, -batch-size 1..%d", inference.MaxBatch)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	reg, err := inference.Open(cfg.ONNXRuntimeLib)
	if err != nil {
		return err
	}
	defer reg.Close()
	names := []string{inference.RiskModel, inference.AnomalyModel}
	sides := map[string]*goSide{}
	for _, name := range names {
		g, err := openGoSide(reg, name, filepath.Join(o.modelsDir, "fixtures", name+".json"), o.batchSize)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer g.close()
		sides[name] = g
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	py, err := startPython(ctx, o, names)
	if err != nil {
		return err
	}
	defer py.close()

	// Warm-up, then alternating rounds: Go's two context modes, then
	// Python, model by model.
	results := map[string]map[string][]roundResult{}
	for _, name := range names {
		results[name] = map[string][]roundResult{}
		for _, mode := range []string{"background", "cancellable"} {
			if _, err := sides[name].round(mode, 200, 1); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	for range o.rounds {
		for _, name := range names {
			for _, mode := range []string{"background", "cancellable"} {
				r, err := sides[name].round(mode, o.single, o.batches)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				results[name]["go-"+mode] = append(results[name]["go-"+mode], r)
			}
			r, err := py.round(name)
			if err != nil {
				return err
			}
			if want := results[name]["go-background"][0].JobSummary; !maps.Equal(r.JobSummary, want) {
				return fmt.Errorf("%s: Python's job gave %v, Go's %v: the two sides do not do the same job", name, r.JobSummary, want)
			}
			results[name]["python"] = append(results[name]["python"], r)
		}
	}

	threads := runtime.GOMAXPROCS(0)
	fmt.Printf("ONNX Runtime: Go %s (%s), Python onnxruntime %s.\n", inference.RuntimeVersion(), cfg.ONNXRuntimeLib, py.version)
	fmt.Printf("Single rows: a session with 1 intra-op thread on both sides. Batches: a session with %d intra-op threads (GOMAXPROCS) on both sides.\n", threads)
	fmt.Printf("%d alternating rounds; each round: %d single-row calls and %d batches of %d rows per side and measure; medians over rounds.\n\n",
		o.rounds, o.single, o.batches, o.batchSize)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tmeasure\tGo\tPython\tGo/Python\t")
	var verdicts []string
	for _, name := range names {
		g, gc, p := medians(results[name]["go-background"]), medians(results[name]["go-cancellable"]), medians(results[name]["python"])
		fmt.Fprintf(tw, "%s\tsingle row p50 (µs): Predict vs run\t%.1f\t%.1f\t%.2fx\t\n", name, g.SingleP50us, p.SingleP50us, g.SingleP50us/p.SingleP50us)
		fmt.Fprintf(tw, "\tsingle row p99 (µs): Predict vs run\t%.1f\t%.1f\t%.2fx\t\n", g.SingleP99us, p.SingleP99us, g.SingleP99us/p.SingleP99us)
		fmt.Fprintf(tw, "\tsingle row p50 (µs), cancellable ctx\t%.1f\t%.1f\t%.2fx\t\n", gc.SingleP50us, p.SingleP50us, gc.SingleP50us/p.SingleP50us)
		fmt.Fprintf(tw, "\tbatch of %d (rows/s): whole job\t%.0f\t%.0f\t%.2fx\t\n", o.batchSize, g.JobRowsPerS, p.JobRowsPerS, g.JobRowsPerS/p.JobRowsPerS)
		fmt.Fprintf(tw, "\tbatch of %d (rows/s): runtime call alone\t%.0f\t%.0f\t%.2fx\t\n", o.batchSize, g.RunRowsPerS, p.RunRowsPerS, g.RunRowsPerS/p.RunRowsPerS)
		fmt.Fprintf(tw, "\tbatch of %d (rows/s): Go's whole job vs Python's call alone\t%.0f\t%.0f\t%.2fx\t\n", o.batchSize, g.JobRowsPerS, p.RunRowsPerS, g.JobRowsPerS/p.RunRowsPerS)
		verdicts = append(verdicts,
			verdict(name+": Go per row within 1.2x of Python (p50, Go's whole Predict against Python's call alone)", g.SingleP50us/p.SingleP50us <= 1.2),
			verdict(name+": Go per batch at least as fast as Python (rows/s, the same job on both sides)", g.JobRowsPerS >= p.JobRowsPerS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println()
	fmt.Println(strings.Join(verdicts, "\n"))
	return nil
}

func verdict(what string, ok bool) string {
	if ok {
		return "met:     " + what
	}
	return "NOT MET: " + what
}

// medians takes each figure's median over rounds (the job summary is the
// same in every round and is not kept).
func medians(rs []roundResult) roundResult {
	pick := func(f func(roundResult) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		if n := len(vs); n%2 == 0 {
			return (vs[n/2-1] + vs[n/2]) / 2
		}
		return vs[len(vs)/2]
	}
	return roundResult{
		SingleP50us: pick(func(r roundResult) float64 { return r.SingleP50us }),
		SingleP99us: pick(func(r roundResult) float64 { return r.SingleP99us }),
		RunRowsPerS: pick(func(r roundResult) float64 { return r.RunRowsPerS }),
		JobRowsPerS: pick(func(r roundResult) float64 { return r.JobRowsPerS }),
	}
}

// goSide is one model, its fixture rows as inputs (for Predict) and as a
// ready tensor (for the runtime call alone), and a session of the bench's
// own for that call, with the settings of the model's batch session.
type goSide struct {
	model   *inference.Model
	inputs  []inference.Input
	batch   []inference.Input
	session *ort.DynamicAdvancedSession
	tensor  *ort.Tensor[float32]
	output  *ort.Tensor[float32]
}

func openGoSide(reg *inference.Registry, name, fixture string, batchSize int) (*goSide, error) {
	m, err := reg.Model(name)
	if err != nil {
		return nil, err
	}
	g := &goSide{model: m}
	var rows [][]float32
	if g.inputs, rows, err = readFixture(fixture); err != nil {
		return nil, err
	}
	g.batch = make([]inference.Input, batchSize)
	data := make([]float32, 0, batchSize*len(rows[0]))
	for i := range g.batch {
		g.batch[i] = g.inputs[i%len(g.inputs)]
		data = append(data, rows[i%len(rows)]...)
	}
	spec := m.Spec()
	shape := ort.NewShape(int64(batchSize), int64(len(spec.Features)))
	if spec.Kind == inference.KindWindow {
		shape = ort.NewShape(int64(batchSize), int64(len(spec.Window.Channels)), int64(spec.Window.Length))
	}
	if g.tensor, err = ort.NewTensor(shape, data); err != nil {
		return nil, err
	}
	if g.output, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(batchSize), int64(len(spec.Classes)))); err != nil {
		return nil, err
	}
	onnx, err := fs.ReadFile(models.Artifacts, "artifacts/"+name+".onnx")
	if err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	g.session, err = ort.NewDynamicAdvancedSessionWithONNXData(onnx, []string{spec.ONNX.Input}, []string{spec.ONNX.Output}, opts)
	return g, err
}

func (g *goSide) close() {
	if g.session != nil {
		_ = g.session.Destroy()
	}
	if g.tensor != nil {
		_ = g.tensor.Destroy()
	}
	if g.output != nil {
		_ = g.output.Destroy()
	}
}

// readFixture reads the parity fixture's rows (tabular) or windows, as Go
// inputs and as encoded rows.
func readFixture(path string) ([]inference.Input, [][]float32, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read fixture: %w", err)
	}
	var fx struct {
		Features []string      `json:"features"`
		Rows     [][]float64   `json:"rows"`
		Channels []string      `json:"channels"`
		Windows  [][][]float64 `json:"windows"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		return nil, nil, fmt.Errorf("parse fixture %s: %w", path, err)
	}
	var inputs []inference.Input
	var rows [][]float32
	for _, row := range fx.Rows {
		f := map[string]inference.Quantity{}
		var enc []float32
		for j, v := range row {
			f[fx.Features[j]] = inference.Quantity{Value: v}
			enc = append(enc, float32(v))
		}
		inputs, rows = append(inputs, inference.Input{Features: f}), append(rows, enc)
	}
	for _, w := range fx.Windows {
		ch := map[string]inference.Series{}
		var enc []float32
		for c, v := range w {
			ch[fx.Channels[c]] = inference.Series{Values: v}
			for _, x := range v {
				enc = append(enc, float32(x))
			}
		}
		inputs, rows = append(inputs, inference.Input{Channels: ch}), append(rows, enc)
	}
	if len(inputs) == 0 {
		return nil, nil, fmt.Errorf("fixture %s holds no rows", path)
	}
	return inputs, rows, nil
}

// round times single-row calls and batches through Model.Predict, and
// batches through the runtime call alone.
func (g *goSide) round(mode string, single, batches int) (roundResult, error) {
	ctx := context.Background()
	if mode == "cancellable" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	times := make([]time.Duration, single)
	quiet()
	for i := range single {
		in := g.inputs[i%len(g.inputs) : i%len(g.inputs)+1]
		t0 := time.Now()
		if _, err := g.model.Predict(ctx, in); err != nil {
			return roundResult{}, err
		}
		times[i] = time.Since(t0)
	}
	slices.Sort(times)
	rows := float64(len(g.batch) * batches)
	quiet()
	t0 := time.Now()
	for range batches {
		if err := g.session.Run([]ort.Value{g.tensor}, []ort.Value{g.output}); err != nil {
			return roundResult{}, err
		}
	}
	runRate := rows / time.Since(t0).Seconds()
	var preds []inference.Prediction
	quiet()
	t0 = time.Now()
	for range batches {
		var err error
		if preds, err = g.model.Predict(ctx, g.batch); err != nil {
			return roundResult{}, err
		}
	}
	jobRate := rows / time.Since(t0).Seconds()
	summary := map[string]int{}
	for _, p := range preds {
		if p.Risk != nil {
			summary[p.Risk.Level]++
		} else {
			summary[p.Anomaly.Kind]++
		}
	}
	return roundResult{
		SingleP50us: micros(percentile(times, 50)), SingleP99us: micros(percentile(times, 99)),
		RunRowsPerS: runRate, JobRowsPerS: jobRate, JobSummary: summary,
	}, nil
}

// quiet pauses before each measure, long enough for the thread pools that
// ONNX Runtime keeps spinning after a run (here and in Python) to go to
// sleep, so that no measure pays for the one before. models/bench.py pauses
// the same way.
func quiet() { time.Sleep(quietPause) }

const quietPause = 100 * time.Millisecond

// percentile uses the same linear interpolation as numpy's default.
func percentile(sorted []time.Duration, p float64) time.Duration {
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	frac := pos - float64(lo)
	return sorted[lo] + time.Duration(frac*float64(sorted[lo+1]-sorted[lo]))
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// pythonSide is models/bench.py, kept running and asked for one round at
// a time.
type pythonSide struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Scanner
	stderr  *bytes.Buffer
	version string
}

func startPython(ctx context.Context, o options, names []string) (*pythonSide, error) {
	args := append([]string{"bench.py", "--single", fmt.Sprint(o.single), "--batch-size", fmt.Sprint(o.batchSize),
		"--batches", fmt.Sprint(o.batches), "--threads", fmt.Sprint(runtime.GOMAXPROCS(0)), "--models"}, names...)
	cmd := exec.CommandContext(ctx, o.python, args...)
	cmd.Dir = o.modelsDir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("python side: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("python side: %w", err)
	}
	p := &pythonSide{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("python side: start %s: %w (`make bench-models` installs the pinned requirements first)", o.python, err)
	}
	var ready struct {
		Ready       bool   `json:"ready"`
		ONNXRuntime string `json:"onnxruntime"`
	}
	if err := p.read(&ready); err != nil || !ready.Ready {
		p.close()
		return nil, fmt.Errorf("python side did not start: %v\n%s", err, p.stderr.String())
	}
	p.version = ready.ONNXRuntime
	return p, nil
}

func (p *pythonSide) read(dst any) error {
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	return json.Unmarshal(p.out.Bytes(), dst)
}

func (p *pythonSide) round(name string) (roundResult, error) {
	if _, err := fmt.Fprintln(p.stdin, name); err != nil {
		return roundResult{}, fmt.Errorf("python side: %w\n%s", err, p.stderr.String())
	}
	var r roundResult
	if err := p.read(&r); err != nil {
		return roundResult{}, fmt.Errorf("python side: round for %s: %w\n%s", name, err, p.stderr.String())
	}
	return r, nil
}

// close ends Python's loop by closing its stdin and waits for it.
func (p *pythonSide) close() {
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
}
