package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/store"
)

// Auth returns a token service over the test database, with the master key
// of Config (the local stack's), so that programs a test starts verify the
// tokens the test mints. Redis is the test index; SMS is unset (tests that
// need it build their own auth.Options).
func Auth(t testing.TB, s *store.Store) *auth.Service {
	t.Helper()
	cfg := Config(t)
	if cfg.AuthMasterKey == nil {
		t.Fatal("testenv: no auth master key: run tests with CAREPATH_ENV=local or set CAREPATH_AUTH_MASTER_KEY")
	}
	a, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL,
		AccessTTL: cfg.AuthAccessTTL, Logger: Logger(t)})
	if err != nil {
		t.Fatalf("testenv: auth: %v", err)
	}
	return a
}

// Token mints an access token for role acting as subject: for a patient
// the subject is the patient's ID, for a doctor or dietitian the
// practitioner's, for the other roles the user's (or, for an integrator,
// the client's, holding scopes).
func Token(t testing.TB, a *auth.Service, role, subject string, scopes ...string) string {
	t.Helper()
	p := auth.Principal{Subject: subject, Role: role, Scopes: scopes}
	switch role {
	case auth.RolePatient:
		p.PatientID = subject
	case auth.RoleDoctor, auth.RoleDietitian:
		p.PractitionerID = subject
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := a.Mint(ctx, p)
	if err != nil {
		t.Fatalf("testenv: mint %s token: %v", role, err)
	}
	return tok
}
