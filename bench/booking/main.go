// Command booking measures how long a booking takes through the real API:
// N concurrent POST /api/v1/journeys on the shipped general-consult pathway,
// each on its own free slot, from the request to the answer "slot held,
// payment ready" (202 with the journey's state: an appointment and a
// PaymentIntent). The API starts the journey with update-with-start
// (package journeys), so the answer needs no polling. In the same run it
// measures a workflow that runs one no-op activity, started with
// update-with-start through the same Temporal client and answered by an
// update once the activity is done: the server's own floor for one round
// trip on this machine. The ratio of the two p99s is the figure to track
// (issue 13's target: under 2).
//
//	go run ./bench/booking -n 50
//
// It needs the local stack (make run, or `carepath stack exec`) and uses the
// test database. The booked journeys are cancelled at the end, which frees
// their slots, and then terminated.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workers"
	"github.com/carepath/carepath/workflows"
)

const (
	pathwayID   = "general-consult"
	baselineWF  = "BenchBookingBaseline"
	baselineUpd = "done"
	// benchAdmin is who the requests act as: an admin passes every access
	// rule, so the figure is the booking's, not the access layer's.
	benchAdmin = "00000000-0000-4000-8000-0000000be4c1"
)

func main() {
	n := flag.Int("n", 50, "bookings (and baseline workflows) to run, all at once")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	ctx := context.Background()
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	cfg.DatabaseURL = config.DefaultTestDatabaseURL
	if v := os.Getenv("CAREPATH_TEST_DATABASE_URL"); v != "" {
		cfg.DatabaseURL = v
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	deps, err := platform.Connect(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer deps.Close(ctx)
	if _, err := deps.Store.Migrate(ctx); err != nil {
		return err
	}
	if _, err := deps.Store.Seed(ctx); err != nil {
		return err
	}
	catalog, err := pathways.LoadCatalog(cfg.PathwaysDir)
	if err != nil {
		return err
	}
	authSvc, err := auth.New(auth.Options{Pool: deps.Store.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL,
		AccessTTL: cfg.AuthAccessTTL, Logger: logger})
	if err != nil {
		return fmt.Errorf("auth (run with CAREPATH_ENV=local): %w", err)
	}
	token, err := authSvc.Mint(ctx, auth.Principal{Subject: benchAdmin, Role: auth.RoleAdmin})
	if err != nil {
		return err
	}

	queue := fmt.Sprintf("bench-booking-%d", time.Now().UnixNano())
	workerDeps, err := workers.DepsFromConfig(cfg, deps.Store, nil)
	if err != nil {
		return err
	}
	w := workers.NewJourneyWorker(deps.Temporal, queue, workerDeps)
	w.RegisterWorkflowWithOptions(baseline, workflow.RegisterOptions{Name: baselineWF})
	w.RegisterActivity(noop)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	srv := httptest.NewServer(api.NewRouter(api.Options{
		Auth: authSvc, Temporal: deps.Temporal, Store: deps.Store, Health: deps, TaskQueue: queue,
		HealthTimeout: 2 * time.Second, Logger: logger, Pathways: catalog,
	}))
	defer srv.Close()

	bodies, err := bookings(ctx, deps.Store, n)
	if err != nil {
		return err
	}
	warm(ctx, deps.Temporal, queue)

	runID := time.Now().UnixNano()
	base := measure(n, func(i int) error {
		op := deps.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: fmt.Sprintf("bench-booking-baseline-%d-%d", runID, i), TaskQueue: queue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		}, baselineWF)
		h, err := deps.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: baselineUpd, WaitForStage: client.WorkflowUpdateStageCompleted},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, nil)
	})
	var mu sync.Mutex
	var booked []string
	var firstErr error
	book := measure(n, func(i int) error {
		id, err := post(ctx, srv.URL, token, bodies[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return err
		}
		booked = append(booked, id)
		return nil
	})

	fmt.Printf("one-activity workflow, update-with-start: %s\n", base)
	fmt.Printf("booking through POST /api/v1/journeys (%s, slot held, payment ready): %s\n", pathwayID, book)
	fmt.Printf("ratio booking/baseline: p50 %.2f, p99 %.2f\n", float64(book.p50)/float64(base.p50), float64(book.p99)/float64(base.p99))
	if firstErr != nil {
		fmt.Printf("first booking error: %v\n", firstErr)
	}
	cancelAll(ctx, journeys.New(deps.Temporal, queue, deps.Store), booked)
	return nil
}

