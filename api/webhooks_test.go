package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/webhook"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/api"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// The webhook tests run the real router against the test database and the
// dev server. A probe workflow, on a task queue of the test's own, stands in
// for the journey: it records the payment signals it receives. Twilio tests
// change demo patients 17 and 18 only, and put them back.

const (
	testStripeSecret = "whsec_webhook_test_secret"
	testTwilioToken  = "webhooktesttwiliotoken"
	// The URL Twilio calls, as if the API sat behind a proxy: Twilio signs
	// this, not the address the test server listens on.
	testPublicBaseURL = "https://carepath.example"
)

type webhookHarness struct {
	srv      *httptest.Server
	store    *store.Store
	temporal client.Client
	queue    string
}

type receivedSignal struct {
	Name  string                 `json:"name"`
	Event workflows.PaymentEvent `json:"event"`
}

// paymentProbe waits for a payment signal, then keeps listening for two
// seconds so a duplicate delivery would show, and returns what it got.
func paymentProbe(ctx workflow.Context) ([]receivedSignal, error) {
	confirmed := workflow.GetSignalChannel(ctx, workflows.SignalPaymentConfirmed)
	failed := workflow.GetSignalChannel(ctx, workflows.SignalPaymentFailed)
	var got []receivedSignal
	listen := func(s workflow.Selector) {
		s.AddReceive(confirmed, func(c workflow.ReceiveChannel, _ bool) {
			var e workflows.PaymentEvent
			c.Receive(ctx, &e)
			got = append(got, receivedSignal{workflows.SignalPaymentConfirmed, e})
		})
		s.AddReceive(failed, func(c workflow.ReceiveChannel, _ bool) {
			var e workflows.PaymentEvent
			c.Receive(ctx, &e)
			got = append(got, receivedSignal{workflows.SignalPaymentFailed, e})
		})
	}
	first := workflow.NewSelector(ctx)
	listen(first)
	first.Select(ctx)
	timer := workflow.NewTimer(ctx, 2*time.Second)
	done := false
	for !done {
		s := workflow.NewSelector(ctx)
		listen(s)
		s.AddFuture(timer, func(workflow.Future) { done = true })
		s.Select(ctx)
	}
	return got, nil
}

func newWebhookHarness(t *testing.T) *webhookHarness {
	t.Helper()
	cfg := testenv.Config(t)
	s := testenv.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	tc, err := platform.DialTemporal(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		testenv.Fail(t, "Temporal", cfg.TemporalAddress, err)
	}
	queue := fmt.Sprintf("webhook-test-%d", time.Now().UnixNano())
	w := worker.New(tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(paymentProbe, workflow.RegisterOptions{Name: "PaymentProbe"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	srv := httptest.NewServer(api.NewRouter(api.Options{
		Temporal: tc, Store: s, Logger: testenv.Logger(t),
		Webhooks: api.WebhookOptions{StripeSecret: testStripeSecret, TwilioAuthToken: testTwilioToken, PublicBaseURL: testPublicBaseURL},
	}))
	t.Cleanup(srv.Close)
	return &webhookHarness{srv: srv, store: s, temporal: tc, queue: queue}
}

// startProbe starts a probe under a journey-shaped workflow ID.
func (h *webhookHarness) startProbe(t *testing.T) client.WorkflowRun {
	t.Helper()
	id := workflows.NewJourneyWorkflowID(uuid.NewString())
	run, err := h.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: id, TaskQueue: h.queue, WorkflowExecutionTimeout: time.Minute,
	}, "PaymentProbe")
	if err != nil {
		t.Fatalf("start probe: %v", err)
	}
	return run
}

// stripeEvent is an event as Stripe sends it, around a PaymentIntent.
func stripeEvent(id, eventType, journeyID, piID string, amount int64) []byte {
	metadata := map[string]string{}
	if journeyID != "" {
		metadata["journey_id"] = journeyID
	}
	status := map[string]string{
		"payment_intent.succeeded": "succeeded", "payment_intent.payment_failed": "requires_payment_method",
	}[eventType]
	body, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(), "livemode": false,
		"type": eventType, "pending_webhooks": 1,
		"data": map[string]any{"object": map[string]any{
			"id": piID, "object": "payment_intent", "amount": amount, "amount_received": amount, "currency": "inr",
			"status": status, "metadata": metadata,
		}},
	})
	return body
}

// signStripe builds the Stripe-Signature header with Stripe's scheme:
// t=<unix time>,v1=hex(HMAC-SHA256(secret, "<t>.<payload>")).
func signStripe(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func (h *webhookHarness) postStripe(t *testing.T, payload []byte, signature string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/v1/webhooks/stripe", strings.NewReader(string(payload)))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response %d is not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body, resp.Header
}

func probeResult(t *testing.T, run client.WorkflowRun) []receivedSignal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []receivedSignal
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("probe: %v", err)
	}
	return got
}

