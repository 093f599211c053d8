// Command journeys measures how fast the local dev server runs CarePath
// journeys: it starts N journeys at once (each on a short pathway plan with
// a timer, a decision sent through an update, and its PostgreSQL record),
// waits for all, and prints journeys per second with p50 and p99
// start-to-finish latency. In the same run it measures a workflow that runs
// one no-op activity: the server's own ceiling on this machine. The ratio
// between the two is the figure to track; absolute numbers depend on the
// machine.
//
//	go run ./bench/journeys -n 200 -concurrency 50
//
// It needs the local stack (make run, or `carepath stack exec`) and uses the
// test database.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workers"
	"github.com/carepath/carepath/workflows"
)

const benchPathway = `id: bench
version: 1
title: Benchmark journey
sources: [{id: ops, citation: Benchmark only}]
steps:
  - {id: settle, type: wait, time_limit: 50ms, on_timeout: continue, next: review}
  - id: review
    type: decide
    role: doctor
    time_limit: 1h
    on_timeout: {action: escalate, role: coordinator, then: {time_limit: 1h, action: cancel}}
    outcomes: {accepted: end, rejected: end}
`

func main() {
	n := flag.Int("n", 200, "journeys (and baseline workflows) to run")
	concurrency := flag.Int("concurrency", 50, "how many run at once")
	flag.Parse()
	if err := run(*n, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n, concurrency int) error {
	ctx := context.Background()
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if v := os.Getenv("CAREPATH_TEST_DATABASE_URL"); v != "" {
		cfg.DatabaseURL = v
	} else {
		cfg.DatabaseURL = config.DefaultTestDatabaseURL
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	if _, err := s.Seed(ctx); err != nil {
		return err
	}
	c, err := platform.DialTemporal(cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	plan, err := pathways.Load("bench.yaml", []byte(benchPathway))
	if err != nil {
		return err
	}

	queue := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	deps, err := workers.DepsFromConfig(cfg, s, nil)
	if err != nil {
		return err
	}
	w := workers.NewJourneyWorker(c, queue, deps)
	w.RegisterWorkflowWithOptions(oneActivity, workflow.RegisterOptions{Name: "BenchOneActivity"})
	w.RegisterActivity(noop)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	// Journeys start through the API's own client: the same options, the
	// same journey_ref reservation.
	jc := journeys.New(c, queue, s)
	runID := time.Now().UnixNano()
	baseline := measure(n, concurrency, func(i int) error {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-baseline-%d-%d", runID, i), TaskQueue: queue}, "BenchOneActivity")
		if err != nil {
			return err
		}
		return run.Get(ctx, nil)
	})
	journeyFigures := measure(n, concurrency, func(i int) error {
		patient := store.SeedPatientID(i%store.SeedPatientCount + 1)
		episode := int(runID%1_000_000)*1000 + i + 1
		started, err := jc.Start(ctx, workflows.JourneyInput{PatientID: patient, PathwayID: plan.PathwayID, Episode: episode, Plan: plan})
		if err != nil {
			return err
		}
		// The doctor answers as soon as the journey waits for it.
		for {
			_, err := jc.Decide(ctx, started.ID, workflows.DecideRequest{
				Actor: workflows.Actor{ID: "bench-doctor", Role: "doctor"}, StepID: "review", Outcome: "accepted"})
			if err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // not at the review step yet
		}
		_, err = jc.Result(ctx, started.ID)
		return err
	})

	fmt.Printf("one-activity workflow: %s\n", baseline)
	fmt.Printf("journey (wait, update, 2 records): %s\n", journeyFigures)
	fmt.Printf("ratio journey/baseline: throughput %.2f, p50 latency %.2f, p99 latency %.2f\n",
		journeyFigures.perSecond/baseline.perSecond, float64(journeyFigures.p50)/float64(baseline.p50), float64(journeyFigures.p99)/float64(baseline.p99))
	return nil
}

func oneActivity(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteActivity(ctx, noop).Get(ctx, nil)
}

func noop(context.Context) error { return nil }

type figures struct {
	n         int
	errors    int
	perSecond float64
	p50, p99  time.Duration
}

func (f figures) String() string {
	return fmt.Sprintf("%d runs, %d errors, %.1f per second, p50 %v, p99 %v", f.n, f.errors, f.perSecond, f.p50.Round(time.Millisecond), f.p99.Round(time.Millisecond))
}

func measure(n, concurrency int, one func(i int) error) figures {
	latencies := make([]time.Duration, n)
	errs := 0
	var mu sync.Mutex
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := time.Now()
			err := one(i)
			latencies[i] = time.Since(t)
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return figures{n: n, errors: errs, perSecond: float64(n) / elapsed.Seconds(),
		p50: latencies[n/2], p99: latencies[(n*99)/100-1]}
}
