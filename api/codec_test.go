package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
)

// These tests drive the codec endpoints through the real router; the codec
// needs no service, so they run without the local stack.

const (
	uiOrigin   = "http://127.0.0.1:8233"
	codecToken = "coordinator-token-for-tests"
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

func codecRouter(t *testing.T, o api.CodecOptions) http.Handler {
	t.Helper()
	if o.UIOrigins == nil {
		o.UIOrigins = []string{uiOrigin}
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	return api.NewRouter(api.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Codec: o})
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

func TestCodecEndpointsRoundTripWithTheToken(t *testing.T) {
	c := testCodec(t, "k1")
	h := codecRouter(t, api.CodecOptions{Codec: c, Token: codecToken})
	auth := map[string]string{"Authorization": "Bearer " + codecToken, "Origin": uiOrigin, "X-Namespace": "default"}
	plain, err := converter.GetDefaultDataConverter().ToPayload(patientCard{Name: secretName, State: "awaiting payment"})
	if err != nil {
		t.Fatal(err)
	}

	rec := codecCall{path: "/api/codec/encode", body: payloadsJSON(t, plain), headers: auth}.do(t, h)
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

	rec = codecCall{path: "/api/codec/decode", body: rec.Body.String(), headers: auth}.do(t, h)
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
}

func TestCodecRefusesWithoutOrWithAWrongToken(t *testing.T) {
	c := testCodec(t, "k1")
	h := codecRouter(t, api.CodecOptions{Codec: c, Token: codecToken, OpenOnLoopback: true})
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"` + secretName + `"`)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, authz := range map[string]string{
		// A configured token is required even from loopback.
		"none":          "",
		"wrong token":   "Bearer not-the-token",
		"wrong scheme":  "Basic " + codecToken,
		"token only":    codecToken,
		"token + extra": "Bearer " + codecToken + "x",
	} {
		t.Run(name, func(t *testing.T) {
			headers := map[string]string{}
			if authz != "" {
				headers["Authorization"] = authz
			}
			rec := codecCall{path: "/api/codec/decode", body: payloadsJSON(t, enc...), headers: headers}.do(t, h)
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
	// Case-insensitive scheme, per RFC 9110.
	rec := codecCall{path: "/api/codec/decode", body: payloadsJSON(t, enc...), headers: map[string]string{"Authorization": "bearer " + codecToken}}.do(t, h)
	if rec.Code != http.StatusOK {
		t.Fatalf("lower-case bearer: %d %s", rec.Code, rec.Body)
	}
}

func TestCodecWithoutATokenConfigured(t *testing.T) {
	c := testCodec(t, "k1")
	body := payloadsJSON(t, &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`1`)})
	local := codecRouter(t, api.CodecOptions{Codec: c, OpenOnLoopback: true})
	if rec := (codecCall{path: "/api/codec/encode", body: body}).do(t, local); rec.Code != http.StatusOK {
		t.Errorf("local, loopback caller: %d %s", rec.Code, rec.Body)
	}
	// Forwarding headers are the caller's own words; the connection counts.
	rec := codecCall{path: "/api/codec/encode", body: body, remote: "192.0.2.7:40000",
		headers: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}}.do(t, local)
	if rec.Code != http.StatusForbidden {
		t.Errorf("local, remote caller: %d, want 403", rec.Code)
	}
	closed := codecRouter(t, api.CodecOptions{Codec: c})
	if rec := (codecCall{path: "/api/codec/encode", body: body}).do(t, closed); rec.Code != http.StatusForbidden {
		t.Errorf("not local, no token: %d, want 403", rec.Code)
	}
	off := codecRouter(t, api.CodecOptions{Token: codecToken})
	rec = codecCall{path: "/api/codec/decode", body: body, headers: map[string]string{"Authorization": "Bearer " + codecToken}}.do(t, off)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no codec: %d, want 503", rec.Code)
	}
}

func TestCodecAnswersTheUIsPreflightOnly(t *testing.T) {
	h := codecRouter(t, api.CodecOptions{Codec: testCodec(t, "k1"), Token: codecToken})
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
		"Origin": "https://evil.example", "Authorization": "Bearer " + codecToken}}.do(t, h)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin POST got ACAO %q", rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

func TestCodecOptionsFromConfigAllowBothLoopbackSpellingsOfTheUI(t *testing.T) {
	o := api.CodecOptionsFromConfig(config.Config{Env: "local", TemporalUIURL: "http://127.0.0.1:8233", TemporalNamespace: "default", CodecToken: "t"}, nil)
	if strings.Join(o.UIOrigins, " ") != "http://127.0.0.1:8233 http://localhost:8233" || !o.OpenOnLoopback || o.Token != "t" || o.Namespace != "default" {
		t.Fatalf("got %+v", o)
	}
	if o := api.CodecOptionsFromConfig(config.Config{Env: "production", TemporalUIURL: "https://temporal.example.org"}, nil); o.OpenOnLoopback ||
		strings.Join(o.UIOrigins, " ") != "https://temporal.example.org" {
		t.Fatalf("production: got %+v", o)
	}
}

func TestCodecRejectsBadRequests(t *testing.T) {
	c := testCodec(t, "k1")
	h := codecRouter(t, api.CodecOptions{Codec: c, Token: codecToken})
	auth := "Bearer " + codecToken
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
			headers := map[string]string{"Authorization": auth}
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
}

func TestCodecTakesWholePayloadsAndTemporalsOwnClient(t *testing.T) {
	c := testCodec(t, "k1")
	srv := httptest.NewServer(codecRouter(t, api.CodecOptions{Codec: c, Token: codecToken}))
	t.Cleanup(srv.Close)
	// Temporal's own remote codec client (what tctl-style tools use) speaks
	// the protocol against this server.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: srv.URL + "/api/codec",
		ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+codecToken)
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
