package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/carepath/carepath/store"
)

// Demo credentials for the local stack only: SeedDemo writes them so that a
// developer can sign in as every role. Never run SeedDemo against a real
// deployment.
const (
	DemoPatientPassword    = "demo-patient-pass"
	DemoDoctorPassword     = "demo-doctor-pass"
	DemoStaffPassword      = "demo-staff-pass" // coordinator, admin, pharmacist
	DemoIntegratorClientID = "demo-integrator"
	DemoIntegratorSecret   = "demo-integrator-secret"
	DemoCoordinatorEmail   = "coordinator@demo.carepath.example"
	DemoAdminEmail         = "admin@demo.carepath.example"
	DemoPharmacistEmail    = "pharmacist@demo.carepath.example"
	demoCoordinatorCity    = "Bengaluru"
	demoEmailDomain        = "demo.carepath.example"
)

// DemoUserID is the deterministic ID of the demo user with this email, so
// that seeding twice changes nothing.
func DemoUserID(email string) string {
	return uuid.NewSHA1(demoNamespace, []byte("user/"+email)).String()
}

var demoNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://carepath.example/seed/auth"))

// DemoDoctorEmail is the sign-in email of the seeded practitioner of this
// specialty in this city: "bengaluru.dentistry@demo.carepath.example".
func DemoDoctorEmail(city, specialtyCode string) string {
	return strings.ToLower(strings.ReplaceAll(city, " ", "-")) + "." + specialtyCode + "@" + demoEmailDomain
}

// SeedCounts says what SeedDemo wrote.
type SeedCounts struct{ Users, Clients int }

// SeedDemo creates a user for every seeded patient (their own email and
// phone) and practitioner (DemoDoctorEmail; nutrition specialists are
// dietitians), a coordinator whose care team is Bengaluru, an admin, a
// pharmacist and an integrator client enrolled for every seeded patient.
// It runs after store.Seed.
func (s *Service) SeedDemo(ctx context.Context) (SeedCounts, error) {
	var c SeedCounts
	// One hash per demo password: these are public, so per-user salts would
	// protect nothing and would make seeding take seconds.
	hashes := map[string]string{}
	for _, pw := range []string{DemoPatientPassword, DemoDoctorPassword, DemoStaffPassword} {
		h, err := HashPassword(pw)
		if err != nil {
			return c, fmt.Errorf("seed demo users: %w", err)
		}
		hashes[pw] = h
	}
	var users []NewUser
	rows, err := s.pool.Query(ctx, `SELECT id::text, email, phone FROM patient WHERE id = ANY($1::uuid[]) ORDER BY id`,
		store.SeedPatientIDs())
	if err != nil {
		return c, fmt.Errorf("seed demo users: patients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u := NewUser{Role: RolePatient, PasswordHash: hashes[DemoPatientPassword]}
		if err := rows.Scan(&u.PatientID, &u.Email, &u.Phone); err != nil {
			return c, fmt.Errorf("seed demo users: patients: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("seed demo users: patients: %w", err)
	}
	// One demo account per city and specialty (the seed has one doctor of
	// each). Patients and practitioners added beside the seed, and seeded
	// practitioners that have an account of their own, are left alone.
	rows, err = s.pool.Query(ctx, `SELECT p.id::text, p.city, p.specialty_code FROM practitioner p
		WHERE p.id = ANY($2::uuid[])
		AND NOT EXISTS (SELECT 1 FROM app_user u WHERE u.practitioner_id = p.id AND u.email NOT LIKE '%@' || $1)
		ORDER BY p.id`, demoEmailDomain, store.SeedPractitionerIDs())
	if err != nil {
		return c, fmt.Errorf("seed demo users: practitioners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var city, specialty string
		u := NewUser{Role: RoleDoctor, PasswordHash: hashes[DemoDoctorPassword]}
		if err := rows.Scan(&u.PractitionerID, &city, &specialty); err != nil {
			return c, fmt.Errorf("seed demo users: practitioners: %w", err)
		}
		if specialty == "nutrition" {
			u.Role = RoleDietitian
		}
		u.Email = DemoDoctorEmail(city, specialty)
		if slices.ContainsFunc(users, func(o NewUser) bool { return o.Email == u.Email }) {
			continue
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("seed demo users: practitioners: %w", err)
	}
	staff := hashes[DemoStaffPassword]
	users = append(users,
		NewUser{Email: DemoCoordinatorEmail, Role: RoleCoordinator, PasswordHash: staff},
		NewUser{Email: DemoAdminEmail, Role: RoleAdmin, PasswordHash: staff},
		NewUser{Email: DemoPharmacistEmail, Role: RolePharmacist, PasswordHash: staff})
	for _, u := range users {
		u.ID = DemoUserID(u.Email)
		if _, err := s.UpsertUser(ctx, u); err != nil {
			return c, fmt.Errorf("seed demo users: %w", err)
		}
		c.Users++
	}
	coordinator := DemoUserID(DemoCoordinatorEmail)
	if _, err := s.pool.Exec(ctx, `INSERT INTO care_team (id, coordinator_id, city) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		uuid.NewSHA1(demoNamespace, []byte("care_team/"+coordinator+"/"+demoCoordinatorCity)), coordinator, demoCoordinatorCity); err != nil {
		return c, fmt.Errorf("seed demo users: care team: %w", err)
	}
	if err := s.UpsertClient(ctx, DemoIntegratorClientID, "Demo integrator", DemoIntegratorSecret,
		[]string{ScopeModelsPredict, ScopeKnowledgeRead, ScopeLabsWrite, ScopeDirectoryRead}); err != nil {
		return c, fmt.Errorf("seed demo users: %w", err)
	}
	// The demo integrator acts for the seeded patients only
	// (IntegratorMayActFor), and their journeys' lab orders go to it.
	if _, err := s.pool.Exec(ctx, `INSERT INTO integrator_enrolment (id, client_id, patient_id)
		SELECT gen_random_uuid(), $1, p.id FROM patient p WHERE p.id = ANY($2::uuid[])
		ON CONFLICT (client_id, patient_id) WHERE patient_id IS NOT NULL AND revoked_at IS NULL DO NOTHING`,
		DemoIntegratorClientID, store.SeedPatientIDs()); err != nil {
		return c, fmt.Errorf("seed demo users: enrolments: %w", err)
	}
	c.Clients++
	return c, nil
}
