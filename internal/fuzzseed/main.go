// Command fuzzseed gives the API fuzzing step (scripts/schemathesis.sh) a
// signed-in caller for every role and objects that caller may legitimately
// touch, so that generated requests get past authorization and "not found"
// and reach the handlers' success paths.
//
// For each role it builds a world of its own in the test database and
// through the running API: a patient in a city whose coordinator's care team
// it is, a doctor with free slots, a dietitian the patient has given consent
// to, journeys (one waiting, one to cancel, one paid and waiting for the
// doctor's decision), records, consents, a public key, a document and
// HealthLink appointment requests. It prints one JSON object:
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
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

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
	s, err := store.Open(ctx, cfg.DatabaseURL)
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
	sd := &seeder{base: strings.TrimRight(base, "/"), cfg: cfg, store: s, auth: a,
		http: &http.Client{Timeout: 30 * time.Second}, city: "Fuzz-" + uuid.NewString()[:8],
		temporal: tc, signer: &activities.Prescriptions{Store: s, Signer: signer}}

	out := map[string]*role{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(roles))
	for i, name := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"roles": out})
}

// world builds the objects one role's run works on and signs that role in.
func (sd *seeder) world(ctx context.Context, viewer string) (*role, error) {
	v := map[string]string{"role": viewer}
	tag := viewer + "-" + uuid.NewString()[:8]
	// A city of the world's own: its coordinator's care team, and the
	// dietitian a diet step assigns, are this world's.
	city := sd.city + "-" + viewer

	// The people: a patient, the doctor and dietitian who care for them,
	// the coordinator of their city, an admin; each signs in with a
	// password of its own.
	patient := uuid.NewString()
	v["patient_id"], v["patient_email"], v["patient_name"] = patient, "fuzz-"+tag+"@test.invalid", "Fuzz Patient"
	v["patient_phone"] = fmt.Sprintf("+1555%07d%02d", time.Now().UnixNano()%10_000_000, len(viewer))
	if _, err := sd.store.Pool.Exec(ctx, `INSERT INTO patient (id, name, birth_date, gender, phone, email, city,
		preferred_language, timezone) VALUES ($1, $2, '1975-01-01', 'unknown', $3, $4, $5, 'en', 'Asia/Kolkata')`,
		patient, v["patient_name"], v["patient_phone"], v["patient_email"], city); err != nil {
		return nil, fmt.Errorf("patient: %w", err)
	}
	doctor, err := sd.practitioner(ctx, "Dr Fuzz "+tag, "", city)
	if err != nil {
		return nil, err
	}
	dietitian, err := sd.practitioner(ctx, "Dietitian Fuzz "+tag, "nutrition", city)
	if err != nil {
		return nil, err
	}
	v["doctor_id"], v["dietitian_id"] = doctor, dietitian
	users := []auth.NewUser{
		{Email: v["patient_email"], Phone: v["patient_phone"], Role: auth.RolePatient, PatientID: patient},
		{Email: "fuzz-doctor-" + tag + "@test.invalid", Role: auth.RoleDoctor, PractitionerID: doctor},
		{Email: "fuzz-dietitian-" + tag + "@test.invalid", Role: auth.RoleDietitian, PractitionerID: dietitian},
		{Email: "fuzz-coordinator-" + tag + "@test.invalid", Role: auth.RoleCoordinator},
		{Email: "fuzz-admin-" + tag + "@test.invalid", Role: auth.RoleAdmin},
	}
	tokens := map[string]string{}
	for _, u := range users {
		u.ID, u.Password = uuid.NewString(), randomHex(16)
		if _, err := sd.auth.UpsertUser(ctx, u); err != nil {
			return nil, err
		}
		if u.Role == auth.RoleCoordinator {
			if _, err := sd.store.Pool.Exec(ctx, `INSERT INTO care_team (id, coordinator_id, city) VALUES ($1, $2, $3)`,
				uuid.NewString(), u.ID, city); err != nil {
				return nil, fmt.Errorf("care team: %w", err)
			}
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := sd.call(ctx, "", http.MethodPost, "/api/v1/auth/sign-in",
			map[string]string{"email": u.Email, "password": u.Password}, http.StatusOK, &tok); err != nil {
			return nil, err
		}
		tokens[u.Role] = tok.AccessToken
		if u.Role == viewer {
			v["email"], v["password"], v["refresh_token"] = u.Email, u.Password, tok.RefreshToken
		}
	}
	clientID, secret := "fuzz-integrator-"+tag, randomHex(16)
	if err := sd.auth.UpsertClient(ctx, clientID, "Fuzz integrator", secret, []string{auth.ScopeModelsPredict,
		auth.ScopeKnowledgeRead, auth.ScopeLabsWrite, auth.ScopeDirectoryRead, auth.ScopeJourneysWrite}); err != nil {
		return nil, err
	}
	v["client_id"], v["client_secret"] = clientID, secret
	tokens[auth.RoleIntegrator], err = sd.clientToken(ctx, clientID, secret)
	if err != nil {
		return nil, err
	}
	pt := tokens[auth.RolePatient]

	// Free slots of the doctor: on the third day from now, from 14:00 in
	// the doctor's time zone, away from the schedule's own slots.
	slots, err := sd.slots(ctx, doctor, 8)
	if err != nil {
		return nil, err
	}
	// Journeys: one that stays waiting (the journey routes read it), one
	// the cancel route may end, one paid for and waiting for the doctor.
	for i, key := range []string{"journey_id", "cancel_journey_id", "review_journey_id"} {
		var started struct {
			ID string `json:"id"`
		}
		if err := sd.call(ctx, pt, http.MethodPost, "/api/v1/journeys", map[string]any{"patient_id": patient,
			"pathway_id": "general-consult", "episode": i + 1, "slot_id": slots[i].ID}, http.StatusAccepted, &started); err != nil {
			return nil, err
		}
		v[key] = started.ID
	}
	v["start_slot_ids"] = slots[3].ID + "," + slots[4].ID
	v["reschedule_slot_id"] = slots[5].ID
	if err := sd.pay(ctx, pt, v["review_journey_id"]); err != nil {
		return nil, err
	}
	v["review_step_id"] = "doctor_review"
	// A diet stage: the patient's plan approved by their dietitian (meals,
	// intake and readings need a plan in force); the dietitian's own run
	// gets one waiting for review.
	switch viewer {
	case auth.RoleDietitian:
		if v["diet_journey_id"], v["diet_plan_id"], err = sd.dietJourney(ctx, patient, pt); err != nil {
			return nil, err
		}
	case auth.RolePatient, auth.RoleCoordinator, auth.RoleAdmin, auth.RoleDoctor:
		if v["diet_journey_id"], v["diet_plan_id"], err = sd.dietJourney(ctx, patient, pt); err != nil {
			return nil, err
		}
		if err := sd.call(ctx, tokens[auth.RoleDietitian], http.MethodPost, "/api/v1/journeys/"+url.PathEscape(v["diet_journey_id"])+"/diet/review",
			map[string]string{"plan_id": v["diet_plan_id"], "action": "approve"}, http.StatusOK, nil); err != nil {
			return nil, err
		}
	}
	if viewer == auth.RolePatient || viewer == auth.RoleCoordinator || viewer == auth.RoleAdmin {
		if v["adherence_id"], err = sd.course(ctx, patient, doctor); err != nil {
			return nil, err
		}
	}
	if viewer == auth.RoleDoctor {
		// Only the journey's doctor runs the consult and signs the
		// prescription: one journey waits in the consult, one has a
		// prescription waiting for review.
		if err := sd.consults(ctx, v, doctor, pt, tokens[auth.RoleDoctor]); err != nil {
			return nil, err
		}
	}

	// HealthLink appointment requests for the doctor: one to accept, one to
	// reject, one the patient may cancel; the last free slot is for booking.
	ist, _ := time.LoadLocation("Asia/Kolkata")
	for i, key := range []string{"accept_request_id", "reject_request_id", "cancel_appointment_id"} {
		start := slots[6].Start.In(ist)
		if i > 0 {
			if start, err = sd.oneSlot(ctx, doctor, 20+i); err != nil {
				return nil, err
			}
		}
		var booked struct {
			Appointment struct {
				ID string `json:"id"`
			} `json:"appointment"`
		}
		if err := sd.call(ctx, pt, http.MethodPost, "/api/book/appointment/", map[string]string{"doctor_id": doctor,
			"appointment_date": start.Format(time.DateOnly), "appointment_time": start.Format("3:04 PM"),
			"patient_name": v["patient_name"], "patient_email": v["patient_email"]}, http.StatusCreated, &booked); err != nil {
			return nil, err
		}
		v[key] = booked.Appointment.ID
	}
	book := slots[7].Start.In(ist)
	v["book_date"], v["book_time"] = book.Format(time.DateOnly), book.Format("3:04 PM")

	// The record: two entries (one to delete), a document, consents (the
	// dietitian's lets them in; another to revoke), a public key to revoke.
	for _, key := range []string{"record_id", "delete_record_id"} {
		var rec struct {
			ID string `json:"id"`
		}
		if err := sd.call(ctx, pt, http.MethodPost, "/api/v1/patients/"+patient+"/records", map[string]any{
			"kind": "allergy", "date": "2024-01-15", "display": "Penicillin", "status": "active"}, http.StatusCreated, &rec); err != nil {
			return nil, err
		}
		v[key] = rec.ID
	}
	if v["document_id"], err = sd.upload(ctx, pt, patient); err != nil {
		return nil, err
	}
	for _, c := range []struct{ key, practitioner string }{{"consent_id", dietitian}, {"revoke_consent_id", doctor}} {
		var consent struct {
			ID string `json:"id"`
		}
		if err := sd.call(ctx, pt, http.MethodPost, "/api/v1/patients/"+patient+"/consents",
			map[string]string{"practitioner_id": c.practitioner, "category": "all"}, http.StatusCreated, &consent); err != nil {
			return nil, err
		}
		v[c.key] = consent.ID
	}
	keyOwner := pt
	if viewer == auth.RoleDoctor {
		keyOwner = tokens[auth.RoleDoctor]
	}
	for _, key := range []string{"key_id", "revoke_key_id"} {
		var registered struct {
			KeyID string `json:"key_id"`
		}
		if err := sd.call(ctx, keyOwner, http.MethodPost, "/api/v1/keys", map[string]any{"jwk": newJWK()},
			http.StatusCreated, &registered); err != nil {
			return nil, err
		}
		v[key] = registered.KeyID
	}
	// Fresh keys for the register route: one key registers once.
	spare, err := json.Marshal([]map[string]string{newJWK(), newJWK(), newJWK(), newJWK()})
	if err != nil {
		return nil, err
	}
	v["spare_jwks"] = string(spare)
	return &role{Token: tokens[viewer], Values: v}, nil
}

// consults drives two journeys of the doctor's to the consult, on slots
// that start in half a minute: one waits there (consult_journey_id), the
// other is closed with a prescription that waits for the doctor's review
// (rx_journey_id, prescription_id).
func (sd *seeder) consults(ctx context.Context, v map[string]string, doctor, patientToken, doctorToken string) error {
	ids := map[string]string{}
	for i, key := range []string{"consult_journey_id", "rx_journey_id"} {
		sl, err := sd.soonSlot(ctx, doctor, 30*time.Second, i)
		if err != nil {
			return err
		}
		var started struct {
			ID string `json:"id"`
		}
		if err := sd.call(ctx, patientToken, http.MethodPost, "/api/v1/journeys", map[string]any{"patient_id": v["patient_id"],
			"pathway_id": "general-consult", "episode": 10 + i, "slot_id": sl.ID}, http.StatusAccepted, &started); err != nil {
			return err
		}
		ids[key] = started.ID
	}
	for _, key := range []string{"consult_journey_id", "rx_journey_id"} {
		id := ids[key]
		if err := sd.pay(ctx, patientToken, id); err != nil {
			return err
		}
		if err := sd.call(ctx, doctorToken, http.MethodPost, "/api/v1/journeys/"+url.PathEscape(id)+"/decisions",
			map[string]string{"step_id": "doctor_review", "outcome": "accepted"}, http.StatusOK, nil); err != nil {
			return err
		}
		v[key] = id
	}
	for _, key := range []string{"consult_journey_id", "rx_journey_id"} {
		if err := sd.waitStage(ctx, patientToken, ids[key], "consult", 90*time.Second); err != nil {
			return err
		}
	}
	rx := "/api/v1/journeys/" + url.PathEscape(ids["rx_journey_id"])
	if err := sd.call(ctx, doctorToken, http.MethodPost, rx+"/consult/start", map[string]any{}, http.StatusOK, nil); err != nil {
		return err
	}
	if err := sd.call(ctx, doctorToken, http.MethodPost, rx+"/consult/close", map[string]any{
		"diagnoses": []string{"E11.9"}, "notes": "Newly diagnosed.", "orders": []string{"prescription"},
		"prescriptions": []map[string]any{{"drug": "metformin", "dose": "500 mg", "route": "oral", "frequency": "twice daily",
			"duration_days": 30, "quantity": 60, "refills": 2}},
	}, http.StatusOK, nil); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var info struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, sd.base+rx+"/prescription", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+doctorToken)
		if _, err := sd.do(req, http.StatusOK, &info); err == nil && info.Status == "awaiting_review" {
			v["prescription_id"] = info.ID
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
	if _, err := sd.signer.SignPrescription(ctx, activities.SignPrescriptionInput{PrescriptionID: rx.ID, ActorID: doctor,
		Action: "approve", ReviewedAt: time.Now()}); err != nil {
		return "", err
	}
	id := workflows.AdherenceWorkflowID(patient, rx.ID, 0)
	in := workflows.AdherenceInput{JourneyID: workflows.JourneyWorkflowID(patient, "type-2-diabetes", 9000),
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
		if err := sd.call(ctx, token, http.MethodGet, "/api/v1/journeys/"+url.PathEscape(journey), nil, http.StatusOK, &st); err != nil {
			return err
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

// oneSlot creates the practitioner's nth free slot and returns its local start.
func (sd *seeder) oneSlot(ctx context.Context, practitioner string, nth int) (time.Time, error) {
	sl, err := sd.slot(ctx, practitioner, nth)
	if err != nil {
		return time.Time{}, err
	}
	ist, _ := time.LoadLocation("Asia/Kolkata")
	return sl.Start.In(ist), nil
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
		if err := sd.call(ctx, token, http.MethodGet, "/api/v1/journeys/"+url.PathEscape(journey), nil, http.StatusOK, &st); err != nil {
			return err
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
