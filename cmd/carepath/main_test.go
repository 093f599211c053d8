package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// These tests run the real carepath binary, as `make run` does, against the
// services of the local stack.

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "carepath")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func testEnv(t *testing.T, apiAddr, taskQueue string) []string {
	cfg := testenv.Config(t)
	return append(os.Environ(),
		"API_ADDR="+apiAddr, "DATABASE_URL="+cfg.DatabaseURL, "DATABASE_OWNER_URL="+cfg.DatabaseOwnerURL, "REDIS_URL="+cfg.RedisURL,
		"TEMPORAL_TASK_QUEUE="+taskQueue, "LOG_FORMAT=json",
		"CAREPATH_CODEC_KEYS="+testenv.CodecKeys, "CAREPATH_CODEC_ACTIVE_KEY="+testenv.CodecActiveKey,
		"PRESCRIPTION_SIGNING_KEY="+testenv.PrescriptionSigningKey,
		// The API's document store and audit head file, out of the source tree.
		"CAREPATH_DATA_DIR="+t.TempDir())
}

func TestWorkerAndAPIServeAJourneyAndShutDownGracefully(t *testing.T) {
	s := testenv.Store(t)
	if _, err := s.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	apiAddr := freeAddr(t)
	env := testEnv(t, apiAddr, fmt.Sprintf("cmd-test-%d", time.Now().UnixNano()))
	// A deployment's own pathway, from PATHWAYS_DIR.
	pathwaysDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pathwaysDir, "enrol-check.v1.yaml"), []byte(`id: enrol-check
version: 1
title: Enrolment check
sources: [{id: test, citation: Test fixture}]
steps:
  - {id: settle, type: wait, time_limit: 200ms, on_timeout: continue, next: end}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "PATHWAYS_DIR="+pathwaysDir)
	apiMetrics, workerMetrics := freeAddr(t), freeAddr(t)
	env = append(env, "METRICS_ADDR="+apiMetrics, "WORKER_METRICS_ADDR="+workerMetrics)

	start := func(name string) (*exec.Cmd, *syncBuffer) {
		var out syncBuffer
		cmd := exec.Command(bin, name)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, &out
	}
	worker, workerOut := start("worker")
	apiCmd, apiOut := start("api")

	base := "http://" + apiAddr
	waitUntil(t, 30*time.Second, func() bool {
		resp, err := http.Get(base + "/api/system/health/check")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "API never healthy:\n" + apiOut.String() })

	patient := store.SeedPatientID(7)
	episode := testenv.FreshEpisode(t, s, patient, "enrol-check")
	body := fmt.Sprintf(`{"patient_id":%q,"pathway_id":"enrol-check","episode":%d}`, patient, episode)
	// The patient starts and follows their own journey.
	bearer := "Bearer " + testenv.Token(t, testenv.Auth(t, s), auth.RolePatient, patient)
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/journeys", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start journey: %s", resp.Status)
	}
	id := testenv.JourneyID(t, s, patient, "enrol-check", episode)
	waitState(t, base, bearer, id, func(s workflows.JourneyState) bool { return s.Status == workflows.StatusCompleted })
	checkMetrics(t, base, apiMetrics, workerMetrics)

	// SIGTERM: the API drains, the worker stops polling; both exit 0.
	for _, c := range []*exec.Cmd{apiCmd, worker} {
		if err := c.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]*exec.Cmd{"api": apiCmd, "worker": worker} {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with %v", name, err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("%s did not stop within 40s of SIGTERM", name)
		}
	}
	if !strings.Contains(apiOut.String(), `"msg":"API stopped"`) {
		t.Errorf("API did not report a clean stop:\n%s", apiOut.String())
	}
	if !strings.Contains(workerOut.String(), `"msg":"Worker stopped"`) {
		t.Errorf("worker did not report a clean stop:\n%s", workerOut.String())
	}
	// Logs never carry the request body (health data travels there).
	if strings.Contains(apiOut.String(), `"pathway_id":"enrol-check"`) {
		t.Errorf("API log contains a request body")
	}
}

// checkMetrics scrapes the API's and the worker's /metrics, each on its own
// address, after a journey ran: the worker's carry the SDK's activity
// metrics and the journey's, the API's its routes by template and its pool.
// The public API port serves no metrics.
func checkMetrics(t *testing.T, base, apiMetrics, workerMetrics string) {
	t.Helper()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(raw)
	}
	want := map[string][]string{
		"http://" + apiMetrics + "/metrics": {`http_route="/api/v1/journeys/:id"`, "carepath_db_pool_total_conns ", "temporal_request_total{"},
		"http://" + workerMetrics + "/metrics": {`temporal_activity_execution_latency_seconds_bucket{`, "temporal_workflow_task_schedule_to_start_latency_seconds_bucket{",
			`pathway="enrol-check"`, "carepath_journeys_started_total{", "carepath_db_pool_total_conns "},
	}
	for url, series := range want {
		status, body := get(url)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", url, status)
		}
		for _, s := range series {
			if !strings.Contains(body, s) {
				t.Errorf("%s has no %s", url, s)
			}
		}
	}
	if status, _ := get(base + "/metrics"); status != http.StatusNotFound {
		t.Errorf("the public API port serves /metrics: %d", status)
	}
}

func TestMigrateAndSeedAreSafeToRepeat(t *testing.T) {
	testenv.Store(t) // fails with instructions if PostgreSQL is missing
	bin := buildBinary(t)
	env := testEnv(t, freeAddr(t), "unused")
	for _, args := range [][]string{{"migrate"}, {"migrate"}, {"seed"}, {"seed"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("carepath %s: %v\n%s", args[0], err, out)
		}
	}
}

func TestUnknownCommandAndBadConfigExitWith2(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"frobnicate"}, "", "unknown command"},
		{[]string{"api"}, "HEALTH_CHECK_TIMEOUT=never", "HEALTH_CHECK_TIMEOUT"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), tc.env)
		out, err := cmd.CombinedOutput()
		exitErr, ok := err.(*exec.ExitError)
		if !ok || exitErr.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("carepath %v: err=%v out=%s", tc.args, err, out)
		}
	}
}

func waitUntil(t *testing.T, limit time.Duration, ok func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(why())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
