// Command fuzzseed gives the API fuzzing step (scripts/schemathesis.sh) a
// signed-in caller for every role and objects that caller may legitimately
// touch, so that generated requests get past authorization and "not found"
// and reach the handlers' success paths.
//
// For each role it builds a world of its own in the test database and
// through the running API (the same API and worker the fuzzing step runs):
// a patient in a city of the world's own, whose coordinator's care team it
// is; a doctor with free slots; a dietitian the patient has given consent
// to; journeys at several stages (waiting for payment, to cancel, paid and
// waiting for the doctor, and for the doctor's world: two appointment
// requests to answer, a consult to start, one under way, a prescription
// awaiting review, an open lab order); a diet-check journey
// (internal/fuzzseed/pathways) with a plan; a medication course; records, a
// document, consents, public keys and a HealthLink booking. Stripe's payment
// webhook is signed with the local secret. It prints one JSON object:
//
//	{"roles": {"patient": {"token": "...", "values": {"patient_id": "...", ...}}, ...}}
//
// scripts/schemathesis_hooks.py puts the values into a share of the
// generated requests. For test databases only: it refuses to run unless
// CAREPATH_ENV=local.
//
//	go run ./internal/fuzzseed -base http://127.0.0.1:8080 > seed.json
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// plainPayload is a Temporal payload as the SDK's JSON converter writes it.
var plainPayload = map[string]any{"metadata": map[string]string{"encoding": base64.StdEncoding.EncodeToString([]byte("json/plain"))},
	"data": base64.StdEncoding.EncodeToString([]byte(`{"fuzz":true}`))}

// roles are the callers the fuzzing step runs as, each in a world of its own.
var roles = []string{auth.RolePatient, auth.RoleDoctor, auth.RoleDietitian, auth.RoleCoordinator, auth.RoleIntegrator, auth.RoleAdmin}

func main() {
	base := flag.String("base", "", "the running API's base URL")
	flag.Parse()
	if err := run(*base); err != nil {
		fmt.Fprintln(os.Stderr, "fuzzseed:", err)
		os.Exit(1)
	}
}

// seeder holds what every world is built with.
type seeder struct {
	base  string
	cfg   config.Config
	store *store.Store
	auth  *auth.Service
	http  *http.Client
	// temporal starts the medication courses, which only a journey's
	// prescription starts otherwise; signer signs their prescriptions.
	temporal client.Client
	signer   *activities.Prescriptions
	// password signs in every user of the run; passwordHash is its hash,
	// made once (argon2id is slow on purpose).
	password, passwordHash string
	// city is this run's own, so that its coordinators' care teams hold
	// only its patients and practitioners.
	city string
}

// role is one caller and the values the hooks fill requests with.
type role struct {
	Token  string            `json:"token"`
	Values map[string]string `json:"values"`
}

