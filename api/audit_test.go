package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// storeAPI is the API over PostgreSQL and the token service only: enough
// for the routes that never reach Temporal (records, consent, audit).
type storeAPI struct {
	srv   *httptest.Server
	store *store.Store
	auth  *auth.Service
}

func newStoreAPI(t *testing.T, s *store.Store, o api.Options) *storeAPI {
	t.Helper()
	a := testenv.Auth(t, testenv.Store(t))
	o.Store, o.Auth, o.Logger = s, a, testenv.Logger(t)
	srv := httptest.NewServer(api.NewRouter(o))
	t.Cleanup(srv.Close)
	return &storeAPI{srv: srv, store: s, auth: a}
}

// call sends a request with a token for role acting as subject ("" for
// none) and extra headers given as name, value pairs.
func (h *storeAPI) call(t *testing.T, method, path, body, role, subject string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if subject != "" {
		req.Header.Set("Authorization", "Bearer "+testenv.Token(t, h.auth, role, subject))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, raw := send(t, req)
	return resp.StatusCode, raw
}

type accessLog struct {
	Items []struct {
		Actor   string `json:"actor_id"`
		Role    string `json:"actor_role"`
		Action  string `json:"action"`
		Route   string `json:"route"`
		Outcome string `json:"outcome"`
		Purpose string `json:"purpose"`
		Reason  string `json:"reason"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func TestAccessLogShowsWhoAccessedAndWhy(t *testing.T) {
	s := testenv.Store(t)
	h := newStoreAPI(t, s, api.Options{})
	patient := testenv.NewPatient(t, s, "Testville")
	stranger, admin := uuid.NewString(), uuid.NewString()
	logPath := "/api/v1/patients/" + patient + "/access-log"

	// A doctor with no relation to the patient is refused, and that is recorded.
	if code, body := h.call(t, http.MethodGet, "/api/v1/patients/"+patient+"/journeys", "", auth.RoleDoctor, stranger); code != http.StatusForbidden {
		t.Fatalf("stranger doctor: %d %s", code, body)
	}
	// An admin reads the log, stating the purpose.
	if code, body := h.call(t, http.MethodGet, logPath, "", auth.RoleAdmin, admin, "X-Purpose-Of-Use", "HOPERAT"); code != http.StatusOK {
		t.Fatalf("admin: %d %s", code, body)
	}
	// An unknown purpose is refused, naming the header.
	code, body := h.call(t, http.MethodGet, logPath, "", auth.RoleAdmin, admin, "X-Purpose-Of-Use", "MARKETING")
	if code != http.StatusBadRequest || !strings.Contains(string(body), `"parameter":"X-Purpose-Of-Use"`) {
		t.Fatalf("bad purpose: %d %s", code, body)
	}
	// Another patient may not read this patient's log.
	other := testenv.NewPatient(t, s, "Testville")
	if code, _ := h.call(t, http.MethodGet, logPath, "", auth.RolePatient, other); code != http.StatusForbidden {
		t.Fatalf("other patient: %d", code)
	}

	code, body = h.call(t, http.MethodGet, logPath+"?limit=10", "", auth.RolePatient, patient)
	if code != http.StatusOK {
		t.Fatalf("patient: %d %s", code, body)
	}
	var got accessLog
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 3 {
		t.Fatalf("items = %+v, want the other patient's refusal, the admin read and the doctor's refusal (newest first)", got.Items)
	}
	o, a, d := got.Items[0], got.Items[1], got.Items[2]
	if o.Actor != other || o.Outcome != "denied" || o.Reason != "another patient's data" {
		t.Errorf("other patient event = %+v", o)
	}
	if a.Actor != admin || a.Role != "admin" || a.Action != "read" || a.Outcome != "success" || a.Purpose != "HOPERAT" ||
		a.Route != "GET /api/v1/patients/:id/access-log" || a.Reason != "admin" {
		t.Errorf("admin event = %+v", a)
	}
	if d.Actor != stranger || d.Role != "doctor" || d.Outcome != "denied" || d.Purpose != "TREAT" ||
		d.Route != "GET /api/v1/patients/:id/journeys" || d.Reason != "no appointment, consent or care team link" {
		t.Errorf("doctor event = %+v", d)
	}
	code, body = h.call(t, http.MethodGet, logPath+"?limit=1&cursor=bad", "", auth.RolePatient, patient)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "query:cursor") {
		t.Errorf("bad cursor: %d %s", code, body)
	}
}

// 1,000 concurrent audited requests: each appends exactly one event, and
// the shared chain stays valid with no gaps.
func TestThousandConcurrentAuditedRequestsLeaveAValidChain(t *testing.T) {
	s := testenv.Store(t)
	h := newStoreAPI(t, s, api.Options{})
	patient := testenv.NewPatient(t, s, "Testville")
	token := testenv.Token(t, h.auth, auth.RolePatient, patient)
	ctx := context.Background()
	before, err := s.AuditHeadNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50) // the clients' connections
	failures := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/api/v1/patients/"+patient+"/access-log?limit=1", nil)
			if err != nil {
				failures <- err.Error()
				return
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failures <- err.Error()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failures <- fmt.Sprint("status ", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Fatal(f)
	}
	var mine, seqs, minSeq, maxSeq int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE actor_id = $2), count(*), min(seq), max(seq)
		FROM audit_event WHERE seq > $1`, before.Seq, patient).Scan(&mine, &seqs, &minSeq, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if mine != n {
		t.Errorf("%d events by the patient, want %d", mine, n)
	}
	if maxSeq-minSeq+1 != seqs || minSeq != before.Seq+1 {
		t.Errorf("seq %d..%d holds %d rows after head %d: a gap", minSeq, maxSeq, seqs, before.Seq)
	}
	report, err := s.VerifyAudit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !report.Valid {
		t.Fatalf("chain broken: %+v", report.FirstBroken)
	}
}

// The admin endpoint checks the chain against the signed checkpoints and
// names the first broken row, or what is wrong with the checkpoints. It
// runs over a chain of the test's own (testenv.AuditSchema); the tampering
// uses the owner's connection, the verifying the API's store.
func TestAdminAuditVerifyNamesTheFirstBrokenRow(t *testing.T) {
	s := testenv.AuditSchema(t)
	owner := testenv.Owner(t, s).Pool // the application role may not tamper; the owner may
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	checkpoints := store.FileCheckpoints{Path: t.TempDir() + "/checkpoints.jsonl"}
	h := newStoreAPI(t, s, api.Options{AuditSettings: api.AuditOptions{Checkpoints: checkpoints,
		VerifyKey: key.Public().(ed25519.PublicKey), MaxAge: 2 * time.Minute}})
	patient := testenv.NewPatient(t, s, "Testville")
	admin := uuid.NewString()
	for i := 0; i < 4; i++ {
		if code, body := h.call(t, http.MethodGet, "/api/v1/patients/"+patient+"/access-log", "", auth.RolePatient, patient); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
	}
	ctx := context.Background()
	verify := func() store.AuditReport {
		t.Helper()
		code, body := h.call(t, http.MethodGet, "/api/v1/admin/audit/verify", "", auth.RoleAdmin, admin)
		if code != http.StatusOK {
			t.Fatalf("verify: %d %s", code, body)
		}
		var r store.AuditReport
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Rows but no checkpoint yet: not vouched for.
	if r := verify(); r.Valid || !strings.Contains(r.CheckpointProblem, "no checkpoint") {
		t.Fatalf("no checkpoint: %+v", r)
	}
	// A checkpoint from 3 minutes ago, over twice the interval: stale.
	stale := store.Checkpointer{Store: s, Out: checkpoints, Key: key, Now: func() time.Time { return time.Now().Add(-3 * time.Minute) }}
	if _, err := stale.Export(ctx); err != nil {
		t.Fatal(err)
	}
	if r := verify(); r.Valid || !strings.Contains(r.CheckpointProblem, "more than twice the export interval") {
		t.Fatalf("stale checkpoint: %+v", r)
	}
	if _, err := (store.Checkpointer{Store: s, Out: checkpoints, Key: key}).Export(ctx); err != nil {
		t.Fatal(err)
	}
	if r := verify(); !r.Valid || r.Rows != 4 || r.Checkpoints != 2 {
		t.Fatalf("report = %+v, want valid with 4 rows and 2 checkpoints", r)
	}
	if code, _ := h.call(t, http.MethodGet, "/api/v1/admin/audit/verify", "", auth.RolePatient, patient); code != http.StatusForbidden {
		t.Errorf("a patient verified the audit trail: %d", code)
	}
	for _, q := range []string{`ALTER TABLE audit_event DISABLE TRIGGER USER`, `UPDATE audit_event SET purpose = 'HRESCH' WHERE seq = 3`} {
		if _, err := owner.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	r := verify()
	if r.Valid || r.FirstBroken == nil || r.FirstBroken.Seq != 3 || !strings.Contains(r.FirstBroken.Problem, "fields do not match") {
		t.Fatalf("after changing row 3: %+v", r.FirstBroken)
	}
	if _, err := owner.Exec(ctx, `DELETE FROM audit_event WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	r = verify()
	if r.Valid || r.FirstBroken == nil || r.FirstBroken.Seq != 2 || !strings.Contains(r.FirstBroken.Problem, "row 2 is missing") {
		t.Fatalf("after deleting row 2: %+v", r.FirstBroken)
	}
	// Without a checkpoint store the endpoint cannot vouch for anything.
	bare := newStoreAPI(t, s, api.Options{})
	if code, body := bare.call(t, http.MethodGet, "/api/v1/admin/audit/verify", "", auth.RoleAdmin, admin); code != http.StatusServiceUnavailable {
		t.Fatalf("no checkpoint store: %d %s", code, body)
	}
}
