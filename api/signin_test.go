package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// signInServer is the API over the test database and Redis with the given
// limits, trusting the test client (127.0.0.1) as a proxy so that each
// request can come from an address of its own (X-Forwarded-For).
type signInServer struct {
	url   string
	auth  *auth.Service
	store *store.Store
	sms   *codeBook
}

// codeBook is the SMS gateway: it keeps the last code texted to each number.
type codeBook struct {
	mu    sync.Mutex
	codes map[string]string
}

func (b *codeBook) SendSignInCode(_ context.Context, phone, code string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.codes[phone] = code
	return nil
}

func (b *codeBook) last(phone string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.codes[phone]
}

func newSignInServer(t *testing.T, limits config.RateLimits) *signInServer {
	t.Helper()
	if limits.PerIP.Off() {
		limits.PerIP = per(100000, time.Minute)
	}
	limits.TrustedProxies = []string{"127.0.0.1"}
	rl := testLimits(t, limits)
	s := testenv.Store(t)
	cfg := testenv.Config(t)
	sms := &codeBook{codes: map[string]string{}}
	a, err := auth.New(auth.Options{Pool: s.Pool, Redis: rl.Redis, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL,
		SMS: sms, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewRouter(api.Options{Store: s, Health: healthyDeps{}, Logger: testenv.Logger(t), Auth: a, RateLimit: rl}))
	t.Cleanup(srv.Close)
	return &signInServer{url: srv.URL, auth: a, store: s, sms: sms}
}

// reply is a response's status, Retry-After and JSON body.
type reply struct {
	status     int
	retryAfter string
	body       map[string]any
}

// post sends body (JSON, or a form when it does not start with "{") from
// the client address addr.
func (ss *signInServer) post(t *testing.T, path, body, addr string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ss.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", addr)
	resp, raw := send(t, req)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: not JSON: %d %s", path, resp.StatusCode, raw)
	}
	return reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: out}
}

func (ss *signInServer) newUser(t *testing.T, password, phone string) string {
	t.Helper()
	email := "signin-" + uuid.NewString() + "@test.invalid"
	if _, err := ss.auth.UpsertUser(context.Background(), auth.NewUser{Email: email, Password: password, Phone: phone,
		Role: auth.RoleCoordinator}); err != nil {
		t.Fatal(err)
	}
	return email
}

func signInBody(email, password string) string {
	return fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
}

// wantLocked checks a 429 with a Retry-After of 1 to most seconds.
func wantLocked(t *testing.T, what string, r reply, most int) {
	t.Helper()
	secs, err := strconv.Atoi(r.retryAfter)
	if r.status != http.StatusTooManyRequests || err != nil || secs < 1 || secs > most {
		t.Errorf("%s: %d Retry-After %q %v; want 429 with Retry-After 1..%d", what, r.status, r.retryAfter, r.body, most)
	}
}

// Fifty wrong passwords for one account, each from another address: after
// the fifth every attempt is refused 429 with Retry-After, the right
// password too, while another account signs in as usual.
func TestPasswordSignInBacksOffPerAccountWhateverTheAddress(t *testing.T) {
	ss := newSignInServer(t, config.RateLimits{SignIn: config.SignInBackoff{Account: 5, Address: 20, Base: 30 * time.Second,
		Max: 15 * time.Minute, Window: time.Hour}})
	victim := ss.newUser(t, "right-pass-1", "")
	bystander := ss.newUser(t, "right-pass-2", "")
	for i := range 50 {
		addr := fmt.Sprintf("10.%d.%d.%d", 20+i/250, i%250, 7)
		r := ss.post(t, "/api/v1/auth/sign-in", signInBody(victim, fmt.Sprintf("guess-%d", i)), addr)
		if i < 5 {
			if r.status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d %v, want 401", i+1, r.status, r.body)
			}
			continue
		}
		wantLocked(t, fmt.Sprintf("wrong password %d from %s", i+1, addr), r, 30)
	}
	wantLocked(t, "the right password during the backoff", ss.post(t, "/api/v1/auth/sign-in", signInBody(victim, "right-pass-1"), "192.0.2.1"), 30)
	// The lock is per account, whatever the case or spaces of the email.
	wantLocked(t, "the same account in upper case", ss.post(t, "/api/v1/auth/sign-in", signInBody(" "+strings.ToUpper(victim), "right-pass-1"), "192.0.2.2"), 30)
	if r := ss.post(t, "/api/v1/auth/sign-in", signInBody(bystander, "right-pass-2"), "10.20.1.7"); r.status != http.StatusOK || r.body["access_token"] == nil {
		t.Errorf("another account from an address that guessed: %d %v", r.status, r.body)
	}
	// An account that does not exist backs off alike, so a 429 tells
	// nobody whether the email has an account.
	nobody := "nobody-" + uuid.NewString() + "@test.invalid"
	for i := range 5 {
		if r := ss.post(t, "/api/v1/auth/sign-in", signInBody(nobody, "x"), fmt.Sprintf("10.99.0.%d", i)); r.status != http.StatusUnauthorized {
			t.Fatalf("unknown account %d: %d", i+1, r.status)
		}
	}
	wantLocked(t, "unknown account past the threshold", ss.post(t, "/api/v1/auth/sign-in", signInBody(nobody, "x"), "10.99.0.9"), 30)
}

