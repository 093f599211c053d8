package journeys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/workflows"
)

const patient = "0b1c2d3e-0000-4000-8000-000000000001"

func TestIDsParseBothShapesAndNothingElse(t *testing.T) {
	id := journeys.NewID(patient)
	if got, err := journeys.ParseID(id); err != nil || got != patient || journeys.IsLegacyID(id) {
		t.Errorf("new ID %q: patient %q, legacy %v, err %v", id, got, journeys.IsLegacyID(id), err)
	}
	legacy := workflows.LegacyJourneyWorkflowID(patient, "general-consult", 3)
	if p, pathway, episode, err := journeys.ParseLegacyID(legacy); err != nil || p != patient || pathway != "general-consult" || episode != 3 || !journeys.IsLegacyID(legacy) {
		t.Errorf("legacy ID %q: %q %q %d %v", legacy, p, pathway, episode, err)
	}
	for _, bad := range []string{"", "journey:" + patient, "journey:" + patient + ":NOTBASE32", "adherence:" + patient + ":x:1", strings.ToUpper(id)} {
		if _, err := journeys.ParseID(bad); !errors.Is(err, journeys.ErrBadID) || journeys.ValidID(bad) {
			t.Errorf("%q should not parse as a journey ID: %v", bad, err)
		}
	}
	course := journeys.AdherenceID(patient, "0b1c2d3e-0000-4000-8000-0000000000aa", 2)
	if p, rx, pos, err := journeys.ParseAdherenceID(course); err != nil || p != patient || rx != "0b1c2d3e-0000-4000-8000-0000000000aa" || pos != 2 {
		t.Errorf("adherence ID %q: %q %q %d %v", course, p, rx, pos, err)
	}
	if got := journeys.RefillOrderID(course, 1); got != course+"/refill-1" {
		t.Errorf("refill order ID = %q", got)
	}
}

func TestFilterQueryNamesOnlyWhatIsSet(t *testing.T) {
	running := false
	for _, c := range []struct {
		f    journeys.Filter
		want string
	}{
		{journeys.Filter{PatientID: patient}, "WorkflowType = 'Journey' AND PatientId = '" + patient + "'"},
		{journeys.Filter{PatientID: patient, Running: &running, PathwayID: "asthma", Stage: "pay"},
			"WorkflowType = 'Journey' AND PatientId = '" + patient + "' AND ExecutionStatus != 'Running' AND PathwayId = 'asthma' AND JourneyStage = 'pay'"},
	} {
		if got := c.f.Query(); got != c.want {
			t.Errorf("Query() = %q, want %q", got, c.want)
		}
	}
}

func TestBooksFollowsTheStepTheJourneyStartsAt(t *testing.T) {
	catalog, err := pathways.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	consult, err := catalog.Get("general-consult", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !journeys.Books(workflows.JourneyInput{Plan: consult}) {
		t.Error("general-consult starts by booking")
	}
	if journeys.Books(workflows.JourneyInput{Plan: consult, StartAt: "doctor_review"}) {
		t.Error("a journey started at doctor_review does not book")
	}
}
