package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carepath/carepath/store"
)

// The generated directory: every attribute of doctor i is arithmetic on i
// over the lists below (no randomness), and IDs are md5 of a name, so every
// run builds the same rows.

type benchCity struct{ name, language string }

var benchCities = []benchCity{
	{"Bengaluru", "Kannada"}, {"Mumbai", "Marathi"}, {"Delhi", "Punjabi"}, {"Chennai", "Tamil"},
	{"Hyderabad", "Telugu"}, {"Pune", "Marathi"}, {"Kolkata", "Bengali"}, {"Ahmedabad", "Gujarati"},
	{"Jaipur", "Rajasthani"}, {"Lucknow", "Urdu"}, {"Kochi", "Malayalam"}, {"Bhopal", "Hindi"},
	{"Indore", "Hindi"}, {"Nagpur", "Marathi"}, {"Surat", "Gujarati"}, {"Patna", "Bhojpuri"},
	{"Bhubaneswar", "Odia"}, {"Guwahati", "Assamese"}, {"Chandigarh", "Punjabi"}, {"Coimbatore", "Tamil"},
	{"Mysuru", "Kannada"}, {"Visakhapatnam", "Telugu"}, {"Vadodara", "Gujarati"}, {"Thiruvananthapuram", "Malayalam"},
	{"Mangaluru", "Tulu"}, {"Nashik", "Marathi"}, {"Madurai", "Tamil"}, {"Varanasi", "Hindi"},
	{"Amritsar", "Punjabi"}, {"Dehradun", "Garhwali"},
}

var (
	benchFirstNames = []string{"Aarav", "Aditi", "Akash", "Ananya", "Arjun", "Bhavna", "Chetan", "Deepa", "Farhan", "Gauri",
		"Harish", "Isha", "Jatin", "Kavya", "Lokesh", "Meera", "Nikhil", "Nisha", "Omkar", "Pooja",
		"Rahul", "Ritu", "Sameer", "Sneha", "Tarun", "Uma", "Varun", "Yamini", "Zoya", "Karthik"}
	benchLastNames = []string{"Sharma", "Iyer", "Reddy", "Patel", "Gupta", "Nair", "Rao", "Menon", "Das", "Khan",
		"Singh", "Joshi", "Kulkarni", "Mehta", "Chatterjee", "Pillai", "Verma", "Bose", "Kapoor", "Banerjee",
		"Mishra", "Hegde", "Shetty", "Naidu", "Pandey", "Saxena", "Agarwal", "Chopra", "Desai", "Fernandes"}
)

// generatedMarker records how many doctors the schema holds, so a later
// run reuses them.
const generatedMarker = `CREATE TABLE IF NOT EXISTS bench_generated (doctors integer NOT NULL)`

