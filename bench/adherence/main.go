// Command adherence measures how many medication courses (Adherence
// workflows) one local dev server and one worker hold at once. It starts N
// courses with a short dosing interval, all due at the same instants (the
// 08:00 rush, compressed), lets each send its reminders, and prints:
//
//   - the count of courses and reminders scheduled;
//
//   - the worker's memory: Go heap (runtime.MemStats) and the process's peak
//     resident set (VmHWM), sampled while the courses run;
//
//   - reminders per second delivered on time (within -tolerance of their
//     due time) beside reminders per second scheduled, and their ratio: the
//     figure to track. Absolute numbers depend on the machine.
//
//     go run ./bench/adherence -n 200 -interval 5s -doses 12
//
// The worker is this process: it registers the real Adherence workflow and,
// in place of the Twilio SMS activity, one under the same name that records
// when each reminder arrived (the figure is about the engine, not Twilio or
// PostgreSQL). It needs the local Temporal dev server (make run, or
// `carepath stack exec`).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

type options struct {
	n, doses, dosesPerRun int
	interval, tolerance   time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 200, "courses (Adherence workflows) running at once")
	flag.IntVar(&o.doses, "doses", 12, "doses per course")
	flag.IntVar(&o.dosesPerRun, "doses-per-run", 0, "doses per run before continue-as-new (0: the default, 120)")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "time between doses")
	flag.DurationVar(&o.tolerance, "tolerance", time.Second, "how late a reminder may arrive and still count as on time")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// recorder stands in for the SMS activity and times each reminder.
type recorder struct {
	onTime, late, refill atomic.Int64
	tolerance            time.Duration
	mu                   sync.Mutex
	lags                 []time.Duration
}

func (r *recorder) SendSMS(_ context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
	if in.TemplateID != "medication_reminder" {
		r.refill.Add(1)
		return contract.SendSMSResult{Status: contract.SMSSent}, nil
	}
	due, err := time.Parse(time.RFC3339, in.Params["at"])
	if err != nil {
		return contract.SendSMSResult{}, fmt.Errorf("reminder time: %w", err)
	}
	lag := time.Since(due)
	if lag <= r.tolerance {
		r.onTime.Add(1)
	} else {
		r.late.Add(1)
	}
	r.mu.Lock()
	r.lags = append(r.lags, lag)
	r.mu.Unlock()
	return contract.SendSMSResult{Status: contract.SMSSent, MessageSID: "SMbench"}, nil
}

func run(o options) error {
	ctx := context.Background()
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := platform.DialTemporal(cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()

	queue := fmt.Sprintf("bench-adherence-%d", time.Now().UnixNano())
	rec := &recorder{tolerance: o.tolerance}
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.Adherence, workflow.RegisterOptions{Name: workflows.AdherenceWorkflowName})
	// Closures, not method values: the SDK names a method value's
	// activity after the method, so two of one method would collide.
	w.RegisterActivityWithOptions(func(ctx context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
		return rec.SendSMS(ctx, in)
	}, activity.RegisterOptions{Name: "SendSMS"})
	baseRec := &recorder{tolerance: o.tolerance}
	w.RegisterWorkflowWithOptions(timerLoop, workflow.RegisterOptions{Name: "BenchTimerLoop"})
	w.RegisterActivityWithOptions(func(ctx context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
		return baseRec.SendSMS(ctx, in)
	}, activity.RegisterOptions{Name: "BenchReminder"})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	base, err := measure(ctx, c, o, baseRec, func(i int) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-baseline-%d", queue, i), TaskQueue: queue},
			"BenchTimerLoop", o.interval, o.doses)
	})
	if err != nil {
		return err
	}
	adh, err := measure(ctx, c, o, rec, func(i int) (client.WorkflowRun, error) { return startCourse(ctx, c, queue, o, i) })
	if err != nil {
		return err
	}
	fmt.Printf("%d at once, %d reminders each every %s (%d scheduled per kind), on time = within %s of the due time\n",
		o.n, o.doses, o.interval, o.n*o.doses, o.tolerance)
	base.print("baseline (timer loop + one activity)")
	adh.print("adherence courses")
	fmt.Printf("ratio adherence/baseline: on-time reminders per second %.2f, p50 lag %.2f\n",
		adh.onTimePerSecond()/base.onTimePerSecond(), float64(adh.p50)/float64(base.p50))
	if adh.failed > 0 || base.failed > 0 {
		return errors.New("some workflows failed")
	}
	return nil
}

