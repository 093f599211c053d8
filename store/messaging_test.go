package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/carepath/carepath/store"
)

// Messaging tests in this package change demo patient 20's preferences and
// put them back; other packages' tests use other patients.
const prefPatient = 20

func TestNormalizePhone(t *testing.T) {
	for raw, want := range map[string]string{
		"+91-90000-00001":   "+919000000001",
		"+91 90000 00001":   "+919000000001",
		"+1 (415) 555-0100": "+14155550100",
		"9000000001":        "", // no country code: not an international number
		"+91-9000x":         "",
		"":                  "",
		"+0123456789":       "",
	} {
		if got := store.NormalizePhone(raw); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", raw, got, want)
		}
	}
}

func restorePreference(t *testing.T, s *store.Store, patient int) {
	t.Cleanup(func() {
		ctx := context.Background()
		phone := fmt.Sprintf("+91-90000-000%02d", patient) // as the seed writes it
		if _, err := s.SetSMSOptOut(ctx, phone, false, "test-cleanup"); err != nil {
			t.Errorf("restore opt-out: %v", err)
		}
		if err := s.SetQuietHours(ctx, store.SeedPatientID(patient), store.DefaultQuietHoursStart, store.DefaultQuietHoursEnd); err != nil {
			t.Errorf("restore quiet hours: %v", err)
		}
	})
}

func TestSeededPatientsHaveQuietHoursAndTheirOptOutSurvivesAReload(t *testing.T) {
	ctx, s, _ := setup(t)
	restorePreference(t, s, prefPatient)
	id := store.SeedPatientID(prefPatient)
	r, err := s.SMSRecipient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Phone != "+919000000020" || r.Timezone != "Asia/Kolkata" || r.OptOut || r.QuietStart != "22:00" || r.QuietEnd != "07:00" {
		t.Errorf("recipient = %+v", r)
	}
	// STOP arrives from the number as Twilio writes it (E.164).
	n, err := s.SetSMSOptOut(ctx, "+919000000020", true, "SMtest")
	if err != nil || n != 1 {
		t.Fatalf("opt out: %d patients, %v", n, err)
	}
	seed(ctx, t, s)
	if r, _ = s.SMSRecipient(ctx, id); !r.OptOut {
		t.Error("a reload of the demo data cleared the patient's opt-out")
	}
	if n, _ := s.SetSMSOptOut(ctx, "+919000000020", false, "SMtest2"); n != 1 {
		t.Errorf("opt back in: %d patients", n)
	}
	if r, _ = s.SMSRecipient(ctx, id); r.OptOut {
		t.Error("START did not clear the opt-out")
	}
	if n, _ := s.SetSMSOptOut(ctx, "+15005550006", true, "SMtest3"); n != 0 {
		t.Errorf("an unknown number opted out %d patients", n)
	}
	if err := s.SetQuietHours(ctx, id, "", ""); err != nil {
		t.Fatal(err)
	}
	if r, _ = s.SMSRecipient(ctx, id); r.QuietStart != "" || r.QuietEnd != "" {
		t.Errorf("quiet hours after clearing = %q-%q", r.QuietStart, r.QuietEnd)
	}
	if _, err := s.SMSRecipient(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, store.ErrPatientNotFound) {
		t.Errorf("unknown patient: err = %v", err)
	}
}

func TestSaveCommunicationNeverReopensAFinalMessage(t *testing.T) {
	ctx, s, _ := setup(t)
	c := store.Communication{JourneyID: newJourneyID(t), Step: "remind:24h", PatientID: store.SeedPatientID(prefPatient),
		Kind: "reminder", TemplateID: "appointment_reminder", Status: store.CommunicationSending, Body: "x"}
	first, err := s.SaveCommunication(ctx, c)
	if err != nil || first.Attempts != 1 {
		t.Fatalf("sending: %+v, %v", first, err)
	}
	again, err := s.SaveCommunication(ctx, c)
	if err != nil || again.Attempts != 2 {
		t.Fatalf("second attempt: %+v, %v", again, err)
	}
	c.Status, c.ProviderMessageID = store.CommunicationSent, "SM1"
	if _, err := s.SaveCommunication(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Status, c.ProviderMessageID = store.CommunicationSending, ""
	got, err := s.SaveCommunication(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.CommunicationSent || got.ProviderMessageID != "SM1" || got.Attempts != 2 {
		t.Errorf("after a sent message was claimed again: %+v", got)
	}
}
