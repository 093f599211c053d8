package api_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// conventions is the real router over the test database and the dev
// server, on a task queue no worker polls: journeys start, and updates to
// them wait (which is how a request is kept in flight on purpose).
type conventions struct {
	srv      *httptest.Server
	store    *store.Store
	auth     *auth.Service
	temporal client.Client
}

func newConventions(t *testing.T, rl api.RateLimitOptions) *conventions {
	t.Helper()
	return newConventionsSealing(t, rl, testReplyKeys())
}

// testReplyKeys is the key ring the test routers seal idempotency replies
// with: one per test binary, so that a second router (a restarted API)
// opens what the first one sealed.
var testReplyKeys = sync.OnceValue(func() []codec.Key {
	k, err := codec.GenerateKey("test-replies")
	if err != nil {
		panic(err)
	}
	return []codec.Key{k}
})

// newConventionsSealing is newConventions with the idempotency replies
// sealed under keys (the first one active).
func newConventionsSealing(t *testing.T, rl api.RateLimitOptions, keys []codec.Key) *conventions {
	t.Helper()
	s := testenv.Store(t)
	a := testenv.Auth(t, s)
	cfg := testenv.Config(t)
	tc, err := client.Dial(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace})
	if err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	t.Cleanup(tc.Close)
	srv := httptest.NewServer(api.NewRouter(api.Options{Temporal: tc, Store: s, Health: healthyDeps{}, HealthTimeout: time.Second,
		TaskQueue: fmt.Sprintf("no-worker-%d", time.Now().UnixNano()), Logger: testenv.Logger(t), Pathways: testCatalog(t),
		Auth: a, RateLimit: rl, Idempotency: api.IdempotencyOptions{Keys: keys, ActiveKey: keys[0].ID()}}))
	t.Cleanup(srv.Close)
	return &conventions{srv: srv, store: s, auth: a, temporal: tc}
}

// newPatient registers a patient of the test's own, so that the journeys it
// starts never collide with another run's. Its journeys (episodes 1 to 3)
// are terminated when the test ends: no worker will ever run them.
func (cv *conventions) newPatient(t *testing.T) string {
	t.Helper()
	id := testenv.NewPatient(t, cv.store, "Pune")
	t.Cleanup(func() {
		for episode := 1; episode <= 3; episode++ {
			if ref, err := cv.store.JourneyRefByEpisode(context.Background(), id, "enrol-check", episode); err == nil {
				_ = cv.temporal.TerminateWorkflow(context.Background(), ref.WorkflowID, "", "test over")
			}
		}
	})
	return id
}

// testPhone is a random E.164 number, so that test records never share one
// (users' phones are unique).
func testPhone() string { return fmt.Sprintf("+1555%09d", rand.IntN(1_000_000_000)) }

type answer struct {
	status int
	header http.Header
	body   string
}

func (cv *conventions) send(t *testing.T, ctx context.Context, method, path, token, key, body string) (answer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, cv.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(raw)}, err
}

