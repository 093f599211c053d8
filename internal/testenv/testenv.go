// Package testenv connects integration tests to the real services of the
// local stack (PostgreSQL, Redis, Temporal, Neo4j, stripe-mock).
//
// `make test` starts whatever is not already running and stops it afterwards.
// Run by hand, `go run ./cmd/carepath stack exec -- go test ./...` does the
// same. When a service is missing, the test fails and says how to start it:
// an integration test never passes by skipping.
//
// Tests use their own database and Redis index so they never touch the data
// of a running `make run`:
//
//	CAREPATH_TEST_DATABASE_URL      the owner role's (default postgres://carepath:carepath@127.0.0.1:5432/carepath_test?sslmode=disable)
//	CAREPATH_TEST_APP_DATABASE_URL  the application role's (default: the owner's URL with user and
//	                                password carepath_app, the role the local stack creates)
//	CAREPATH_TEST_REDIS_URL         (default redis://127.0.0.1:6379/15)
//
// As in production, the schema is migrated as the owner role and tests talk
// to it as the application role (Store, and Config's DatabaseURL), so that a
// query the application's grants refuse fails in the tests too. OwnerStore
// and Owner are for the few tests that need more: another schema, or
// tampering with append-only tables as an intruder with the owner's rights
// would.
//
// The other addresses come from the usual variables (see package config).
//
// Temporal payloads in tests are encrypted with one fixed, public test key
// (CodecKeys), so that separate test processes, and the programs a test
// starts, read each other's workflows. It protects nothing and is never
// used outside tests.
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/carepath/carepath/codec"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
)

// CodecKeys is the test key ring in CAREPATH_CODEC_KEYS form: one key,
// "test-1", whose secret is the bytes 0x00..0x1f. Pass it to programs a test
// starts as CAREPATH_CODEC_KEYS.
const CodecKeys = "test-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// CodecActiveKey is the ID of the key in CodecKeys.
const CodecActiveKey = "test-1"

const howToStart = "start the local stack with `make test` (or `go run ./cmd/carepath stack exec -- go test ./...`)"

// Config returns the configuration for integration tests: the usual
// environment, with the database and Redis pointed at the test ones.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("testenv: config: %v", err)
	}
	cfg.DatabaseOwnerURL = envOr("CAREPATH_TEST_DATABASE_URL", config.DefaultTestDatabaseURL)
	cfg.DatabaseURL = envOr("CAREPATH_TEST_APP_DATABASE_URL", config.WithUser(cfg.DatabaseOwnerURL, config.DefaultAppRole, config.LocalAppPassword))
	cfg.RedisURL = envOr("CAREPATH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
	keys, err := codec.ParseKeys(CodecKeys)
	if err != nil {
		t.Fatalf("testenv: test codec keys: %v", err)
	}
	cfg.CodecKeys, cfg.CodecActiveKey, cfg.CodecKeySource = keys, CodecActiveKey, "testenv.CodecKeys"
	// A fixed, public prescription signing key, so that no test writes a
	// key file into the source tree.
	cfg.PrescriptionSigningSeed, cfg.PrescriptionKeySource = []byte(PrescriptionSigningSeed), "testenv.PrescriptionSigningSeed"
	return cfg
}

// PrescriptionSigningSeed is the tests' Ed25519 seed for signing
// prescriptions. It protects nothing and is never used outside tests.
// PrescriptionSigningKey is the same seed as PRESCRIPTION_SIGNING_KEY takes
// it, for programs a test starts.
const (
	PrescriptionSigningSeed = "carepath-test-prescription-key!!"
	PrescriptionSigningKey  = "Y2FyZXBhdGgtdGVzdC1wcmVzY3JpcHRpb24ta2V5ISE="
)

var (
	migrateOnce sync.Once
	migrateErr  error
)

// Store opens the test database as the application role, migrated (as the
// owner) to the newest schema. It fails the test with instructions when
// PostgreSQL cannot be reached.
func Store(t testing.TB) *store.Store {
	t.Helper()
	cfg := Config(t)
	migrateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		owner, err := store.Open(ctx, cfg.DatabaseOwnerURL)
		if err != nil {
			migrateErr = fmt.Errorf("PostgreSQL at %s is not reachable (%w); %s", config.RedactURL(cfg.DatabaseOwnerURL), err, howToStart)
			return
		}
		defer owner.Close()
		owner.AppRole = cfg.AppRole()
		if _, err := owner.Migrate(ctx); err != nil {
			migrateErr = fmt.Errorf("migrate test database: %w", err)
		}
	})
	if migrateErr != nil {
		t.Fatalf("testenv: %v", migrateErr)
	}
	return open(t, cfg.DatabaseURL, "the application role "+cfg.AppRole()+
		" (the stack creates it with LOGIN; see the README's \"On a managed PostgreSQL\")")
}

