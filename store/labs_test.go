package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/carepath/carepath/pathways"
	"github.com/carepath/carepath/store"
)

func TestLabOrdersAreBookedOnceAndTakeOneResult(t *testing.T) {
	ctx, s, scheds := setup(t)
	journey := "journey:" + uuid.NewString() + ":labs:1"
	req := store.BookLabTestsRequest{KeyPrefix: journey + ":labs", Origin: store.LabOriginJourney, JourneyID: journey,
		PatientID: store.SeedPatientID(3), PractitionerID: scheds[0].practitionerID, Tests: []string{"4548-4", "2160-0"},
		ScheduledFor: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	orders, err := s.BookLabTests(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 2 || orders[0].LOINC != "4548-4" || orders[0].TestName == "" || orders[0].ScheduledFor != "2026-12-01" ||
		orders[0].Status != store.LabOrderScheduled || orders[1].PractitionerID != scheds[0].practitionerID {
		t.Fatalf("orders = %+v", orders)
	}
	again, err := s.BookLabTests(ctx, req)
	if err != nil || again[0].ID != orders[0].ID || again[1].ID != orders[1].ID {
		t.Fatalf("a retry booked again: %+v %v", again, err)
	}
	listed, err := s.LabOrdersOfJourney(ctx, journey)
	if err != nil || len(listed) != 2 {
		t.Fatalf("orders of the journey = %+v %v", listed, err)
	}
	changed := req
	changed.ScheduledFor = req.ScheduledFor.Add(48 * time.Hour)
	if _, err := s.BookLabTests(ctx, changed); !errors.Is(err, store.ErrKeyReused) {
		t.Errorf("the same key for another date: %v, want ErrKeyReused", err)
	}
	unknown := req
	unknown.KeyPrefix, unknown.Tests = journey+":other", []string{"99999-9"}
	if _, err := s.BookLabTests(ctx, unknown); !errors.Is(err, store.ErrUnknownLabTest) {
		t.Errorf("an unknown test: %v, want ErrUnknownLabTest", err)
	}

	high := 5.6
	result := pathways.LabResult{LOINC: "4548-4", Value: 8.1, Unit: "%", ReferenceHigh: &high}
	obs, err := s.RecordLabObservation(ctx, store.RecordLabObservationRequest{LabOrderID: orders[0].ID, Result: result,
		Interpretation: result.Interpretation(), ReportedBy: "demo-lab"})
	if err != nil || obs.Interpretation != "H" || obs.Result.Value != 8.1 || obs.PatientID != store.SeedPatientID(3) {
		t.Fatalf("observation = %+v %v", obs, err)
	}
	second := result
	second.Value = 5.0
	kept, err := s.RecordLabObservation(ctx, store.RecordLabObservationRequest{LabOrderID: orders[0].ID, Result: second,
		Interpretation: "N", ReportedBy: "demo-lab"})
	if err != nil || kept.ID != obs.ID || kept.Result.Value != 8.1 {
		t.Errorf("a second result replaced the first: %+v %v", kept, err)
	}
	wrongTest := result
	wrongTest.LOINC, wrongTest.Unit = "2160-0", "mg/dL"
	if _, err := s.RecordLabObservation(ctx, store.RecordLabObservationRequest{LabOrderID: orders[0].ID, Result: wrongTest,
		Interpretation: "H", ReportedBy: "demo-lab"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a result for another test: %v, want ErrInvalid", err)
	}
	listed, _ = s.LabOrdersOfJourney(ctx, journey)
	status := map[string]string{}
	for _, o := range listed {
		status[o.LOINC] = o.Status
	}
	if status["4548-4"] != store.LabOrderResulted || status["2160-0"] != store.LabOrderScheduled {
		t.Errorf("statuses = %v", status)
	}
}

func TestLabTestByName(t *testing.T) {
	ctx, s, _ := setup(t)
	for name, want := range map[string]string{"HbA1c": "4548-4", "4548-4": "4548-4", "creatinine": "2160-0", "POTASSIUM": "2823-3"} {
		if got, err := s.LabTestByName(ctx, name); err != nil || got != want {
			t.Errorf("LabTestByName(%q) = %q %v, want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"", "unobtainium", "cholesterol"} { // cholesterol: total, LDL and HDL
		if _, err := s.LabTestByName(ctx, name); !errors.Is(err, store.ErrUnknownLabTest) {
			t.Errorf("LabTestByName(%q): %v, want ErrUnknownLabTest", name, err)
		}
	}
}

func TestStaffNotificationsAreFinalOnceSent(t *testing.T) {
	ctx, s, scheds := setup(t)
	journey := "journey:" + uuid.NewString() + ":labs:1"
	n := store.StaffNotification{JourneyID: journey, Step: "lab-result-1", PractitionerID: scheds[0].practitionerID,
		TemplateID: "lab_result_abnormal", Status: store.CommunicationSending}
	if _, err := s.SaveStaffNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status, n.ProviderMessageID = store.CommunicationSent, "SM1"
	if got, err := s.SaveStaffNotification(ctx, n); err != nil || got.Status != store.CommunicationSent {
		t.Fatalf("sent = %+v %v", got, err)
	}
	n.Status = store.CommunicationSending
	if got, err := s.SaveStaffNotification(ctx, n); err != nil || got.Status != store.CommunicationSent || got.ProviderMessageID != "SM1" {
		t.Errorf("a sent message was reopened: %+v %v", got, err)
	}
	if _, err := s.PractitionerPhone(ctx, scheds[0].practitionerID); err != nil {
		t.Errorf("practitioner phone: %v", err)
	}
}

func TestFirstFreeSlot(t *testing.T) {
	ctx, s, scheds := setup(t)
	sl := newSlot(ctx, t, s, scheds[1], 30*24*time.Hour)
	got, err := s.FirstFreeSlot(ctx, scheds[1].practitionerID, sl.Start.Add(-time.Millisecond), sl.Start.Add(time.Millisecond))
	if err != nil || got.ID != sl.ID {
		t.Fatalf("FirstFreeSlot = %+v %v, want %s", got, err, sl.ID)
	}
	if _, err := s.FirstFreeSlot(ctx, scheds[1].practitionerID, sl.Start.Add(time.Millisecond), sl.Start.Add(2*time.Millisecond)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an empty window: %v, want ErrNotFound", err)
	}
}