func (cv *conventions) post(t *testing.T, path, token, key, body string) answer {
	t.Helper()
	a, err := cv.send(t, context.Background(), http.MethodPost, path, token, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func startBody(patient string, episode int) string {
	return fmt.Sprintf(`{"patient_id":%q,"pathway_id":"enrol-check","episode":%d}`, patient, episode)
}

func TestIdempotencyReplaysTheFirstResponse(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	admin := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	patient := cv.newPatient(t)
	key := uuid.NewString()

	first := cv.post(t, "/api/v1/journeys", admin, key, startBody(patient, 1))
	if first.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again := cv.post(t, "/api/v1/journeys", admin, key, startBody(patient, 1))
	if again.status != first.status || again.body != first.body ||
		again.header.Get("Content-Type") != first.header.Get("Content-Type") || again.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("replay differs:\nfirst %d %v %s\nagain %d %v %s", first.status, first.header, first.body, again.status, again.header, again.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("Idempotent-Replayed: first %q, replay %q", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
	}
	// Another API process (a restart) replays it too: the key is in PostgreSQL.
	restarted := newConventions(t, api.RateLimitOptions{})
	if again := restarted.post(t, "/api/v1/journeys", admin, key, startBody(patient, 1)); again.status != first.status || again.body != first.body {
		t.Errorf("replay after a restart: %d %s", again.status, again.body)
	}
	// Without the key the same request runs again, and the journey exists.
	if dup := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, 1)); dup.status != http.StatusConflict {
		t.Errorf("without a key: %d %s, want 409 journey-exists", dup.status, dup.body)
	}

	// The same key with another body is refused, naming the header.
	other := cv.post(t, "/api/v1/journeys", admin, key, startBody(patient, 2))
	if other.status != http.StatusUnprocessableEntity || other.header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(other.body, "idempotency-key-reused") || !strings.Contains(other.body, `"parameter":"Idempotency-Key"`) {
		t.Errorf("same key, other body: %d %s", other.status, other.body)
	}
	// A key that is not printable ASCII is a bad header.
	if bad := cv.post(t, "/api/v1/journeys", admin, "key with spaces", startBody(patient, 3)); bad.status != http.StatusBadRequest ||
		!strings.Contains(bad.body, `"parameter":"Idempotency-Key"`) {
		t.Errorf("bad key: %d %s", bad.status, bad.body)
	}
}

func TestIdempotencyKeysAreScopedPerCaller(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	alice := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	bob := testenv.Token(t, cv.auth, auth.RoleCoordinator, uuid.NewString())
	admin2 := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	patient := cv.newPatient(t)
	key := "shared-key-" + uuid.NewString()

	if a := cv.post(t, "/api/v1/journeys", alice, key, startBody(patient, 1)); a.status != http.StatusAccepted {
		t.Fatalf("alice: %d %s", a.status, a.body)
	}
	// Another admin with the same key and another body is not refused as a
	// reused key: the key is theirs alone.
	if b := cv.post(t, "/api/v1/journeys", admin2, key, startBody(patient, 2)); b.status != http.StatusAccepted {
		t.Errorf("second admin, same key, own body: %d %s, want 202", b.status, b.body)
	}
	// Nor is the first caller's response replayed to someone else sending the
	// very same request: it runs, and finds the journey started.
	if c := cv.post(t, "/api/v1/journeys", admin2, "other-"+key, startBody(patient, 1)); c.status != http.StatusConflict {
		t.Errorf("same request, other caller: %d %s, want 409 journey-exists", c.status, c.body)
	}
	// The coordinator's key space is theirs too (the patient is not in their
	// care team, so the access layer refuses before any key is stored).
	if d := cv.post(t, "/api/v1/journeys", bob, key, startBody(patient, 1)); d.status != http.StatusForbidden {
		t.Errorf("coordinator: %d %s, want 403", d.status, d.body)
	}
}

// Many identical requests at once: exactly one runs; the others see it in
// flight (409) or, once it has finished, get its response replayed.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	admin := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	patient := cv.newPatient(t)
	key := uuid.NewString()
	const n = 8
	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := cv.send(t, context.Background(), http.MethodPost, "/api/v1/journeys", admin, key, startBody(patient, 1))
			if err != nil {
				t.Error(err)
			}
			answers[i] = a
		}()
	}
	close(start)
	wg.Wait()
	ran, replayed, inFlight := 0, 0, 0
	for _, a := range answers {
		switch {
		case a.status == http.StatusAccepted && a.header.Get("Idempotent-Replayed") == "":
			ran++
		case a.status == http.StatusAccepted:
			replayed++
		case a.status == http.StatusConflict && strings.Contains(a.body, "idempotency-key-in-flight"):
			inFlight++
		default:
			t.Errorf("unexpected answer %d %s", a.status, a.body)
		}
	}
	if ran != 1 || ran+replayed+inFlight != n {
		t.Errorf("ran %d, replayed %d, in flight %d; want exactly one run", ran, replayed, inFlight)
	}
}

