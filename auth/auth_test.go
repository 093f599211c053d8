package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
)

func TestPasswordHashing(t *testing.T) {
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not carry the documented parameters", h)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		ok, err := auth.VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("verify %q = %v, %v; want %v", pw, ok, err, want)
		}
	}
	other, err := auth.HashPassword("correct horse")
	if err != nil || other == h {
		t.Errorf("two hashes of one password are equal: salts must differ")
	}
	if _, err := auth.VerifyPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("a non-argon2id hash verified without error")
	}
}

func newService(t *testing.T, s *store.Store, sms auth.CodeSender) *auth.Service {
	t.Helper()
	cfg := testenv.Config(t)
	var opts auth.Options
	opts.Pool, opts.MasterKey, opts.Issuer, opts.Logger = s.Pool, cfg.AuthMasterKey, cfg.PublicBaseURL, testenv.Logger(t)
	if sms != nil {
		rdb, err := platform.OpenRedis(cfg.RedisURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Close() })
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			testenv.Fail(t, "Redis", cfg.RedisURL, err)
		}
		opts.Redis, opts.SMS = rdb, sms
	}
	a, err := auth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTokensSurviveKeyRotation(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	a := newService(t, s, nil)
	p := auth.Principal{Subject: uuid.NewString(), Role: auth.RoleCoordinator}
	before, err := a.Mint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	newKid, err := a.RotateKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, err := a.Mint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// A second server (same database and master key) verifies both: the
	// retired key stays published until its tokens expire.
	other := newService(t, s, nil)
	for name, tok := range map[string]string{"before rotation": before, "after rotation": after} {
		got, err := other.Verify(ctx, tok)
		if err != nil || got.Subject != p.Subject || got.Role != p.Role {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	if kid := headerKid(t, after); kid != newKid {
		t.Errorf("new token signed with %q, want the new key %q", kid, newKid)
	}
	set, err := other.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" {
			t.Errorf("key %+v", k)
		}
		kids[k.Kid] = true
	}
	if !kids[headerKid(t, before)] || !kids[newKid] {
		t.Errorf("JWKS %v lacks the retired or the new key", kids)
	}

	// Forgeries: a flipped signature byte, another key with a known kid,
	// "none", and another issuer.
	tampered := before[:len(before)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(before, "AA")]
	_, foreign, _ := ed25519.GenerateKey(rand.Reader)
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": p.Subject, "role": auth.RoleAdmin,
		"iss": testenv.Config(t).PublicBaseURL, "aud": testenv.Config(t).PublicBaseURL, "exp": time.Now().Add(time.Hour).Unix()})
	forged.Header["kid"] = newKid
	forgedTok, err := forged.SignedString(foreign)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "role": auth.RoleAdmin}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	wrongIssuer, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: testenv.Config(t).AuthMasterKey, Issuer: "https://elsewhere.example"})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := wrongIssuer.Mint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"tampered": tampered, "foreign key": forgedTok, "alg none": none, "other issuer": elsewhere, "garbage": "x.y.z"} {
		if _, err := a.Verify(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: verify = %v, want ErrInvalidToken", name, err)
		}
	}

	// A service with the wrong master key cannot open the signing key.
	wrongKey := make([]byte, auth.MasterKeyLen)
	bad, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: wrongKey, Issuer: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Mint(ctx, p); err == nil {
		t.Error("minted with the wrong master key")
	}
}

func headerKid(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}

