package pathways

import (
	"testing"
	"time"
)

func TestShippedPathwaysLoad(t *testing.T) {
	c, err := Shipped()
	if err != nil {
		t.Fatalf("shipped pathways are invalid:\n%v", err)
	}
	for _, id := range []string{"general-consult", "type-2-diabetes", "hypertension"} {
		p, err := c.Get(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Version < 1 || p.Start == "" || len(p.Sources) == 0 {
			t.Errorf("%s: incomplete plan %+v", id, p)
		}
	}
	gc, _ := c.Get("general-consult", 1)
	if gc.Steps["pay"].TimeLimit != 30*time.Minute {
		t.Errorf("pay time limit = %v, want the payment_window parameter (30m)", gc.Steps["pay"].TimeLimit)
	}
	dr := gc.Steps["doctor_review"]
	if dr.OnTimeout == nil || dr.OnTimeout.Action != "escalate" || dr.OnTimeout.Then == nil || dr.OnTimeout.Then.TimeLimit != 20*time.Hour {
		t.Errorf("doctor_review escalation not compiled: %+v", dr.OnTimeout)
	}
	if got := gc.Steps["reminders"].With["offsets"]; len(got.([]any)) != 2 {
		t.Errorf("reminder offsets not resolved from the parameter: %v", got)
	}
}
