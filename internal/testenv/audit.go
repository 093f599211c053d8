package testenv

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/carepath/carepath/store"
)

// AuditSchema gives a test its own audit chain: a fresh PostgreSQL schema
// holding the audit migration's tables, and a store whose connections look
// there first and then in public (so every other table is the shared test
// database's). Tests that tamper with the chain use it, so that they never
// break the shared chain other tests verify. The schema is dropped at the
// end of the test.
func AuditSchema(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	shared := Store(t)
	var sql string
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "audit" {
			sql = m.SQL
		}
	}
	if sql == "" {
		t.Fatal("testenv: no audit migration")
	}
	schema := "audit_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := shared.Pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := shared.Pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(Config(t).DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + ", public"
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: audit schema pool: %v", err)
	}
	t.Cleanup(pool.Close)
	// Unqualified CREATEs go to the first schema of the search path.
	if _, err := pool.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: audit migration in %s: %v", schema, err)
	}
	return &store.Store{Pool: pool}
}

// IsolatedTables gives a test private copies of tables (their columns,
// defaults, checks and indexes, without foreign keys) in a fresh schema,
// and a store and database URL whose connections see the copies first and
// every other table of the shared test database after them. The schema is
// dropped at the end of the test.
func IsolatedTables(t testing.TB, tables ...string) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	shared := Store(t)
	schema := "iso_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if _, err := shared.Pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("testenv: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := shared.Pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})
	for _, table := range tables {
		if _, err := shared.Pool.Exec(ctx, `CREATE TABLE `+schema+`.`+table+` (LIKE public.`+table+` INCLUDING ALL)`); err != nil {
			t.Fatalf("testenv: copy table %s: %v", table, err)
		}
	}
	url := Config(t).DatabaseURL + "&search_path=" + schema + ",public"
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("testenv: open isolated store: %v", err)
	}
	t.Cleanup(s.Close)
	return s, url
}
