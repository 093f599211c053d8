package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// These tests drive the codec endpoints through the real router, with the
// real token service and an audit chain of the test's own
// (testenv.AuditSchema): they need the local stack's PostgreSQL.

const (
	uiOrigin   = "http://127.0.0.1:8233"
	secretName = "Meera Krishnan"
)

type patientCard struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

func testCodec(t *testing.T, id string) *codec.Codec {
	t.Helper()
	k, err := codec.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New([]codec.Key{k}, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// codecWorld is the router with the codec endpoints, the token service
// that mints the callers' tokens, and the audit chain decodes go to.
type codecWorld struct {
	h     http.Handler
	store *store.Store
	auth  *auth.Service
}

func newCodecWorld(t *testing.T, o api.CodecOptions) *codecWorld {
	t.Helper()
	if o.UIOrigins == nil {
		o.UIOrigins = []string{uiOrigin}
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	s := testenv.AuditSchema(t)
	a := testenv.Auth(t, testenv.Store(t))
	return &codecWorld{store: s, auth: a,
		h: api.NewRouter(api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Codec: o, Store: s, Auth: a})}
}

// bearer is an Authorization header for a new user with role; it returns
// the user's ID too.
func (w *codecWorld) bearer(t *testing.T, role string) (string, string) {
	t.Helper()
	id := uuid.NewString()
	return "Bearer " + testenv.Token(t, w.auth, role, id), id
}

type codecAuditRow struct {
	Actor, Role, Action, Route, Outcome, Purpose, Reason string
	Status                                               int
}

// auditRows reads the test's chain, oldest first, and checks it is sound.
func (w *codecWorld) auditRows(t *testing.T) []codecAuditRow {
	t.Helper()
	ctx := context.Background()
	rows, err := w.store.Pool.Query(ctx, `SELECT actor_id, actor_role, action, route, outcome, purpose, reason, status
		FROM audit_event ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []codecAuditRow
	for rows.Next() {
		var r codecAuditRow
		if err := rows.Scan(&r.Actor, &r.Role, &r.Action, &r.Route, &r.Outcome, &r.Purpose, &r.Reason, &r.Status); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if rep, err := w.store.VerifyAudit(ctx, nil); err != nil || !rep.Valid {
		t.Fatalf("audit chain: %v %+v", err, rep.FirstBroken)
	}
	return out
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type codecCall struct {
	method, path, body, remote string
	headers                    map[string]string
}

func (cc codecCall) do(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	if cc.method == "" {
		cc.method = http.MethodPost
	}
	req := httptest.NewRequest(cc.method, cc.path, strings.NewReader(cc.body))
	req.RemoteAddr = "127.0.0.1:50000"
	if cc.remote != "" {
		req.RemoteAddr = cc.remote
	}
	if cc.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cc.headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodePayloads(t *testing.T, body []byte) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	if err := protojson.Unmarshal(body, &ps); err != nil {
		t.Fatalf("response is not Payloads JSON: %v\n%s", err, body)
	}
	return ps.Payloads
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) api.Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, rec.Body)
	}
	var p api.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// A coordinator encodes and decodes; the decode, and only the decode, is
// in the audit trail with who asked, the namespace and the workflow.
func TestCodecRoundTripsForACoordinatorAndAuditsTheDecode(t *testing.T) {
	c := testCodec(t, "k1")
	w := newCodecWorld(t, api.CodecOptions{Codec: c})
	authz, coordinator := w.bearer(t, auth.RoleCoordinator)
	headers := map[string]string{"Authorization": authz, "Origin": uiOrigin, "X-Namespace": "default"}
	plain, err := converter.GetDefaultDataConverter().ToPayload(patientCard{Name: secretName, State: "awaiting payment"})
	if err != nil {
		t.Fatal(err)
	}

	rec := codecCall{path: "/api/codec/encode", body: payloadsJSON(t, plain), headers: headers}.do(t, w.h)
	if rec.Code != http.StatusOK {
		t.Fatalf("encode: %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("encode: Access-Control-Allow-Origin = %q, want %q", got, uiOrigin)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if strings.Contains(rec.Body.String(), "Meera") || bytes.Contains(rec.Body.Bytes(), []byte("TWVlcmE")) {
		t.Fatal("encode answered the plaintext")
	}
	enc := decodePayloads(t, rec.Body.Bytes())
	if len(enc) != 1 || string(enc[0].Metadata["encoding"]) != codec.EncodingEncrypted || string(enc[0].Metadata[codec.MetadataKeyID]) != "k1" {
		t.Fatalf("encode: got %v", enc)
	}
	if rows := w.auditRows(t); len(rows) != 0 {
		t.Fatalf("an encode was audited: %+v", rows)
	}

	rec = codecCall{path: "/api/codec/decode", body: rec.Body.String(), headers: headers}.do(t, w.h)
	if rec.Code != http.StatusOK {
		t.Fatalf("decode: %d %s", rec.Code, rec.Body)
	}
	var back patientCard
	if err := converter.GetDefaultDataConverter().FromPayload(decodePayloads(t, rec.Body.Bytes())[0], &back); err != nil {
		t.Fatal(err)
	}
	if back.Name != secretName || back.State != "awaiting payment" {
		t.Fatalf("decode: got %+v", back)
	}
	// The CLI can name the workflow (--codec-header X-Workflow-Id=...).
	headers["X-Workflow-Id"] = "journey-0f3c"
	adminAuthz, admin := w.bearer(t, auth.RoleAdmin)
	headers["Authorization"] = adminAuthz
	if rec := (codecCall{path: "/api/codec/decode", body: payloadsJSON(t, enc...), headers: headers}).do(t, w.h); rec.Code != http.StatusOK {
		t.Fatalf("admin decode: %d %s", rec.Code, rec.Body)
	}

	rows := w.auditRows(t)
	if len(rows) != 2 {
		t.Fatalf("audit rows = %+v, want one per decode", rows)
	}
	want := codecAuditRow{Actor: coordinator, Role: auth.RoleCoordinator, Action: "read", Route: "POST /api/codec/decode",
		Outcome: "success", Purpose: "CAREMGT", Status: 200,
		Reason: `codec decode: namespace "default", 1 payloads, workflow not named by the caller`}
	if rows[0] != want {
		t.Errorf("coordinator's decode audited as %+v, want %+v", rows[0], want)
	}
	if r := rows[1]; r.Actor != admin || r.Role != auth.RoleAdmin || r.Outcome != "success" ||
		r.Reason != `codec decode: namespace "default", 1 payloads, workflow "journey-0f3c"` {
		t.Errorf("admin's decode audited as %+v", r)
	}
	for _, r := range rows {
		if strings.Contains(r.Reason, "Meera") {
			t.Fatal("the audit trail holds plaintext")
		}
	}
}

// Only coordinators and admins decode: other roles get 403 (and the
// attempt is audited), no or a bad token 401, and none sees plaintext.
func TestCodecRefusesOtherRolesAndMissingTokens(t *testing.T) {
	c := testCodec(t, "k1")
	w := newCodecWorld(t, api.CodecOptions{Codec: c})
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"` + secretName + `"`)}})
	if err != nil {
		t.Fatal(err)
	}
	body := payloadsJSON(t, enc...)
	coordinator, _ := w.bearer(t, auth.RoleCoordinator)
	coordinatorToken := strings.TrimPrefix(coordinator, "Bearer ")
	var refused []string
	for _, role := range []string{auth.RolePatient, auth.RoleDoctor, auth.RoleDietitian, auth.RolePharmacist, auth.RoleIntegrator} {
		t.Run(role, func(t *testing.T) {
			authz, id := w.bearer(t, role)
			for _, path := range []string{"/api/codec/decode", "/api/codec/encode"} {
				rec := codecCall{path: path, body: body, headers: map[string]string{"Authorization": authz}}.do(t, w.h)
				if rec.Code != http.StatusForbidden {
					t.Fatalf("%s: status %d, want 403; body %s", path, rec.Code, rec.Body)
				}
				if strings.Contains(rec.Body.String(), "Meera") {
					t.Fatal("a refused request got the plaintext")
				}
			}
			refused = append(refused, id)
		})
	}
	for name, authz := range map[string]string{
		"none":          "",
		"invalid token": "Bearer not-a-token",
		"wrong scheme":  "Basic " + coordinatorToken,
		"token only":    coordinatorToken,
		"token + extra": coordinator + "x",
	} {
		t.Run(name, func(t *testing.T) {
			headers := map[string]string{}
			if authz != "" {
				headers["Authorization"] = authz
			}
			// From loopback: without OpenOnLoopback that opens nothing.
			rec := codecCall{path: "/api/codec/decode", body: body, headers: headers}.do(t, w.h)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
			}
			if p := problemOf(t, rec); !strings.HasSuffix(p.Type, "/unauthorized") {
				t.Errorf("problem type %q", p.Type)
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
			if strings.Contains(rec.Body.String(), "Meera") {
				t.Error("a refused request got the plaintext")
			}
		})
	}
	// Each refused decode by a signed-in user is in the trail; tokenless
	// and invalid attempts name nobody and are only logged.
	rows := w.auditRows(t)
	if len(rows) != len(refused) {
		t.Fatalf("audit rows = %+v, want one refused decode per role", rows)
	}
	for i, r := range rows {
		if r.Actor != refused[i] || r.Outcome != "denied" || r.Status != 403 || r.Route != "POST /api/codec/decode" {
			t.Errorf("refused decode %d audited as %+v", i, r)
		}
	}
	// Case-insensitive scheme, per RFC 9110.
	rec := codecCall{path: "/api/codec/decode", body: body, headers: map[string]string{"Authorization": "bearer " + coordinatorToken}}.do(t, w.h)
	if rec.Code != http.StatusOK {
		t.Fatalf("lower-case bearer: %d %s", rec.Code, rec.Body)
	}
}