func TestStripeWebhookSignalsTheJourneyOnceAndRecordsThePayment(t *testing.T) {
	h := newWebhookHarness(t)
	ctx := context.Background()
	run := h.startProbe(t)
	journey := run.GetID()
	piID := "pi_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:24]
	p, err := h.store.ReservePayment(ctx, store.Payment{JourneyID: journey, Step: "pay", AmountMinor: 50000, Currency: "INR", IdempotencyKey: journey + ":pay"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.RecordPaymentIntent(ctx, p.ID, piID, "requires_payment_method", ""); err != nil {
		t.Fatal(err)
	}

	eventID := "evt_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:24]
	payload := stripeEvent(eventID, "payment_intent.succeeded", journey, piID, 50000)
	status, body, _ := h.postStripe(t, payload, signStripe(payload, testStripeSecret, time.Now()))
	if status != http.StatusOK || body["outcome"] != "signalled" {
		t.Fatalf("first delivery: %d %v", status, body)
	}
	// Stripe delivers again (at least once): acknowledged, not signalled again.
	status, body, _ = h.postStripe(t, payload, signStripe(payload, testStripeSecret, time.Now()))
	if status != http.StatusOK || body["duplicate"] != true {
		t.Fatalf("replayed delivery: %d %v", status, body)
	}

	got := probeResult(t, run)
	want := workflows.PaymentEvent{EventID: eventID, PaymentIntentID: piID, AmountMinor: 50000, Currency: "INR"}
	if len(got) != 1 || got[0].Name != workflows.SignalPaymentConfirmed || got[0].Event != want {
		t.Errorf("journey received %+v, want exactly one %s with %+v", got, workflows.SignalPaymentConfirmed, want)
	}
	if row, _ := h.store.PaymentByStep(ctx, journey, "pay"); row.Status != "succeeded" {
		t.Errorf("payment status = %q, want succeeded", row.Status)
	}
}

func TestStripeWebhookPaymentFailureSignalsPaymentFailed(t *testing.T) {
	h := newWebhookHarness(t)
	run := h.startProbe(t)
	payload := stripeEvent("evt_"+uuid.NewString(), "payment_intent.payment_failed", run.GetID(), "pi_failed_"+uuid.NewString()[:8], 50000)
	status, body, _ := h.postStripe(t, payload, signStripe(payload, testStripeSecret, time.Now()))
	if status != http.StatusOK || body["outcome"] != "signalled" {
		t.Fatalf("delivery: %d %v", status, body)
	}
	if got := probeResult(t, run); len(got) != 1 || got[0].Name != workflows.SignalPaymentFailed {
		t.Errorf("journey received %+v, want one %s", got, workflows.SignalPaymentFailed)
	}
}

func TestStripeWebhookRefusesWhatStripeDidNotSign(t *testing.T) {
	h := newWebhookHarness(t)
	eventID := "evt_" + uuid.NewString()
	journey := workflows.NewJourneyWorkflowID(uuid.NewString())
	payload := stripeEvent(eventID, "payment_intent.succeeded", journey, "pi_x", 50000)
	tampered := []byte(strings.Replace(string(payload), `"amount":50000`, `"amount":1`, 1))
	cases := []struct {
		name      string
		payload   []byte
		signature string
	}{
		{"no signature", payload, ""},
		{"another secret", payload, signStripe(payload, "whsec_someone_else", time.Now())},
		{"tampered body", tampered, signStripe(payload, testStripeSecret, time.Now())},
		{"replayed after ten minutes", payload, signStripe(payload, testStripeSecret, time.Now().Add(-10*time.Minute))},
		{"garbage header", payload, "t=abc,v1=00"},
	}
	for _, c := range cases {
		status, body, header := h.postStripe(t, c.payload, c.signature)
		if status != http.StatusBadRequest || body["type"] != "https://carepath.dev/problems/bad-signature" ||
			!strings.HasPrefix(header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %v, want a 400 bad-signature problem", c.name, status, body)
		}
	}
	if outcome, _ := h.store.StripeEventOutcome(context.Background(), eventID); outcome != "" {
		t.Errorf("an unverified event was recorded: %q", outcome)
	}
}

func TestStripeWebhookAcknowledgesEventsItCannotDeliver(t *testing.T) {
	h := newWebhookHarness(t)
	ctx := context.Background()
	cases := []struct {
		name, eventType, journey, outcome string
	}{
		{"journey that does not exist", "payment_intent.succeeded", workflows.NewJourneyWorkflowID(uuid.NewString()), "journey-not-found"},
		{"no journey in the metadata", "payment_intent.succeeded", "", "no-journey"},
		{"not a journey ID", "payment_intent.succeeded", "some-other-workflow", "no-journey"},
		{"an event type CarePath does not use", "charge.succeeded", "", "ignored-type"},
	}
	for _, c := range cases {
		id := "evt_" + uuid.NewString()
		payload := stripeEvent(id, c.eventType, c.journey, "pi_"+uuid.NewString()[:8], 100)
		status, body, _ := h.postStripe(t, payload, signStripe(payload, testStripeSecret, time.Now()))
		if status != http.StatusOK || body["outcome"] != c.outcome {
			t.Errorf("%s: %d %v, want 200 %s", c.name, status, body, c.outcome)
			continue
		}
		if c.outcome == "ignored-type" {
			continue
		}
		if outcome, _ := h.store.StripeEventOutcome(ctx, id); outcome != c.outcome {
			t.Errorf("%s: recorded outcome %q", c.name, outcome)
		}
	}
}

// signTwilio computes X-Twilio-Signature as Twilio documents it:
// base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
// sorted by name)).
func signTwilio(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (h *webhookHarness) postTwilio(t *testing.T, form url.Values, signature string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/v1/webhooks/twilio", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}

func inbound(from, body string) url.Values {
	return url.Values{
		"MessageSid": {"SM" + strings.ReplaceAll(uuid.NewString(), "-", "")}, "AccountSid": {"AC00000000000000000000000000000000"},
		"From": {from}, "To": {"+15005550006"}, "Body": {body}, "NumMedia": {"0"},
	}
}

func TestTwilioWebhookStopAndStart(t *testing.T) {
	h := newWebhookHarness(t)
	ctx := context.Background()
	const patient = 17
	id := store.SeedPatientID(patient)
	from := fmt.Sprintf("+9190000000%02d", patient)
	t.Cleanup(func() {
		if _, err := h.store.SetSMSOptOut(context.Background(), from, false, "test-cleanup"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	endpoint := testPublicBaseURL + "/api/v1/webhooks/twilio"
	optedOut := func() bool {
		r, err := h.store.SMSRecipient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.OptOut
	}
	send := func(body string) {
		t.Helper()
		form := inbound(from, body)
		status, ctype, resp := h.postTwilio(t, form, signTwilio(testTwilioToken, endpoint, form))
		if status != http.StatusOK || !strings.HasPrefix(ctype, "text/xml") || !strings.Contains(resp, "<Response></Response>") {
			t.Fatalf("%q: %d %s %s, want 200 with empty TwiML", body, status, ctype, resp)
		}
	}

	send("hello, is my appointment still on?")
	if optedOut() {
		t.Fatal("an ordinary message opted the patient out")
	}
	send(" Stop ")
	if !optedOut() {
		t.Fatal("STOP did not opt the patient out")
	}
	send("START")
	if optedOut() {
		t.Fatal("START did not opt the patient back in")
	}
	for _, word := range []string{"STOPALL", "unsubscribe", "Cancel", "END", "quit"} {
		send(word)
		if !optedOut() {
			t.Errorf("%s did not opt the patient out", word)
		}
		send("unstop")
		if optedOut() {
			t.Errorf("UNSTOP did not opt the patient back in after %s", word)
		}
	}
}

func TestTwilioWebhookRefusesBadSignatures(t *testing.T) {
	h := newWebhookHarness(t)
	const patient = 18
	from := fmt.Sprintf("+9190000000%02d", patient)
	t.Cleanup(func() {
		if _, err := h.store.SetSMSOptOut(context.Background(), from, false, "test-cleanup"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	form := inbound(from, "STOP")
	endpoint := testPublicBaseURL + "/api/v1/webhooks/twilio"
	changed := url.Values{}
	for k, v := range form {
		changed[k] = v
	}
	changed.Set("From", "+919000000001") // the signed request was for another number
	cases := []struct {
		name      string
		form      url.Values
		signature string
	}{
		{"no signature", form, ""},
		{"another auth token", form, signTwilio("someoneelsestoken", endpoint, form)},
		{"signed for the listening address, not PUBLIC_BASE_URL", form, signTwilio(testTwilioToken, h.srv.URL+"/api/v1/webhooks/twilio", form)},
		{"parameters changed after signing", changed, signTwilio(testTwilioToken, endpoint, form)},
	}
	for _, c := range cases {
		status, ctype, body := h.postTwilio(t, c.form, c.signature)
		if status != http.StatusBadRequest || !strings.HasPrefix(ctype, "application/problem+json") || !strings.Contains(body, "bad-signature") {
			t.Errorf("%s: %d %s %s, want a 400 bad-signature problem", c.name, status, ctype, body)
		}
	}
	for _, n := range []int{1, patient} {
		if r, _ := h.store.SMSRecipient(context.Background(), store.SeedPatientID(n)); r.OptOut {
			t.Errorf("patient %d was opted out by an unverified request", n)
		}
	}
}
