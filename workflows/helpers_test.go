package workflows_test

import (
	"testing"

	"github.com/carepath/carepath/workflows"
)

func TestJourneyWorkflowIDRoundTrips(t *testing.T) {
	id := workflows.JourneyWorkflowID(patient, "type-2-diabetes", 3)
	if id != "journey:"+patient+":type-2-diabetes:3" {
		t.Fatalf("id = %q", id)
	}
	p, pw, n, err := workflows.ParseJourneyWorkflowID(id)
	if err != nil || p != patient || pw != "type-2-diabetes" || n != 3 {
		t.Fatalf("parse = %q %q %d %v", p, pw, n, err)
	}
	for _, bad := range []string{"", "journey", "journey:x:y:1", "journey:" + patient + ":ok:0", "journey:" + patient + ":ok:01",
		"visit:" + patient + ":ok:1", "journey:" + patient + ":Bad:1", "journey:" + patient + ":ok:1:extra"} {
		if _, _, _, err := workflows.ParseJourneyWorkflowID(bad); err == nil {
			t.Errorf("ParseJourneyWorkflowID(%q) accepted a bad ID", bad)
		}
	}
}

func TestSearchAttributesHoldOnlyOpaqueKinds(t *testing.T) {
	attrs := workflows.SearchAttributes()
	for _, name := range []string{"PatientId", "PathwayId", "PathwayVersion", "JourneyStage", "StageSince", "RiskLevel", "NeedsAttention", "DoctorId"} {
		if _, ok := attrs[name]; !ok {
			t.Errorf("search attribute %s is missing", name)
		}
	}
	if len(attrs) != 8 {
		t.Errorf("got %d search attributes, want 8", len(attrs))
	}
}
