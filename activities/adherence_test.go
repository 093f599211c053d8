package activities_test

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/store"
)

// The adherence activities use demo patient 18 only.

func TestAdherencePlanAndRefillsAgainstPostgres(t *testing.T) {
	ctx, s := seededStore(t)
	patientID, doctorID := store.SeedPatientID(18), anyPractitioner(ctx, t, s)
	rx := &activities.Prescriptions{Store: s, Signer: testSigner(t)}
	adh := &activities.Adherence{Store: s}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(rx)
	env.RegisterActivity(adh)
	jid := journeyID(t)

	// Before anything is signed there is nothing to follow.
	if _, err := env.ExecuteActivity(adh.AdherencePlan, contract.AdherencePlanInput{JourneyID: jid, PatientID: patientID}); !hasType(err, contract.ErrTypeNoSignedPrescription) {
		t.Fatalf("plan without a signed prescription: %v", err)
	}
	asNeeded := care.MedicationItem{Drug: "paracetamol", Dose: "500 mg", Route: "oral", Frequency: "as needed", DurationDays: 5, Quantity: 10}
	draft := run[contract.DraftPrescriptionResult](t, env, rx.DraftPrescription, contract.DraftPrescriptionInput{
		JourneyID: jid, Step: "prescribe", Version: 1, PatientID: patientID, PractitionerID: doctorID, Items: []care.MedicationItem{rxMetformin, asNeeded}})
	refill := contract.RecordRefillInput{PrescriptionID: draft.PrescriptionID, Position: 0, Number: 1, PatientID: patientID,
		ActorID: patientID, ActorRole: "patient", RequestedAt: time.Now()}
	if _, err := env.ExecuteActivity(adh.RecordRefillRequest, refill); !hasType(err, contract.ErrTypeNoRefillsLeft) {
		t.Fatalf("a refill of an unsigned prescription: %v", err)
	}
	run[contract.SignPrescriptionResult](t, env, rx.SignPrescription, contract.SignPrescriptionInput{
		PrescriptionID: draft.PrescriptionID, ActorID: doctorID, Action: "approve", ReviewedAt: time.Now()})

	plan := run[contract.AdherencePlanResult](t, env, adh.AdherencePlan, contract.AdherencePlanInput{JourneyID: jid, PatientID: patientID})
	if plan.PrescriptionID != draft.PrescriptionID || plan.TimeZone != "Asia/Kolkata" || len(plan.Items) != 2 {
		t.Fatalf("plan = %+v", plan)
	}
	if it := plan.Items[0]; it.Position != 0 || it.Frequency != "twice daily" || it.DurationDays != 30 || it.Quantity != 60 || it.Refills != 1 {
		t.Errorf("item 0 = %+v", it)
	}
	if _, err := env.ExecuteActivity(adh.AdherencePlan, contract.AdherencePlanInput{JourneyID: jid, PatientID: store.SeedPatientID(17)}); !hasType(err, contract.ErrTypeInvalidInput) {
		t.Errorf("another patient's plan: %v", err)
	}

	// metformin allows one refill: the first is recorded (twice, once), the second refused.
	run[struct{}](t, env, adh.RecordRefillRequest, refill)
	run[struct{}](t, env, adh.RecordRefillRequest, refill)
	second := refill
	second.Number = 2
	if _, err := env.ExecuteActivity(adh.RecordRefillRequest, second); !hasType(err, contract.ErrTypeNoRefillsLeft) {
		t.Errorf("a second refill of a one-refill request: %v", err)
	}
	none := refill
	none.Position = 1 // the as-needed item has no refills
	if _, err := env.ExecuteActivity(adh.RecordRefillRequest, none); !hasType(err, contract.ErrTypeNoRefillsLeft) {
		t.Errorf("a refill of a request without refills: %v", err)
	}
	got, err := s.RefillRequests(ctx, draft.PrescriptionID, 0)
	if err != nil || len(got) != 1 || got[0].Number != 1 || got[0].RequestedRole != "patient" || got[0].PatientID != patientID {
		t.Fatalf("stored refills = %+v, %v", got, err)
	}
}

func hasType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}