// Each failure past the threshold doubles the lock; a success clears the
// account's failures.
func TestSignInBackoffGrowsAndSuccessResets(t *testing.T) {
	ss := newSignInServer(t, config.RateLimits{SignIn: config.SignInBackoff{Account: 3, Address: 100, Base: time.Second,
		Max: time.Minute, Window: time.Hour}})
	email := ss.newUser(t, "right-pass-3", "")
	for round := range 2 {
		for i := range 2 {
			if r := ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "wrong"), "10.30.0.1"); r.status != http.StatusUnauthorized {
				t.Fatalf("round %d, wrong %d: %d %v", round, i+1, r.status, r.body)
			}
		}
		if r := ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "right-pass-3"), "10.30.0.1"); r.status != http.StatusOK {
			t.Fatalf("round %d, right password below the threshold: %d %v (a success must clear the failures)", round, r.status, r.body)
		}
	}
	// Three failures: locked 1 s.
	for range 3 {
		ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "wrong"), "10.30.0.2")
	}
	wantLocked(t, "after the third failure", ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "wrong"), "10.30.0.3"), 1)
	time.Sleep(1100 * time.Millisecond)
	// The fourth failure locks for 2 s.
	if r := ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "wrong"), "10.30.0.4"); r.status != http.StatusUnauthorized {
		t.Fatalf("after the lock: %d %v", r.status, r.body)
	}
	r := ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "right-pass-3"), "10.30.0.5")
	wantLocked(t, "after the fourth failure", r, 2)
	if r.retryAfter != "2" {
		t.Errorf("the second lock: Retry-After %q, want 2 (doubled)", r.retryAfter)
	}
}

// One address guessing across many accounts is locked too.
func TestSignInBacksOffPerAddress(t *testing.T) {
	ss := newSignInServer(t, config.RateLimits{SignIn: config.SignInBackoff{Account: 5, Address: 3, Base: 30 * time.Second,
		Max: time.Minute, Window: time.Hour}})
	email := ss.newUser(t, "right-pass-4", "")
	for i := range 3 {
		ss.post(t, "/api/v1/auth/sign-in", signInBody(fmt.Sprintf("spray-%d-%s@test.invalid", i, uuid.NewString()), "x"), "10.40.0.1")
	}
	wantLocked(t, "a real account from the guessing address", ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "right-pass-4"), "10.40.0.1"), 30)
	if r := ss.post(t, "/api/v1/auth/sign-in", signInBody(email, "right-pass-4"), "10.40.0.2"); r.status != http.StatusOK {
		t.Errorf("the account from another address: %d %v", r.status, r.body)
	}
}

// The token endpoint backs off per client like sign-in per account.
func TestClientCredentialsBackOffPerClient(t *testing.T) {
	ss := newSignInServer(t, config.RateLimits{SignIn: config.SignInBackoff{Account: 5, Address: 50, Base: 30 * time.Second,
		Max: time.Minute, Window: time.Hour}})
	ctx := context.Background()
	victim, other := "backoff-"+uuid.NewString(), "backoff-"+uuid.NewString()
	for _, c := range []string{victim, other} {
		if err := ss.auth.UpsertClient(ctx, c, "Backoff test", "client-secret", []string{auth.ScopeKnowledgeRead}); err != nil {
			t.Fatal(err)
		}
	}
	form := func(client, secret string) string {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}}.Encode()
	}
	for i := range 12 {
		r := ss.post(t, "/oauth/token", form(victim, fmt.Sprintf("guess-%d", i)), fmt.Sprintf("10.50.0.%d", i))
		if i < 5 {
			if r.status != http.StatusUnauthorized || r.body["error"] != "invalid_client" {
				t.Fatalf("wrong secret %d: %d %v", i+1, r.status, r.body)
			}
			continue
		}
		wantLocked(t, fmt.Sprintf("wrong secret %d", i+1), r, 30)
	}
	wantLocked(t, "the right secret during the backoff", ss.post(t, "/oauth/token", form(victim, "client-secret"), "10.50.1.1"), 30)
	if r := ss.post(t, "/oauth/token", form(other, "client-secret"), "10.50.0.3"); r.status != http.StatusOK || r.body["access_token"] == nil {
		t.Errorf("another client: %d %v", r.status, r.body)
	}
}

