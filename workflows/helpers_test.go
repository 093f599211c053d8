package workflows_test

import (
	"strings"
	"testing"

	"github.com/carepath/carepath/workflows"
)

func TestJourneyWorkflowIDRoundTrips(t *testing.T) {
	id := workflows.LegacyJourneyWorkflowID(patient, "type-2-diabetes", 3)
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

// New journey IDs are opaque: the patient (for the access layer) and a
// random token, nothing about the pathway or the episode.
func TestNewJourneyWorkflowIDIsOpaque(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := workflows.NewJourneyWorkflowID(patient)
		if seen[id] {
			t.Fatalf("ID %s drawn twice", id)
		}
		seen[id] = true
		p, pw, n, err := workflows.ParseJourneyWorkflowID(id)
		if err != nil || p != patient || pw != "" || n != 0 {
			t.Fatalf("parse(%s) = %q %q %d %v", id, p, pw, n, err)
		}
		token := strings.TrimPrefix(id, "journey:"+patient+":")
		if len(token) != 26 || strings.ContainsAny(token, ":-") || workflows.IsLegacyJourneyWorkflowID(id) {
			t.Fatalf("ID %s: token %q is not 26 characters of base32", id, token)
		}
	}
	if !workflows.IsLegacyJourneyWorkflowID(workflows.LegacyJourneyWorkflowID(patient, "type-2-diabetes", 1)) {
		t.Error("a legacy ID is not reported as legacy")
	}
	for _, bad := range []string{"journey:" + patient + ":ABCDEFGHIJKLMNOPQRSTUVWXYZ", "journey:" + patient + ":abc",
		"journey:" + patient + ":abcdefghijklmnopqrstuvwxy1", "journey:" + strings.ToUpper(patient) + ":abcdefghijklmnopqrstuvwxyz",
		"adherence:" + patient + ":abcdefghijklmnopqrstuvwxyz"} {
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
