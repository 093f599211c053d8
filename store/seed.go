package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The demo data set: a small, fully synthetic directory of Indian clinics,
// doctors, pharmacies and laboratories, with patients and catalogues, so a
// fresh `make run` has something to route journeys through.
//
// Everything is derived from the literals below by plain arithmetic (no
// randomness), and every row's primary key is a name-based UUID, so loading
// the set any number of times yields byte-identical tables.

// SeedNamespace is the fixed namespace of CarePath's deterministic seed IDs.
// Changing it would give every seeded row a new ID: don't.
var SeedNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://carepath.example/seed"))

// seedID returns the deterministic ID of the seeded row with a stable name
// such as "practitioner/bengaluru/dentistry".
func seedID(name string) uuid.UUID { return uuid.NewSHA1(SeedNamespace, []byte(name)) }

// SeedPatientCount is the number of demo patients Seed loads.
const SeedPatientCount = 20

// SeedPatientID returns the ID of demo patient n (1 to SeedPatientCount), for
// tests and demos that need a registered patient.
func SeedPatientID(n int) string { return seedID(fmt.Sprintf("patient/%d", n)).String() }

// SeedPatientIDs returns the IDs of every demo patient Seed loads.
func SeedPatientIDs() []string {
	ids := make([]string, SeedPatientCount)
	for n := range ids {
		ids[n] = SeedPatientID(n + 1)
	}
	return ids
}

// SeedPractitionerIDs returns the IDs of the practitioners Seed loads: one
// per specialty in every city.
func SeedPractitionerIDs() []string {
	var ids []string
	for _, c := range seedCities {
		for _, sp := range seedSpecialties {
			ids = append(ids, seedPractitionerID(c.name, sp.code).String())
		}
	}
	return ids
}

func seedPractitionerID(city, specialty string) uuid.UUID {
	return seedID(fmt.Sprintf("practitioner/%s/%s", slug(city), specialty))
}

const (
	seedTimezone = "Asia/Kolkata"
	seedCurrency = "INR" // amounts are in paise: 50000 = ₹500
)

type seedSpecialty struct {
	code, name    string
	synonyms      []string
	qualification string
	baseFee       int // paise
	slotMinutes   int
	doctorTitle   string // "Dr." except for non-medical professionals
}

// seedSpecialties: synonyms are the words patients type, which is how intake
// maps a complaint to a specialty.
var seedSpecialties = []seedSpecialty{
	{"general_medicine", "General Physician", []string{"fever", "cold", "cough", "flu", "body ache", "headache", "tiredness", "weakness", "check-up"},
		"MBBS, MD (General Medicine)", 50000, 15, "Dr."},
	{"dentistry", "Dentist", []string{"teeth", "tooth", "tooth pain", "toothache", "dental", "gums", "bleeding gums", "cavity", "braces"},
		"BDS, MDS (Conservative Dentistry)", 60000, 30, "Dr."},
	{"cardiology", "Cardiologist", []string{"heart", "chest pain", "palpitations", "blood pressure", "hypertension", "breathlessness"},
		"MBBS, MD (Medicine), DM (Cardiology)", 120000, 20, "Dr."},
	{"endocrinology", "Endocrinologist (Diabetologist)", []string{"diabetes", "sugar", "blood sugar", "thyroid", "insulin", "hormones"},
		"MBBS, MD (Medicine), DM (Endocrinology)", 100000, 20, "Dr."},
	{"dermatology", "Dermatologist", []string{"skin", "rash", "acne", "pimples", "itching", "hair fall", "eczema"},
		"MBBS, MD (Dermatology)", 80000, 15, "Dr."},
	{"paediatrics", "Paediatrician", []string{"child", "baby", "infant", "kids", "vaccination", "child fever"},
		"MBBS, MD (Paediatrics)", 70000, 15, "Dr."},
	{"gynaecology", "Gynaecologist", []string{"pregnancy", "periods", "menstrual pain", "pcos", "women's health", "fertility"},
		"MBBS, MS (Obstetrics & Gynaecology)", 80000, 20, "Dr."},
	{"orthopaedics", "Orthopaedic Surgeon", []string{"bones", "joint pain", "back pain", "knee pain", "fracture", "sprain"},
		"MBBS, MS (Orthopaedics)", 90000, 20, "Dr."},
	{"ent", "ENT Specialist", []string{"ear", "nose", "throat", "ear pain", "sinus", "hearing loss", "tonsils"},
		"MBBS, MS (ENT)", 70000, 15, "Dr."},
	{"ophthalmology", "Ophthalmologist", []string{"eyes", "eye pain", "vision", "blurred vision", "red eye", "spectacles", "cataract"},
		"MBBS, MS (Ophthalmology)", 70000, 15, "Dr."},
	{"psychiatry", "Psychiatrist", []string{"anxiety", "depression", "stress", "sleep problems", "insomnia", "mood"},
		"MBBS, MD (Psychiatry)", 100000, 30, "Dr."},
	{"neurology", "Neurologist", []string{"migraine", "seizures", "fits", "numbness", "dizziness", "stroke"},
		"MBBS, MD (Medicine), DM (Neurology)", 120000, 20, "Dr."},
	{"nutrition", "Dietitian / Nutritionist", []string{"diet", "weight loss", "obesity", "nutrition", "meal plan"},
		"M.Sc. Clinical Nutrition, Registered Dietitian", 50000, 30, ""},
	{"pulmonology", "Pulmonologist", []string{"asthma", "breathing", "wheezing", "chronic cough", "lungs"},
		"MBBS, MD (Pulmonary Medicine)", 90000, 20, "Dr."},
	{"gastroenterology", "Gastroenterologist", []string{"stomach pain", "acidity", "indigestion", "constipation", "diarrhoea", "liver"},
		"MBBS, MD (Medicine), DM (Gastroenterology)", 100000, 20, "Dr."},
}