func TestPasswordSignInAndRefreshRotation(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	a := newService(t, s, nil)
	email := fmt.Sprintf("Coordinator-%s@Test.invalid", uuid.NewString())
	id, err := a.UpsertUser(ctx, auth.NewUser{Email: email, Password: "s3cret-pass", Role: auth.RoleCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SignInPassword(ctx, email, "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := a.SignInPassword(ctx, "nobody-"+email, "s3cret-pass"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("unknown email: %v", err)
	}
	first, err := a.SignInPassword(ctx, strings.ToLower(email), "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Verify(ctx, first.AccessToken)
	if err != nil || p.Subject != id || p.Role != auth.RoleCoordinator || p.ActorID() != id {
		t.Fatalf("principal %+v, %v", p, err)
	}
	second, err := a.Refresh(ctx, first.RefreshToken)
	if err != nil || second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatalf("refresh: %+v, %v", second, err)
	}
	// The first token is used up: presenting it again is theft, and the
	// whole family, including the second token, is revoked.
	if _, err := a.Refresh(ctx, first.RefreshToken); !errors.Is(err, auth.ErrRefreshReused) {
		t.Fatalf("reuse: %v, want ErrRefreshReused", err)
	}
	if _, err := a.Refresh(ctx, second.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("after reuse the family's newest token: %v, want ErrInvalidToken", err)
	}
	if _, err := a.Refresh(ctx, "not-a-token"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("unknown token: %v", err)
	}
	// Another sign-in is another family, untouched.
	third, err := a.SignInPassword(ctx, email, "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refresh(ctx, third.RefreshToken); err != nil {
		t.Errorf("fresh family: %v", err)
	}
}

func TestClientCredentials(t *testing.T) {
	ctx := context.Background()
	a := newService(t, testenv.Store(t), nil)
	client := "client-" + uuid.NewString()
	if err := a.UpsertClient(ctx, client, "Test lab", "client-secret", []string{auth.ScopeKnowledgeRead}); err != nil {
		t.Fatal(err)
	}
	tok, err := a.ClientCredentials(ctx, client, "client-secret", nil)
	if err != nil || tok.Scope != auth.ScopeKnowledgeRead || tok.RefreshToken != "" {
		t.Fatalf("grant: %+v, %v", tok, err)
	}
	p, err := a.Verify(ctx, tok.AccessToken)
	if err != nil || p.Role != auth.RoleIntegrator || p.Subject != client || !p.HasScope(auth.ScopeKnowledgeRead) || p.HasScope(auth.ScopeModelsPredict) {
		t.Errorf("principal %+v, %v", p, err)
	}
	if _, err := a.ClientCredentials(ctx, client, "wrong", nil); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, err := a.ClientCredentials(ctx, client, "client-secret", []string{auth.ScopeModelsPredict}); !errors.Is(err, auth.ErrInvalidScope) {
		t.Errorf("ungranted scope: %v", err)
	}
}

// codeCatcher is the SMS gateway: it keeps the codes it was asked to send.
type codeCatcher struct {
	mu    sync.Mutex
	codes map[string]string
}

func (c *codeCatcher) SendSignInCode(_ context.Context, phone, code string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes[phone] = code
	return nil
}

func (c *codeCatcher) last(phone string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codes[phone]
}

func TestSMSCodeSignIn(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	sms := &codeCatcher{codes: map[string]string{}}
	a := newService(t, s, sms)
	phone := fmt.Sprintf("+9199%08d", time.Now().UnixNano()%100000000)
	if _, err := a.UpsertUser(ctx, auth.NewUser{Email: "sms-" + uuid.NewString() + "@test.invalid", Phone: phone, Role: auth.RolePharmacist}); err != nil {
		t.Fatal(err)
	}
	if err := a.RequestCode(ctx, "+10000000000"); err != nil || sms.last("+10000000000") != "" {
		t.Errorf("unknown number: %v, sent %q", err, sms.last("+10000000000"))
	}
	if err := a.RequestCode(ctx, phone); err != nil {
		t.Fatal(err)
	}
	code := sms.last(phone)
	if len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
	if _, err := a.VerifyCode(ctx, phone, wrong); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("wrong code: %v", err)
	}
	tok, err := a.VerifyCode(ctx, phone, code)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("right code: %+v, %v", tok, err)
	}
	if _, err := a.VerifyCode(ctx, phone, code); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("a code works once: %v", err)
	}

	// The attempt limit: after CodeAttempts wrong guesses even the right
	// code is refused, and the code is gone.
	if err := a.RequestCode(ctx, phone); err != nil {
		t.Fatal(err)
	}
	code = sms.last(phone)
	wrong = fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
	for range auth.CodeAttempts {
		if _, err := a.VerifyCode(ctx, phone, wrong); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	if _, err := a.VerifyCode(ctx, phone, code); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Errorf("after %d wrong guesses: %v, want ErrTooManyAttempts", auth.CodeAttempts, err)
	}
	if _, err := a.VerifyCode(ctx, phone, code); !errors.Is(err, auth.ErrTooManyAttempts) {
		t.Errorf("after the limit the number stays refused: %v", err)
	}
	// A new code resets the attempts; the old code is gone.
	if err := a.RequestCode(ctx, phone); err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyCode(ctx, phone, code); !errors.Is(err, auth.ErrInvalidCredentials) && code != sms.last(phone) {
		t.Errorf("the old code after a new request: %v", err)
	}
	if _, err := a.VerifyCode(ctx, phone, sms.last(phone)); err != nil {
		t.Errorf("the new code: %v", err)
	}

	// An unknown number runs out of attempts exactly as a known one does.
	unknown := fmt.Sprintf("+9198%08d", time.Now().UnixNano()%100000000)
	for i := range auth.CodeAttempts + 1 {
		_, err := a.VerifyCode(ctx, unknown, wrong)
		want := auth.ErrInvalidCredentials
		if i == auth.CodeAttempts {
			want = auth.ErrTooManyAttempts
		}
		if !errors.Is(err, want) {
			t.Errorf("unknown number, attempt %d: %v, want %v", i+1, err, want)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func TestDoctorSeesPatientThroughAppointmentOnly(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	a := newService(t, s, nil)
	patient := store.SeedPatientID(3)
	var practitioner, schedule string
	if err := s.Pool.QueryRow(ctx, `SELECT p.id::text, sc.id::text FROM practitioner p JOIN schedule sc ON sc.practitioner_id = p.id
		WHERE NOT EXISTS (SELECT 1 FROM appointment a WHERE a.practitioner_id = p.id AND a.patient_id = $1)
		AND NOT EXISTS (SELECT 1 FROM consent c WHERE c.practitioner_id = p.id AND c.patient_id = $1)
		ORDER BY p.id DESC LIMIT 1`, patient).Scan(&practitioner, &schedule); err != nil {
		t.Fatal(err)
	}
	doctor := auth.Principal{Subject: uuid.NewString(), Role: auth.RoleDoctor, PractitionerID: practitioner}
	if ok, _, err := a.CanSeePatient(ctx, doctor, patient); err != nil || ok {
		t.Fatalf("before the appointment: %v, %v", ok, err)
	}
	// An appointment, in a slot far in the future that no test uses. Its
	// start has odd milliseconds, like every test slot, so it is never
	// taken for one the schedules generate.
	slot, appt := uuid.New(), uuid.New()
	start := time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(time.Now().UnixNano()%1e6)*time.Minute + 7*time.Millisecond)
	if _, err := s.Pool.Exec(ctx, `INSERT INTO slot (id, schedule_id, practitioner_id, start, "end") VALUES ($1, $2, $3, $4, $5)`,
		slot, schedule, practitioner, start, start.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO appointment (id, journey_id, step, patient_id, practitioner_id, slot_id, status, fee_minor, currency)
		VALUES ($1, $2, 'book', $3, $4, $5, 'pending', 0, 'INR')`, appt, "authz-test:"+appt.String(), patient, practitioner, slot); err != nil {
		t.Fatal(err)
	}
	if ok, why, err := a.CanSeePatient(ctx, doctor, patient); err != nil || !ok || why != "appointment" {
		t.Errorf("with the appointment: %v %q, %v", ok, why, err)
	}
	// A cancelled appointment relates them no more.
	if _, err := s.Pool.Exec(ctx, `UPDATE appointment SET status = 'cancelled' WHERE id = $1`, appt); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := a.CanSeePatient(ctx, doctor, patient); err != nil || ok {
		t.Errorf("after cancellation: %v, %v", ok, err)
	}
	// A coordinator whose team includes the practitioner sees the patient
	// only while an appointment links them (cancelled ones count for the
	// team: the coordinator handles the aftermath).
	coordinator, err := a.UpsertUser(ctx, auth.NewUser{Email: "team-" + uuid.NewString() + "@test.invalid", Role: auth.RoleCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	co := auth.Principal{Subject: coordinator, Role: auth.RoleCoordinator}
	if ok, _, err := a.CanSeePatient(ctx, co, patient); err != nil || ok {
		t.Errorf("coordinator without a team: %v, %v", ok, err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO care_team (id, coordinator_id, practitioner_id) VALUES ($1, $2, $3)`, uuid.New(), coordinator, practitioner); err != nil {
		t.Fatal(err)
	}
	if ok, why, err := a.CanSeePatient(ctx, co, patient); err != nil || !ok || why != "care team practitioner" {
		t.Errorf("coordinator of the practitioner: %v %q, %v", ok, why, err)
	}
	// Patients see only themselves; pharmacists nobody; integrators only
	// with the lab scope, and only the patients enrolled with them.
	lab := "lab-" + uuid.NewString()
	if err := a.UpsertClient(ctx, lab, "Enrolled lab", "secret", []string{auth.ScopeLabsWrite}); err != nil {
		t.Fatal(err)
	}
	if err := a.EnrolPatient(ctx, lab, patient); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    auth.Principal
		want bool
	}{
		{auth.Principal{Subject: "u", Role: auth.RolePatient, PatientID: patient}, true},
		{auth.Principal{Subject: "u", Role: auth.RolePatient, PatientID: store.SeedPatientID(4)}, false},
		{auth.Principal{Subject: "u", Role: auth.RolePharmacist}, false},
		{auth.Principal{Subject: "c", Role: auth.RoleIntegrator, Scopes: []string{auth.ScopeKnowledgeRead}}, false},
		{auth.Principal{Subject: "lab", Role: auth.RoleIntegrator, Scopes: []string{auth.ScopeLabsWrite}}, false},
		{auth.Principal{Subject: lab, Role: auth.RoleIntegrator, Scopes: []string{auth.ScopeLabsWrite}}, true},
		{auth.Principal{Subject: lab, Role: auth.RoleIntegrator, Scopes: []string{auth.ScopeKnowledgeRead}}, false},
		{auth.Principal{Subject: "a", Role: auth.RoleAdmin}, true},
	} {
		if ok, _, err := a.CanSeePatient(ctx, tc.p, patient); err != nil || ok != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.p.Role, ok, err, tc.want)
		}
	}
}

