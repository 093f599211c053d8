package testenv_test

import (
	"testing"
	"time"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/pathways"
)

// The quick diabetes pathway loads as any pathway does, with its overrides
// applied and every other parameter (and its source) as shipped.
func TestQuickDiabetesPathwayLoads(t *testing.T) {
	plan, err := pathways.Load("type-2-diabetes.v900.yaml", []byte(testenv.QuickDiabetesPathway(t, "3s")))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := pathways.Load("type-2-diabetes.v1.yaml", []byte(testenv.TestPathway(t, "type-2-diabetes.v1", testenv.PathwayOverrides{})))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Version != 900 || plan.PathwayID != "type-2-diabetes" || shipped.Version != 1 {
		t.Fatalf("pathway %s version %d (shipped %d)", plan.PathwayID, plan.Version, shipped.Version)
	}
	if got := plan.Steps["pay"].TimeLimit; got != time.Minute {
		t.Errorf("pay time limit %v, want the overridden 1m", got)
	}
	if got := plan.Steps["adherence"].With["dose_interval"]; got != "3s" {
		t.Errorf("adherence dose_interval %v", got)
	}
	if plan.Steps["diet"].TimeLimit != shipped.Steps["diet"].TimeLimit || plan.Params["hba1c_target"] != shipped.Params["hba1c_target"] {
		t.Errorf("a parameter that was not overridden changed: diet %v, hba1c %v", plan.Steps["diet"].TimeLimit, plan.Params["hba1c_target"])
	}
	if shipped.Steps["adherence"].With["dose_interval"] != nil {
		t.Errorf("the shipped pathway has a dose interval: %v", shipped.Steps["adherence"].With)
	}
}

func TestPathwayOverrideOfAnUnknownParameterFails(t *testing.T) {
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		testenv.TestPathway(ft, "type-2-diabetes.v1", testenv.PathwayOverrides{Parameters: map[string]any{"no_such_limit": "1m"}})
	}()
	if !ft.failed {
		t.Error("an unknown parameter was accepted")
	}
}

// fakeT records a Fatalf instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