type seedArea struct {
	name     string
	lat, lon float64
}

type seedCity struct {
	name     string
	language string // regional language spoken besides English and Hindi
	feeExtra int    // metro premium on consult fees, paise
	areas    [2]seedArea
}

// seedCities: approximate real coordinates of well-known neighbourhoods, so
// distance ranking behaves plausibly. The street addresses are fictitious.
var seedCities = []seedCity{
	{"Bengaluru", "Kannada", 10000, [2]seedArea{{"Indiranagar", 12.9784, 77.6408}, {"Jayanagar", 12.9299, 77.5826}}},
	{"Mumbai", "Marathi", 20000, [2]seedArea{{"Andheri West", 19.1364, 72.8296}, {"Dadar", 19.0178, 72.8478}}},
	{"Delhi", "Punjabi", 15000, [2]seedArea{{"Saket", 28.5245, 77.2066}, {"Karol Bagh", 28.6519, 77.1909}}},
	{"Chennai", "Tamil", 5000, [2]seedArea{{"T. Nagar", 13.0418, 80.2341}, {"Adyar", 13.0012, 80.2565}}},
	{"Hyderabad", "Telugu", 5000, [2]seedArea{{"Banjara Hills", 17.4126, 78.4482}, {"Gachibowli", 17.4401, 78.3489}}},
	{"Pune", "Marathi", 0, [2]seedArea{{"Kothrud", 18.5074, 73.8077}, {"Viman Nagar", 18.5679, 73.9143}}},
}

// Name lists for synthetic people. 20 first names per gender and 25 last
// names: pairing index k with (k mod 20, k mod 25) is unique for k < 100.
var (
	seedFemaleNames = []string{"Aarti", "Ananya", "Deepa", "Divya", "Fatima", "Gayatri", "Isha", "Kavya", "Lakshmi", "Meera",
		"Neha", "Pooja", "Priya", "Radha", "Sana", "Shreya", "Sunita", "Tanvi", "Uma", "Zoya"}
	seedMaleNames = []string{"Aarav", "Arjun", "Farhan", "Gaurav", "Harish", "Imran", "Karthik", "Manoj", "Nikhil", "Pranav",
		"Rahul", "Rohan", "Sanjay", "Suresh", "Tarun", "Varun", "Vikram", "Vivek", "Yash", "Kabir"}
	seedLastNames = []string{"Agarwal", "Bhat", "Chatterjee", "Das", "Desai", "Fernandes", "Ghosh", "Gupta", "Iyer", "Joshi",
		"Kapoor", "Khan", "Kulkarni", "Menon", "Mehta", "Nair", "Patel", "Pillai", "Rao", "Reddy",
		"Shah", "Sharma", "Singh", "Verma", "Yadav"}
)

