// Package store owns CarePath's PostgreSQL schema and queries: numbered SQL
// migrations embedded in the binary, the connection pool, and the typed
// queries the activities and the API use. PostgreSQL is the system of record
// for domain data; Temporal only holds process state.
//
// Two roles use the database (config/database.go). Migrate runs as the owner
// role, which owns every table; the API and the worker connect as the
// application role, which owns nothing. Migration 0017 grants the
// application role SELECT, INSERT, UPDATE and DELETE on ordinary tables and
// USAGE on sequences, and on append-only tables (the audit trail, the
// ledger, signed prescriptions and signed uploads) INSERT and SELECT only,
// so that neither rows nor triggers there can be changed from the
// application's connections. It also sets default privileges, so a table a
// later migration creates (as the same owner role) is granted the ordinary
// rights without a GRANT of its own; a later migration that adds an append-only table must say so
// itself, with REVOKE UPDATE, DELETE ON the table FROM the role named by
// current_setting('carepath.app_role') (see 0017 for the DO block), and add
// it to the tests of store/privileges_test.go.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrNotFound is returned when a queried row does not exist.
var ErrNotFound = errors.New("not found")

// Store wraps the pgx pool with CarePath's queries.
type Store struct {
	Pool *pgxpool.Pool
	// AppRole is the application role Migrate grants the application's
	// privileges to (DATABASE_URL's user); empty means DefaultAppRole.
	// Only a store opened as the owner role migrates.
	AppRole string
}

// DefaultAppRole is the application role when none is named: the local
// stack's (config.DefaultAppRole).
const DefaultAppRole = "carepath_app"

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping: %w", err)
	}
	return &Store{Pool: pool}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.Pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.Pool.Ping(ctx) }

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_name.sql", e.Name())
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: read %s: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migration %04d_%s breaks the sequence (want version %d)", m.Version, m.Name, i+1)
		}
	}
	return out, nil
}

// migrateLockID is the advisory lock that serialises concurrent migrators
// (several test packages, or a rolling deploy).
const migrateLockID = 0x43617265506174 // "CarePat"

// Migrate applies every migration not yet applied, each in its own
// transaction, and returns the versions it applied. It must run as the owner
// role; each migration sees the application role's name in the setting
// carepath.app_role.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	applied, err := s.migrate(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		err = fmt.Errorf("%w (migrations run as the owner role: set DATABASE_OWNER_URL to it)", err)
	}
	return applied, err
}

func (s *Store) migrate(ctx context.Context) ([]int, error) {
	migrations, err := Migrations()
	if err != nil {
		return nil, err
	}
	appRole := s.AppRole
	if appRole == "" {
		appRole = DefaultAppRole
	}
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return nil, fmt.Errorf("store: migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be cancelled, and the lock must go.
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(unlockCtx, `SELECT pg_advisory_unlock($1)`, migrateLockID)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migration (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("store: migrate: create schema_migration: %w", err)
	}
	var applied []int
	for _, m := range migrations {
		var name string
		err := conn.QueryRow(ctx, `SELECT name FROM schema_migration WHERE version = $1`, m.Version).Scan(&name)
		switch {
		case err == nil && name == m.Name:
			continue
		case err == nil:
			// Another build's migration holds this number: applying ours on
			// top would leave a schema neither build expects.
			return applied, fmt.Errorf("store: migrate: the database has migration %04d_%s, but this build's %04d is %s: "+
				"it was migrated by a different version of CarePath", m.Version, name, m.Version, m.Name)
		case !errors.Is(err, pgx.ErrNoRows):
			return applied, fmt.Errorf("store: migrate: check %04d: %w", m.Version, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('carepath.app_role', $1, true)`, appRole); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migration (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("store: migrate: apply %04d_%s: %w", m.Version, m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// Journey is the domain record of one patient journey.
type Journey struct {
	ID        string
	PatientID string
	PathwayID string
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RecordJourney inserts the journey, or updates its status if it exists.
// Safe to retry: a retried activity writes the same row.
func (s *Store) RecordJourney(ctx context.Context, j Journey) error {
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO journey (id, patient_id, pathway_id, status)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()
		WHERE journey.status IS DISTINCT FROM EXCLUDED.status`,
		j.ID, j.PatientID, j.PathwayID, j.Status)
	if err != nil {
		return fmt.Errorf("store: record journey %s: %w", j.ID, err)
	}
	return nil
}

// GetJourney returns the journey with the given ID, or ErrNotFound.
func (s *Store) GetJourney(ctx context.Context, id string) (Journey, error) {
	var j Journey
	err := s.Pool.QueryRow(ctx, `
		SELECT id, patient_id::text, pathway_id, status, created_at, updated_at
		FROM journey WHERE id = $1`, id).
		Scan(&j.ID, &j.PatientID, &j.PathwayID, &j.Status, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Journey{}, fmt.Errorf("store: journey %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Journey{}, fmt.Errorf("store: get journey %s: %w", id, err)
	}
	return j, nil
}

// PatientExists reports whether a patient with this ID is registered.
func (s *Store) PatientExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patient WHERE id = $1::uuid)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: patient exists %s: %w", id, err)
	}
	return ok, nil
}

// IsForeignKeyViolation reports whether err is PostgreSQL's foreign key error.
func IsForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