// On the local stack the dev server's UI, which cannot sign in, decodes
// from loopback; it is audited, and a token it does send is checked.
func TestCodecLocalLoopbackWithoutAToken(t *testing.T) {
	c := testCodec(t, "k1")
	body := payloadsJSON(t, &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`1`)})
	local := newCodecWorld(t, api.CodecOptions{Codec: c, OpenOnLoopback: true})
	enc := codecCall{path: "/api/codec/encode", body: body}.do(t, local.h)
	if enc.Code != http.StatusOK {
		t.Fatalf("local, loopback caller: %d %s", enc.Code, enc.Body)
	}
	if rec := (codecCall{path: "/api/codec/decode", body: enc.Body.String()}).do(t, local.h); rec.Code != http.StatusOK {
		t.Fatalf("local, loopback decode: %d %s", rec.Code, rec.Body)
	}
	if rows := local.auditRows(t); len(rows) != 1 || rows[0].Actor != "local-loopback" || rows[0].Outcome != "success" {
		t.Fatalf("loopback decode audited as %+v", rows)
	}
	// Forwarding headers are the caller's own words; the connection counts.
	rec := codecCall{path: "/api/codec/decode", body: enc.Body.String(), remote: "192.0.2.7:40000",
		headers: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}}.do(t, local.h)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("local, remote caller: %d, want 401", rec.Code)
	}
	patient, _ := local.bearer(t, auth.RolePatient)
	rec = codecCall{path: "/api/codec/decode", body: enc.Body.String(), headers: map[string]string{"Authorization": patient}}.do(t, local.h)
	if rec.Code != http.StatusForbidden {
		t.Errorf("local, loopback patient token: %d, want 403", rec.Code)
	}
}

