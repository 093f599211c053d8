package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/store"
)

func TestFoodsLoadOnceAndRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := testenv.Store(t)
	foods, err := diet.LoadIFCT(diet.DefaultIFCTPath())
	if err != nil {
		t.Fatal(err)
	}
	versions := func() string { // the row versions: a rewritten row gets a new xmin
		var v string
		if err := s.Pool.QueryRow(ctx, `SELECT string_agg(xmin::text, ',' ORDER BY code) FROM food_composition`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var before string
	for i := range 2 {
		if n, err := s.SeedFoods(ctx, foods); err != nil || n != len(foods) {
			t.Fatalf("seed foods: %d, %v", n, err)
		}
		if i == 0 {
			before = versions()
		}
	}
	if versions() != before {
		t.Error("loading the same table again rewrote rows")
	}
	var source string
	if err := s.Pool.QueryRow(ctx, `SELECT DISTINCT source FROM food_composition`).Scan(&source); err != nil || source != diet.IFCTSource {
		t.Errorf("source %q, %v", source, err)
	}
	got, err := s.Foods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]diet.Food{}
	for _, f := range got {
		by[f.Code] = f
	}
	for _, f := range foods {
		if by[f.Code] != f {
			t.Fatalf("%s came back as %+v, stored %+v", f.Code, by[f.Code], f)
		}
	}
}

func TestDietPlanReviewsSupersedeEarlierRevisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := testenv.Store(t)
	if _, err := s.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	var dietitian string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM practitioner WHERE specialty_code = 'nutrition' ORDER BY id LIMIT 1`).Scan(&dietitian); err != nil {
		t.Fatal(err)
	}
	journey := "journey:" + store.SeedPatientID(17) + ":diet-store:" + uuid.NewString()[:8]
	save := func(rev int, infeasible string) store.DietPlan {
		p := store.DietPlan{JourneyID: journey, Step: "diet", Revision: rev, PatientID: store.SeedPatientID(17), Trigger: "initial",
			Targets: diet.Targets{EnergyKcal: 1800}, Infeasible: infeasible}
		if infeasible == "" {
			p.Plan = &diet.Plan{Notes: []string{}}
		}
		saved, err := s.SaveDietPlan(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return saved
	}
	first, second := save(1, ""), save(2, "")
	if again := save(1, ""); again.ID != first.ID {
		t.Errorf("saving revision 1 again made a new row")
	}
	if infeasible := save(3, "no plan"); infeasible.Status != store.DietInfeasible {
		t.Errorf("status %s", infeasible.Status)
	}
	if _, err := s.ReviewDietPlan(ctx, store.DietReview{PlanID: first.ID, ActorID: dietitian, Action: "amend", Reviewed: time.Now()}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("amend without a reason: %v", err)
	}
	for _, id := range []string{first.ID, second.ID} {
		if _, err := s.ReviewDietPlan(ctx, store.DietReview{PlanID: id, ActorID: dietitian, Action: "approve", Reviewed: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := s.CurrentDietPlan(ctx, journey)
	if err != nil || cur.ID != second.ID || cur.ReviewedBy != dietitian {
		t.Fatalf("current %+v, %v", cur, err)
	}
	old, _ := s.DietPlanRevision(ctx, journey, "diet", 1)
	if old.Status != store.DietSuperseded {
		t.Errorf("revision 1 is %s after revision 2 was approved", old.Status)
	}
	if _, err := s.ReviewDietPlan(ctx, store.DietReview{PlanID: first.ID, ActorID: dietitian, Action: "approve", Reviewed: time.Now()}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("approving a superseded revision: %v", err)
	}
}
