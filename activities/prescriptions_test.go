package activities_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/internal/pharmacysim"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/pharmacy"
	"github.com/carepath/carepath/store"
)

// The prescription and pharmacy tests use demo patients 13 and 19 only:
// their clinical facts and pharmacy preference are set here.

var rxMetformin = care.MedicationItem{Drug: "metformin", Dose: "500 mg", Route: "oral", Frequency: "twice daily", DurationDays: 30, Quantity: 60, Refills: 1}

func anyPractitioner(ctx context.Context, t *testing.T, s *store.Store) string {
	t.Helper()
	var id string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM practitioner ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func testSigner(t *testing.T) *activities.PrescriptionSigner {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 7)
	}
	signer, err := activities.NewPrescriptionSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func run[T any](t *testing.T, env *testsuite.TestActivityEnvironment, fn any, in any) T {
	t.Helper()
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if val != nil && val.HasValue() {
		if err := val.Get(&out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestPrescriptionIsDraftedCheckedSignedAndTamperEvident(t *testing.T) {
	ctx, s := seededStore(t)
	patientID, doctorID := store.SeedPatientID(13), anyPractitioner(ctx, t, s)
	for _, q := range []string{
		`INSERT INTO condition (id, patient_id, code) VALUES (gen_random_uuid(), $1, 'E11') ON CONFLICT DO NOTHING`,
		`INSERT INTO medication_statement (id, patient_id, drug) VALUES (gen_random_uuid(), $1, 'Zestril'), (gen_random_uuid(), $1, 'Aldactone') ON CONFLICT DO NOTHING`,
		`INSERT INTO renal_function (id, patient_id, loinc_code, egfr, effective_at) VALUES (gen_random_uuid(), $1, '62238-1', 28, now())`,
	} {
		if _, err := s.Pool.Exec(ctx, q, patientID); err != nil {
			t.Fatal(err)
		}
	}
	kn, _ := knowledgeActivities(t)
	signer := testSigner(t)
	rx := &activities.Prescriptions{Store: s, Signer: signer}
	env := activityEnv(rx, kn)

	jid := journeyID(t)
	draft := run[contract.DraftPrescriptionResult](t, env, rx.DraftPrescription, contract.DraftPrescriptionInput{
		JourneyID: jid, Step: "prescribe", Version: 1, PatientID: patientID, PractitionerID: doctorID, Items: []care.MedicationItem{rxMetformin}})
	if draft.Profile.EGFR == nil || *draft.Profile.EGFR != 28 || draft.Profile.Age == nil || !slices.Contains(draft.Profile.Conditions, "E11") {
		t.Fatalf("profile = %+v", draft.Profile)
	}
	if !slices.Contains(draft.CheckDrugs, "metformin") || !slices.Contains(draft.CheckDrugs, "Zestril") || !slices.Contains(draft.CheckDrugs, "Aldactone") {
		t.Fatalf("check drugs = %v", draft.CheckDrugs)
	}
	again := run[contract.DraftPrescriptionResult](t, env, rx.DraftPrescription, contract.DraftPrescriptionInput{
		JourneyID: jid, Step: "prescribe", Version: 1, PatientID: patientID, PractitionerID: doctorID, Items: []care.MedicationItem{rxMetformin}})
	if again.PrescriptionID != draft.PrescriptionID {
		t.Fatalf("a retried draft made a second prescription: %s %s", again.PrescriptionID, draft.PrescriptionID)
	}

	check := run[contract.CheckPrescriptionResult](t, env, kn.CheckPrescription, contract.CheckPrescriptionInput{
		PatientID: patientID, Drugs: draft.CheckDrugs, Profile: draft.Profile})
	if check.Highest != care.Contraindicated {
		t.Fatalf("want a contraindicated finding (metformin at eGFR 28), got %+v", check.Highest)
	}
	run[struct{}](t, env, rx.RecordCheck, contract.RecordCheckInput{PrescriptionID: draft.PrescriptionID, Complete: check.Complete,
		Highest: check.Highest, Findings: check.Findings, DetectedIssues: check.DetectedIssues})
	issues, err := s.DetectedIssues(ctx, draft.PrescriptionID)
	if err != nil || len(issues) != len(check.Findings) {
		t.Fatalf("stored issues = %d, %v", len(issues), err)
	}
	var stored care.DetectedIssue
	if err := json.Unmarshal(issues[0].Resource, &stored); err != nil || stored.ResourceType != "DetectedIssue" {
		t.Fatalf("stored resource = %+v %v", stored, err)
	}

	reviewed := time.Now().Add(-time.Minute)
	signed := run[contract.SignPrescriptionResult](t, env, rx.SignPrescription, contract.SignPrescriptionInput{
		PrescriptionID: draft.PrescriptionID, ActorID: doctorID, Action: "override", Reason: "renal team reviewed", ReviewedAt: reviewed})
	if len(signed.SHA256) != 64 || signed.KeyID != signer.KeyID {
		t.Fatalf("signed = %+v", signed)
	}
	twice := run[contract.SignPrescriptionResult](t, env, rx.SignPrescription, contract.SignPrescriptionInput{
		PrescriptionID: draft.PrescriptionID, ActorID: doctorID, Action: "override", Reason: "renal team reviewed", ReviewedAt: reviewed})
	if twice.SHA256 != signed.SHA256 {
		t.Error("signing again changed the signature")
	}
	if err := rx.VerifyPrescription(ctx, draft.PrescriptionID, signer.PublicKey()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := rx.VerifyPrescription(ctx, draft.PrescriptionID, other); !errors.Is(err, activities.ErrPrescriptionAltered) {
		t.Errorf("another key verified the signature: %v", err)
	}
	review, err := s.GetReview(ctx, draft.PrescriptionID)
	if err != nil || review.Action != "override" || review.Reason != "renal team reviewed" || review.ActorID != doctorID {
		t.Errorf("review = %+v %v", review, err)
	}

	// The signed record and the items refuse changes outright.
	if _, err := s.Pool.Exec(ctx, `UPDATE signed_prescription SET key_id = 'x' WHERE prescription_id = $1`, draft.PrescriptionID); err == nil {
		t.Error("the signed record was updated")
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE medication_request SET quantity = 600 WHERE prescription_id = $1`, draft.PrescriptionID); err == nil {
		t.Error("a signed item was updated")
	}
	// Anything else that changes shows in verification.
	if _, err := s.Pool.Exec(ctx, `DELETE FROM detected_issue WHERE prescription_id = $1 AND position = 0`, draft.PrescriptionID); err != nil {
		t.Fatal(err)
	}
	if err := rx.VerifyPrescription(ctx, draft.PrescriptionID, signer.PublicKey()); !errors.Is(err, activities.ErrPrescriptionAltered) {
		t.Errorf("a removed finding was not detected: %v", err)
	}
}

// hookReceiver is the API's webhook as the simulator sees it: it verifies
// every call and records the events.
type hookReceiver struct {
	mu     sync.Mutex
	events []pharmacy.Event
	bad    int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := pharmacy.VerifyWebhook("test-secret", r.Header.Get(pharmacy.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		h.bad++
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var ev pharmacy.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		h.bad++
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.events = append(h.events, ev)
}

func (h *hookReceiver) statuses(orderID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		if e.OrderID == orderID {
			out = append(out, e.Status)
		}
	}
	return out
}

func (h *hookReceiver) waitFor(t *testing.T, orderID string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got := h.statuses(orderID); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("order %s: got statuses %v, want %d", orderID, h.statuses(orderID), n)
	return nil
}

// activityEnv is a test activity environment with these activity structs
// registered.
func activityEnv(acts ...any) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	for _, a := range acts {
		env.RegisterActivity(a)
	}
	return env
}

// signPrescription drafts the items, records a complete check and signs
// them as the doctor approving, as the prescribe step does when nothing is
// found.
func signPrescription(t *testing.T, env *testsuite.TestActivityEnvironment, rx *activities.Prescriptions, journeyID, patientID, doctorID string,
	items ...care.MedicationItem) contract.DraftPrescriptionResult {
	t.Helper()
	draft := run[contract.DraftPrescriptionResult](t, env, rx.DraftPrescription, contract.DraftPrescriptionInput{
		JourneyID: journeyID, Step: "prescribe", Version: 1, PatientID: patientID, PractitionerID: doctorID, Items: items})
	run[struct{}](t, env, rx.RecordCheck, contract.RecordCheckInput{PrescriptionID: draft.PrescriptionID, Complete: true})
	run[contract.SignPrescriptionResult](t, env, rx.SignPrescription, contract.SignPrescriptionInput{
		PrescriptionID: draft.PrescriptionID, ActorID: doctorID, Action: "approve", ReviewedAt: time.Now()})
	return draft
}

// pharmacyPartner runs the pharmacy simulator in-process, its webhooks
// going to a receiver that verifies them; it returns the simulator, its
// base URL and the receiver.
func pharmacyPartner(t *testing.T) (*pharmacysim.Sim, string, *hookReceiver) {
	t.Helper()
	hooks := &hookReceiver{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	sim := pharmacysim.New(pharmacysim.Options{WebhookURL: hookSrv.URL, WebhookSecret: "test-secret", StepDelay: 10 * time.Millisecond, DefaultStock: 100})
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	t.Cleanup(sim.Close)
	return sim, simSrv.URL, hooks
}

func TestPharmacyFulfilmentAgainstThePartnerSimulator(t *testing.T) {
	ctx, s := seededStore(t)
	patientID, doctorID := store.SeedPatientID(19), anyPractitioner(ctx, t, s)
	sim, simURL, hooks := pharmacyPartner(t)

	signer := testSigner(t)
	rx := &activities.Prescriptions{Store: s, Signer: signer}
	ph := &activities.Pharmacy{Store: s, BaseURL: simURL}
	env := activityEnv(rx, ph)

	jid := journeyID(t)
	_, err := env.ExecuteActivity(ph.ChoosePharmacies, contract.ChoosePharmaciesInput{JourneyID: jid, PatientID: patientID})
	if err == nil {
		t.Fatal("a journey without a signed prescription got pharmacies")
	}
	draft := signPrescription(t, env, rx, jid, patientID, doctorID, rxMetformin)

	all, err := s.PharmaciesFor(ctx, patientID)
	if err != nil || len(all) < 3 {
		t.Fatalf("pharmacies = %d, %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].DistanceKm < all[i-1].DistanceKm {
			t.Fatalf("pharmacies are not nearest first: %+v", all)
		}
	}
	// The patient prefers the third-nearest pharmacy, which has run out.
	preferred, nearest := all[2].ID, all[0].ID
	if _, err := s.Pool.Exec(ctx, `INSERT INTO pharmacy_preference (patient_id, organization_id) VALUES ($1, $2)
		ON CONFLICT (patient_id) DO UPDATE SET organization_id = EXCLUDED.organization_id`, patientID, preferred); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.Pool.Exec(context.Background(), `DELETE FROM pharmacy_preference WHERE patient_id = $1`, patientID); err != nil {
			t.Error(err)
		}
	})
	sim.SetStock(preferred, "Metformin", 10)
	chosen := run[contract.ChoosePharmaciesResult](t, env, ph.ChoosePharmacies, contract.ChoosePharmaciesInput{JourneyID: jid, PatientID: patientID})
	if chosen.PrescriptionID != draft.PrescriptionID || len(chosen.Candidates) != len(all)-1 || chosen.Candidates[0].ID != nearest {
		t.Fatalf("without stock at the preferred pharmacy, want the nearest first: %+v", chosen)
	}
	sim.SetStock(preferred, "metformin", 500)
	chosen = run[contract.ChoosePharmaciesResult](t, env, ph.ChoosePharmacies, contract.ChoosePharmaciesInput{JourneyID: jid, PatientID: patientID})
	if chosen.Candidates[0].ID != preferred || !chosen.Candidates[0].Preferred {
		t.Fatalf("the preferred pharmacy with stock must come first: %+v", chosen.Candidates[0])
	}

	// The order reaches the partner as FHIR (the simulator validates it) and
	// comes back as signed webhooks, in order.
	in := contract.SendPrescriptionInput{JourneyID: jid, Step: "fulfil", Attempt: 1, PrescriptionID: draft.PrescriptionID, PharmacyID: preferred}
	sent := run[contract.SendPrescriptionResult](t, env, ph.SendPrescription, in)
	resent := run[contract.SendPrescriptionResult](t, env, ph.SendPrescription, in)
	if sent.OrderID == "" || resent != sent || len(sim.Orders()) != 1 {
		t.Fatalf("a retried send ordered twice: %+v %+v, partner orders %d", sent, resent, len(sim.Orders()))
	}
	order := sim.Orders()[0]
	if order.Reference != sent.OrderID || order.PharmacyID != preferred || order.Items[0].Quantity != 60 {
		t.Errorf("partner order = %+v", order)
	}
	var bundle pharmacy.FHIRBundle
	if err := json.Unmarshal(order.Bundle, &bundle); err != nil {
		t.Fatal(err)
	}
	mr := bundle.Entry[0].Resource
	sig, err := s.GetSignature(ctx, draft.PrescriptionID)
	if err != nil {
		t.Fatal(err)
	}
	if mr.Subject.Reference != "Patient/"+patientID || mr.Requester.Reference != "Practitioner/"+doctorID ||
		mr.DispenseRequest.NumberOfRepeatsAllowed != 1 || mr.DispenseRequest.ExpectedSupplyDuration.Value != 30 ||
		!slices.Contains(mr.Identifier, pharmacy.FHIRIdentifier{System: pharmacy.SignatureSystem, Value: sig.SHA256}) {
		t.Errorf("MedicationRequest = %+v", mr)
	}
	want := []string{"accepted", "ready", "dispensed", "delivered"}
	if got := hooks.waitFor(t, sent.OrderID, 4); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}

	// A pharmacy without stock answers out_of_stock.
	sim.SetStock(nearest, "metformin", 0)
	second := run[contract.SendPrescriptionResult](t, env, ph.SendPrescription, contract.SendPrescriptionInput{
		JourneyID: jid, Step: "fulfil", Attempt: 2, PrescriptionID: draft.PrescriptionID, PharmacyID: nearest})
	if got := hooks.waitFor(t, second.OrderID, 1); !slices.Equal(got, []string{"out_of_stock"}) {
		t.Errorf("statuses = %v", got)
	}
	if hooks.bad != 0 {
		t.Errorf("%d webhook calls did not verify", hooks.bad)
	}

	// Recording the webhooks: a duplicate and an older status change nothing.
	hooks.mu.Lock()
	events := slices.Clone(hooks.events)
	hooks.mu.Unlock()
	for _, e := range events[:4] {
		if fresh, err := s.RecordPharmacyEvent(ctx, e.EventID, e.OrderID, e.Status, e.Sequence); err != nil || !fresh {
			t.Fatalf("record %s: fresh=%v %v", e.EventID, fresh, err)
		}
	}
	if fresh, err := s.RecordPharmacyEvent(ctx, events[3].EventID, events[3].OrderID, events[3].Status, events[3].Sequence); err != nil || fresh {
		t.Errorf("a duplicate event was recorded as new: %v", err)
	}
	if _, err := s.RecordPharmacyEvent(ctx, uuid.NewString(), sent.OrderID, "accepted", 1); err != nil {
		t.Fatal(err)
	}
	o, err := s.GetPharmacyOrder(ctx, sent.OrderID)
	if err != nil || o.Status != "delivered" || o.LastSequence != 4 || o.PartnerOrderID != order.ID {
		t.Errorf("order = %+v %v", o, err)
	}
}

// A refill goes to the partner as the one medication request, from the
// prescription the course names; its order remembers the item and the
// workflow its webhooks go to.
func TestRefillOrderCarriesTheOneItem(t *testing.T) {
	ctx, s := seededStore(t)
	patientID, doctorID := testenv.NewPatient(t, s, "Pune"), anyPractitioner(ctx, t, s)
	sim, simURL, hooks := pharmacyPartner(t)
	rx := &activities.Prescriptions{Store: s, Signer: testSigner(t)}
	ph := &activities.Pharmacy{Store: s, BaseURL: simURL}
	env := activityEnv(rx, ph)

	jid := journeyID(t)
	statin := care.MedicationItem{Drug: "atorvastatin", Dose: "10 mg", Route: "oral", Frequency: "once daily", DurationDays: 30, Quantity: 30, Refills: 2}
	draft := signPrescription(t, env, rx, jid, patientID, doctorID, rxMetformin, statin)

	// The nearest pharmacy has no metformin: no matter for a refill of the statin.
	all, err := s.PharmaciesFor(ctx, patientID)
	if err != nil || len(all) == 0 {
		t.Fatalf("pharmacies = %d, %v", len(all), err)
	}
	sim.SetStock(all[0].ID, "metformin", 0)
	one := 1
	choose := contract.ChoosePharmaciesInput{JourneyID: jid, PatientID: patientID, PrescriptionID: draft.PrescriptionID, Position: &one}
	chosen := run[contract.ChoosePharmaciesResult](t, env, ph.ChoosePharmacies, choose)
	if chosen.PrescriptionID != draft.PrescriptionID || len(chosen.Candidates) != len(all) || chosen.Candidates[0].ID != all[0].ID {
		t.Fatalf("a refill of the statin should not need metformin in stock: %+v", chosen)
	}
	whole := run[contract.ChoosePharmaciesResult](t, env, ph.ChoosePharmacies, contract.ChoosePharmaciesInput{JourneyID: jid, PatientID: patientID})
	if len(whole.Candidates) != len(all)-1 {
		t.Fatalf("the whole prescription needs metformin: %d candidates of %d", len(whole.Candidates), len(all))
	}
	// Another patient, or an item the prescription does not have: refused.
	two := 2
	for _, bad := range []contract.ChoosePharmaciesInput{
		{JourneyID: jid, PatientID: store.SeedPatientID(3), PrescriptionID: draft.PrescriptionID, Position: &one},
		{JourneyID: jid, PatientID: patientID, PrescriptionID: draft.PrescriptionID, Position: &two},
	} {
		_, err := env.ExecuteActivity(ph.ChoosePharmacies, bad)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != contract.ErrTypeNoSignedPrescription {
			t.Errorf("refill %+v: %v, want %s", bad, err, contract.ErrTypeNoSignedPrescription)
		}
	}

	refillWorkflow := "adherence:test:refill-1"
	sent := run[contract.SendPrescriptionResult](t, env, ph.SendPrescription, contract.SendPrescriptionInput{
		JourneyID: jid, Step: "refill-1-1", Attempt: 1, PrescriptionID: draft.PrescriptionID, PharmacyID: all[0].ID,
		Position: &one, WorkflowID: refillWorkflow})
	orders := sim.Orders()
	if len(orders) != 1 || orders[0].Reference != sent.OrderID || len(orders[0].Items) != 1 || orders[0].Items[0].Quantity != 30 {
		t.Fatalf("partner orders = %+v, want one of the statin's 30 units", orders)
	}
	var bundle pharmacy.FHIRBundle
	if err := json.Unmarshal(orders[0].Bundle, &bundle); err != nil {
		t.Fatal(err)
	}
	mr := bundle.Entry[0].Resource
	if len(bundle.Entry) != 1 || mr.MedicationCodeableConcept.Text != "atorvastatin" ||
		!slices.Contains(mr.Identifier, pharmacy.FHIRIdentifier{System: pharmacy.PrescriptionIDSystem, Value: draft.PrescriptionID + "/1"}) {
		t.Errorf("refill bundle = %+v, want the statin alone, as item 1", bundle)
	}
	if got := hooks.waitFor(t, sent.OrderID, 4); !slices.Equal(got, []string{"accepted", "ready", "dispensed", "delivered"}) {
		t.Errorf("statuses = %v", got)
	}
	o, err := s.GetPharmacyOrder(ctx, sent.OrderID)
	if err != nil || o.Position == nil || *o.Position != 1 || o.WorkflowID != refillWorkflow || o.FollowedBy() != refillWorkflow {
		t.Errorf("order = %+v %v, want item 1 followed by %s", o, err, refillWorkflow)
	}
}