// OwnerStore opens the test database, migrated, as the owner role: for
// tests that create schemas or tamper with append-only tables as an
// intruder with the owner's rights would. Everything else uses Store.
func OwnerStore(t testing.TB) *store.Store {
	t.Helper()
	Store(t) // migrated
	return open(t, Config(t).DatabaseOwnerURL, "the owner role")
}

// Owner opens an owner-role store that sees the same schemas as s (its
// search_path), for tests that tamper with a schema of their own.
func Owner(t testing.TB, s *store.Store) *store.Store {
	t.Helper()
	ctx := context.Background()
	var path string
	if err := s.Pool.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&path); err != nil {
		t.Fatalf("testenv: search_path: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(Config(t).DatabaseOwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = path
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: owner pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return &store.Store{Pool: pool, AppRole: Config(t).AppRole()}
}

func open(t testing.TB, url, who string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s is not reachable as %s (%v); %s", config.RedactURL(url), who, err, howToStart)
	}
	t.Cleanup(s.Close)
	return s
}

// Neo4j opens a driver to the Neo4j of the local stack (NEO4J_URI) and
// checks that it answers. It fails the test with instructions when Neo4j
// cannot be reached. Community edition has one database, shared with a
// running `make run`: tests must not delete data others rely on.
func Neo4j(t testing.TB) neo4j.DriverWithContext {
	t.Helper()
	cfg := Config(t)
	d, err := platform.OpenNeo4j(cfg)
	if err != nil {
		t.Fatalf("testenv: neo4j driver: %v", err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.VerifyConnectivity(ctx); err != nil {
		Fail(t, "Neo4j", cfg.Neo4jURI, err)
	}
	return d
}

// Fail stops the test because a service is missing, saying how to start it.
func Fail(t testing.TB, service, addr string, err error) {
	t.Helper()
	t.Fatalf("testenv: %s at %s is not reachable (%v); %s", service, addr, err, howToStart)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// Logger returns a logger that writes through t.Log, so output shows only
// for failing tests.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// QuickConsultPathway is the shipped general consultation as a test version
// (900) whose time limits are short enough for a test to live through them:
// put it in a PATHWAYS_DIR and start journeys with pathway_version 900.
func QuickConsultPathway(t testing.TB) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "pathways", "definitions", "general-consult.v1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(raw), "version: 1", "version: 900", 1)
	for _, r := range []struct{ old, short string }{
		{"value: 15m\n    source: carepath-ops\n    description: How long a chosen slot", "value: 2m\n    source: carepath-ops\n    description: How long a chosen slot"},
		{"value: 30m", "value: 1m"},
		{"value: 4h", "value: 1m"},
		{"value: 20h", "value: 1m"},
		{"[24h, 1h]", "[10s]"},
		{"value: 15m\n    source: carepath-ops\n    description: How long after", "value: 1m\n    source: carepath-ops\n    description: How long after"},
	} {
		if !strings.Contains(src, r.old) {
			t.Fatalf("testenv: %q is not in the shipped general consultation any more", r.old)
		}
		src = strings.Replace(src, r.old, r.short, 1)
	}
	return src
}

// SlotSoon creates a free slot starting lead from now for the nth schedule
// (by ID), so that tests running at once can take different doctors. Its
// start has odd milliseconds: it never collides with the whole-minute slots
// the schedules generate.
func SlotSoon(t testing.TB, s *store.Store, nth int, lead time.Duration) store.Slot {
	t.Helper()
	ctx := context.Background()
	var practitioner, schedule string
	if err := s.Pool.QueryRow(ctx, `SELECT practitioner_id::text, id::text FROM schedule ORDER BY id OFFSET $1 LIMIT 1`, nth).
		Scan(&practitioner, &schedule); err != nil {
		t.Fatalf("testenv: schedule %d: %v", nth, err)
	}
	start := time.Now().Add(lead).Truncate(time.Millisecond).Add(time.Duration(7+2*nth) * time.Millisecond)
	slot, err := s.CreateSlot(ctx, store.Slot{ScheduleID: schedule, PractitionerID: practitioner, Start: start,
		End: start.Add(15 * time.Minute), Status: store.SlotFree})
	if err != nil {
		t.Fatalf("testenv: create slot: %v", err)
	}
	return slot
}

// NewPatient registers a patient of the test's own in city (with a random
// phone and email, which are unique among patients and users), so that no
// other test's journeys, prescriptions or audit events are theirs.
func NewPatient(t testing.TB, s *store.Store, city string) string {
	t.Helper()
	id := uuid.NewString()
	if _, err := s.Pool.Exec(context.Background(), `INSERT INTO patient (id, name, birth_date, gender, phone, email, city,
		preferred_language, timezone) VALUES ($1, 'Test Patient', '1975-01-01', 'unknown', $2, $3, $4, 'en', 'Asia/Kolkata')`,
		id, fmt.Sprintf("+1555%09d", rand.IntN(1_000_000_000)), id+"@test.invalid", city); err != nil {
		t.Fatalf("testenv: new patient: %v", err)
	}
	return id
}

// NewPractitioner copies a seeded practitioner under a new ID and name,
// with one weekly schedule of three weekday sessions (as the seed checks
// want), so that no other test's appointments, accounts or earnings are
// theirs. It returns the practitioner's and the first schedule's IDs.
func NewPractitioner(t testing.TB, s *store.Store, name string) (practitionerID, scheduleID string) {
	t.Helper()
	ctx := context.Background()
	practitionerID, scheduleID = uuid.NewString(), uuid.NewString()
	// One transaction, so that no other test ever sees the practitioner
	// without its schedule.
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO practitioner (id, name, gender, specialty_code, qualification, years_experience, languages,
				organization_id, city, consult_fee_minor, currency)
			SELECT $1, $2, gender, specialty_code, qualification, years_experience, languages, organization_id, city,
				consult_fee_minor, currency FROM practitioner ORDER BY id LIMIT 1`, practitionerID, name); err != nil {
			return fmt.Errorf("practitioner: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO schedule (id, practitioner_id, weekday, start_time, end_time, slot_minutes, timezone)
			SELECT CASE WHEN d = 1 THEN $1::uuid ELSE gen_random_uuid() END, $2, d, '09:00', '10:00', 15, 'Asia/Kolkata'
			FROM generate_series(1, 3) d`, scheduleID, practitionerID); err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: new practitioner: %v", err)
	}
	return practitionerID, scheduleID
}

