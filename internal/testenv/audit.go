package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carepath/carepath/store"
)

// AuditSchema gives a test its own audit chain: a fresh PostgreSQL schema
// holding the audit migration's tables, granted as migration 0017 grants
// them, and a store connected as the application role whose connections
// look there first and then in public (so every other table is the shared
// test database's). Tests that tamper with the chain use it (with Owner for
// the tampering), so that they never break the shared chain other tests
// verify. The schema is dropped at the end of the test.
func AuditSchema(t testing.TB) *store.Store {
	t.Helper()
	schema := "audit_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	newSchema(t, schema, func(ctx context.Context, tx pgx.Tx) error {
		// Unqualified CREATEs go to the first schema of the search path.
		_, err := tx.Exec(ctx, migrationSQL(t, "audit"))
		return err
	})
	cfg, err := pgxpool.ParseConfig(Config(t).DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + ", public"
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("testenv: audit schema pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return &store.Store{Pool: pool}
}

// IsolatedTables gives a test private copies of tables (their columns,
// defaults, checks and indexes, without foreign keys) in a fresh schema,
// granted as migration 0017 grants them, and an application-role store and
// database URL whose connections see the copies first and every other table
// of the shared test database after them. The schema is dropped at the end
// of the test.
func IsolatedTables(t testing.TB, tables ...string) (*store.Store, string) {
	t.Helper()
	schema := "iso_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	newSchema(t, schema, func(ctx context.Context, tx pgx.Tx) error {
		for _, table := range tables {
			if _, err := tx.Exec(ctx, `CREATE TABLE `+schema+`.`+table+` (LIKE public.`+table+` INCLUDING ALL)`); err != nil {
				return fmt.Errorf("copy table %s: %w", table, err)
			}
		}
		return nil
	})
	url := Config(t).DatabaseURL + "&search_path=" + schema + ",public"
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("testenv: open isolated store: %v", err)
	}
	t.Cleanup(s.Close)
	return s, url
}

// newSchema creates schema as the owner role, fills it with create (run with
// the schema first on the search path), then grants the application role
// its rights there with migration 0017's own SQL, and drops the schema when
// the test ends.
func newSchema(t testing.TB, schema string, create func(context.Context, pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	owner := OwnerStore(t)
	if _, err := owner.Pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := owner.Pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})
	grants := migrationSQL(t, "app_role")
	err := pgx.BeginFunc(ctx, owner.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true), set_config('carepath.app_role', $2, true)`,
			schema+", public", Config(t).AppRole()); err != nil {
			return err
		}
		if err := create(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, grants)
		return err
	})
	if err != nil {
		t.Fatalf("testenv: fill schema %s: %v", schema, err)
	}
}

// migrationSQL returns the SQL of the migration with this name.
func migrationSQL(t testing.TB, name string) string {
	t.Helper()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == name {
			return m.SQL
		}
	}
	t.Fatalf("testenv: no migration named %s", name)
	return ""
}