// seedPerson returns the gender and name of synthetic person i. Even indexes
// are female, odd male; offset keeps patients' names apart from doctors'.
func seedPerson(i, offset int) (gender, first, last string) {
	k := offset + i/2
	if i%2 == 0 {
		return "female", seedFemaleNames[k%len(seedFemaleNames)], seedLastNames[k%len(seedLastNames)]
	}
	return "male", seedMaleNames[k%len(seedMaleNames)], seedLastNames[k%len(seedLastNames)]
}

type seedLabTest struct {
	loinc, name, specimen string
	price                 int // paise
}

// seedLabTests are keyed by real LOINC codes; names are short display names.
var seedLabTests = []seedLabTest{
	{"4548-4", "Hemoglobin A1c (HbA1c)", "Blood", 45000},
	{"1558-6", "Glucose, fasting", "Serum or Plasma", 10000},
	{"2093-3", "Cholesterol, total", "Serum or Plasma", 20000},
	{"13457-7", "LDL cholesterol (calculated)", "Serum or Plasma", 25000},
	{"2085-9", "HDL cholesterol", "Serum or Plasma", 25000},
	{"2571-8", "Triglycerides", "Serum or Plasma", 20000},
	{"2160-0", "Creatinine", "Serum or Plasma", 20000},
	{"33914-3", "eGFR (creatinine-based)", "Serum or Plasma", 25000},
	{"9318-7", "Urine albumin/creatinine ratio (UACR)", "Urine", 60000},
	{"2823-3", "Potassium", "Serum or Plasma", 20000},
	{"2951-2", "Sodium", "Serum or Plasma", 20000},
	{"3016-3", "Thyroid stimulating hormone (TSH)", "Serum or Plasma", 35000},
	{"3024-7", "Free thyroxine (free T4)", "Serum or Plasma", 35000},
	{"718-7", "Hemoglobin", "Blood", 15000},
	{"1742-6", "Alanine aminotransferase (ALT/SGPT)", "Serum or Plasma", 25000},
	{"1989-3", "25-Hydroxyvitamin D (D2+D3)", "Serum or Plasma", 120000},
	{"2132-9", "Vitamin B12 (cobalamin)", "Serum or Plasma", 90000},
	{"17861-6", "Calcium", "Serum or Plasma", 20000},
}

const seedLabSource = "LOINC (loinc.org)"

type seedProduct struct {
	sku, name, category string
	price               int // paise
	prescription        bool
}

var seedProducts = []seedProduct{
	{"DEV-GLUCOMETER", "Blood glucose meter (glucometer)", "device", 99900, false},
	{"DEV-GLUCO-STRIPS-50", "Blood glucose test strips, pack of 50", "consumable", 89900, false},
	{"DEV-LANCETS-100", "Lancets, pack of 100", "consumable", 29900, false},
	{"DEV-BP-MONITOR", "Digital blood pressure monitor (upper arm)", "device", 189900, false},
	{"DEV-PULSE-OXIMETER", "Fingertip pulse oximeter", "device", 119900, false},
	{"DEV-THERMOMETER", "Digital thermometer", "device", 24900, false},
	{"DEV-WEIGHING-SCALE", "Digital weighing scale", "device", 149900, false},
	{"OTC-ORS-21G", "Oral rehydration salts (WHO formula), 21 g sachet", "otc", 2200, false},
	{"OTC-PARACETAMOL-500", "Paracetamol 500 mg tablets, strip of 10", "otc", 2000, false},
	{"OTC-ANTACID", "Antacid chewable tablets, strip of 10", "otc", 3500, false},
	{"SUP-VITAMIN-D3-1000", "Vitamin D3 1000 IU tablets, 30 tablets", "supplement", 19900, false},
	{"RX-METFORMIN-500", "Metformin 500 mg tablets, strip of 10", "prescription", 3000, true},
}

// seedSession is a clinic session; start and end are "HH:MM".
type seedSession struct{ start, end string }

// Session shapes rotate between doctors: a morning, a late morning or an
// evening block. Each lasts 3 or 4 hours, a multiple of 15, 20 and 30 minutes.
var seedSessions = []seedSession{{"09:00", "13:00"}, {"10:00", "13:00"}, {"17:00", "20:00"}, {"16:00", "20:00"}}

// SeedCounts is how many rows each directory table holds after a Seed.
type SeedCounts struct {
	Specialties   int
	Cities        int // distinct cities with practitioners
	Clinics       int
	Pharmacies    int
	Laboratories  int
	Practitioners int
	Schedules     int
	Patients      int
	LabTests      int
	Products      int
}