// A request held in flight (its journey has no worker to answer the
// update) makes a duplicate get 409; once it fails, the key is released.
func TestIdempotencyDuplicateWhileInFlightGets409(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	admin := testenv.Token(t, cv.auth, auth.RoleAdmin, uuid.NewString())
	patient := cv.newPatient(t)
	if a := cv.post(t, "/api/v1/journeys", admin, "", startBody(patient, 1)); a.status != http.StatusAccepted {
		t.Fatalf("start: %d %s", a.status, a.body)
	}
	path := "/api/v1/journeys/" + testenv.JourneyID(t, cv.store, patient, "enrol-check", 1) + "/cancel"
	key := uuid.NewString()
	ctx, cancel := context.WithCancel(context.Background())
	firstDone := make(chan answer, 1)
	go func() {
		a, _ := cv.send(t, ctx, http.MethodPost, path, admin, key, `{"reason":"test"}`)
		firstDone <- a
	}()
	waitForKey(t, cv.store, key, true)
	dup := cv.post(t, path, admin, key, `{"reason":"test"}`)
	if dup.status != http.StatusConflict || !strings.Contains(dup.body, "idempotency-key-in-flight") || dup.header.Get("Retry-After") == "" {
		t.Errorf("duplicate in flight: %d %v %s", dup.status, dup.header, dup.body)
	}
	select {
	case a := <-firstDone:
		t.Fatalf("the first request finished early: %d %s", a.status, a.body)
	default:
	}
	cancel() // the client gives up: the API's update call fails and releases the key
	<-firstDone
	waitForKey(t, cv.store, key, false)
}