// Without the codec, or without an audit trail to record decodes in, the
// endpoints answer 503 and decode nothing.
func TestCodecUnavailableWithoutCodecOrAuditTrail(t *testing.T) {
	a := testenv.Auth(t, testenv.Store(t))
	authz := "Bearer " + testenv.Token(t, a, auth.RoleCoordinator, uuid.NewString())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	body := payloadsJSON(t, &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`1`)})
	off := api.NewRouter(api.Options{Logger: logger, Auth: a, Store: testenv.Store(t), Codec: api.CodecOptions{Namespace: "default"}})
	if rec := (codecCall{path: "/api/codec/decode", body: body, headers: map[string]string{"Authorization": authz}}).do(t, off); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no codec: %d, want 503", rec.Code)
	}
	noAudit := api.NewRouter(api.Options{Logger: logger, Auth: a, Codec: api.CodecOptions{Codec: testCodec(t, "k1"), Namespace: "default"}})
	if rec := (codecCall{path: "/api/codec/decode", body: body, headers: map[string]string{"Authorization": authz}}).do(t, noAudit); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no audit trail: %d, want 503", rec.Code)
	}
}

func TestCodecAnswersTheUIsPreflightOnly(t *testing.T) {
	w := newCodecWorld(t, api.CodecOptions{Codec: testCodec(t, "k1")})
	h := w.h
	coordinator, _ := w.bearer(t, auth.RoleCoordinator)
	for _, path := range []string{"/api/codec/encode", "/api/codec/decode"} {
		rec := codecCall{method: http.MethodOptions, path: path, headers: map[string]string{
			"Origin": uiOrigin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type,x-namespace,authorization",
		}}.do(t, h)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("%s preflight: %d %s", path, rec.Code, rec.Body)
		}
		hd := rec.Header()
		if hd.Get("Access-Control-Allow-Origin") != uiOrigin || hd.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("%s preflight headers: %v", path, hd)
		}
		for _, want := range []string{"Content-Type", "X-Namespace", "Authorization"} {
			if !strings.Contains(hd.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("%s preflight does not allow %s: %q", path, want, hd.Get("Access-Control-Allow-Headers"))
			}
		}
		if !strings.Contains(hd.Get("Vary"), "Origin") {
			t.Errorf("%s preflight: Vary = %q", path, hd.Get("Vary"))
		}
	}
	rec := codecCall{method: http.MethodOptions, path: "/api/codec/decode", headers: map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}}.do(t, h)
	if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin preflight: %d, ACAO %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	// A foreign origin's POST gets no CORS grant, so its page cannot read
	// the answer even if the caller holds the token.
	rec = codecCall{path: "/api/codec/encode", body: `{"payloads":[]}`, headers: map[string]string{
		"Origin": "https://evil.example", "Authorization": coordinator}}.do(t, h)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin POST got ACAO %q", rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

