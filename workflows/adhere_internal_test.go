package workflows

import (
	"testing"

	"github.com/carepath/carepath/pathways"
)

// The shipped pathways' adhere steps pass their cited parameters through.
func TestAdhereSettingsFromShippedPathways(t *testing.T) {
	c, err := pathways.LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"type-2-diabetes", "hypertension"} {
		plan, err := c.Get(id, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, err := adherenceSettings(plan.Steps["adherence"])
		if err != nil || s.MissedInARow != 3 || s.RefillLeadDays != 5 || s.Interval != 0 {
			t.Errorf("%s: settings %+v, %v; want 3 in a row, 5 days", id, s, err)
		}
	}
	for _, bad := range []map[string]any{{"missed_in_a_row": 2.5}, {"refill_lead_days": "five"}, {"dose_interval": "10ms"}, {"missed_in_a_row": 0.0}} {
		if _, err := adherenceSettings(pathways.PlanStep{ID: "a", With: bad}); err == nil {
			t.Errorf("with %v was accepted", bad)
		}
	}
	s, err := adherenceSettings(pathways.PlanStep{ID: "a", With: map[string]any{"dose_interval": "30s"}})
	if err != nil || s.Interval.Seconds() != 30 {
		t.Errorf("dose_interval 30s: %+v %v", s, err)
	}
}
