package activities_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/internal/twiliofake"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
)

type smsHarness struct {
	ctx   context.Context
	store *store.Store
	fake  *twiliofake.Server
	cfg   config.Config
	clock time.Time
	m     *activities.Messaging
}

// newSMSHarness points Messaging at a fake Twilio that checks Twilio's
// request format and credentials, with the clock at noon in Kolkata. The
// patient's preferences are put back afterwards.
func newSMSHarness(t *testing.T, patient int) *smsHarness {
	t.Helper()
	ctx, s := seededStore(t)
	cfg := testenv.Config(t)
	h := &smsHarness{ctx: ctx, store: s, cfg: cfg, fake: twiliofake.New(cfg.TwilioAccountSID, cfg.TwilioAuthToken)}
	srv := httptest.NewServer(h.fake)
	t.Cleanup(srv.Close)
	cfg.TwilioAPIBase = srv.URL
	tw, err := platform.NewTwilio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	h.clock = time.Date(2026, 11, 24, 12, 0, 0, 0, kolkata)
	h.m = &activities.Messaging{Store: s, Twilio: tw, From: cfg.TwilioFromNumber, LinkBase: cfg.PublicBaseURL,
		Now: func() time.Time { return h.clock }}
	reset := func() {
		c := context.Background()
		if _, err := s.SetSMSOptOut(c, phoneOf(patient), false, "test-reset"); err != nil {
			t.Errorf("reset opt-out: %v", err)
		}
		if err := s.SetQuietHours(c, store.SeedPatientID(patient), store.DefaultQuietHoursStart, store.DefaultQuietHoursEnd); err != nil {
			t.Errorf("reset quiet hours: %v", err)
		}
	}
	reset()
	t.Cleanup(reset)
	return h
}

func phoneOf(patient int) string { return fmt.Sprintf("+9190000000%02d", patient) }

func (h *smsHarness) reminder(t *testing.T, patient int, kind string) contract.SendSMSInput {
	return contract.SendSMSInput{JourneyID: journeyID(t), Step: "remind:24h", PatientID: store.SeedPatientID(patient), Kind: kind,
		TemplateID: "appointment_reminder",
		Params:     map[string]string{"at": "2026-12-01T05:00:00Z", "link": h.cfg.PublicBaseURL + "/a/7f3c"}}
}

func TestSendSMSSendsOnceInTwiliosFormat(t *testing.T) {
	h := newSMSHarness(t, 15)
	in := h.reminder(t, 15, contract.SMSKindReminder)
	got, err := h.m.SendSMS(h.ctx, in)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if got.Status != contract.SMSSent || len(got.MessageSID) != 34 || got.MessageSID[:2] != "SM" {
		t.Errorf("result = %+v", got)
	}
	msgs := h.fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("Twilio got %d messages, want 1", len(msgs))
	}
	// The link is a short link whose token stands for the path.
	token := h.linkTarget(t, msgs[0].Body, "/a/7f3c")
	want := "CarePath: reminder of your appointment on Tue 1 Dec 2026 at 10:30 IST. Details: " +
		h.cfg.PublicBaseURL + "/l/" + token + " Reply STOP to opt out."
	if m := msgs[0]; m.To != phoneOf(15) || m.From != h.cfg.TwilioFromNumber || m.Body != want || m.SID != got.MessageSID {
		t.Errorf("message = %+v\nwant To %s From %s Body %q", m, phoneOf(15), h.cfg.TwilioFromNumber, want)
	}

	again, err := h.m.SendSMS(h.ctx, in)
	if err != nil || again.MessageSID != got.MessageSID {
		t.Errorf("retry = %+v (%v), want the first message", again, err)
	}
	if n := h.fake.Requests(); n != 1 {
		t.Errorf("Twilio got %d requests, want 1: a retry must not send again", n)
	}
	c, err := h.store.CommunicationByStep(h.ctx, in.JourneyID, in.Step)
	if err != nil || c.Status != care.CommunicationSent || c.ProviderMessageID != got.MessageSID || c.ProviderStatus != "queued" {
		t.Errorf("record = %+v (%v)", c, err)
	}
}