// waitForKey waits until the key is claimed (present) or released.
func waitForKey(t *testing.T, s *store.Store, key string, present bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_key WHERE key = $1`, key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 1) == present {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("key %s: present=%v never came", key, present)
}

// A stored reply holds no plaintext of the response, replays as it was
// sent, and is refused (without running the request again) when its row
// is altered, moved under another key, or sealed under a key the API does
// not hold. Nothing can store a finished reply unsealed.
func TestIdempotencyRepliesAreSealed(t *testing.T) {
	cv := newConventions(t, api.RateLimitOptions{})
	ctx := context.Background()
	patient := testenv.NewPatient(t, cv.store, "Pune")
	token := testenv.Token(t, cv.auth, auth.RolePatient, patient)
	marker := "sealed-marker-" + uuid.NewString()
	path := "/api/v1/patients/" + patient + "/records"
	body := `{"kind":"condition","date":"2024-03-01","code_system":"http://hl7.org/fhir/sid/icd-10","code":"I10",` +
		`"display":"Essential hypertension","note":"` + marker + `"}`
	scope := auth.RolePatient + ":" + patient
	records := func() int {
		var n int
		if err := cv.store.Pool.QueryRow(ctx, `SELECT count(*) FROM health_record WHERE patient_id = $1`, patient).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	keyA, keyB := uuid.NewString(), uuid.NewString()
	first := cv.post(t, path, token, keyA, body)
	if first.status != http.StatusCreated || !strings.Contains(first.body, marker) || first.header.Get("Location") == "" {
		t.Fatalf("first: %d %v %s", first.status, first.header, first.body)
	}
	recordID := strings.TrimPrefix(first.header.Get("Location"), path+"/")

	// The row holds neither the note, nor the record's ID, in any column.
	var stored []byte
	var keyID string
	if err := cv.store.Pool.QueryRow(ctx, `SELECT body, reply_key_id FROM idempotency_key WHERE scope = $1 AND key = $2`,
		scope, keyA).Scan(&stored, &keyID); err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 || keyID != testReplyKeys()[0].ID() {
		t.Fatalf("stored reply: %d bytes under key %q", len(stored), keyID)
	}
	for _, secret := range []string{marker, recordID} {
		var hits int
		if err := cv.store.Pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_key k WHERE scope = $1 AND key = $2
			AND (position(convert_to($3, 'UTF8') IN k.body) > 0 OR k::text LIKE '%' || $3 || '%')`,
			scope, keyA, secret).Scan(&hits); err != nil {
			t.Fatal(err)
		}
		if hits != 0 || strings.Contains(string(stored), secret) {
			t.Errorf("the stored row holds %q in the clear", secret)
		}
	}

	// A replay still answers the first response.
	again := cv.post(t, path, token, keyA, body)
	if again.status != first.status || again.body != first.body || again.header.Get("Location") != first.header.Get("Location") ||
		again.header.Get("Content-Type") != first.header.Get("Content-Type") || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay differs:\nfirst %d %v %s\nagain %d %v %s", first.status, first.header, first.body, again.status, again.header, again.body)
	}
	if n := records(); n != 1 {
		t.Fatalf("%d records after a replay, want 1", n)
	}

	// A reply copied under another key (same caller, same request) does not open.
	if b := cv.post(t, path, token, keyB, body); b.status != http.StatusCreated {
		t.Fatalf("second key: %d %s", b.status, b.body)
	}
	if _, err := cv.store.Pool.Exec(ctx, `UPDATE idempotency_key SET body = a.body, reply_key_id = a.reply_key_id
		FROM idempotency_key a WHERE a.scope = $1 AND a.key = $2 AND idempotency_key.scope = $1 AND idempotency_key.key = $3`,
		scope, keyA, keyB); err != nil {
		t.Fatal(err)
	}
	refused := func(name, key string) {
		t.Helper()
		a := cv.post(t, path, token, key, body)
		if a.status != http.StatusConflict || strings.Contains(a.body, marker) || a.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("%s: %d %v %s, want 409 without the reply", name, a.status, a.header, a.body)
		}
	}
	refused("reply moved to another key", keyB)

	// Nor does one with a byte changed, or with its status changed.
	if _, err := cv.store.Pool.Exec(ctx, `UPDATE idempotency_key SET body = set_byte(body, 20, get_byte(body, 20) # 1)
		WHERE scope = $1 AND key = $2`, scope, keyA); err != nil {
		t.Fatal(err)
	}
	refused("altered reply", keyA)
	keyC := uuid.NewString()
	if c := cv.post(t, path, token, keyC, body); c.status != http.StatusCreated {
		t.Fatalf("third key: %d %s", c.status, c.body)
	}
	if _, err := cv.store.Pool.Exec(ctx, `UPDATE idempotency_key SET status = 200 WHERE scope = $1 AND key = $2`, scope, keyC); err != nil {
		t.Fatal(err)
	}
	refused("status changed", keyC)

	// An API holding other keys cannot open it either.
	keyD := uuid.NewString()
	if d := cv.post(t, path, token, keyD, body); d.status != http.StatusCreated {
		t.Fatalf("fourth key: %d %s", d.status, d.body)
	}
	other, err := codec.GenerateKey("other-replies")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := newConventionsSealing(t, api.RateLimitOptions{}, []codec.Key{other})
	if a := elsewhere.post(t, path, token, keyD, body); a.status != http.StatusConflict || strings.Contains(a.body, marker) {
		t.Errorf("reply sealed under a key the API lacks: %d %s, want 409", a.status, a.body)
	}
	// None of the refusals ran the request again.
	if n := records(); n != 4 {
		t.Errorf("%d records, want 4 (one per key)", n)
	}

	// A finished reply cannot be stored unsealed (the rows kept before
	// sealing were deleted by migration 0019, as if they had expired).
	_, err = cv.store.Pool.Exec(ctx, `INSERT INTO idempotency_key (scope, key, request_hash, status, body, locked_until, expires_at)
		VALUES ($1, $2, '\x00', 201, convert_to($3, 'UTF8'), now(), now() + interval '1 day')`, scope, uuid.NewString(), marker)
	if err == nil || !strings.Contains(err.Error(), "idempotency_key_reply_sealed") {
		t.Errorf("an unsealed reply was stored: %v", err)
	}
}
