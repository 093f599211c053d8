package activities_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/internal/testenv"
)

func TestNotifyPractitionerTextsTheDoctorOnceWithoutClinicalContent(t *testing.T) {
	h := newSMSHarness(t, 16)
	// A doctor of the test's own, whose account has no phone yet; the test
	// gives it a number further down.
	practitioner, _ := testenv.NewPractitioner(t, h.store, "Notify Test")
	userID, err := testenv.Auth(t, h.store).UpsertUser(h.ctx, auth.NewUser{Email: "notify-" + uuid.NewString() + "@test.carepath.example",
		Role: auth.RoleDoctor, PractitionerID: practitioner})
	if err != nil {
		t.Fatal(err)
	}
	in := contract.NotifyPractitionerInput{JourneyID: journeyID(t), Step: "lab-result-1", PractitionerID: practitioner,
		TemplateID: "lab_result_abnormal", Link: "/journeys/j1"}

	// No number: skipped, and the journey alerts the care team instead.
	got, err := h.m.NotifyPractitioner(h.ctx, in)
	if err != nil || got.Status != "skipped" || got.SkipReason != contract.SkipNoPractitionerNumber || len(h.fake.Messages()) != 0 {
		t.Fatalf("without a number: %+v %v (%d sent)", got, err, len(h.fake.Messages()))
	}

	phone := fmt.Sprintf("+91-98%08d", rand.IntN(1e8))
	if _, err := h.store.Pool.Exec(h.ctx, `UPDATE app_user SET phone = $2 WHERE id = $1`, userID, phone); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := h.store.Pool.Exec(context.Background(), `UPDATE app_user SET phone = NULL WHERE id = $1`, userID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	in.Step = "lab-result-2"
	got, err = h.m.NotifyPractitioner(h.ctx, in)
	if err != nil || got.Status != "sent" || !strings.HasPrefix(got.ProviderMessageID, "SM") {
		t.Fatalf("with a number: %+v %v", got, err)
	}
	again, err := h.m.NotifyPractitioner(h.ctx, in)
	if err != nil || again.ProviderMessageID != got.ProviderMessageID || len(h.fake.Messages()) != 1 {
		t.Errorf("a retry sent again: %+v %v (%d sent)", again, err, len(h.fake.Messages()))
	}
	body := h.fake.Messages()[0].Body
	if strings.Contains(body, "HbA1c") {
		t.Errorf("body = %q", body)
	}
	h.linkTarget(t, body, "/journeys/j1")
	in.Step, in.Link = "lab-result-3", "https://evil.example/x"
	if _, err := h.m.NotifyPractitioner(h.ctx, in); err == nil {
		t.Error("a link outside CarePath was accepted")
	}
}
