package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/platform"
)

// testLimits are rate limits over the test Redis index, with counters of
// the test's own (a key prefix), so that other tests and test processes
// counting requests from the same address do not interfere.
func testLimits(t *testing.T, limits config.RateLimits) api.RateLimitOptions {
	t.Helper()
	cfg := testenv.Config(t)
	rdb, err := platform.OpenRedis(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testenv.Fail(t, "Redis", cfg.RedisURL, err)
	}
	return api.RateLimitOptions{Redis: rdb, Limits: limits, KeyPrefix: "ratelimit-test:" + uuid.NewString() + ":"}
}

func per(n int, d time.Duration) config.Rate { return config.Rate{Limit: n, Period: d} }

// get sends a GET with an optional token and extra header; it answers the
// status, the Retry-After header and the body.
func get(t *testing.T, url, token string, header ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, raw := send(t, req)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(raw)
}

func TestRateLimitPerIPAnswers429WithRetryAfter(t *testing.T) {
	cv := newConventions(t, testLimits(t, config.RateLimits{PerIP: per(3, time.Minute)}))
	url := cv.srv.URL + "/api/system/health/check"
	for i := range 3 {
		// A forged X-Forwarded-For changes nothing: no proxy is trusted.
		if status, _, body := get(t, url, "", "X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i)); status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, status, body)
		}
	}
	status, retryAfter, body := get(t, url, "", "X-Forwarded-For", "10.9.9.9")
	secs, err := strconv.Atoi(retryAfter)
	if status != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 20 ||
		!strings.Contains(body, `"type":"https://carepath.dev/problems/rate-limited"`) {
		t.Errorf("4th request: %d Retry-After %q %s; want 429 with Retry-After of about 20 s (one emission interval)", status, retryAfter, body)
	}
}

func TestRateLimitRecoversAfterRetryAfter(t *testing.T) {
	cv := newConventions(t, testLimits(t, config.RateLimits{PerIP: per(1, time.Second)}))
	url := cv.srv.URL + "/api/system/health/check"
	if status, _, _ := get(t, url, ""); status != http.StatusOK {
		t.Fatalf("first: %d", status)
	}
	status, retryAfter, _ := get(t, url, "")
	if status != http.StatusTooManyRequests || retryAfter != "1" {
		t.Fatalf("second: %d Retry-After %q, want 429 and 1", status, retryAfter)
	}
	time.Sleep(time.Second)
	if status, _, body := get(t, url, ""); status != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", status, body)
	}
}

func TestRateLimitPerUser(t *testing.T) {
	cv := newConventions(t, testLimits(t, config.RateLimits{PerUser: per(2, time.Minute)}))
	alice := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	bob := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	url := cv.srv.URL + "/api/v1/models"
	for i := range 2 {
		if status, _, body := get(t, url, alice); status != http.StatusOK {
			t.Fatalf("alice %d: %d %s", i+1, status, body)
		}
	}
	if status, retryAfter, _ := get(t, url, alice); status != http.StatusTooManyRequests || retryAfter == "" {
		t.Errorf("alice 3: %d Retry-After %q, want 429", status, retryAfter)
	}
	// Bob, from the same address, has his own allowance.
	if status, _, body := get(t, url, bob); status != http.StatusOK {
		t.Errorf("bob: %d %s", status, body)
	}
}

// The limit holds under concurrent requests: the script counts atomically.
func TestRateLimitIsAtomicUnderConcurrency(t *testing.T) {
	cv := newConventions(t, testLimits(t, config.RateLimits{PerIP: per(5, time.Minute)}))
	var ok, limited atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch status, _, _ := get(t, cv.srv.URL+"/api/system/health/check", ""); status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 || limited.Load() != 25 {
		t.Errorf("allowed %d, limited %d; want 5 and 25", ok.Load(), limited.Load())
	}
}

// smsCounter is the SMS gateway: it counts the codes it was asked to send.
type smsCounter struct{ sent atomic.Int32 }

func (c *smsCounter) SendSignInCode(context.Context, string, string) error {
	c.sent.Add(1)
	return nil
}

// The route that texts sign-in codes has limits of its own, per address and
// per phone number, far below the general ones.
func TestRateLimitSMSCodesTightly(t *testing.T) {
	limits := testLimits(t, config.RateLimits{PerIP: per(1000, time.Minute),
		SMSPerIP: per(4, time.Hour), SMSPerPhone: per(2, 15*time.Minute)})
	s := testenv.Store(t)
	cfg := testenv.Config(t)
	sms := &smsCounter{}
	a, err := auth.New(auth.Options{Pool: s.Pool, Redis: limits.Redis, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL,
		SMS: sms, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	phones := []string{testPhone(), testPhone()}
	for _, p := range phones {
		if _, err := a.UpsertUser(context.Background(), auth.NewUser{Email: uuid.NewString() + "@test.invalid", Phone: p, Role: auth.RoleCoordinator}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.NewRouter(api.Options{Store: s, Health: healthyDeps{}, Logger: testenv.Logger(t), Auth: a,
		RateLimit: limits}))
	t.Cleanup(srv.Close)
	post := func(phone string) int {
		resp, err := http.Post(srv.URL+"/api/v1/auth/sms-code", "application/json", strings.NewReader(fmt.Sprintf(`{"phone":%q}`, phone)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return resp.StatusCode
	}
	got := []int{post(phones[0]), post(phones[0]), post(phones[0]), post(phones[1]), post(phones[1])}
	// Per phone: the third code for the first number is refused (it still
	// counts against the address). Per address: the fourth request (the
	// second number's first) passes, the fifth is over 4 an hour.
	want := []int{http.StatusAccepted, http.StatusAccepted, http.StatusTooManyRequests, http.StatusAccepted, http.StatusTooManyRequests}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if sms.sent.Load() != 3 {
		t.Errorf("%d codes texted, want 3", sms.sent.Load())
	}
	// Other routes are not held to the SMS limit.
	if status, _, body := get(t, srv.URL+"/api/system/health/check", ""); status != http.StatusOK {
		t.Errorf("health check after the SMS limit: %d %s", status, body)
	}
}