func (c SeedCounts) String() string {
	return fmt.Sprintf("specialties=%d cities=%d clinics=%d pharmacies=%d laboratories=%d practitioners=%d schedules=%d patients=%d lab_tests=%d products=%d",
		c.Specialties, c.Cities, c.Clinics, c.Pharmacies, c.Laboratories, c.Practitioners, c.Schedules, c.Patients, c.LabTests, c.Products)
}

// IsEmpty reports whether the directory has no practitioners yet, so callers
// seed only a database nobody has loaded.
func (s *Store) IsEmpty(ctx context.Context) (bool, error) {
	var empty bool
	if err := s.Pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM practitioner)`).Scan(&empty); err != nil {
		return false, fmt.Errorf("store: is empty: %w", err)
	}
	return empty, nil
}

// Upserts: a row is rewritten only when it differs from the seed, so a second
// load updates nothing (and fires no triggers), while a changed literal still
// reaches an existing database.
const (
	upsertSpecialty = `
		INSERT INTO specialty (code, name, synonyms) VALUES ($1, $2, $3)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, synonyms = EXCLUDED.synonyms
		WHERE (specialty.name, specialty.synonyms) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.synonyms)`
	upsertOrganization = `
		INSERT INTO organization (id, kind, name, city, address, latitude, longitude, phone, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
		ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name, city = EXCLUDED.city,
			address = EXCLUDED.address, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
			phone = EXCLUDED.phone, active = EXCLUDED.active
		WHERE (organization.kind, organization.name, organization.city, organization.address, organization.latitude,
			organization.longitude, organization.phone, organization.active)
		IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.name, EXCLUDED.city, EXCLUDED.address, EXCLUDED.latitude,
			EXCLUDED.longitude, EXCLUDED.phone, EXCLUDED.active)`
	upsertPractitioner = `
		INSERT INTO practitioner (id, name, gender, specialty_code, qualification, years_experience, languages,
			organization_id, city, consult_fee_minor, currency, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, gender = EXCLUDED.gender,
			specialty_code = EXCLUDED.specialty_code, qualification = EXCLUDED.qualification,
			years_experience = EXCLUDED.years_experience, languages = EXCLUDED.languages,
			organization_id = EXCLUDED.organization_id, city = EXCLUDED.city,
			consult_fee_minor = EXCLUDED.consult_fee_minor, currency = EXCLUDED.currency, active = EXCLUDED.active
		WHERE (practitioner.name, practitioner.gender, practitioner.specialty_code, practitioner.qualification,
			practitioner.years_experience, practitioner.languages, practitioner.organization_id, practitioner.city,
			practitioner.consult_fee_minor, practitioner.currency, practitioner.active)
		IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.gender, EXCLUDED.specialty_code, EXCLUDED.qualification,
			EXCLUDED.years_experience, EXCLUDED.languages, EXCLUDED.organization_id, EXCLUDED.city,
			EXCLUDED.consult_fee_minor, EXCLUDED.currency, EXCLUDED.active)`
	upsertSchedule = `
		INSERT INTO schedule (id, practitioner_id, weekday, start_time, end_time, slot_minutes, timezone)
		VALUES ($1, $2, $3, $4::text::time, $5::text::time, $6, $7)
		ON CONFLICT (id) DO UPDATE SET practitioner_id = EXCLUDED.practitioner_id, weekday = EXCLUDED.weekday,
			start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
			slot_minutes = EXCLUDED.slot_minutes, timezone = EXCLUDED.timezone
		WHERE (schedule.practitioner_id, schedule.weekday, schedule.start_time, schedule.end_time,
			schedule.slot_minutes, schedule.timezone)
		IS DISTINCT FROM (EXCLUDED.practitioner_id, EXCLUDED.weekday, EXCLUDED.start_time, EXCLUDED.end_time,
			EXCLUDED.slot_minutes, EXCLUDED.timezone)`
	// created_at is left alone: it records the first load.
	upsertPatient = `
		INSERT INTO patient (id, name, birth_date, gender, phone, email, city, preferred_language, timezone)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, birth_date = EXCLUDED.birth_date,
			gender = EXCLUDED.gender, phone = EXCLUDED.phone, email = EXCLUDED.email, city = EXCLUDED.city,
			preferred_language = EXCLUDED.preferred_language, timezone = EXCLUDED.timezone
		WHERE (patient.name, patient.birth_date, patient.gender, patient.phone, patient.email, patient.city,
			patient.preferred_language, patient.timezone)
		IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.birth_date, EXCLUDED.gender, EXCLUDED.phone, EXCLUDED.email,
			EXCLUDED.city, EXCLUDED.preferred_language, EXCLUDED.timezone)`
	upsertLabTest = `
		INSERT INTO lab_test (loinc_code, name, specimen, price_minor, currency, source)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (loinc_code) DO UPDATE SET name = EXCLUDED.name, specimen = EXCLUDED.specimen,
			price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency, source = EXCLUDED.source
		WHERE (lab_test.name, lab_test.specimen, lab_test.price_minor, lab_test.currency, lab_test.source)
		IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.specimen, EXCLUDED.price_minor, EXCLUDED.currency, EXCLUDED.source)`
	upsertProduct = `
		INSERT INTO product (sku, name, category, price_minor, currency, requires_prescription)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category,
			price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency,
			requires_prescription = EXCLUDED.requires_prescription
		WHERE (product.name, product.category, product.price_minor, product.currency, product.requires_prescription)
		IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.category, EXCLUDED.price_minor, EXCLUDED.currency,
			EXCLUDED.requires_prescription)`
	// A preference, once recorded, is the patient's: a STOP they sent must
	// survive a reload, so the seed only fills in patients with none.
	insertSMSPreference = `
		INSERT INTO sms_preference (patient_id, sms_opt_out, quiet_hours_start, quiet_hours_end)
		VALUES ($1, false, $2::time, $3::time)
		ON CONFLICT (patient_id) DO NOTHING`
)

// SeedSlotDays is how many days of bookable slots each load cuts from the
// schedules, starting today.
const SeedSlotDays = 14

// seedBatch is a pgx batch that remembers what each statement loads, so an
// error names the row (never its personal data) that failed.
type seedBatch struct {
	pgx.Batch
	labels []string
}

func (b *seedBatch) add(label, sql string, args ...any) {
	b.Queue(sql, args...)
	b.labels = append(b.labels, label)
}

// Seed loads the demo data set in one transaction and returns the row counts
// afterwards. Loading it again changes nothing, except that a load on a later
// day adds the slots of the days that have come into the SeedSlotDays window
// (existing slots, free or taken, are left as they are).
func (s *Store) Seed(ctx context.Context) (SeedCounts, error) {
	b := buildSeed()
	var counts SeedCounts
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, &b.Batch)
		for _, label := range b.labels {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return fmt.Errorf("%s: %w", label, err)
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, generateSlotsSQL, time.Now(), SeedSlotDays); err != nil {
			return fmt.Errorf("slots: %w", err)
		}
		// Counted inside the transaction: the numbers describe what this load committed.
		return tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM specialty),
			(SELECT count(DISTINCT city) FROM practitioner),
			(SELECT count(*) FROM organization WHERE kind = 'clinic'),
			(SELECT count(*) FROM organization WHERE kind = 'pharmacy'),
			(SELECT count(*) FROM organization WHERE kind = 'laboratory'),
			(SELECT count(*) FROM practitioner),
			(SELECT count(*) FROM schedule),
			(SELECT count(*) FROM patient),
			(SELECT count(*) FROM lab_test),
			(SELECT count(*) FROM product)`).Scan(
			&counts.Specialties, &counts.Cities, &counts.Clinics, &counts.Pharmacies, &counts.Laboratories,
			&counts.Practitioners, &counts.Schedules, &counts.Patients, &counts.LabTests, &counts.Products)
	})
	if err != nil {
		return SeedCounts{}, fmt.Errorf("store: seed: %w", err)
	}
	return counts, nil
}

