package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/knowledge"
)

func knowledgeActivities(t *testing.T) (*activities.Knowledge, *testsuite.TestActivityEnvironment) {
	t.Helper()
	g := knowledge.New(testenv.Neo4j(t))
	d, err := knowledge.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := g.Load(ctx, d); err != nil { // idempotent: the graph make run uses stays as it is
		t.Fatalf("load knowledge graph: %v", err)
	}
	a := &activities.Knowledge{Graph: g}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return a, env
}

func TestCheckPrescription(t *testing.T) {
	a, env := knowledgeActivities(t)
	egfr := 28.0
	val, err := env.ExecuteActivity(a.CheckPrescription, contract.CheckPrescriptionInput{
		PatientID: "p-1", Drugs: []string{"metformin", "Zestril", "Aldactone"},
		Profile: care.Profile{EGFR: &egfr, Conditions: []string{"E11"}}})
	if err != nil {
		t.Fatal(err)
	}
	var res contract.CheckPrescriptionResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Highest != care.Contraindicated || len(res.DetectedIssues) != len(res.Findings) {
		t.Fatalf("result %+v", res)
	}
	if res.DetectedIssues[0].ResourceType != "DetectedIssue" || res.DetectedIssues[0].Severity != "high" {
		t.Errorf("detected issue %+v", res.DetectedIssues[0])
	}

	_, err = env.ExecuteActivity(a.CheckPrescription, contract.CheckPrescriptionInput{PatientID: "p-1"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeInvalidRegimen || !appErr.NonRetryable() {
		t.Errorf("empty regimen: %v", err)
	}
}

func TestDietForRegimen(t *testing.T) {
	a, env := knowledgeActivities(t)
	val, err := env.ExecuteActivity(a.DietForRegimen, activities.DietForRegimenInput{PatientID: "p-1", Drugs: []string{"warfarin", "metformin"}})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.DietForRegimenResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range res.Diet {
		found = found || (d.Item == "vitamin-k-foods" && d.Advice == "keep-steady")
	}
	if !res.Complete || !found {
		t.Errorf("diet %+v", res)
	}
}
