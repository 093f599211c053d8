package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// An integrator acts only for the patients enrolled with it, while the
// enrolment lasts and the client is active.
func TestIntegratorMayActForEnrolledPatientsOnly(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	a := newService(t, s, nil)
	client := "enrol-" + uuid.NewString()
	if err := a.UpsertClient(ctx, client, "Enrolment test", "secret", []string{auth.ScopeJourneysWrite}); err != nil {
		t.Fatal(err)
	}
	enrolled, other := testenv.NewPatient(t, s, "Pune"), testenv.NewPatient(t, s, "Pune")
	if err := a.EnrolPatient(ctx, client, enrolled); err != nil {
		t.Fatal(err)
	}
	if err := a.EnrolPatient(ctx, client, enrolled); err != nil {
		t.Fatalf("enrolling twice: %v", err)
	}
	check := func(what, patient string, want bool) {
		t.Helper()
		ok, why, err := a.IntegratorMayActFor(ctx, client, patient)
		if err != nil || ok != want {
			t.Errorf("%s: %v (%s), %v; want %v", what, ok, why, err, want)
		}
	}
	check("enrolled patient", enrolled, true)
	check("another patient", other, false)
	check("not a patient ID", "EVERYONE", false)
	if ok, _, err := a.IntegratorMayActFor(ctx, "no-such-client", enrolled); err != nil || ok {
		t.Errorf("unknown client: %v, %v", ok, err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE oauth_client SET active = false WHERE id = $1`, client); err != nil {
		t.Fatal(err)
	}
	check("inactive client", enrolled, false)
	if _, err := s.Pool.Exec(ctx, `UPDATE oauth_client SET active = true WHERE id = $1`, client); err != nil {
		t.Fatal(err)
	}
	if err := a.EndEnrolment(ctx, client, enrolled); err != nil {
		t.Fatal(err)
	}
	check("ended enrolment", enrolled, false)

	// An organisation's enrolment covers the patients with an appointment,
	// not cancelled, with one of its practitioners.
	practitioner, schedule := testenv.NewPractitioner(t, s, "Enrolment Doctor")
	var org string
	if err := s.Pool.QueryRow(ctx, `SELECT organization_id::text FROM practitioner WHERE id = $1`, practitioner).Scan(&org); err != nil {
		t.Fatal(err)
	}
	if err := a.EnrolOrganization(ctx, client, org); err != nil {
		t.Fatal(err)
	}
	check("a patient with no appointment at the organisation", other, false)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	slot, err := s.CreateSlot(ctx, store.Slot{ScheduleID: schedule, PractitionerID: practitioner, Start: start,
		End: start.Add(15 * time.Minute), Status: store.SlotFree})
	if err != nil {
		t.Fatal(err)
	}
	appt := uuid.New()
	if _, err := s.Pool.Exec(ctx, `INSERT INTO appointment (id, journey_id, step, patient_id, practitioner_id, slot_id, status, fee_minor, currency)
		VALUES ($1, $2, 'book', $3, $4, $5, 'booked', 0, 'INR')`, appt, "enrolment-test:"+appt.String(), other, practitioner, slot.ID); err != nil {
		t.Fatal(err)
	}
	check("a patient of the enrolled organisation", other, true)
	if _, err := s.Pool.Exec(ctx, `UPDATE appointment SET status = 'cancelled' WHERE id = $1`, appt); err != nil {
		t.Fatal(err)
	}
	check("a cancelled appointment", other, false)
}

// A refresh family lives SessionMaxAge from its sign-in: rotating does not
// renew it.
func TestRefreshRefusedAfterTheSessionsAbsoluteLifetime(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	a := newService(t, s, nil)
	email := "session-" + uuid.NewString() + "@test.invalid"
	if _, err := a.UpsertUser(ctx, auth.NewUser{Email: email, Password: "pass-word-1", Role: auth.RoleCoordinator}); err != nil {
		t.Fatal(err)
	}
	tok, err := a.SignInPassword(ctx, email, "pass-word-1")
	if err != nil {
		t.Fatal(err)
	}
	// Rotate a few times: each new token carries the sign-in's start.
	for range 3 {
		if tok, err = a.Refresh(ctx, tok.RefreshToken); err != nil {
			t.Fatalf("refresh within the lifetime: %v", err)
		}
	}
	var expires, started time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT t.expires_at, t.session_started_at FROM refresh_token t JOIN app_user u ON u.id = t.user_id
		WHERE u.email = $1 AND t.used_at IS NULL`, email).Scan(&expires, &started); err != nil {
		t.Fatal(err)
	}
	if expires.After(started.Add(30*24*time.Hour + time.Second)) {
		t.Errorf("a rotated token expires %v, after the session's end %v", expires, started.Add(30*24*time.Hour))
	}
	// The sign-in happened 31 days ago (and the token itself is not expired).
	if _, err := s.Pool.Exec(ctx, `UPDATE refresh_token SET session_started_at = now() - interval '31 days', expires_at = now() + interval '1 day'
		WHERE user_id = (SELECT id FROM app_user WHERE email = $1)`, email); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refresh(ctx, tok.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("refresh after the session's lifetime: %v, want ErrInvalidToken", err)
	}
}

// Deactivating a user refuses their refresh at once and their access
// tokens within the active-check TTL on every instance (at once on the one
// that deactivated).
func TestDeactivatedUserLosesAccess(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	cfg := testenv.Config(t)
	a := newService(t, s, nil)
	// Another API instance, which checks accounts every second.
	other, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL,
		ActiveCheckTTL: time.Second, Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	email := "deactivate-" + uuid.NewString() + "@test.invalid"
	id, err := a.UpsertUser(ctx, auth.NewUser{Email: email, Password: "pass-word-1", Role: auth.RoleCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.SignInPassword(ctx, email, "pass-word-1")
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range map[string]*auth.Service{"this instance": a, "another instance": other} {
		if _, err := svc.Verify(ctx, tok.AccessToken); err != nil {
			t.Fatalf("%s, before: %v", name, err)
		}
	}
	if err := a.Deactivate(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, tok.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("this instance after deactivation: %v, want ErrInvalidToken", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := other.Verify(ctx, tok.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("another instance past its check interval: %v, want ErrInvalidToken", err)
	}
	if _, err := a.Refresh(ctx, tok.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("refresh after deactivation: %v, want ErrInvalidToken", err)
	}
	if _, err := a.SignInPassword(ctx, email, "pass-word-1"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("sign-in after deactivation: %v", err)
	}
	if err := a.Deactivate(ctx, uuid.NewString()); !errors.Is(err, auth.ErrUnknownUser) {
		t.Errorf("deactivating nobody: %v", err)
	}
	// A token for a subject with no account (tools, tests) still verifies.
	if _, err := a.Verify(ctx, testenv.Token(t, a, auth.RoleAdmin, uuid.NewString())); err != nil {
		t.Errorf("token without an account row: %v", err)
	}
}
