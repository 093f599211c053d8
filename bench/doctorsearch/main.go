// Command doctorsearch measures doctor search on a generated directory of
// 100,000 doctors: p50 and p99 of representative searches, warm, through
// the same store functions the API calls. In the same run it measures two
// baselines: a doctor's primary-key lookup (store.GetDoctor), the cheapest
// query the directory answers, and each search again with index scans
// disabled (enable_indexscan, enable_bitmapscan, enable_indexonlyscan off),
// which shows what the full-text and trigram indexes buy. Ratios to the
// baselines are the figures to track; absolute numbers depend on the machine.
//
//	go run ./bench/doctorsearch -doctors 100000
//
// The doctors go into their own schema (-schema, default bench_doctorsearch)
// of the test database (CAREPATH_TEST_DATABASE_URL, or -database), migrated
// like the app's and generated deterministically; a later run reuses them.
// It refuses the app database (DATABASE_URL).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/store"
)

func main() {
	database := flag.String("database", envOr("CAREPATH_TEST_DATABASE_URL", config.DefaultTestDatabaseURL), "PostgreSQL URL of the database that holds the benchmark schema")
	schema := flag.String("schema", "bench_doctorsearch", "schema the generated directory lives in")
	doctors := flag.Int("doctors", 100_000, "doctors to generate")
	iterations := flag.Int("iterations", 400, "timed runs of each search (after as many warm-up runs as a quarter of this)")
	noIndexIterations := flag.Int("no-index-iterations", 20, "timed runs of each search with index scans disabled")
	regenerate := flag.Bool("regenerate", false, "drop the schema and generate the doctors again")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b := bench{schema: *schema, doctors: *doctors, iterations: *iterations, noIndexIterations: *noIndexIterations}
	if err := b.run(ctx, *database, *regenerate); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

type bench struct {
	schema                        string
	doctors                       int
	iterations, noIndexIterations int
}

// withParams returns the database URL with extra session settings (pgx
// passes unknown URL parameters to the server as run-time parameters).
func withParams(database string, params map[string]string) (string, error) {
	u, err := url.Parse(database)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// refuseAppDatabase stops the benchmark from writing into the app's data.
func refuseAppDatabase(database string) error {
	bench, err1 := url.Parse(database)
	app, err2 := url.Parse(envOr("DATABASE_URL", config.DefaultDatabaseURL))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	if bench.Hostname() == app.Hostname() && bench.Port() == app.Port() && bench.Path == app.Path {
		return fmt.Errorf("%s is the app database (DATABASE_URL); use the test database or another one", config.RedactURL(database))
	}
	return nil
}

func (b bench) run(ctx context.Context, database string, regenerate bool) error {
	if err := refuseAppDatabase(database); err != nil {
		return err
	}
	admin, err := store.Open(ctx, database)
	if err != nil {
		return err
	}
	defer admin.Close()
	schemaIdent := pgx.Identifier{b.schema}.Sanitize()
	if regenerate {
		if _, err := admin.Pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+schemaIdent+` CASCADE`); err != nil {
			return fmt.Errorf("drop schema: %w", err)
		}
	}
	if _, err := admin.Pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schemaIdent); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	// public stays on the path for pg_trgm's functions and operators.
	searchPath := b.schema + ",public"
	indexedURL, err := withParams(database, map[string]string{"search_path": searchPath})
	if err != nil {
		return err
	}
	s, err := store.Open(ctx, indexedURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := b.prepare(ctx, s); err != nil {
		return err
	}
	noIndexURL, err := withParams(database, map[string]string{"search_path": searchPath,
		"enable_indexscan": "off", "enable_bitmapscan": "off", "enable_indexonlyscan": "off"})
	if err != nil {
		return err
	}
	seqScan, err := store.Open(ctx, noIndexURL)
	if err != nil {
		return err
	}
	defer seqScan.Close()
	return b.measure(ctx, s, seqScan)
}