// buildSeed turns the literals into statements, parents before children so
// foreign keys hold at every step.
func buildSeed() *seedBatch {
	b := &seedBatch{}

	for _, sp := range seedSpecialties {
		b.add("specialty "+sp.code, upsertSpecialty, sp.code, sp.name, sp.synonyms)
	}

	// Organisations: a clinic in each of a city's two areas, a pharmacy in the
	// first and a laboratory in the second, a few hundred metres from the clinic.
	clinicIDs := map[string][2]uuid.UUID{}
	orgPhone := 0
	addOrg := func(kind, name string, c seedCity, a seedArea, offset float64) uuid.UUID {
		orgPhone++
		key := fmt.Sprintf("organization/%s/%s/%s", kind, slug(c.name), slug(a.name))
		id := seedID(key)
		address := fmt.Sprintf("%d Example Road, %s, %s", 10+orgPhone, a.name, c.name)
		b.add(key, upsertOrganization, id, kind, name, c.name, address,
			a.lat+offset, a.lon+offset, fmt.Sprintf("+91-90000-1%04d", orgPhone))
		return id
	}
	for _, c := range seedCities {
		var ids [2]uuid.UUID
		for i, a := range c.areas {
			ids[i] = addOrg("clinic", "CarePath Demo Clinic, "+a.name, c, a, 0)
		}
		clinicIDs[c.name] = ids
		addOrg("pharmacy", "Demo Pharmacy, "+c.areas[0].name, c, c.areas[0], 0.002)
		addOrg("laboratory", "Demo Diagnostics Lab, "+c.areas[1].name, c, c.areas[1], -0.002)
	}

	// Practitioners: one per specialty in every city, so any complaint can be
	// routed to a local doctor. i drives every varying attribute.
	i := 0
	for _, c := range seedCities {
		for _, sp := range seedSpecialties {
			key := fmt.Sprintf("practitioner/%s/%s", slug(c.name), sp.code)
			id := seedPractitionerID(c.name, sp.code)
			gender, first, last := seedPerson(i, 0)
			name := strings.TrimSpace(sp.doctorTitle + " " + first + " " + last)
			years := 3 + (i*7)%28 // 3 to 30 years
			fee := sp.baseFee + c.feeExtra + (years/10)*10000
			b.add(key, upsertPractitioner, id, name, gender, sp.code, sp.qualification, years,
				[]string{"English", "Hindi", c.language}, clinicIDs[c.name][i%2], c.name, fee, seedCurrency)
			b.addProfile(key+" profile", id.String(), seedProfile(i, id.String(), name, sp.name, c.name, years))

			for _, wd := range seedWeekdays(i) {
				sess := seedSessions[(i+wd)%len(seedSessions)]
				skey := fmt.Sprintf("schedule/%s/%s/%d", slug(c.name), sp.code, wd)
				b.add(skey, upsertSchedule, seedID(skey), id, wd, sess.start, sess.end, sp.slotMinutes, seedTimezone)
			}
			i++
		}
	}

	// Patients: adults born between 1948 and 2005, spread over the cities.
	for n := 1; n <= SeedPatientCount; n++ {
		j := n - 1
		gender, first, last := seedPerson(j, 50)
		c := seedCities[j%len(seedCities)]
		lang := []string{"English", "Hindi", c.language}[j%3]
		birth := time.Date(1948+j*3, time.Month(1+(j*5)%12), 1+(j*11)%28, 0, 0, 0, 0, time.UTC)
		email := fmt.Sprintf("%s.%s.%02d@example.com", strings.ToLower(first), strings.ToLower(last), n)
		key := fmt.Sprintf("patient/%d", n)
		b.add(key, upsertPatient, seedID(key), first+" "+last, birth, gender,
			fmt.Sprintf("+91-90000-000%02d", n), email, c.name, lang, seedTimezone)
		b.add(key+" sms preference", insertSMSPreference, seedID(key), DefaultQuietHoursStart, DefaultQuietHoursEnd)
	}

	for _, lt := range seedLabTests {
		b.add("lab_test "+lt.loinc, upsertLabTest, lt.loinc, lt.name, lt.specimen, lt.price, seedCurrency, seedLabSource)
	}
	for _, p := range seedProducts {
		b.add("product "+p.sku, upsertProduct, p.sku, p.name, p.category, p.price, seedCurrency, p.prescription)
	}
	return b
}

// seedWeekdays returns doctor i's 3 to 5 consulting days, Monday (1) to
// Friday (5), rotated so that not every doctor is off on the same day.
func seedWeekdays(i int) []int {
	n := 3 + i%3
	days := make([]int, 0, n)
	for k := range n {
		days = append(days, 1+(i+k*2)%5) // step 2 over 5 days visits each day once
	}
	slices.Sort(days)
	return days
}

// slug makes a stable lower-case key part: "T. Nagar" → "t-nagar".
func slug(s string) string {
	var out []rune
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			out = append(out, r)
			dash = false
		} else if !dash && len(out) > 0 {
			out = append(out, '-')
			dash = true
		}
	}
	return strings.TrimSuffix(string(out), "-")
}