// FreshEpisode returns an episode number (1000 to 9998) the patient has not
// used on the pathway in this database, nor the one after it (a follow-up
// starts that one). Tests that run journeys for seeded patients draw one per
// run, and a persistent dev stack remembers earlier runs' journeys.
func FreshEpisode(t testing.TB, s *store.Store, patientID, pathwayID string) int {
	t.Helper()
	// journey_ref holds every journey's episode (journey IDs are opaque).
	rows, err := s.Pool.Query(context.Background(), `SELECT episode FROM journey_ref WHERE patient_id = $1 AND pathway_id = $2`, patientID, pathwayID)
	if err != nil {
		t.Fatalf("testenv: episodes used: %v", err)
	}
	used := map[int]bool{}
	for rows.Next() {
		var episode int
		if err := rows.Scan(&episode); err != nil {
			t.Fatalf("testenv: episodes used: %v", err)
		}
		used[episode] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("testenv: episodes used: %v", err)
	}
	for range 1000 {
		if e := 1000 + rand.IntN(8999); !used[e] && !used[e+1] {
			return e
		}
	}
	t.Fatalf("testenv: patient %s has used nearly every episode of %s", patientID, pathwayID)
	return 0
}

// JourneyID is the workflow ID of the patient's episode on the pathway, as
// the API recorded it when it started the journey (journey IDs are opaque:
// workflows.NewJourneyWorkflowID).
func JourneyID(t testing.TB, s *store.Store, patientID, pathwayID string, episode int) string {
	t.Helper()
	ref, err := s.JourneyRefByEpisode(context.Background(), patientID, pathwayID, episode)
	if err != nil {
		t.Fatalf("testenv: journey of %s on %s, episode %d: %v", patientID, pathwayID, episode, err)
	}
	return ref.WorkflowID
}