// The SMS-code routes answer a known and an unknown number alike, in
// status and body, through the daily cap and the attempt limit.
func TestSMSCodeRoutesAnswerUnknownNumbersAlike(t *testing.T) {
	ss := newSignInServer(t, config.RateLimits{SMSPerIP: per(1000, time.Hour), SMSPerPhoneDay: per(3, 24*time.Hour)})
	known := testPhone()
	ss.newUser(t, "", known)
	unknown := testPhone()
	type answer struct {
		status int
		keys   string
		kind   any
	}
	shape := func(r reply) answer {
		keys := make([]string, 0, len(r.body))
		for k := range r.body {
			keys = append(keys, k)
		}
		return answer{status: r.status, keys: fmt.Sprint(len(keys), r.body["status"], r.body["expires_in"], r.body["title"], r.body["detail"]), kind: r.body["type"]}
	}
	run := func(phone string) []answer {
		var out []answer
		for range 4 { // the fourth code of the day is over the cap
			r := ss.post(t, "/api/v1/auth/sms-code", fmt.Sprintf(`{"phone":%q}`, phone), "10.60.0.1")
			if r.status == http.StatusTooManyRequests && r.retryAfter == "" {
				t.Errorf("429 without Retry-After for %s", phone)
			}
			r.body["detail"] = nil // "retry after N seconds" may differ by a second
			out = append(out, shape(r))
		}
		wrong := "000000"
		if ss.sms.last(phone) == wrong {
			wrong = "000001"
		}
		for range auth.CodeAttempts + 1 {
			out = append(out, shape(ss.post(t, "/api/v1/auth/sms-code/verify", fmt.Sprintf(`{"phone":%q,"code":%q}`, phone, wrong), "10.60.0.1")))
		}
		return out
	}
	gotKnown, gotUnknown := run(known), run(unknown)
	if ss.sms.last(known) == "" || ss.sms.last(unknown) != "" {
		t.Fatalf("codes texted: known %q, unknown %q", ss.sms.last(known), ss.sms.last(unknown))
	}
	if fmt.Sprint(gotKnown) != fmt.Sprint(gotUnknown) {
		t.Errorf("known and unknown numbers answered differently:\nknown   %v\nunknown %v", gotKnown, gotUnknown)
	}
	want := []int{202, 202, 202, 429, 401, 401, 401, 401, 401, 429}
	for i, a := range gotKnown {
		if a.status != want[i] {
			t.Errorf("answer %d: %d, want %d (%v)", i+1, a.status, want[i], gotKnown)
			break
		}
	}
}

// Over HTTP: a deactivated user's access token and refresh token stop
// working at once, and a refresh past the session's absolute lifetime is
// refused although the token has not expired.
func TestDeactivationAndSessionLifetimeOverHTTP(t *testing.T) {
	ss := newSignInServer(t, config.RateLimits{})
	ctx := context.Background()
	patient := testenv.NewPatient(t, ss.store, "Pune")
	get := func(token string) int {
		status, _, _ := get(t, ss.url+"/api/v1/patients/"+patient+"/journeys", token)
		return status
	}
	refresh := func(token string) reply {
		return ss.post(t, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode(), "10.70.0.1")
	}
	signIn := func(email, password string) (string, string) {
		r := ss.post(t, "/api/v1/auth/sign-in", signInBody(email, password), "10.70.0.1")
		if r.status != http.StatusOK {
			t.Fatalf("sign in: %d %v", r.status, r.body)
		}
		return r.body["access_token"].(string), r.body["refresh_token"].(string)
	}

	// A coordinator with no care team: the token passes (403 on the
	// patient), until the account is deactivated (401).
	email := ss.newUser(t, "right-pass-5", "")
	access, refreshToken := signIn(email, "right-pass-5")
	if status := get(access); status != http.StatusForbidden {
		t.Fatalf("before deactivation: %d, want 403 (signed in, no relation)", status)
	}
	if err := ss.auth.Deactivate(ctx, auth.DemoUserID(email)); err == nil {
		t.Fatal("deactivated a user by a made-up ID")
	}
	var id string
	if err := ss.store.Pool.QueryRow(ctx, `SELECT id::text FROM app_user WHERE email = $1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := ss.auth.Deactivate(ctx, id); err != nil {
		t.Fatal(err)
	}
	if status := get(access); status != http.StatusUnauthorized {
		t.Errorf("access token after deactivation: %d, want 401", status)
	}
	if r := refresh(refreshToken); r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
		t.Errorf("refresh after deactivation: %d %v", r.status, r.body)
	}

	// The absolute lifetime: rotated twice, then the sign-in is 31 days old.
	email = ss.newUser(t, "right-pass-6", "")
	_, refreshToken = signIn(email, "right-pass-6")
	for range 2 {
		r := refresh(refreshToken)
		if r.status != http.StatusOK {
			t.Fatalf("refresh: %d %v", r.status, r.body)
		}
		refreshToken = r.body["refresh_token"].(string)
	}
	if _, err := ss.store.Pool.Exec(ctx, `UPDATE refresh_token SET session_started_at = now() - interval '31 days'
		WHERE user_id = (SELECT id FROM app_user WHERE email = $1)`, email); err != nil {
		t.Fatal(err)
	}
	if r := refresh(refreshToken); r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
		t.Errorf("refresh after the session's lifetime: %d %v, want 400 invalid_grant", r.status, r.body)
	}
}