// prepare migrates the schema, loads the demo data set (specialties and
// their synonyms, clinics) and generates the doctors, unless an earlier run
// did.
func (b bench) prepare(ctx context.Context, s *store.Store) error {
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	if _, err := s.Pool.Exec(ctx, generatedMarker); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	var have int
	err := s.Pool.QueryRow(ctx, `SELECT doctors FROM bench_generated`).Scan(&have)
	if err == nil && have == b.doctors {
		fmt.Printf("reusing %d generated doctors in schema %s (-regenerate to rebuild)\n", have, b.schema)
		return nil
	}
	if err == nil {
		return fmt.Errorf("schema %s holds %d generated doctors, not %d: run with -regenerate", b.schema, have, b.doctors)
	}
	if err != pgx.ErrNoRows {
		return fmt.Errorf("marker: %w", err)
	}
	start := time.Now()
	if _, err := s.Seed(ctx); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := generateDoctors(ctx, tx, b.doctors); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO bench_generated (doctors) VALUES ($1)`, b.doctors)
		return err
	})
	if err != nil {
		return fmt.Errorf("generate doctors: %w", err)
	}
	if _, err := s.Pool.Exec(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	fmt.Printf("generated %d doctors in schema %s in %s\n", b.doctors, b.schema, time.Since(start).Round(time.Second))
	return nil
}

// generateDoctorsSQL inserts doctors 1..$1. Arrays are 1-based in SQL.
const generateDoctorsSQL = `
	WITH spec AS (
		SELECT array_agg(code ORDER BY code) AS codes, array_agg(name ORDER BY code) AS names,
			array_agg(qualification ORDER BY code) AS quals
		FROM (SELECT DISTINCT ON (sp.code) sp.code, sp.name, p.qualification
			FROM specialty sp JOIN practitioner p ON p.specialty_code = sp.code ORDER BY sp.code, p.id) s),
	clinics AS (SELECT array_agg(id ORDER BY id) AS ids FROM organization WHERE kind = 'clinic'),
	d AS (
		SELECT i,
			'Dr. ' || ($2::text[])[1 + i % cardinality($2::text[])] || ' ' ||
				($3::text[])[1 + (i / cardinality($2::text[])) % cardinality($3::text[])] AS name,
			1 + (i * 7 + i / 90) % cardinality(spec.codes) AS sk,
			1 + (i / 3) % cardinality($4::text[]) AS ck,
			1 + (i * 13) % 35 AS years,
			60 + (i * 17) % 40 AS rec,
			(i * 37) % 900 AS reviews
		FROM generate_series(1, $1::int) AS i, spec)
	INSERT INTO practitioner (id, name, gender, specialty_code, qualification, years_experience, languages,
		organization_id, city, consult_fee_minor, currency, active, recommendation_percent, reviews_count,
		patients_count, wait_time_minutes, summary, profile_photo_url)
	SELECT md5('bench-doctor/' || d.i)::uuid, d.name, CASE WHEN d.i % 2 = 0 THEN 'female' ELSE 'male' END,
		spec.codes[d.sk], spec.quals[d.sk], d.years, ARRAY['English', 'Hindi', ($5::text[])[d.ck]],
		clinics.ids[1 + d.i % cardinality(clinics.ids)], ($4::text[])[d.ck], 30000 + ((d.i * 31) % 120) * 1000,
		'INR', true, d.rec, d.reviews, d.reviews * 6 + d.years * 40, 5 + (d.i % 6) * 5,
		d.name || ' is a ' || spec.names[d.sk] || ' in ' || ($4::text[])[d.ck] || ' with ' || d.years || ' years of experience.',
		'https://photos.carepath.example/practitioners/' || md5('bench-doctor/' || d.i)::uuid || '.jpg'
	FROM d, spec, clinics`

// generateSchedulesSQL gives doctor i 3 to 5 sessions on distinct days,
// Monday to Saturday, in one of four session shapes.
const generateSchedulesSQL = `
	INSERT INTO schedule (id, practitioner_id, weekday, start_time, end_time, slot_minutes, timezone)
	SELECT md5('bench-schedule/' || i || '/' || k)::uuid, md5('bench-doctor/' || i)::uuid, 1 + (i + k) % 6,
		(ARRAY['09:00', '10:00', '17:00', '16:00'])[1 + (i + k) % 4]::time,
		(ARRAY['13:00', '13:00', '20:00', '20:00'])[1 + (i + k) % 4]::time, 20, 'Asia/Kolkata'
	FROM generate_series(1, $1::int) AS i, generate_series(0, 2 + i % 3) AS k`

func generateDoctors(ctx context.Context, tx pgx.Tx, n int) error {
	cities, languages := make([]string, len(benchCities)), make([]string, len(benchCities))
	for i, c := range benchCities {
		cities[i], languages[i] = c.name, c.language
	}
	if _, err := tx.Exec(ctx, generateDoctorsSQL, n, benchFirstNames, benchLastNames, cities, languages); err != nil {
		return fmt.Errorf("doctors: %w", err)
	}
	if _, err := tx.Exec(ctx, generateSchedulesSQL, n); err != nil {
		return fmt.Errorf("schedules: %w", err)
	}
	return nil
}
