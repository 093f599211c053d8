package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/platform"
)

// countingHealth counts rounds of probes; each takes a while, so that
// concurrent health checks overlap one.
type countingHealth struct {
	rounds  atomic.Int32
	healthy bool
}

func (h *countingHealth) Check(ctx context.Context, _ time.Duration) ([]platform.ComponentHealth, bool) {
	h.rounds.Add(1)
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
	state := "up"
	if !h.healthy {
		state = "down"
	}
	return []platform.ComponentHealth{{Name: "stripe", State: state, LatencyMS: 200}}, h.healthy
}

func healthRouter(t *testing.T, checker api.HealthChecker) (*httptest.Server, *auth.Service) {
	t.Helper()
	s := testenv.Store(t)
	a := testenv.Auth(t, s)
	srv := httptest.NewServer(api.NewRouter(api.Options{Store: s, Health: checker, HealthTimeout: time.Second,
		Logger: testenv.Logger(t), Auth: a}))
	t.Cleanup(srv.Close)
	return srv, a
}

func getHealth(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/api/system/health/check", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Error(err)
	}
	return resp.StatusCode, out
}

// Anyone gets the status alone; only an admin gets the components.
func TestHealthCheckDetailsOnlyForAdmins(t *testing.T) {
	for _, healthy := range []bool{true, false} {
		srv, a := healthRouter(t, &countingHealth{healthy: healthy})
		wantStatus, wantCode := "ok", http.StatusOK
		if !healthy {
			wantStatus, wantCode = "degraded", http.StatusServiceUnavailable
		}
		for _, caller := range []struct{ name, token string }{
			{"anonymous", ""},
			{"invalid token", "not-a-token"},
			{"patient", testenv.Token(t, a, auth.RolePatient, uuid.NewString())},
			{"coordinator", testenv.Token(t, a, auth.RoleCoordinator, uuid.NewString())},
		} {
			code, body := getHealth(t, srv.URL, caller.token)
			if code != wantCode || len(body) != 1 || body["status"] != wantStatus {
				t.Errorf("%s, healthy=%v: %d %v, want %d with only status %q", caller.name, healthy, code, body, wantCode, wantStatus)
			}
		}
		code, body := getHealth(t, srv.URL, testenv.Token(t, a, auth.RoleAdmin, uuid.NewString()))
		components, _ := body["components"].([]any)
		if code != wantCode || body["status"] != wantStatus || len(components) != 1 ||
			components[0].(map[string]any)["name"] != "stripe" {
			t.Errorf("admin, healthy=%v: %d %v, want %d with status %q and the stripe component", healthy, code, body, wantCode, wantStatus)
		}
	}
}

// Concurrent and serial checks within the cache's lifetime share one round
// of probes: the health check never calls Stripe on every hit.
func TestHealthCheckProbesOncePerTTL(t *testing.T) {
	checker := &countingHealth{healthy: true}
	srv, a := healthRouter(t, checker)
	admin := testenv.Token(t, a, auth.RoleAdmin, uuid.NewString())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := ""
			if i%2 == 0 {
				token = admin
			}
			if code, body := getHealth(t, srv.URL, token); code != http.StatusOK {
				t.Errorf("concurrent check: %d %v", code, body)
			}
		}()
	}
	wg.Wait()
	for range 10 {
		if code, body := getHealth(t, srv.URL, ""); code != http.StatusOK {
			t.Errorf("serial check: %d %v", code, body)
		}
	}
	if n := checker.rounds.Load(); n != 1 {
		t.Errorf("30 checks ran %d rounds of probes, want 1", n)
	}

	// A degraded answer is cached as well: a dependency that is down is not
	// probed harder.
	down := &countingHealth{}
	srv, _ = healthRouter(t, down)
	for range 5 {
		if code, _ := getHealth(t, srv.URL, ""); code != http.StatusServiceUnavailable {
			t.Errorf("degraded check: %d", code)
		}
	}
	if n := down.rounds.Load(); n != 1 {
		t.Errorf("5 degraded checks ran %d rounds of probes, want 1", n)
	}
}
