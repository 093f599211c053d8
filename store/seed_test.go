package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// seedTables are the tables Seed writes, each with its ordering key, for the
// per-table counts and fingerprints compared across loads. Tests in other
// packages, running at the same time, add patients, practitioners and
// schedules of their own: those tables are compared on the seed's rows
// only (scope names the column and ids its seeded values).
var seedTables = []struct {
	name, key, scope string
	ids              []string
}{
	{"specialty", "code", "", nil},
	{"organization", "id", "", nil},
	{"practitioner", "id", "id", store.SeedPractitionerIDs()},
	{"schedule", "id", "practitioner_id", store.SeedPractitionerIDs()},
	{"patient", "id", "id", store.SeedPatientIDs()},
	{"lab_test", "loinc_code", "", nil},
	{"product", "sku", "", nil},
	{"specialty_term", "specialty_code, t.term", "", nil},
}

type tableState struct {
	rows        int
	fingerprint string
}

// snapshot returns each seeded table's row count and an md5 of all its rows
// (every column, ordered by key), so any change to any row shows. Each row's
// xmin is hashed too: a rewrite with identical values still changes it, so
// an upsert that forgets its IS DISTINCT FROM guard is caught.
func snapshot(ctx context.Context, t *testing.T, s *store.Store) map[string]tableState {
	t.Helper()
	out := map[string]tableState{}
	for _, tb := range seedTables {
		var st tableState
		q := `SELECT count(*), md5(coalesce(string_agg(t::text || '@' || t.xmin::text, '|' ORDER BY t.` + tb.key + `), '')) FROM ` + tb.name + ` t`
		var args []any
		if tb.scope != "" {
			q += ` WHERE t.` + tb.scope + ` = ANY($1::uuid[])`
			args = append(args, tb.ids)
		}
		if err := s.Pool.QueryRow(ctx, q, args...).Scan(&st.rows, &st.fingerprint); err != nil {
			t.Fatalf("snapshot %s: %v", tb.name, err)
		}
		out[tb.name] = st
	}
	return out
}

func seed(ctx context.Context, t *testing.T, s *store.Store) store.SeedCounts {
	t.Helper()
	counts, err := s.Seed(ctx)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return counts
}

func TestSeedMeetsMinimums(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.Store(t)
	c := seed(ctx, t, s)
	t.Logf("seed counts: %s", c)

	checks := []struct {
		what      string
		got, min_ int
	}{
		{"specialties", c.Specialties, 10},
		{"cities", c.Cities, 5},
		{"clinics", c.Clinics, 6},
		{"pharmacies", c.Pharmacies, 5},
		{"laboratories", c.Laboratories, 2},
		{"practitioners", c.Practitioners, 50},
		{"schedules", c.Schedules, 150},
		{"patients", c.Patients, store.SeedPatientCount},
		{"lab tests", c.LabTests, 12},
		{"products", c.Products, 10},
	}
	for _, ch := range checks {
		if ch.got < ch.min_ {
			t.Errorf("%s = %d, want at least %d", ch.what, ch.got, ch.min_)
		}
	}

	// The test database is shared, so count the 20 demo patients by their IDs.
	var patients int
	ids := make([]string, store.SeedPatientCount)
	for n := range ids {
		ids[n] = store.SeedPatientID(n + 1)
	}
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM patient WHERE id = ANY($1::uuid[])`, ids).Scan(&patients); err != nil {
		t.Fatal(err)
	}
	if patients != 20 {
		t.Errorf("demo patients present = %d, want 20", patients)
	}

	// Properties every row must have; each query returns the offenders.
	offenders := []struct{ what, query string }{
		{"doctors without a schedule",
			`SELECT p.id::text FROM practitioner p WHERE NOT EXISTS (SELECT 1 FROM schedule s WHERE s.practitioner_id = p.id)`},
		{"doctors without a fee", `SELECT id::text FROM practitioner WHERE consult_fee_minor <= 0`},
		{"specialties without a doctor",
			`SELECT code FROM specialty sp WHERE NOT EXISTS (SELECT 1 FROM practitioner p WHERE p.specialty_code = sp.code)`},
		{"doctors with fewer than 3 or more than 5 weekday sessions",
			`SELECT practitioner_id::text FROM schedule GROUP BY practitioner_id
			 HAVING count(*) NOT BETWEEN 3 AND 5 OR bool_or(weekday NOT BETWEEN 1 AND 5)`},
		{"lab tests without LOINC source or price",
			`SELECT loinc_code FROM lab_test WHERE source <> 'LOINC (loinc.org)' OR price_minor <= 0`},
	}
	for _, o := range offenders {
		rows, err := s.Pool.Query(ctx, o.query)
		if err != nil {
			t.Fatalf("%s: %v", o.what, err)
		}
		var bad []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			bad = append(bad, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Errorf("%s: %v", o.what, bad)
		}
	}

	// Every city has a doctor of every specialty.
	var missing int
	if err := s.Pool.QueryRow(ctx, `
		SELECT count(*) FROM specialty sp CROSS JOIN (SELECT DISTINCT city FROM practitioner) c
		WHERE NOT EXISTS (SELECT 1 FROM practitioner p WHERE p.specialty_code = sp.code AND p.city = c.city)`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Errorf("%d (city, specialty) pairs have no doctor", missing)
	}
}

func TestSeedTwiceChangesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.Store(t)
	first := seed(ctx, t, s)
	before := snapshot(ctx, t, s)

	second := seed(ctx, t, s)
	after := snapshot(ctx, t, s)

	// Seed counts whole tables; other packages' tests add practitioners,
	// their schedules and patients meanwhile, so those three are compared
	// on the seed's own rows, by the snapshots below.
	for _, c := range []*store.SeedCounts{&first, &second} {
		c.Practitioners, c.Schedules, c.Patients = 0, 0, 0
	}
	if first != second {
		t.Errorf("counts changed: first %s, second %s", first, second)
	}
	for _, tb := range seedTables {
		b, a := before[tb.name], after[tb.name]
		if b.rows != a.rows {
			t.Errorf("%s: %d rows before, %d after", tb.name, b.rows, a.rows)
		}
		if b.fingerprint != a.fingerprint {
			t.Errorf("%s: fingerprint changed (%s → %s)", tb.name, b.fingerprint, a.fingerprint)
		}
	}
}

func TestSeedDentistSynonyms(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.Store(t)
	seed(ctx, t, s)
	var name string
	var synonyms []string
	if err := s.Pool.QueryRow(ctx, `SELECT name, synonyms FROM specialty WHERE code = 'dentistry'`).Scan(&name, &synonyms); err != nil {
		t.Fatalf("dentistry: %v", err)
	}
	if name != "Dentist" {
		t.Errorf("dentistry name = %q, want Dentist", name)
	}
	for _, want := range []string{"teeth", "tooth pain", "toothache", "gums"} {
		if !slices.Contains(synonyms, want) {
			t.Errorf("dentist synonyms %v lack %q", synonyms, want)
		}
	}
}

func TestIsEmpty(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testenv.Store(t)
	seed(ctx, t, s)
	empty, err := s.IsEmpty(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if empty {
		t.Error("IsEmpty = true after Seed")
	}
}