// timerLoop is the baseline: the same reminders from a workflow that only
// sleeps and calls one activity, with no schedule, state or handlers.
func timerLoop(ctx workflow.Context, interval time.Duration, doses int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	first := workflow.Now(ctx).Truncate(time.Second).Add(interval)
	for k := range doses {
		due := first.Add(time.Duration(k) * interval)
		if err := workflow.Sleep(ctx, due.Sub(workflow.Now(ctx))); err != nil {
			return err
		}
		in := contract.SendSMSInput{TemplateID: "medication_reminder", Params: map[string]string{"at": due.Format(time.RFC3339)}}
		if err := workflow.ExecuteActivity(ctx, "BenchReminder", in).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// result is one kind of workflow's figures.
type result struct {
	o                   options
	startSpan           time.Duration
	failed              int64
	mem                 memory
	onTime, late        int64
	p50, p99, worstLate time.Duration
}

func (r result) onTimePerSecond() float64 {
	return float64(r.onTime) / (time.Duration(r.o.doses) * r.o.interval).Seconds()
}

func (r result) print(name string) {
	scheduled := int64(r.o.n * r.o.doses)
	window := (time.Duration(r.o.doses) * r.o.interval).Seconds()
	fmt.Printf("%s: started in %s, %d failed\n", name, r.startSpan.Round(time.Millisecond), r.failed)
	fmt.Printf("  worker memory: heap in use peak %.1f MiB, Go runtime total %.1f MiB, process peak RSS %.1f MiB\n",
		mib(r.mem.heapInUse), mib(r.mem.sys), mib(r.mem.rssPeak))
	fmt.Printf("  reminders: %d on time, %d late, %d never arrived; lag p50 %s, p99 %s, worst %s\n",
		r.onTime, r.late, scheduled-r.onTime-r.late, r.p50, r.p99, r.worstLate)
	fmt.Printf("  reminders per second: on time %.1f, scheduled %.1f, ratio on time/scheduled %.3f\n",
		r.onTimePerSecond(), float64(scheduled)/window, float64(r.onTime)/float64(scheduled))
}

// measure starts n workflows with start, waits for all, and reads the recorder.
func measure(ctx context.Context, c client.Client, o options, rec *recorder, start func(i int) (client.WorkflowRun, error)) (result, error) {
	runtime.GC()
	peak := sampleMemory()
	began := time.Now()
	runs, err := startAll(o.n, start)
	if err != nil {
		peak.stop()
		return result{}, err
	}
	r := result{o: o, startSpan: time.Since(began)}
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run.Get(ctx, nil); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	r.mem, r.failed = peak.stop(), failed.Load()
	r.onTime, r.late = rec.onTime.Load(), rec.late.Load()
	r.p50, r.p99, r.worstLate = rec.percentiles()
	return r, nil
}

// percentiles of the reminders' lag behind their due time.
func (r *recorder) percentiles() (p50, p99, worst time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lags) == 0 {
		return 0, 0, 0
	}
	l := slices.Clone(r.lags)
	slices.Sort(l)
	at := func(q float64) time.Duration { return l[int(q*float64(len(l)-1))].Round(time.Millisecond) }
	return at(0.5), at(0.99), at(1)
}

// startAll starts n workflows as fast as the server takes them.
func startAll(n int, start func(i int) (client.WorkflowRun, error)) ([]client.WorkflowRun, error) {
	runs := make([]client.WorkflowRun, n)
	errs := make([]error, n)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				runs[i], errs[i] = start(i)
			}
		}()
	}
	wg.Wait()
	return runs, errors.Join(errs...)
}

func startCourse(ctx context.Context, c client.Client, queue string, o options, i int) (client.WorkflowRun, error) {
	patient := store.SeedPatientID(i%store.SeedPatientCount + 1)
	rx := uuid.NewString()
	in := workflows.AdherenceInput{JourneyID: workflows.NewJourneyWorkflowID(patient), PatientID: patient,
		PrescriptionID: rx, Frequency: "twice daily", DurationDays: (o.doses + 1) / 2, Quantity: o.doses, TimeZone: "Asia/Kolkata",
		// No alerts: the benchmark's patients never answer, and an alert
		// to a journey that does not exist is not what it measures.
		Settings: workflows.AdherenceSettings{Interval: o.interval, DosesPerRun: o.dosesPerRun, MissedInARow: o.doses + 1}}
	return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.AdherenceWorkflowID(patient, rx, 0), TaskQueue: queue},
		workflows.AdherenceWorkflowName, in)
}

type memory struct{ heapInUse, sys, rssPeak uint64 }

// sampler records the peak Go heap while the courses run; the process's
// peak RSS comes from the kernel (VmHWM) at the end.
type sampler struct {
	done chan struct{}
	out  chan memory
}

func sampleMemory() *sampler {
	// Reset the kernel's peak RSS, so each measurement has its own (Linux).
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	s := &sampler{done: make(chan struct{}), out: make(chan memory, 1)}
	go func() {
		var peak memory
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak.heapInUse = max(peak.heapInUse, ms.HeapInuse)
			peak.sys = max(peak.sys, ms.Sys)
			select {
			case <-s.done:
				peak.rssPeak = vmHWM()
				s.out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() memory {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	m, ok := <-s.out
	if !ok {
		return memory{}
	}
	close(s.out)
	return m
}

// vmHWM is the process's peak resident set in bytes (Linux), or 0.
func vmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