func TestCodecOptionsFromConfigAllowBothLoopbackSpellingsOfTheUI(t *testing.T) {
	o := api.CodecOptionsFromConfig(config.Config{Env: "local", TemporalUIURL: "http://127.0.0.1:8233", TemporalNamespace: "default"}, nil)
	if strings.Join(o.UIOrigins, " ") != "http://127.0.0.1:8233 http://localhost:8233" || !o.OpenOnLoopback || o.Namespace != "default" {
		t.Fatalf("got %+v", o)
	}
	if o := api.CodecOptionsFromConfig(config.Config{Env: "production", TemporalUIURL: "https://temporal.example.org"}, nil); o.OpenOnLoopback ||
		strings.Join(o.UIOrigins, " ") != "https://temporal.example.org" {
		t.Fatalf("production: got %+v", o)
	}
}

func TestCodecRejectsBadRequests(t *testing.T) {
	c := testCodec(t, "k1")
	w := newCodecWorld(t, api.CodecOptions{Codec: c})
	h := w.h
	authz, _ := w.bearer(t, auth.RoleCoordinator)
	other, err := testCodec(t, "retired").Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		path, body string
		headers    map[string]string
		status     int
		detail     string
	}{
		"not JSON":        {"/api/codec/decode", "payloads please", nil, 400, "protobuf JSON"},
		"wrong type":      {"/api/codec/decode", `{"payloads":{"a":1}}`, nil, 400, "protobuf JSON"},
		"text/plain":      {"/api/codec/decode", `{"payloads":[]}`, map[string]string{"Content-Type": "text/plain"}, 400, "application/json"},
		"other namespace": {"/api/codec/decode", `{"payloads":[]}`, map[string]string{"X-Namespace": "billing"}, 403, `"default"`},
		"unknown key":     {"/api/codec/decode", payloadsJSON(t, other...), nil, 400, `"retired"`},
	} {
		t.Run(name, func(t *testing.T) {
			headers := map[string]string{"Authorization": authz}
			for k, v := range tc.headers {
				headers[k] = v
			}
			rec := codecCall{path: tc.path, body: tc.body, headers: headers}.do(t, h)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; %s", rec.Code, tc.status, rec.Body)
			}
			if p := problemOf(t, rec); !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %s", p.Detail, tc.detail)
			}
		})
	}
	// Only the request that reached the keys was a decode attempt: it is
	// audited as a failure.
	rows := w.auditRows(t)
	if len(rows) != 1 || rows[0].Outcome != "failure" || rows[0].Status != 400 ||
		!strings.HasPrefix(rows[0].Reason, `codec decode: namespace "default", 1 payloads`) {
		t.Fatalf("audit rows = %+v, want the failed decode", rows)
	}
}

func TestCodecTakesWholePayloadsAndTemporalsOwnClient(t *testing.T) {
	c := testCodec(t, "k1")
	w := newCodecWorld(t, api.CodecOptions{Codec: c})
	authz, _ := w.bearer(t, auth.RoleCoordinator)
	srv := httptest.NewServer(w.h)
	t.Cleanup(srv.Close)
	// Temporal's own remote codec client (what tctl-style tools use) speaks
	// the protocol against this server.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: srv.URL + "/api/codec",
		ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", authz)
			return nil
		},
	})
	// 1 MiB: far above the 64 KiB limit of the other routes.
	big := patientCard{Name: secretName, State: strings.Repeat("x", 1<<20)}
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), remote)
	p, err := dc.ToPayload(big)
	if err != nil {
		t.Fatalf("remote encode: %v", err)
	}
	if string(p.Metadata[codec.MetadataKeyID]) != "k1" {
		t.Fatalf("remote encode did not encrypt: %v", p.Metadata)
	}
	// What the remote codec encrypted, the local codec reads, and back.
	var back patientCard
	if err := c.DataConverter().FromPayload(p, &back); err != nil || back.Name != secretName {
		t.Fatalf("local decode of remote ciphertext: %v %+v", err, back.Name)
	}
	local, err := c.DataConverter().ToPayload(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.FromPayload(local, &back); err != nil || back.Name != secretName || len(back.State) != 1<<20 {
		t.Fatalf("remote decode: %v", err)
	}
}