func TestSendSMSWithWrongCredentialsIsRefused(t *testing.T) {
	h := newSMSHarness(t, 15)
	cfg := h.cfg
	srv := httptest.NewServer(h.fake)
	defer srv.Close()
	cfg.TwilioAPIBase, cfg.TwilioAuthToken = srv.URL, "wrongtoken"
	tw, err := platform.NewTwilio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := *h.m
	m.Twilio = tw
	_, err = m.SendSMS(h.ctx, h.reminder(t, 15, contract.SMSKindReminder))
	wantAppError(t, "wrong auth token", err, contract.ErrTypeSMSRejected)
	if len(h.fake.Messages()) != 0 {
		t.Error("a message was accepted with the wrong token")
	}
}

func TestSendSMSHonoursOptOutForAllButEssentialMessages(t *testing.T) {
	h := newSMSHarness(t, 16)
	if n, err := h.store.SetSMSOptOut(h.ctx, phoneOf(16), true, "SMstop"); err != nil || n != 1 {
		t.Fatalf("opt out: %d, %v", n, err)
	}
	for _, kind := range []string{contract.SMSKindReminder, contract.SMSKindNotification} {
		got, err := h.m.SendSMS(h.ctx, h.reminder(t, 16, kind))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != contract.SMSSkipped || got.SkipReason != contract.SkipOptedOut {
			t.Errorf("%s to an opted-out patient = %+v, want skipped (opted-out)", kind, got)
		}
	}
	if n := h.fake.Requests(); n != 0 {
		t.Fatalf("Twilio got %d requests for an opted-out patient", n)
	}
	essential := h.reminder(t, 16, contract.SMSKindEssential)
	essential.TemplateID = "appointment_cancelled"
	got, err := h.m.SendSMS(h.ctx, essential)
	if err != nil || got.Status != contract.SMSSent {
		t.Fatalf("essential = %+v, %v; want sent", got, err)
	}
	if body := h.fake.Messages()[0].Body; body[len(body)-len("opt out."):] == "opt out." {
		t.Errorf("an essential message offers STOP: %q", body)
	}
}

func TestSendSMSDefersUntilQuietHoursEnd(t *testing.T) {
	h := newSMSHarness(t, 15)
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	h.clock = time.Date(2026, 11, 24, 23, 30, 0, 0, kolkata)
	in := h.reminder(t, 15, contract.SMSKindReminder)
	got, err := h.m.SendSMS(h.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	wantAt := time.Date(2026, 11, 25, 7, 0, 0, 0, kolkata)
	if got.Status != contract.SMSDeferred || !got.NextAllowedAt.Equal(wantAt) {
		t.Errorf("at 23:30 = %+v, want deferred to %v", got, wantAt)
	}
	if n := h.fake.Requests(); n != 0 {
		t.Fatalf("Twilio got %d requests in quiet hours", n)
	}
	// An essential message does not wait.
	essential := h.reminder(t, 15, contract.SMSKindEssential)
	essential.TemplateID = "appointment_rescheduled"
	if got, err := h.m.SendSMS(h.ctx, essential); err != nil || got.Status != contract.SMSSent {
		t.Errorf("essential at 23:30 = %+v, %v; want sent", got, err)
	}
	// The journey sleeps until 07:00 and calls again with the same step.
	h.clock = wantAt.Add(5 * time.Minute)
	got, err = h.m.SendSMS(h.ctx, in)
	if err != nil || got.Status != contract.SMSSent {
		t.Errorf("at 07:05 = %+v, %v; want sent", got, err)
	}
	if len(h.fake.Messages()) != 2 {
		t.Errorf("Twilio has %d messages, want 2", len(h.fake.Messages()))
	}
}

func TestSendSMSRetriesAnOutageWithoutSendingTwice(t *testing.T) {
	h := newSMSHarness(t, 15)
	h.fake.FailNext(http.StatusServiceUnavailable)
	in := h.reminder(t, 15, contract.SMSKindReminder)
	_, err := h.m.SendSMS(h.ctx, in)
	if err == nil || isNonRetryable(err) {
		t.Fatalf("during the outage: err = %v, want a retryable error", err)
	}
	got, err := h.m.SendSMS(h.ctx, in)
	if err != nil || got.Status != contract.SMSSent {
		t.Fatalf("retry = %+v, %v", got, err)
	}
	if len(h.fake.Messages()) != 1 {
		t.Errorf("Twilio accepted %d messages, want 1", len(h.fake.Messages()))
	}
	c, _ := h.store.CommunicationByStep(h.ctx, in.JourneyID, in.Step)
	if c.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", c.Attempts)
	}
}

