package activities_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// stripeCall is one request that reached Stripe (stripe-mock), with its
// form body.
type stripeCall struct {
	method, path, idempotencyKey string
	form                         url.Values
}

// recorder sits between stripe-go and stripe-mock and writes down every
// request, so a test can count what a retry really sent.
type recorder struct {
	mu    sync.Mutex
	calls []stripeCall
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var form url.Values
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if form, err = url.ParseQuery(string(body)); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, stripeCall{req.Method, req.URL.Path, req.Header.Get("Idempotency-Key"), form})
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) posts(path string) []stripeCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []stripeCall
	for _, c := range r.calls {
		if c.method == http.MethodPost && c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func paymentsAgainstStripeMock(t *testing.T) (context.Context, *store.Store, *activities.Payments, *recorder) {
	t.Helper()
	ctx, s := seededStore(t)
	cfg := testenv.Config(t)
	probe, err := http.Get(strings.TrimRight(cfg.StripeAPIBase, "/") + "/v1/balance")
	if err != nil {
		testenv.Fail(t, "stripe-mock", cfg.StripeAPIBase, err)
	}
	probe.Body.Close()
	rec := &recorder{}
	return ctx, s, &activities.Payments{Store: s, Stripe: platform.NewStripeWithHTTPClient(cfg, &http.Client{Transport: rec, Timeout: 10 * time.Second})}, rec
}

func TestCreatePaymentIntentOncePerStep(t *testing.T) {
	ctx, s, p, rec := paymentsAgainstStripeMock(t)
	j := journeyID(t)
	in := contract.CreatePaymentIntentInput{JourneyID: j, Step: "pay:1", AmountMinor: 60000, Currency: "inr"}
	first, err := p.CreatePaymentIntent(ctx, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if first.PaymentIntentID == "" || first.AmountMinor != 60000 || first.Currency != "INR" || first.ClientSecret == "" || first.Status == "" {
		t.Errorf("first = %+v", first)
	}
	second, err := p.CreatePaymentIntent(ctx, in)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if second.PaymentID != first.PaymentID || second.PaymentIntentID != first.PaymentIntentID {
		t.Errorf("retry returned %+v, want %+v", second, first)
	}
	calls := rec.posts("/v1/payment_intents")
	if len(calls) != 1 {
		t.Fatalf("Stripe got %d PaymentIntent creations, want 1 (the retry must not call it)", len(calls))
	}
	if want := activities.PaymentIdempotencyKey(j, "pay:1"); calls[0].idempotencyKey != want {
		t.Errorf("Idempotency-Key = %q, want %q", calls[0].idempotencyKey, want)
	}
	var rows int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM payment WHERE journey_id = $1`, j).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("payment rows = %d, want 1", rows)
	}
	// Another amount under the same step is a workflow bug.
	in.AmountMinor = 1
	_, err = p.CreatePaymentIntent(ctx, in)
	wantAppError(t, "same step, other amount", err, contract.ErrTypeStepReused)
}

// A worker that died after reserving the row and before recording Stripe's
// answer: the retry calls Stripe again with the same key (which Stripe
// dedupes for 24 hours) and completes the one row.
func TestCreatePaymentIntentAfterAWorkerCrash(t *testing.T) {
	ctx, s, p, rec := paymentsAgainstStripeMock(t)
	j := journeyID(t)
	if _, err := s.ReservePayment(ctx, store.Payment{JourneyID: j, Step: "pay", AmountMinor: 50000, Currency: "INR",
		IdempotencyKey: activities.PaymentIdempotencyKey(j, "pay")}); err != nil {
		t.Fatal(err)
	}
	got, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: j, Step: "pay", AmountMinor: 50000, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.posts("/v1/payment_intents")
	if len(calls) != 1 || calls[0].idempotencyKey != activities.PaymentIdempotencyKey(j, "pay") {
		t.Errorf("calls = %+v, want one with the step's key", calls)
	}
	row, err := s.PaymentByStep(ctx, j, "pay")
	if err != nil {
		t.Fatal(err)
	}
	if row.ID != got.PaymentID || row.ProviderPaymentID != got.PaymentIntentID || row.Status == store.PaymentCreating {
		t.Errorf("row = %+v, result = %+v", row, got)
	}
}

// Rows are keyed by journey and step, not by the provider's ID: two
// journeys whose PaymentIntents carry the same ID (stripe-mock's fixtures
// can) keep separate payments, and a status update for one leaves the other.
func TestPaymentsAreKeyedByJourneyNotByProviderID(t *testing.T) {
	ctx, s, p, _ := paymentsAgainstStripeMock(t)
	a, b := journeyID(t), journeyID(t)
	pa, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: a, Step: "pay", AmountMinor: 50000, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: b, Step: "pay", AmountMinor: 70000, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	if pa.PaymentID == pb.PaymentID {
		t.Fatal("two journeys share one payment row")
	}
	// Give b the same provider ID as a, as a fixture-replaying mock would.
	if _, err := s.RecordPaymentIntent(ctx, pb.PaymentID, pa.PaymentIntentID, "requires_payment_method", ""); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SetPaymentStatus(ctx, a, pa.PaymentIntentID, "succeeded"); err != nil || n != 1 {
		t.Fatalf("set status: %d rows, %v", n, err)
	}
	rowB, err := s.PaymentByStep(ctx, b, "pay")
	if err != nil {
		t.Fatal(err)
	}
	if rowB.Status == "succeeded" || rowB.AmountMinor != 70000 {
		t.Errorf("journey b's payment was touched by a's update: %+v", rowB)
	}
}

func TestGetPaymentIntentStatusPollsStripe(t *testing.T) {
	ctx, s, p, rec := paymentsAgainstStripeMock(t)
	j := journeyID(t)
	_, err := p.GetPaymentIntentStatus(ctx, contract.PaymentStatusInput{JourneyID: j, Step: "pay"})
	wantAppError(t, "poll before create", err, contract.ErrTypePaymentNotFound)
	created, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: j, Step: "pay", AmountMinor: 50000, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	// Mark it stale, so the poll visibly writes what Stripe says.
	if _, err := s.SetPaymentStatus(ctx, j, created.PaymentIntentID, "stale"); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetPaymentIntentStatus(ctx, contract.PaymentStatusInput{JourneyID: j, Step: "pay"})
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	row, _ := s.PaymentByStep(ctx, j, "pay")
	if got.Status == "" || got.Status == "stale" || row.Status != got.Status {
		t.Errorf("polled status %q, stored %q", got.Status, row.Status)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	last := rec.calls[len(rec.calls)-1]
	if last.method != http.MethodGet || last.path != "/v1/payment_intents/"+created.PaymentIntentID {
		t.Errorf("last Stripe call = %+v, want GET of the PaymentIntent", last)
	}
}

func TestRefundOncePerStepAndNeverMoreThanPaid(t *testing.T) {
	ctx, _, p, rec := paymentsAgainstStripeMock(t)
	j := journeyID(t)
	paid, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: j, Step: "pay", AmountMinor: 80000, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	in := contract.RefundInput{JourneyID: j, Step: "refund:late-cancel", PaymentIntentID: paid.PaymentIntentID, AmountMinor: 40000, Reason: "late_cancellation"}
	first, err := p.Refund(ctx, in)
	if err != nil {
		t.Fatalf("refund: %v", err)
	}
	again, err := p.Refund(ctx, in)
	if err != nil || again.RefundID != first.RefundID || again.ProviderRefundID != first.ProviderRefundID {
		t.Errorf("retry = %+v (%v), want %+v", again, err, first)
	}
	calls := rec.posts("/v1/refunds")
	if len(calls) != 1 || calls[0].idempotencyKey != activities.RefundIdempotencyKey(j, "refund:late-cancel") {
		t.Errorf("refund calls = %+v, want one with the step's key", calls)
	}
	if first.AmountMinor != 40000 || first.Currency != "INR" || first.ProviderRefundID == "" {
		t.Errorf("refund = %+v", first)
	}
	// The rest by payment step, then nothing is left.
	rest, err := p.Refund(ctx, contract.RefundInput{JourneyID: j, Step: "refund:doctor-declined", PaymentStep: "pay", Reason: "doctor_declined"})
	if err != nil || rest.AmountMinor != 40000 {
		t.Errorf("refund the rest = %+v, %v; want 40000", rest, err)
	}
	_, err = p.Refund(ctx, contract.RefundInput{JourneyID: j, Step: "refund:more", PaymentStep: "pay", AmountMinor: 1, Reason: "test"})
	wantAppError(t, "refund beyond the payment", err, contract.ErrTypeRefundExceedsPayment)
	_, err = p.Refund(ctx, contract.RefundInput{JourneyID: journeyID(t), Step: "refund", PaymentIntentID: paid.PaymentIntentID, Reason: "test"})
	wantAppError(t, "refund another journey's payment", err, contract.ErrTypePaymentNotFound)
}

// How Stripe's refusals are classified. stripe-mock accepts any valid
// request, so this one test answers with Stripe's error documents from a
// local server instead.
func TestStripeErrorsRetryOnlyWhatCanSucceed(t *testing.T) {
	ctx, s := seededStore(t)
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	cfg := config.Config{StripeAPIBase: srv.URL, StripeSecretKey: "sk_test_123"}
	p := &activities.Payments{Store: s, Stripe: platform.NewStripeWithHTTPClient(cfg, srv.Client())}
	cases := []struct {
		status    int
		body      string
		retryable bool
		typ       string
	}{
		{400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least 50"}}`, false, contract.ErrTypePaymentRejected},
		{402, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`, false, contract.ErrTypePaymentRejected},
		{400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`, false, contract.ErrTypeStepReused},
		{429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`, true, ""},
		{500, `{"error":{"type":"api_error","message":"Something went wrong"}}`, true, ""},
	}
	for i, c := range cases {
		status, body = c.status, c.body
		_, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: journeyID(t), Step: "pay", AmountMinor: 100, Currency: "INR"})
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		if c.retryable {
			if isNonRetryable(err) {
				t.Errorf("case %d (%d): %v is non-retryable, want retryable", i, c.status, err)
			}
			continue
		}
		wantAppError(t, body, err, c.typ)
	}
}

// What Stripe learns of a payment and its refund: the opaque journey ID,
// the appointment's and the refund's IDs, and a description that is the
// same for every payment. Never the pathway or the step (named by the
// pathway), in the metadata, the description or the idempotency key.
func TestStripeLearnsNothingClinical(t *testing.T) {
	ctx, s, p, rec := paymentsAgainstStripeMock(t)
	patient := store.SeedPatientID(15)
	j := workflows.NewJourneyWorkflowID(patient)
	// An appointment for the journey, so that its ID goes to Stripe too.
	slot := testenv.SlotSoon(t, s, 5, time.Hour)
	appt, err := s.HoldSlot(ctx, store.HoldSlotRequest{JourneyID: j, Step: "titration_review_book", PatientID: patient, SlotID: slot.ID,
		Until: time.Now().Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	const step = "titration_review_pay"
	paid, err := p.CreatePaymentIntent(ctx, contract.CreatePaymentIntentInput{JourneyID: j, Step: step, AppointmentID: appt.ID,
		AmountMinor: 50000, Currency: "INR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refund(ctx, contract.RefundInput{JourneyID: j, Step: "titration_review_refund", PaymentStep: step,
		Reason: "doctor_declined"}); err != nil {
		t.Fatal(err)
	}
	check := func(call stripeCall, wantMeta map[string]string) {
		t.Helper()
		meta := map[string]string{}
		for k, v := range call.form {
			if name, ok := strings.CutPrefix(k, "metadata["); ok {
				meta[strings.TrimSuffix(name, "]")] = v[0]
			}
			for _, leak := range []string{"titration", "diabetes", "review", "doctor_declined"} {
				if strings.Contains(k, leak) || strings.Contains(strings.Join(v, " "), leak) {
					t.Errorf("%s %s: %s=%q names %q", call.method, call.path, k, v, leak)
				}
			}
		}
		if strings.Contains(call.idempotencyKey, "titration") || !strings.HasPrefix(call.idempotencyKey, j+":s") {
			t.Errorf("%s: Idempotency-Key %q", call.path, call.idempotencyKey)
		}
		if len(meta) != len(wantMeta) {
			t.Errorf("%s: metadata %v, want %v", call.path, meta, wantMeta)
		}
		for k, v := range wantMeta {
			if meta[k] != v {
				t.Errorf("%s: metadata %v, want %v", call.path, meta, wantMeta)
			}
		}
	}
	pis := rec.posts("/v1/payment_intents")
	if len(pis) != 1 {
		t.Fatalf("PaymentIntent creations: %d", len(pis))
	}
	check(pis[0], map[string]string{"journey_id": j, "appointment_id": appt.ID})
	if d := pis[0].form.Get("description"); d != activities.PaymentDescription {
		t.Errorf("description = %q, want %q", d, activities.PaymentDescription)
	}
	refunds := rec.posts("/v1/refunds")
	if len(refunds) != 1 {
		t.Fatalf("refunds: %d", len(refunds))
	}
	row, err := s.PaymentByStep(ctx, j, step)
	if err != nil || row.ProviderPaymentID != paid.PaymentIntentID {
		t.Fatalf("payment row %+v %v", row, err)
	}
	var refundID string
	if err := s.Pool.QueryRow(ctx, `SELECT id::text FROM refund WHERE journey_id = $1`, j).Scan(&refundID); err != nil {
		t.Fatal(err)
	}
	check(refunds[0], map[string]string{"journey_id": j, "refund_id": refundID})
}

// A journey started under a legacy ID keeps the key its payment was
// reserved with; an opaque journey's key shows a digest of the step.
func TestPaymentIdempotencyKeys(t *testing.T) {
	legacy := workflows.LegacyJourneyWorkflowID(store.SeedPatientID(1), "general-consult", 3)
	if got := activities.PaymentIdempotencyKey(legacy, "pay"); got != legacy+":pay:payment_intent" {
		t.Errorf("legacy key = %q", got)
	}
	opaque := workflows.NewJourneyWorkflowID(store.SeedPatientID(1))
	a, b := activities.PaymentIdempotencyKey(opaque, "pay"), activities.PaymentIdempotencyKey(opaque, "pay_again")
	if a == b || strings.Contains(a, "pay:") || !strings.HasPrefix(a, opaque+":s") || a != activities.PaymentIdempotencyKey(opaque, "pay") {
		t.Errorf("opaque keys %q and %q", a, b)
	}
	if r := activities.RefundIdempotencyKey(opaque, "pay"); r == a || !strings.HasSuffix(r, ":refund") {
		t.Errorf("refund key %q", r)
	}
}
