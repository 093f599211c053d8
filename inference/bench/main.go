// Command bench compares serving CarePath's models from Go with Python's
// onnxruntime on the same models, the same rows, the same machine and in the
// same run (`make bench-models`). It prints single-row latency (p50, p99)
// and batch throughput for both, with their ratio.
//
// The Go figures time Model.Predict as callers use it: input validation,
// unit conversion, the ONNX Runtime call and post-processing. The Python
// figures time InferenceSession.run alone on a ready numpy array, so the
// comparison is conservative for Go. Both sides use one intra-op thread per
// run. Go splits a batch of at least 2×inference.ShardRows rows into up to
// GOMAXPROCS shards that run at the same time, so the Python side also
// times its batches on a session with GOMAXPROCS intra-op threads: the same
// cores, used ONNX Runtime's own way. Go's batch figure is held against the
// faster of the two.
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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/inference"
)

type roundResult struct {
	SingleP50us   float64 `json:"single_p50_us"`
	SingleP99us   float64 `json:"single_p99_us"`
	BatchRowsPerS float64 `json:"batch_rows_per_s"`
	// BatchThreadsRowsPerS is Python's batch rate with GOMAXPROCS intra-op
	// threads (Python side only).
	BatchThreadsRowsPerS float64 `json:"batch_threads_rows_per_s"`
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
	models := map[string]*inference.Model{}
	inputs := map[string][]inference.Input{}
	for _, name := range names {
		if models[name], err = reg.Model(name); err != nil {
			return err
		}
		if inputs[name], err = fixtureInputs(filepath.Join(o.modelsDir, "fixtures", name+".json")); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	py, err := startPython(ctx, o, names)
	if err != nil {
		return err
	}
	defer py.close()

	// results[model][side] holds one entry per round.
	results := map[string]map[string][]roundResult{}
	for _, name := range names {
		results[name] = map[string][]roundResult{}
		for _, mode := range []string{"background", "cancellable"} {
			if _, err := goRound(models[name], inputs[name], mode, 200, o.batchSize, 1); err != nil { // warm-up
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	for range o.rounds {
		for _, name := range names {
			for _, mode := range []string{"background", "cancellable"} {
				r, err := goRound(models[name], inputs[name], mode, o.single, o.batchSize, o.batches)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				results[name]["go-"+mode] = append(results[name]["go-"+mode], r)
			}
			r, err := py.round(name)
			if err != nil {
				return err
			}
			results[name]["python"] = append(results[name]["python"], r)
		}
	}

	fmt.Printf("ONNX Runtime: Go %s (%s), Python onnxruntime %s; one intra-op thread per run.\n",
		inference.RuntimeVersion(), cfg.ONNXRuntimeLib, py.version)
	fmt.Printf("GOMAXPROCS %d: Go runs a batch as up to %d concurrent shards of at least %d rows; Python's batches are also timed with %d intra-op threads.\n",
		runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0), inference.ShardRows, runtime.GOMAXPROCS(0))
	fmt.Printf("%d alternating rounds; each round: %d single-row calls and %d batches of %d rows per side; medians over rounds.\n\n",
		o.rounds, o.single, o.batches, o.batchSize)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tmeasure\tGo Predict\tPython run\tGo/Python\t")
	var verdicts []string
	for _, name := range names {
		g, gc, p := medians(results[name]["go-background"]), medians(results[name]["go-cancellable"]), medians(results[name]["python"])
		fmt.Fprintf(tw, "%s\tsingle row p50 (µs)\t%.1f\t%.1f\t%.2fx\t\n", name, g.SingleP50us, p.SingleP50us, g.SingleP50us/p.SingleP50us)
		fmt.Fprintf(tw, "\tsingle row p99 (µs)\t%.1f\t%.1f\t%.2fx\t\n", g.SingleP99us, p.SingleP99us, g.SingleP99us/p.SingleP99us)
		fmt.Fprintf(tw, "\tsingle row p50, cancellable ctx (µs)\t%.1f\t%.1f\t%.2fx\t\n", gc.SingleP50us, p.SingleP50us, gc.SingleP50us/p.SingleP50us)
		fmt.Fprintf(tw, "\tbatch of %d (rows/s), Python 1 thread\t%.0f\t%.0f\t%.2fx\t\n", o.batchSize, g.BatchRowsPerS, p.BatchRowsPerS, g.BatchRowsPerS/p.BatchRowsPerS)
		fmt.Fprintf(tw, "\tbatch of %d (rows/s), Python %d threads\t%.0f\t%.0f\t%.2fx\t\n", o.batchSize, runtime.GOMAXPROCS(0), g.BatchRowsPerS, p.BatchThreadsRowsPerS, g.BatchRowsPerS/p.BatchThreadsRowsPerS)
		verdicts = append(verdicts,
			verdict(name+": Go per row within 1.2x of Python (p50)", g.SingleP50us/p.SingleP50us <= 1.2),
			verdict(name+": Go per batch at least as fast as Python, either way (rows/s)", g.BatchRowsPerS >= max(p.BatchRowsPerS, p.BatchThreadsRowsPerS)))
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
		SingleP50us:          pick(func(r roundResult) float64 { return r.SingleP50us }),
		SingleP99us:          pick(func(r roundResult) float64 { return r.SingleP99us }),
		BatchRowsPerS:        pick(func(r roundResult) float64 { return r.BatchRowsPerS }),
		BatchThreadsRowsPerS: pick(func(r roundResult) float64 { return r.BatchThreadsRowsPerS }),
	}
}

// fixtureInputs reads the parity fixture's rows (tabular) or windows as
// Go inputs.
func fixtureInputs(path string) ([]inference.Input, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fixture: %w", err)
	}
	var fx struct {
		Features []string      `json:"features"`
		Rows     [][]float64   `json:"rows"`
		Channels []string      `json:"channels"`
		Windows  [][][]float64 `json:"windows"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		return nil, fmt.Errorf("parse fixture %s: %w", path, err)
	}
	var inputs []inference.Input
	for _, row := range fx.Rows {
		f := map[string]inference.Quantity{}
		for j, v := range row {
			f[fx.Features[j]] = inference.Quantity{Value: v}
		}
		inputs = append(inputs, inference.Input{Features: f})
	}
	for _, w := range fx.Windows {
		ch := map[string]inference.Series{}
		for c, v := range w {
			ch[fx.Channels[c]] = inference.Series{Values: v}
		}
		inputs = append(inputs, inference.Input{Channels: ch})
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("fixture %s holds no rows", path)
	}
	return inputs, nil
}

// goRound times single-row calls and batches through Model.Predict.
func goRound(m *inference.Model, inputs []inference.Input, mode string, single, batchSize, batches int) (roundResult, error) {
	ctx := context.Background()
	if mode == "cancellable" {
		// The API and the activities pass contexts that can be cancelled;
		// Predict then arms ONNX Runtime's terminate flag for the call.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	times := make([]time.Duration, single)
	for i := range single {
		in := inputs[i%len(inputs) : i%len(inputs)+1]
		t0 := time.Now()
		if _, err := m.Predict(ctx, in); err != nil {
			return roundResult{}, err
		}
		times[i] = time.Since(t0)
	}
	slices.Sort(times)
	batch := make([]inference.Input, batchSize)
	for i := range batch {
		batch[i] = inputs[i%len(inputs)]
	}
	t0 := time.Now()
	for range batches {
		if _, err := m.Predict(ctx, batch); err != nil {
			return roundResult{}, err
		}
	}
	elapsed := time.Since(t0).Seconds()
	return roundResult{
		SingleP50us: micros(percentile(times, 50)), SingleP99us: micros(percentile(times, 99)),
		BatchRowsPerS: float64(batchSize*batches) / elapsed,
	}, nil
}

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