func TestSendSMSToANumberUnsubscribedAtTheCarrierIsSkipped(t *testing.T) {
	h := newSMSHarness(t, 16)
	h.fake.Block(phoneOf(16))
	got, err := h.m.SendSMS(h.ctx, h.reminder(t, 16, contract.SMSKindEssential))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != contract.SMSSkipped || got.SkipReason != contract.SkipUnsubscribedAtCarrier {
		t.Errorf("result = %+v, want skipped (unsubscribed-at-carrier)", got)
	}
}

func TestSendSMSRefusesAnythingButItsTemplates(t *testing.T) {
	h := newSMSHarness(t, 15)
	base := h.cfg.PublicBaseURL
	cases := []struct {
		name   string
		mutate func(*contract.SendSMSInput)
		typ    string
	}{
		{"unknown template", func(in *contract.SendSMSInput) { in.TemplateID = "free_text" }, contract.ErrTypeUnknownTemplate},
		{"unknown kind", func(in *contract.SendSMSInput) { in.Kind = "marketing" }, contract.ErrTypeInvalidInput},
		{"missing link", func(in *contract.SendSMSInput) { delete(in.Params, "link") }, contract.ErrTypeInvalidInput},
		{"extra parameter", func(in *contract.SendSMSInput) { in.Params["diagnosis"] = "type 2 diabetes" }, contract.ErrTypeInvalidInput},
		{"time not RFC 3339", func(in *contract.SendSMSInput) { in.Params["at"] = "tomorrow, bring your HbA1c report" }, contract.ErrTypeInvalidInput},
		{"link elsewhere", func(in *contract.SendSMSInput) { in.Params["link"] = "https://example.com/a/1" }, contract.ErrTypeInvalidInput},
		{"prose in a link", func(in *contract.SendSMSInput) { in.Params["link"] = base + "/your HbA1c is high" }, contract.ErrTypeInvalidInput},
		{"prose in a path", func(in *contract.SendSMSInput) { in.Params["link"] = "/your HbA1c is high" }, contract.ErrTypeInvalidInput},
		{"date and time as text", func(in *contract.SendSMSInput) {
			in.Params = map[string]string{"date": "Mon 1 Dec", "time": "10:30", "link": "/j"}
		}, contract.ErrTypeInvalidInput},
		{"unknown patient", func(in *contract.SendSMSInput) { in.PatientID = "00000000-0000-0000-0000-000000000009" }, contract.ErrTypePatientNotFound},
	}
	for _, c := range cases {
		in := h.reminder(t, 15, contract.SMSKindReminder)
		c.mutate(&in)
		_, err := h.m.SendSMS(h.ctx, in)
		wantAppError(t, c.name, err, c.typ)
	}
	if n := h.fake.Requests(); n != 0 {
		t.Errorf("Twilio got %d requests", n)
	}
}