// bookings are the request bodies: each a seeded patient's next episode
// on a fresh free slot far ahead, so runs never collide with each other or
// with the demo data.
func bookings(ctx context.Context, s *store.Store, n int) ([]string, error) {
	type schedule struct{ id, practitioner string }
	rows, err := s.Pool.Query(ctx, `SELECT id::text, practitioner_id::text FROM schedule ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var schedules []schedule
	for rows.Next() {
		var sc schedule
		if err := rows.Scan(&sc.id, &sc.practitioner); err != nil {
			return nil, err
		}
		schedules = append(schedules, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(schedules) == 0 {
		return nil, errors.New("no schedules: is the database seeded?")
	}
	episodes := map[string]int{}
	out := make([]string, n)
	for i := range n {
		patient := store.SeedPatientID(i%store.SeedPatientCount + 1)
		if _, ok := episodes[patient]; !ok {
			next, err := s.NextJourneyEpisode(ctx, patient, pathwayID)
			if err != nil {
				return nil, err
			}
			episodes[patient] = next
		}
		sc := schedules[i%len(schedules)]
		// A millisecond start at random within the next 50 years: never
		// one of the generator's whole minutes.
		start := time.Now().Add(48*time.Hour + time.Duration(rand.Int64N(50*365*24*3600*1000))*time.Millisecond).Truncate(time.Millisecond).Add(time.Millisecond)
		sl, err := s.CreateSlot(ctx, store.Slot{ScheduleID: sc.id, PractitionerID: sc.practitioner, Start: start, End: start.Add(15 * time.Minute)})
		if err != nil {
			return nil, fmt.Errorf("create slot: %w", err)
		}
		out[i] = fmt.Sprintf(`{"patient_id":%q,"pathway_id":%q,"episode":%d,"slot_id":%q}`, patient, pathwayID, episodes[patient], sl.ID)
		episodes[patient]++
	}
	return out, nil
}

// post books one journey and checks that the answer holds the slot and
// has the payment ready.
func post(ctx context.Context, base, token, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/journeys", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /api/v1/journeys: %d %s", resp.StatusCode, raw)
	}
	var started struct {
		ID    string                  `json:"id"`
		State *workflows.JourneyState `json:"state"`
	}
	if err := json.Unmarshal(raw, &started); err != nil {
		return "", err
	}
	if started.State == nil || started.State.Appointment == nil || started.State.Payment == nil {
		return started.ID, fmt.Errorf("journey %s answered without a held slot and a payment: %s", started.ID, raw)
	}
	return started.ID, nil
}

// warm runs one baseline workflow so that neither series pays for the
// worker's first poll.
func warm(ctx context.Context, c client.Client, queue string) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-booking-warm-%d", time.Now().UnixNano()), TaskQueue: queue}, baselineWF)
	if err == nil {
		_ = run.Get(ctx, nil)
	}
}

// cancelAll cancels the booked journeys as a coordinator, which frees
// their slots, then terminates what still runs: a cancelled journey texts
// the patient, which quiet hours may defer for hours, and this process's
// worker is about to stop.
func cancelAll(ctx context.Context, jc *journeys.Client, ids []string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for _, id := range ids {
		wg.Go(func() {
			if _, err := jc.Cancel(ctx, id, workflows.CancelRequest{Actor: workflows.Actor{ID: benchAdmin, Role: "coordinator"}, Reason: "benchmark"}); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	time.Sleep(3 * time.Second) // the slots' release, an activity after the cancel's answer
	for _, id := range ids {
		_ = jc.Terminate(ctx, id, "benchmark finished") // ended already: nothing to do
	}
	if failed > 0 {
		fmt.Printf("%d of %d journeys could not be cancelled\n", failed, len(ids))
	}
}

// baseline runs one no-op activity; its update answers once it has.
func baseline(ctx workflow.Context) error {
	done := false
	if err := workflow.SetUpdateHandler(ctx, baselineUpd, func(ctx workflow.Context) error {
		return workflow.Await(ctx, func() bool { return done })
	}); err != nil {
		return err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteActivity(ctx, noop).Get(ctx, nil); err != nil {
		return err
	}
	done = true
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

func noop(context.Context) error { return nil }

type figures struct {
	n, errors int
	p50, p99  time.Duration
}

func (f figures) String() string {
	return fmt.Sprintf("%d at once, %d errors, p50 %v, p99 %v", f.n, f.errors, f.p50.Round(time.Millisecond), f.p99.Round(time.Millisecond))
}

// measure runs one(i) for every i at once and reports the latencies.
func measure(n int, one func(i int) error) figures {
	latencies := make([]time.Duration, n)
	var errs int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			t := time.Now()
			err := one(i)
			latencies[i] = time.Since(t)
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return figures{n: n, errors: errs, p50: latencies[n/2], p99: latencies[max((n*99+99)/100-1, 0)]}
}
