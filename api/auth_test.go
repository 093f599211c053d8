package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// TestSignInRefreshAndClientCredentialsOverHTTP walks the public identity
// routes as a client would: sign in, call a protected route, refresh, reuse
// the old refresh token, and get an integrator token.
func TestSignInRefreshAndClientCredentialsOverHTTP(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	a := testenv.Auth(t, s)
	srv := httptest.NewServer(api.NewRouter(api.Options{Logger: testenv.Logger(t), Store: s, Auth: a}))
	t.Cleanup(srv.Close)

	patient := store.SeedPatientID(5)
	email := "http-" + uuid.NewString() + "@test.invalid"
	// A coordinator with no care team: signs in, but sees no patient.
	if _, err := a.UpsertUser(ctx, auth.NewUser{Email: email, Password: "pass-word-1", Role: auth.RoleCoordinator}); err != nil {
		t.Fatal(err)
	}
	send := func(method, path, contentType, body, bearer string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode, out
	}

	if code, body := send("POST", "/api/v1/auth/sign-in", "application/json", `{"email":"`+email+`","password":"nope"}`, ""); code != 401 {
		t.Errorf("wrong password: %d %v", code, body)
	}
	if code, body := send("POST", "/api/v1/auth/sign-in", "application/json", `{"email":"`+email+`"}`, ""); code != 422 {
		t.Errorf("no password: %d %v", code, body)
	}
	code, tokens := send("POST", "/api/v1/auth/sign-in", "application/json", `{"email":"`+email+`","password":"pass-word-1"}`, "")
	if code != 200 || tokens["token_type"] != "Bearer" || tokens["refresh_token"] == "" {
		t.Fatalf("sign in: %d %v", code, tokens)
	}
	access, _ := tokens["access_token"].(string)
	refresh, _ := tokens["refresh_token"].(string)
	// A coordinator with no care team is refused the patient's journeys.
	if code, body := send("GET", "/api/v1/patients/"+patient+"/journeys", "", "", access); code != 403 {
		t.Errorf("coordinator without a team: %d %v", code, body)
	}
	if code, _ := send("GET", "/api/v1/patients/"+patient+"/journeys", "", "", access+"x"); code != 401 {
		t.Errorf("tampered token: %d", code)
	}

	form := func(v url.Values) string { return v.Encode() }
	code, next := send("POST", "/oauth/token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), "")
	if code != 200 || next["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %v", code, next)
	}
	if code, body := send("POST", "/oauth/token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), ""); code != 400 || body["error"] != "invalid_grant" {
		t.Errorf("reused refresh token: %d %v", code, body)
	}
	if code, body := send("POST", "/oauth/token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"password"}}), ""); code != 400 || body["error"] != "unsupported_grant_type" {
		t.Errorf("password grant: %d %v", code, body)
	}

	client := "http-client-" + uuid.NewString()
	if err := a.UpsertClient(ctx, client, "HTTP test", "top-secret", []string{auth.ScopeKnowledgeRead}); err != nil {
		t.Fatal(err)
	}
	if code, body := send("POST", "/oauth/token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {"wrong"}}), ""); code != 401 || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", code, body)
	}
	if code, body := send("POST", "/oauth/token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {"top-secret"}, "scope": {auth.ScopeModelsPredict}}), ""); code != 400 || body["error"] != "invalid_scope" {
		t.Errorf("ungranted scope: %d %v", code, body)
	}
	code, granted := send("POST", "/oauth/token", "application/x-www-form-urlencoded", form(url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {"top-secret"}}), "")
	if code != 200 || granted["scope"] != auth.ScopeKnowledgeRead {
		t.Fatalf("client credentials: %d %v", code, granted)
	}
	integrator, _ := granted["access_token"].(string)
	// knowledge:read but not models:predict.
	if code, _ := send("GET", "/api/v1/models", "", "", integrator); code != 403 {
		t.Errorf("integrator without models scope: %d", code)
	}

	code, jwks := send("GET", "/.well-known/jwks.json", "", "", "")
	keys, _ := jwks["keys"].([]any)
	if code != 200 || len(keys) == 0 {
		t.Errorf("jwks: %d %v", code, jwks)
	}
}