func TestSendSMSThroughTheSDK(t *testing.T) {
	h := newSMSHarness(t, 16)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(h.m)
	in := h.reminder(t, 16, contract.SMSKindReminder)
	in.Params["link"] = "/j/abc" // a path: sent under PUBLIC_BASE_URL
	val, err := env.ExecuteActivity(h.m.SendSMS, in)
	if err != nil {
		t.Fatal(err)
	}
	msgs := h.fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %+v, want one", msgs)
	}
	h.linkTarget(t, msgs[0].Body, "/j/abc")
	var got contract.SendSMSResult
	if err := val.Get(&got); err != nil || got.Status != contract.SMSSent || !got.NextAllowedAt.IsZero() {
		t.Errorf("result = %+v (%v)", got, err)
	}
}

var shortLinkInBody = regexp.MustCompile(`/l/([a-z2-7]{26})\b`)

// linkTarget finds the short link in an SMS body, checks it is under
// PUBLIC_BASE_URL and stands for target, and returns its token.
func (h *smsHarness) linkTarget(t *testing.T, body, target string) string {
	t.Helper()
	m := shortLinkInBody.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, h.cfg.PublicBaseURL+"/l/"+m[1]) {
		t.Fatalf("body %q has no short link under %s", body, h.cfg.PublicBaseURL)
	}
	l, err := h.store.ResolveShortLink(h.ctx, m[1])
	if err != nil || l.Target != target {
		t.Fatalf("link %s stands for %+v (%v), want %s", m[1], l, err, target)
	}
	if strings.Contains(body, target) {
		t.Errorf("body %q shows the path %s", body, target)
	}
	return m[1]
}

// Texts about a journey carry a short link, never the journey's ID or
// course's ID, which for journeys started before opaque IDs name the
// pathway; a retry texts the same link.
func TestSendSMSLinksCarryNoIdentifier(t *testing.T) {
	h := newSMSHarness(t, 15)
	patient := store.SeedPatientID(15)
	journey := fmt.Sprintf("journey:%s:type-2-diabetes:%d", patient, time.Now().UnixNano()%1_000_000+1)
	for i, link := range []string{"/journeys/" + journey, "/adherence/adherence:" + patient + ":" + uuid.NewString() + ":0"} {
		in := contract.SendSMSInput{JourneyID: journey, Step: fmt.Sprintf("dose-%d", i), PatientID: patient, Kind: contract.SMSKindEssential,
			TemplateID: "medication_reminder", Params: map[string]string{"at": "2026-12-01T05:00:00Z", "link": link}}
		if _, err := h.m.SendSMS(h.ctx, in); err != nil {
			t.Fatal(err)
		}
		msgs := h.fake.Messages()
		body := msgs[len(msgs)-1].Body
		token := h.linkTarget(t, body, link)
		for _, leak := range []string{"type-2-diabetes", patient, "journey", "adherence"} {
			if strings.Contains(body, leak) {
				t.Errorf("body %q contains %q", body, leak)
			}
		}
		c, err := h.store.CommunicationByStep(h.ctx, in.JourneyID, in.Step)
		if err != nil || strings.Contains(c.Body, "type-2-diabetes") || !strings.Contains(c.Body, token) {
			t.Errorf("recorded body %q (%v)", c.Body, err)
		}
		// A retry of a send that died after claiming the step texts the same link.
		if _, err := h.store.Pool.Exec(h.ctx, `UPDATE communication SET status = 'sending' WHERE journey_id = $1 AND step = $2`, in.JourneyID, in.Step); err != nil {
			t.Fatal(err)
		}
		if _, err := h.m.SendSMS(h.ctx, in); err != nil {
			t.Fatal(err)
		}
		msgs = h.fake.Messages()
		if again := h.linkTarget(t, msgs[len(msgs)-1].Body, link); again != token {
			t.Errorf("retry texted token %s, first send %s", again, token)
		}
	}
}