func run(base string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.Env != "local" || base == "" {
		return errors.New("set CAREPATH_ENV=local and -base")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The seeder migrates and loads fixtures, as `carepath migrate` and
	// `carepath seed` do: as the owner role. The API it fuzzes runs as the
	// application role.
	s, err := store.Open(ctx, cfg.DatabaseOwnerURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	// Worlds copy a seeded practitioner; loading the seed again changes nothing.
	if _, err := s.Seed(ctx); err != nil {
		return err
	}
	a, err := auth.New(auth.Options{Pool: s.Pool, MasterKey: cfg.AuthMasterKey, Issuer: cfg.PublicBaseURL})
	if err != nil {
		return err
	}
	foods, err := diet.LoadIFCT(diet.DefaultIFCTPath())
	if err != nil {
		return err
	}
	if _, err := s.SeedFoods(ctx, foods); err != nil {
		return err
	}
	seed, err := cfg.PrescriptionSigningKey()
	if err != nil {
		return err
	}
	signer, err := activities.NewPrescriptionSigner(seed)
	if err != nil {
		return err
	}
	tc, err := platform.DialTemporal(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer tc.Close()
	password := randomHex(16)
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	sd := &seeder{base: strings.TrimRight(base, "/"), cfg: cfg, store: s, auth: a, password: password, passwordHash: hash,
		http: &http.Client{Timeout: 30 * time.Second}, city: "Fuzz-" + uuid.NewString()[:8],
		temporal: tc, signer: &activities.Prescriptions{Store: s, Signer: signer}}

	out := map[string]*role{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(roles))
	// Three worlds at a time: each starts a dozen workflows at once.
	sem := make(chan struct{}, 3)
	for i, name := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := sd.world(ctx, name)
			if err != nil {
				errs[i] = fmt.Errorf("world of the %s: %w", name, err)
				return
			}
			mu.Lock()
			out[name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// An encoded payload, for the codec's decode route (the Temporal UI's
	// codec server; open to loopback callers locally).
	var encoded json.RawMessage
	if err := sd.call(ctx, out[auth.RoleAdmin].Token, http.MethodPost, "/api/codec/encode", map[string]any{"payloads": []any{plainPayload}},
		http.StatusOK, &encoded); err != nil {
		return err
	}
	for _, r := range out {
		r.Values["codec_encoded"] = string(encoded)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"roles": out})
}

// world builds the objects one role's run works on and signs that role in.
func (sd *seeder) world(ctx context.Context, viewer string) (*role, error) {
	w := &world{sd: sd, viewer: viewer, v: map[string]string{"role": viewer}, tokens: map[string]string{}}
	if err := w.people(ctx); err != nil {
		return nil, err
	}
	// Free slots of the doctor: on the third day from now, from 14:00 in
	// the doctor's time zone, away from the schedule's own slots.
	slots, err := sd.slots(ctx, w.doctor, 13)
	if err != nil {
		return nil, err
	}
	w.set("start_slot_ids", slots[3].ID+","+slots[4].ID)
	w.set("reschedule_slot_id", slots[5].ID)
	ist, _ := time.LoadLocation("Asia/Kolkata")
	book := slots[7].Start.In(ist)
	w.set("book_date", book.Format(time.DateOnly))
	w.set("book_time", book.Format("3:04 PM"))

	// HealthLink books the next free episode: first, so that it takes none
	// of the episodes the journeys below name.
	if err := w.healthLink(ctx, slots[10:13]); err != nil {
		return nil, err
	}
	// The other objects, built at once: most wait on a workflow.
	tasks := []func() error{
		func() error { return w.journeys(ctx, slots[0:3]) },
		func() error { return w.record(ctx) },
	}
	// A diet stage: the patient's plan approved by their dietitian (meals,
	// intake and readings need a plan in force); the dietitian's own run
	// gets one waiting for review. Integrators see no diet.
	if viewer != auth.RoleIntegrator {
		tasks = append(tasks, func() error { return w.diet(ctx, viewer != auth.RoleDietitian) })
	}
	// A medication course, for the roles that act for the patient.
	if viewer == auth.RolePatient || viewer == auth.RoleCoordinator || viewer == auth.RoleAdmin {
		tasks = append(tasks, func() error {
			id, err := sd.course(ctx, w.patient, w.doctor)
			w.set("adherence_id", id)
			return err
		})
	}
	// Only the journey's doctor answers requests, runs the consult, signs
	// the prescription and enters a lab result by hand.
	if viewer == auth.RoleDoctor {
		tasks = append(tasks,
			func() error { return w.requests(ctx, slots[8:10]) },
			func() error { return w.consults(ctx) })
	}
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = task()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Fresh keys for the register route: one key registers once.
	var keys []map[string]string
	for range 8 {
		keys = append(keys, newJWK())
	}
	spare, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	w.set("spare_jwks", string(spare))
	return &role{Token: w.tokens[viewer], Values: w.v}, nil
}

// world is one role's objects while they are being built.
type world struct {
	sd     *seeder
	viewer string
	mu     sync.Mutex
	v      map[string]string
	// tokens of the world's users by role; only the viewer's is printed.
	tokens                     map[string]string
	patient, doctor, dietitian string
}

func (w *world) set(key, value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.v[key] = value
}

func (w *world) token(role string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tokens[role]
}

// people registers the world's patient, their doctor and dietitian, the
// coordinator of their city, an admin and an integrator client. The viewer
// signs in over HTTP (the fuzzed sign-in and refresh use its password and
// refresh token); the others get tokens minted directly, which is faster.
func (w *world) people(ctx context.Context) error {
	sd, v := w.sd, w.v
	tag := w.viewer + "-" + uuid.NewString()[:8]
	// A city of the world's own: its coordinator's care team, and the
	// dietitian a diet step assigns, are this world's.
	city := sd.city + "-" + w.viewer
	w.patient = uuid.NewString()
	v["patient_id"], v["patient_email"], v["patient_name"] = w.patient, "fuzz-"+tag+"@test.invalid", "Fuzz Patient"
	v["patient_phone"] = fmt.Sprintf("+1555%07d%02d", time.Now().UnixNano()%10_000_000, len(w.viewer))
	if _, err := sd.store.Pool.Exec(ctx, `INSERT INTO patient (id, name, birth_date, gender, phone, email, city,
		preferred_language, timezone) VALUES ($1, $2, '1975-01-01', 'unknown', $3, $4, $5, 'en', 'Asia/Kolkata')`,
		w.patient, v["patient_name"], v["patient_phone"], v["patient_email"], city); err != nil {
		return fmt.Errorf("patient: %w", err)
	}
	var err error
	if w.doctor, err = sd.practitioner(ctx, "Dr Fuzz "+tag, "", city); err != nil {
		return err
	}
	if w.dietitian, err = sd.practitioner(ctx, "Dietitian Fuzz "+tag, "nutrition", city); err != nil {
		return err
	}
	v["doctor_id"], v["dietitian_id"] = w.doctor, w.dietitian
	users := []auth.NewUser{
		{Email: v["patient_email"], Phone: v["patient_phone"], Role: auth.RolePatient, PatientID: w.patient},
		{Email: "fuzz-doctor-" + tag + "@test.invalid", Role: auth.RoleDoctor, PractitionerID: w.doctor},
		{Email: "fuzz-dietitian-" + tag + "@test.invalid", Role: auth.RoleDietitian, PractitionerID: w.dietitian},
		{Email: "fuzz-coordinator-" + tag + "@test.invalid", Role: auth.RoleCoordinator},
		{Email: "fuzz-admin-" + tag + "@test.invalid", Role: auth.RoleAdmin},
	}
	for _, u := range users {
		u.ID, u.PasswordHash = uuid.NewString(), sd.passwordHash
		if _, err := sd.auth.UpsertUser(ctx, u); err != nil {
			return err
		}
		if u.Role == auth.RoleCoordinator {
			if _, err := sd.store.Pool.Exec(ctx, `INSERT INTO care_team (id, coordinator_id, city) VALUES ($1, $2, $3)`,
				uuid.NewString(), u.ID, city); err != nil {
				return fmt.Errorf("care team: %w", err)
			}
		}
		if u.Role != w.viewer {
			tok, err := sd.auth.Mint(ctx, auth.Principal{Subject: u.ID, Role: u.Role, PatientID: u.PatientID, PractitionerID: u.PractitionerID})
			if err != nil {
				return err
			}
			w.tokens[u.Role] = tok
			continue
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := sd.call(ctx, "", http.MethodPost, "/api/v1/auth/sign-in",
			map[string]string{"email": u.Email, "password": sd.password}, http.StatusOK, &tok); err != nil {
			return err
		}
		w.tokens[u.Role] = tok.AccessToken
		v["email"], v["password"], v["refresh_token"] = u.Email, sd.password, tok.RefreshToken
	}
	clientID, secret := "fuzz-integrator-"+tag, randomHex(16)
	if err := sd.auth.UpsertClient(ctx, clientID, "Fuzz integrator", secret, []string{auth.ScopeModelsPredict,
		auth.ScopeKnowledgeRead, auth.ScopeLabsWrite, auth.ScopeDirectoryRead, auth.ScopeJourneysWrite}); err != nil {
		return err
	}
	v["client_id"], v["client_secret"] = clientID, secret
	w.tokens[auth.RoleIntegrator], err = sd.clientToken(ctx, clientID, secret)
	return err
}

// journeys starts the patient's journeys: one that stays waiting (the
// journey routes read it), one the cancel route may end, one paid for and
// waiting for the doctor's decision.
func (w *world) journeys(ctx context.Context, slots []store.Slot) error {
	pt := w.token(auth.RolePatient)
	for i, key := range []string{"journey_id", "cancel_journey_id", "review_journey_id"} {
		id, err := w.sd.startJourney(ctx, pt, w.patient, "general-consult", 101+i, slots[i].ID)
		if err != nil {
			return err
		}
		w.set(key, id)
		if key == "review_journey_id" {
			return w.sd.pay(ctx, pt, id)
		}
	}
	return nil
}

// requests makes two paid journeys whose appointments wait for the
// doctor's answer, for HealthLink's accept and reject routes.
func (w *world) requests(ctx context.Context, slots []store.Slot) error {
	pt := w.token(auth.RolePatient)
	for i, key := range []string{"accept_request_id", "reject_request_id"} {
		id, err := w.sd.startJourney(ctx, pt, w.patient, "general-consult", 121+i, slots[i].ID)
		if err != nil {
			return err
		}
		if err := w.sd.pay(ctx, pt, id); err != nil {
			return err
		}
		var appointment string
		if err := w.sd.store.Pool.QueryRow(ctx, `SELECT id::text FROM appointment WHERE journey_id = $1`, id).Scan(&appointment); err != nil {
			return fmt.Errorf("appointment of %s: %w", id, err)
		}
		w.set(key, appointment)
	}
	return nil
}

// healthLink books an appointment through HealthLink that the cancel
// route may cancel. A busy worker may not hold the slot in time (504): the
// next slot is tried then.
func (w *world) healthLink(ctx context.Context, slots []store.Slot) error {
	ist, _ := time.LoadLocation("Asia/Kolkata")
	var err error
	for _, slot := range slots {
		start := slot.Start.In(ist)
		var booked struct {
			Appointment struct {
				ID string `json:"id"`
			} `json:"appointment"`
		}
		err = w.sd.call(ctx, w.token(auth.RolePatient), http.MethodPost, "/api/book/appointment/", map[string]string{
			"doctor_id": w.doctor, "appointment_date": start.Format(time.DateOnly), "appointment_time": start.Format("3:04 PM"),
			"patient_name": w.v["patient_name"], "patient_email": w.v["patient_email"]}, http.StatusCreated, &booked)
		if err == nil {
			w.set("cancel_appointment_id", booked.Appointment.ID)
			return nil
		}
		fmt.Fprintln(os.Stderr, "fuzzseed: booking the next slot:", err)
	}
	return err
}

// record writes the patient's record: two entries (one to delete), a
// document, consents (the dietitian's lets them in; another to revoke) and
// two public keys (one to revoke), the doctor's in the doctor's world.
func (w *world) record(ctx context.Context) error {
	sd, pt := w.sd, w.token(auth.RolePatient)
	records := "/api/v1/patients/" + w.patient + "/records"
	for _, key := range []string{"record_id", "delete_record_id"} {
		var rec struct {
			ID string `json:"id"`
		}
		if err := sd.call(ctx, pt, http.MethodPost, records, map[string]any{
			"kind": "allergy", "date": "2024-01-15", "display": "Penicillin", "status": "active"}, http.StatusCreated, &rec); err != nil {
			return err
		}
		w.set(key, rec.ID)
	}
	doc, err := sd.upload(ctx, pt, w.patient)
	if err != nil {
		return err
	}
	w.set("document_id", doc)
	for _, c := range []struct{ key, practitioner string }{{"consent_id", w.dietitian}, {"revoke_consent_id", w.doctor}} {
		var consent struct {
			ID string `json:"id"`
		}
		if err := sd.call(ctx, pt, http.MethodPost, "/api/v1/patients/"+w.patient+"/consents",
			map[string]string{"practitioner_id": c.practitioner, "category": "all"}, http.StatusCreated, &consent); err != nil {
			return err
		}
		w.set(c.key, consent.ID)
	}
	keyOwner := pt
	if w.viewer == auth.RoleDoctor {
		keyOwner = w.token(auth.RoleDoctor)
	}
	for _, key := range []string{"key_id", "revoke_key_id"} {
		var registered struct {
			KeyID string `json:"key_id"`
		}
		if err := sd.call(ctx, keyOwner, http.MethodPost, "/api/v1/keys", map[string]any{"jwk": newJWK()},
			http.StatusCreated, &registered); err != nil {
			return err
		}
		w.set(key, registered.KeyID)
	}
	return nil
}

// diet starts a diet-check journey and, when approve, has the world's
// dietitian approve its first plan.
func (w *world) diet(ctx context.Context, approve bool) error {
	journey, plan, err := w.sd.dietJourney(ctx, w.patient, w.token(auth.RolePatient))
	if err != nil {
		return err
	}
	w.set("diet_journey_id", journey)
	w.set("diet_plan_id", plan)
	if !approve {
		return nil
	}
	return w.sd.call(ctx, w.token(auth.RoleDietitian), http.MethodPost, "/api/v1/journeys/"+url.PathEscape(journey)+"/diet/review",
		map[string]string{"plan_id": plan, "action": "approve"}, http.StatusOK, nil)
}

// startJourney starts a journey of the patient's and returns its ID.
func (sd *seeder) startJourney(ctx context.Context, token, patient, pathway string, episode int, slot string) (string, error) {
	body := map[string]any{"patient_id": patient, "pathway_id": pathway, "episode": episode}
	if slot != "" {
		body["slot_id"] = slot
	}
	var started struct {
		ID string `json:"id"`
	}
	if err := sd.call(ctx, token, http.MethodPost, "/api/v1/journeys", body, http.StatusAccepted, &started); err != nil {
		return "", err
	}
	return started.ID, nil
}

// consults drives four journeys of the doctor's to the consult, on slots
// that start in half a minute: one waits there (consult_journey_id), one
// has its consult under way (open_consult_journey_id), one is closed with a prescription that waits for the doctor's review
// (rx_journey_id, prescription_id), one with a lab order that waits for
// its result (lab_journey_id).
func (w *world) consults(ctx context.Context) error {
	sd, pt, dt := w.sd, w.token(auth.RolePatient), w.token(auth.RoleDoctor)
	keys := []string{"consult_journey_id", "open_consult_journey_id", "rx_journey_id", "lab_journey_id"}
	ids := map[string]string{}
	for i, key := range keys {
		sl, err := sd.soonSlot(ctx, w.doctor, 30*time.Second, i)
		if err != nil {
			return err
		}
		if ids[key], err = sd.startJourney(ctx, pt, w.patient, "general-consult", 111+i, sl.ID); err != nil {
			return err
		}
	}
	for _, key := range keys {
		id := ids[key]
		if err := sd.pay(ctx, pt, id); err != nil {
			return err
		}
		if err := sd.call(ctx, dt, http.MethodPost, "/api/v1/journeys/"+url.PathEscape(id)+"/decisions",
			map[string]string{"step_id": "doctor_review", "outcome": "accepted"}, http.StatusOK, nil); err != nil {
			return err
		}
		w.set(key, id)
	}
	for _, key := range keys {
		if err := sd.waitStage(ctx, pt, ids[key], "consult", 90*time.Second); err != nil {
			return err
		}
	}
	closes := map[string]map[string]any{
		"rx_journey_id": {"diagnoses": []string{"E11.9"}, "notes": "Newly diagnosed.", "orders": []string{"prescription"},
			"prescriptions": []map[string]any{{"drug": "metformin", "dose": "500 mg", "route": "oral", "frequency": "twice daily",
				"duration_days": 30, "quantity": 60, "refills": 2}}},
		"lab_journey_id": {"diagnoses": []string{"E11.9"}, "notes": "Check fasting glucose.", "orders": []string{"lab_tests"},
			"lab_tests": []string{"1558-6"}},
	}
	for key, body := range closes {
		path := "/api/v1/journeys/" + url.PathEscape(ids[key])
		if err := sd.call(ctx, dt, http.MethodPost, path+"/consult/start", map[string]any{}, http.StatusOK, nil); err != nil {
			return err
		}
		if err := sd.call(ctx, dt, http.MethodPost, path+"/consult/close", body, http.StatusOK, nil); err != nil {
			return err
		}
	}
	// The consult the close route may close.
	if err := sd.call(ctx, dt, http.MethodPost, "/api/v1/journeys/"+url.PathEscape(ids["open_consult_journey_id"])+"/consult/start",
		map[string]any{}, http.StatusOK, nil); err != nil {
		return err
	}
	rx := "/api/v1/journeys/" + url.PathEscape(ids["rx_journey_id"]) + "/prescription"
	deadline := time.Now().Add(60 * time.Second)
	for {
		var info struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if err := sd.call(ctx, dt, http.MethodGet, rx, nil, http.StatusOK, &info); err == nil && info.Status == "awaiting_review" {
			w.set("prescription_id", info.ID)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("journey %s: no prescription awaiting review after a minute", ids["rx_journey_id"])
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// dietJourney starts a diet-check journey (internal/fuzzseed/pathways) and
// waits for its first plan; it returns the journey's and the plan's IDs.
func (sd *seeder) dietJourney(ctx context.Context, patient, token string) (string, string, error) {
	var started struct {
		ID string `json:"id"`
	}
	if err := sd.call(ctx, token, http.MethodPost, "/api/v1/journeys", map[string]any{"patient_id": patient,
		"pathway_id": "diet-check"}, http.StatusAccepted, &started); err != nil {
		return "", "", err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var d struct {
			State struct {
				Status string `json:"status"`
				PlanID string `json:"plan_id"`
			} `json:"state"`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, sd.base+"/api/v1/journeys/"+url.PathEscape(started.ID)+"/diet", nil)
		if err != nil {
			return "", "", err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if _, err := sd.do(req, http.StatusOK, &d); err == nil && d.State.Status == store.DietAwaitingReview {
			return started.ID, d.State.PlanID, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("journey %s: no diet plan waiting for review after %v", started.ID, 90*time.Second)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// course starts a medication course (the adherence workflow a journey's
// prescription starts) on a signed prescription of the doctor's, with doses
// every ten seconds, so that a dose is open for most of the run.
func (sd *seeder) course(ctx context.Context, patient, doctor string) (string, error) {
	// No quiet hours: the course's texts go whatever the hour of the run.
	if err := sd.store.SetQuietHours(ctx, patient, "", ""); err != nil {
		return "", err
	}
	item := store.MedicationItem{Drug: "metformin", Dose: "500 mg", Route: "oral", Frequency: "twice daily",
		DurationDays: 30, Quantity: 60, Refills: 3}
	journey := fmt.Sprintf("fuzz-%s", uuid.NewString())
	rx, err := sd.store.CreatePrescription(ctx, store.NewPrescription{JourneyID: journey, Step: "prescribe", Version: 1,
		PatientID: patient, PractitionerID: doctor, Items: []store.MedicationItem{item}})
	if err != nil {
		return "", err
	}
	if _, err := sd.signer.SignPrescription(ctx, contract.SignPrescriptionInput{PrescriptionID: rx.ID, ActorID: doctor,
		Action: "approve", ReviewedAt: time.Now()}); err != nil {
		return "", err
	}
	id := workflows.AdherenceWorkflowID(patient, rx.ID, 0)
	in := workflows.AdherenceInput{JourneyID: workflows.NewJourneyWorkflowID(patient),
		PatientID: patient, PrescriptionID: rx.ID, Frequency: item.Frequency, DurationDays: item.DurationDays,
		Quantity: item.Quantity, Refills: item.Refills, TimeZone: "Asia/Kolkata",
		Settings: workflows.AdherenceSettings{Interval: 10 * time.Second, DosesPerRun: 20, RefillLeadDays: 1}}
	if _, err := sd.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: sd.cfg.TemporalTaskQueue},
		workflows.AdherenceWorkflowName, in); err != nil {
		return "", fmt.Errorf("start course: %w", err)
	}
	return id, nil
}

// waitStage polls the journey until it reaches stage.
func (sd *seeder) waitStage(ctx context.Context, token, journey, stage string, limit time.Duration) error {
	var st struct {
		Stage string `json:"stage"`
	}
	deadline := time.Now().Add(limit)
	for st.Stage != stage {
		if time.Now().After(deadline) {
			return fmt.Errorf("journey %s: not at %s after %v (stage %q)", journey, stage, limit, st.Stage)
		}
		time.Sleep(300 * time.Millisecond)
		// A slow worker may miss a query's deadline: ask again until ours.
		if err := sd.call(ctx, token, http.MethodGet, "/api/v1/journeys/"+url.PathEscape(journey), nil, http.StatusOK, &st); err != nil {
			fmt.Fprintln(os.Stderr, "fuzzseed: asking again:", err)
		}
	}
	return nil
}

// soonSlot creates a free slot of the practitioner starting lead from now;
// its odd milliseconds keep it off the whole-minute slots.
func (sd *seeder) soonSlot(ctx context.Context, practitioner string, lead time.Duration, nth int) (store.Slot, error) {
	var schedule string
	if err := sd.store.Pool.QueryRow(ctx, `SELECT id::text FROM schedule WHERE practitioner_id = $1 ORDER BY id LIMIT 1`,
		practitioner).Scan(&schedule); err != nil {
		return store.Slot{}, fmt.Errorf("schedule: %w", err)
	}
	start := time.Now().Add(lead).Truncate(time.Millisecond).Add(time.Duration(7+2*nth) * time.Millisecond)
	sl, err := sd.store.CreateSlot(ctx, store.Slot{ScheduleID: schedule, PractitionerID: practitioner, Start: start,
		End: start.Add(15 * time.Minute), Status: store.SlotFree})
	if err != nil {
		return store.Slot{}, fmt.Errorf("slot: %w", err)
	}
	return sl, nil
}

// practitioner copies a seeded practitioner (of specialty, or any) into
// the city, with a weekly schedule, and returns its ID.
func (sd *seeder) practitioner(ctx context.Context, name, specialty, city string) (string, error) {
	id := uuid.NewString()
	if _, err := sd.store.Pool.Exec(ctx, `
		INSERT INTO practitioner (id, name, gender, specialty_code, qualification, years_experience, languages,
			organization_id, city, consult_fee_minor, currency)
		SELECT $1, $2, gender, specialty_code, qualification, years_experience, languages, organization_id, $3,
			consult_fee_minor, currency FROM practitioner WHERE $4 = '' OR specialty_code = $4 ORDER BY id LIMIT 1`,
		id, name, city, specialty); err != nil {
		return "", fmt.Errorf("practitioner: %w", err)
	}
	if _, err := sd.store.Pool.Exec(ctx, `
		INSERT INTO schedule (id, practitioner_id, weekday, start_time, end_time, slot_minutes, timezone)
		SELECT gen_random_uuid(), $1, d, '09:00', '10:00', 15, 'Asia/Kolkata' FROM generate_series(1, 3) d`, id); err != nil {
		return "", fmt.Errorf("schedule: %w", err)
	}
	return id, nil
}

// slots creates n free slots of the practitioner, 15 minutes apart.
func (sd *seeder) slots(ctx context.Context, practitioner string, n int) ([]store.Slot, error) {
	var out []store.Slot
	for i := range n {
		sl, err := sd.slot(ctx, practitioner, i)
		if err != nil {
			return nil, err
		}
		out = append(out, sl)
	}
	return out, nil
}

func (sd *seeder) slot(ctx context.Context, practitioner string, nth int) (store.Slot, error) {
	var schedule string
	if err := sd.store.Pool.QueryRow(ctx, `SELECT id::text FROM schedule WHERE practitioner_id = $1 ORDER BY id LIMIT 1`,
		practitioner).Scan(&schedule); err != nil {
		return store.Slot{}, fmt.Errorf("schedule: %w", err)
	}
	ist, _ := time.LoadLocation("Asia/Kolkata")
	day := time.Now().In(ist).AddDate(0, 0, 3)
	start := time.Date(day.Year(), day.Month(), day.Day(), 14, 0, 0, 0, ist).Add(time.Duration(nth) * 15 * time.Minute)
	sl, err := sd.store.CreateSlot(ctx, store.Slot{ScheduleID: schedule, PractitionerID: practitioner, Start: start,
		End: start.Add(15 * time.Minute), Status: store.SlotFree})
	if err != nil {
		return store.Slot{}, fmt.Errorf("slot: %w", err)
	}
	return sl, nil
}

// pay waits for the journey's PaymentIntent and delivers Stripe's signed
// webhook that it succeeded, so that the journey waits for the doctor.
func (sd *seeder) pay(ctx context.Context, token, journey string) error {
	var st struct {
		Stage   string `json:"stage"`
		Payment *struct {
			PaymentIntentID string `json:"payment_intent_id"`
			AmountMinor     int64  `json:"amount_minor"`
		} `json:"payment"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for st.Stage != "pay" || st.Payment == nil || st.Payment.PaymentIntentID == "" {
		if time.Now().After(deadline) {
			return fmt.Errorf("journey %s: no PaymentIntent after a minute (stage %q)", journey, st.Stage)
		}
		time.Sleep(300 * time.Millisecond)
		// A slow worker may miss a query's deadline: ask again until ours.
		if err := sd.call(ctx, token, http.MethodGet, "/api/v1/journeys/"+url.PathEscape(journey), nil, http.StatusOK, &st); err != nil {
			fmt.Fprintln(os.Stderr, "fuzzseed: asking again:", err)
		}
	}
	event, err := json.Marshal(map[string]any{
		"id": "evt_fuzz_" + randomHex(8), "object": "event", "created": time.Now().Unix(), "livemode": false,
		"type": "payment_intent.succeeded", "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": st.Payment.PaymentIntentID, "object": "payment_intent", "amount": st.Payment.AmountMinor,
			"amount_received": st.Payment.AmountMinor, "currency": "inr", "status": "succeeded",
			"metadata": map[string]string{"journey_id": journey},
		}},
	})
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(sd.cfg.StripeWebhookSecret))
	fmt.Fprintf(mac, "%d.%s", now, event)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sd.base+"/api/v1/webhooks/stripe", bytes.NewReader(event))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", fmt.Sprintf("t=%d,v1=%s", now, hex.EncodeToString(mac.Sum(nil))))
	if _, err := sd.do(req, http.StatusOK, nil); err != nil {
		return fmt.Errorf("stripe webhook: %w", err)
	}
	return sd.waitStage(ctx, token, journey, "doctor_review", 60*time.Second)
}

// upload stores a small PNG as a document of the patient's and returns its record ID.
func (sd *seeder) upload(ctx context.Context, token, patient string) (string, error) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if err := w.WriteField("metadata", `{"title":"Fuzz scan","date":"2024-01-15"}`); err != nil {
		return "", err
	}
	part, err := w.CreateFormFile("file", "scan.png")
	if err != nil {
		return "", err
	}
	// A 1x1 PNG.
	png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
	if _, err := part.Write(png); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sd.base+"/api/v1/patients/"+patient+"/documents", &body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	var rec struct {
		ID string `json:"id"`
	}
	if _, err := sd.do(req, http.StatusCreated, &rec); err != nil {
		return "", fmt.Errorf("upload document: %w", err)
	}
	return rec.ID, nil
}

// clientToken is an integrator's access token (client credentials).
func (sd *seeder) clientToken(ctx context.Context, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sd.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := sd.do(req, http.StatusOK, &tok); err != nil {
		return "", fmt.Errorf("integrator token: %w", err)
	}
	return tok.AccessToken, nil
}

// call sends a JSON request (body nil: none) and decodes the answer into
// out, failing unless the status is want.
func (sd *seeder) call(ctx context.Context, token, method, path string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, sd.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if _, err := sd.do(req, want, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

func (sd *seeder) do(req *http.Request, want int, out any) ([]byte, error) {
	resp, err := sd.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		// The body is a problem document about the request; it holds no
		// health data of anyone's but this run's made-up patients.
		return nil, fmt.Errorf("status %d, want %d: %s", resp.StatusCode, want, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("decode answer: %w", err)
		}
	}
	return raw, nil
}

// newJWK is a fresh ECDSA P-256 public key as a JWK, as WebCrypto exports it.
func newJWK() map[string]string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	enc := base64.RawURLEncoding
	return map[string]string{"kty": "EC", "crv": "P-256",
		"x": enc.EncodeToString(k.PublicKey.X.FillBytes(make([]byte, 32))),
		"y": enc.EncodeToString(k.PublicKey.Y.FillBytes(make([]byte, 32)))}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return hex.EncodeToString(b)
}
