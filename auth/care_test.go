package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

// A diet step's care assignment relates its dietitian to the patient, for
// every category of the record, while it is open: not past its horizon,
// not after the step ended, and never for another dietitian.
func TestDietitianSeesPatientWhileAssigned(t *testing.T) {
	ctx := context.Background()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	a := newService(t, s, nil)
	patient := store.SeedPatientID(10) // no other test relates a dietitian to this patient
	lapsed, current := "care-test:"+uuid.NewString(), "care-test:"+uuid.NewString()
	t.Cleanup(func() {
		for _, j := range []string{lapsed, current} {
			if err := s.EndCareAssignment(context.Background(), j, "diet", time.Now()); err != nil {
				t.Error(err)
			}
		}
	})
	sees := func(practitioner, category string) (bool, string) {
		t.Helper()
		ok, why, err := a.CanSeePatientData(ctx, auth.Principal{Subject: uuid.NewString(), Role: auth.RoleDietitian, PractitionerID: practitioner}, patient, category)
		if err != nil {
			t.Fatal(err)
		}
		return ok, why
	}

	// An assignment whose horizon has passed relates nobody.
	dietitian, err := s.AssignDietitian(ctx, lapsed, "diet", patient, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := sees(dietitian, auth.ConsentAll); ok {
		t.Fatalf("past the assignment's horizon: allowed (%s)", why)
	}
	// The patient's next diet step keeps the same dietitian, and assigning
	// it again (a retried activity) changes nobody.
	if again, err := s.AssignDietitian(ctx, current, "diet", patient, time.Now().Add(time.Hour)); err != nil || again != dietitian {
		t.Fatalf("next assignment: %q, %v; want the patient's dietitian %q", again, err, dietitian)
	}
	if again, err := s.AssignDietitian(ctx, current, "diet", patient, time.Now().Add(time.Minute)); err != nil || again != dietitian {
		t.Fatalf("the same assignment again: %q, %v", again, err)
	}
	for _, category := range []string{auth.ConsentAll, "observation"} {
		if ok, why := sees(dietitian, category); !ok || why != "care assignment" {
			t.Errorf("assigned dietitian, %s: %v (%s)", category, ok, why)
		}
	}
	var other string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM practitioner WHERE specialty_code = 'nutrition' AND id <> $1 ORDER BY id LIMIT 1`, dietitian).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if ok, why := sees(other, auth.ConsentAll); ok {
		t.Errorf("another dietitian: allowed (%s)", why)
	}
	// The step ends: access through the assignment ends with it.
	if err := s.EndCareAssignment(ctx, current, "diet", time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, why := sees(dietitian, auth.ConsentAll); ok {
		t.Errorf("after the step ended: allowed (%s)", why)
	}
}