func TestSeedDemoIsRepeatableAndSignsIn(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	a := newService(t, s, nil)
	// A patient added beside the seed (as every test adds its own) gets no
	// demo account, and does not change what seeding writes.
	outsider := testenv.NewPatient(t, s, "Pune")
	first, err := a.SeedDemo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	testenv.NewPatient(t, s, "Pune")
	second, err := a.SeedDemo(ctx)
	if err != nil || second != first || first.Users < store.SeedPatientCount+3 ||
		first.Users > store.SeedPatientCount+len(store.SeedPractitionerIDs())+3 {
		t.Fatalf("seed twice: %+v then %+v, %v", first, second, err)
	}
	var accounts int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM app_user WHERE patient_id = $1`, outsider).Scan(&accounts); err != nil || accounts != 0 {
		t.Errorf("a patient outside the seed has %d demo accounts (%v)", accounts, err)
	}
	var email string
	if err := s.Pool.QueryRow(ctx, `SELECT email FROM patient WHERE id = $1`, store.SeedPatientID(1)).Scan(&email); err != nil {
		t.Fatal(err)
	}
	tok, err := a.SignInPassword(ctx, email, auth.DemoPatientPassword)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Verify(ctx, tok.AccessToken)
	if err != nil || p.PatientID != store.SeedPatientID(1) || p.ActorID() != store.SeedPatientID(1) {
		t.Errorf("demo patient: %+v, %v", p, err)
	}
	if _, err := a.SignInPassword(ctx, auth.DemoDoctorEmail("Bengaluru", "dentistry"), auth.DemoDoctorPassword); err != nil {
		t.Errorf("demo doctor: %v", err)
	}
	if _, err := a.ClientCredentials(ctx, auth.DemoIntegratorClientID, auth.DemoIntegratorSecret, nil); err != nil {
		t.Errorf("demo integrator: %v", err)
	}
}

// BenchmarkVerify is the cost every authenticated request pays for its
// token (the key is cached; no database round trip).
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	s := testenv.Store(b)
	cfg := testenv.Config(b)
	a, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := a.Mint(ctx, auth.Principal{Subject: uuid.NewString(), Role: auth.RoleDoctor, PractitionerID: uuid.NewString()})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashPassword is the cost of one argon2id hash with the
// documented parameters (a sign-in pays one).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword("correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}
