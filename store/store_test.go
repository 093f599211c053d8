package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

func TestMigrationsAreGapless(t *testing.T) {
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d, want %d", i, m.Version, i+1)
		}
		if m.Name == "" || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %04d has an empty name or body", m.Version)
		}
	}
}

// TestMigrateTwice runs every migration on a fresh, throwaway schema, so the
// first run really applies them all, then checks a second run applies none.
func TestMigrateTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := testenv.OwnerStore(t)
	schema := fmt.Sprintf("migrate_test_%d", time.Now().UnixNano())
	if _, err := admin.Pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		dropCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Pool.Exec(dropCtx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})

	// Unknown URL parameters become session settings: this pool sees only the new schema.
	u, err := url.Parse(testenv.Config(t).DatabaseOwnerURL) // migrations run as the owner
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AppRole = testenv.Config(t).AppRole()

	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if len(first) != len(ms) {
		t.Errorf("first Migrate applied %v, want all %d migrations", first, len(ms))
	}
	second, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(second) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", second)
	}

	// A database another build migrated, whose last migration has a
	// different name under the same number, is refused by name.
	last := ms[len(ms)-1]
	if _, err := s.Pool.Exec(ctx, `UPDATE schema_migration SET name = 'someone_elses' WHERE version = $1`, last.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "someone_elses") {
		t.Errorf("Migrate over another build's migration %04d: %v, want an error naming it", last.Version, err)
	}
}

func TestRecordJourneyIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.Store(t)
	seed(ctx, t, s)

	j := store.Journey{
		ID:        fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano()),
		PatientID: store.SeedPatientID(1),
		PathwayID: "test-pathway",
		Status:    "started",
	}
	for range 2 {
		if err := s.RecordJourney(ctx, j); err != nil {
			t.Fatalf("RecordJourney: %v", err)
		}
	}
	var rows int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM journey WHERE id = $1`, j.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("journey rows = %d, want 1", rows)
	}
	got, err := s.GetJourney(ctx, j.ID)
	if err != nil {
		t.Fatalf("GetJourney: %v", err)
	}
	if got.PatientID != j.PatientID || got.PathwayID != j.PathwayID || got.Status != j.Status {
		t.Errorf("GetJourney = %+v, want %+v", got, j)
	}

	// A later status overwrites the earlier one on the same row.
	j.Status = "completed"
	if err := s.RecordJourney(ctx, j); err != nil {
		t.Fatalf("RecordJourney (completed): %v", err)
	}
	if got, err := s.GetJourney(ctx, j.ID); err != nil || got.Status != "completed" {
		t.Errorf("after update: status %q, err %v; want completed", got.Status, err)
	}
}

func TestGetJourneyNotFound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.Store(t)
	_, err := s.GetJourney(ctx, fmt.Sprintf("missing-%s-%d", t.Name(), time.Now().UnixNano()))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJourney(missing) error = %v, want one wrapping store.ErrNotFound", err)
	}
}
