package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"go.yaml.in/yaml/v3"
)

// PathwayOverrides turn a shipped pathway into a test version of it.
type PathwayOverrides struct {
	// Version is the test version's number (900 and up by convention, so it
	// never collides with a shipped one).
	Version int
	// Parameters replaces the value of named parameters, keeping their
	// type, unit and source.
	Parameters map[string]any
	// With sets keys of named steps' with settings (adding the key when
	// the step has none), e.g. an adhere step's dose_interval.
	With map[string]map[string]any
}

// TestPathway is the shipped pathway definitions/NAME.yaml with the given
// overrides, as YAML for a PATHWAYS_DIR. It fails the test when an
// override names a parameter or a step the pathway does not have, so a
// test notices when the shipped pathway changes under it. The loader still
// validates the result as it would any pathway.
func TestPathway(t testing.TB, name string, o PathwayOverrides) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "pathways", "definitions", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("testenv: pathway %s: %v", name, err)
	}
	if o.Version != 0 {
		doc["version"] = o.Version
	}
	params, _ := doc["parameters"].(map[string]any)
	for p, v := range o.Parameters {
		param, ok := params[p].(map[string]any)
		if !ok {
			t.Fatalf("testenv: pathway %s has no parameter %q", name, p)
		}
		param["value"] = v
	}
	steps, _ := doc["steps"].([]any)
	for id, with := range o.With {
		step := findStep(steps, id)
		if step == nil {
			t.Fatalf("testenv: pathway %s has no step %q", name, id)
		}
		w, _ := step["with"].(map[string]any)
		if w == nil {
			w = map[string]any{}
			step["with"] = w
		}
		for k, v := range with {
			w[k] = v
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("testenv: pathway %s: %v", name, err)
	}
	return string(out)
}

func findStep(steps []any, id string) map[string]any {
	for _, s := range steps {
		if m, ok := s.(map[string]any); ok && m["id"] == id {
			return m
		}
	}
	return nil
}

// QuickDiabetesPathway is the shipped type 2 diabetes pathway as test
// version 900, short enough for an end-to-end test to live through its
// booking time limits and a week of twice-daily medication reminders
// (doseInterval apart). The ongoing-care stages (adherence, diet, review)
// keep their shipped 90-day limits: the test ends the journey itself.
func QuickDiabetesPathway(t testing.TB, doseInterval string) string {
	t.Helper()
	return TestPathway(t, "type-2-diabetes.v1", PathwayOverrides{
		Version: 900,
		Parameters: map[string]any{
			"slot_hold": "2m", "payment_window": "1m", "doctor_response_limit": "1m", "escalation_limit": "1m",
			"reminder_offsets": []any{"10s"}, "consult_grace": "1m", "lab_result_limit": "2m",
			"refill_lead_days": 1,
		},
		With: map[string]map[string]any{"adherence": {"dose_interval": doseInterval}},
	})
}
