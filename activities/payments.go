package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/store"
)

// Application error types of the payment activities.
const (
	// ErrTypePaymentRejected: Stripe refused the request (a 4xx other than
	// rate limiting): a bad amount, a card error. Retrying sends the same request.
	ErrTypePaymentRejected = "PaymentRejected"
	// ErrTypePaymentNotFound: the journey has no PaymentIntent for this step.
	ErrTypePaymentNotFound = "PaymentNotFound"
	// ErrTypeRefundExceedsPayment: the refunds would exceed what was paid.
	ErrTypeRefundExceedsPayment = "RefundExceedsPayment"
)

// Retry policy for the payment activities; the journey sets it where it
// calls them (PaymentActivityOptions).
//
// Retrying is safe only because every Stripe request carries an idempotency
// key derived from the journey and step, and Stripe honours a key for at
// least 24 hours. So the attempts must end well inside that window:
// ScheduleToClose bounds them at 6 hours. Within it, retry with backoff (1s
// doubling to a minute) without an attempt limit: Stripe or the network
// being down for a while must not fail a patient's payment, and the
// non-retryable errors (rejected request, reused key, refund too large) stop
// at once. StartToClose covers one Stripe call and one database write.
const (
	PaymentScheduleToClose = 6 * time.Hour
	PaymentStartToClose    = 30 * time.Second
)

// PaymentActivityOptions are the activity options the journey uses for
// CreatePaymentIntent, GetPaymentIntentStatus and Refund.
func PaymentActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		ScheduleToCloseTimeout: PaymentScheduleToClose,
		StartToCloseTimeout:    PaymentStartToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
}

// Payments charges and refunds through Stripe, recording each PaymentIntent
// and Refund in PostgreSQL by journey and step.
type Payments struct {
	Store  *store.Store
	Stripe *client.API
}

// PaymentDescription is every PaymentIntent's description: it names no
// pathway, condition, doctor or specialty.
const PaymentDescription = "CarePath appointment"

// PaymentIdempotencyKey is the Stripe idempotency key of a journey step's
// PaymentIntent: "<journey ID>:s<digest of the step>:payment_intent". The
// journey ID is opaque (workflows.NewJourneyWorkflowID) and the step, whose
// name the pathway chooses ("care_not_at_goal"), is sent as a digest, so
// the key tells Stripe nothing clinical. Journeys started under legacy IDs
// keep the keys they had ("<journey ID>:<step>:payment_intent"): a payment
// reserved before must be retried with the key it was reserved with.
func PaymentIdempotencyKey(journeyID, step string) string {
	return stepKey(journeyID, step) + ":payment_intent"
}

// RefundIdempotencyKey is the Stripe idempotency key of a journey step's
// refund, made as PaymentIdempotencyKey's.
func RefundIdempotencyKey(journeyID, step string) string {
	return stepKey(journeyID, step) + ":refund"
}

// legacyJourneyID is the shape of workflows.LegacyJourneyWorkflowID
// (activities cannot import workflows).
var legacyJourneyID = regexp.MustCompile(`^journey:[0-9a-f-]{36}:[a-z0-9][a-z0-9-]{0,62}:[1-9][0-9]*$`)

func stepKey(journeyID, step string) string {
	if legacyJourneyID.MatchString(journeyID) {
		return journeyID + ":" + step
	}
	sum := sha256.Sum256([]byte(step))
	return journeyID + ":s" + hex.EncodeToString(sum[:8])
}

// CreatePaymentIntentInput asks for a PaymentIntent for a journey step.
type CreatePaymentIntentInput struct {
	JourneyID     string `json:"journey_id"`
	Step          string `json:"step"`
	AppointmentID string `json:"appointment_id,omitempty"`
	AmountMinor   int64  `json:"amount_minor"`
	Currency      string `json:"currency"` // ISO 4217, e.g. INR
}

// PaymentResult is a journey step's PaymentIntent.
type PaymentResult struct {
	PaymentID       string `json:"payment_id"` // CarePath's
	PaymentIntentID string `json:"payment_intent_id"`
	Status          string `json:"status"` // the PaymentIntent's status
	AmountMinor     int64  `json:"amount_minor"`
	Currency        string `json:"currency"`
	// ClientSecret lets the patient's app confirm the payment; pass it to
	// the patient only, never to logs.
	ClientSecret string `json:"client_secret,omitempty"`
}

// CreatePaymentIntent creates the step's PaymentIntent, once. The row is
// reserved in PostgreSQL first (unique on journey and step), then Stripe is
// called with the step's idempotency key, then the answer is recorded. A
// retry after any of these finds the row: if Stripe answered, nothing is sent
// again; if not, the same key makes Stripe return the PaymentIntent it may
// already have created. Metadata journey_id routes the webhook to the journey.
func (a *Payments) CreatePaymentIntent(ctx context.Context, in CreatePaymentIntentInput) (PaymentResult, error) {
	const op = "create payment intent"
	if err := a.configured(); err != nil {
		return PaymentResult{}, err
	}
	in.Currency = strings.ToUpper(in.Currency)
	p, err := a.Store.ReservePayment(ctx, store.Payment{
		JourneyID: in.JourneyID, Step: in.Step, AppointmentID: in.AppointmentID,
		AmountMinor: in.AmountMinor, Currency: in.Currency, IdempotencyKey: PaymentIdempotencyKey(in.JourneyID, in.Step),
	})
	if err != nil {
		return PaymentResult{}, paymentError(op, err)
	}
	if p.ProviderPaymentID != "" {
		return paymentResult(p), nil
	}
	params := &stripe.PaymentIntentParams{
		Amount:   stripe.Int64(p.AmountMinor),
		Currency: stripe.String(strings.ToLower(p.Currency)),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripe.Bool(true),
		},
	}
	params.Context = ctx
	params.SetIdempotencyKey(p.IdempotencyKey)
	// Stripe must learn nothing clinical about the patient: the metadata is
	// the opaque journey ID (it routes the webhook) and the appointment's,
	// and the description is the same for every payment. Not the step,
	// whose name comes from the pathway.
	params.Description = stripe.String(PaymentDescription)
	params.AddMetadata("journey_id", in.JourneyID)
	if in.AppointmentID != "" {
		params.AddMetadata("appointment_id", in.AppointmentID)
	}
	pi, err := a.Stripe.PaymentIntents.New(params)
	if err != nil {
		return PaymentResult{}, stripeError(op, err)
	}
	p, err = a.Store.RecordPaymentIntent(ctx, p.ID, pi.ID, string(pi.Status), pi.ClientSecret)
	if err != nil {
		return PaymentResult{}, paymentError(op, err)
	}
	return paymentResult(p), nil
}

// PaymentStatusInput names a journey step's payment.
type PaymentStatusInput struct {
	JourneyID string `json:"journey_id"`
	Step      string `json:"step"`
}

// GetPaymentIntentStatus asks Stripe for the step's PaymentIntent and
// records its status: the journey's fallback when no webhook arrives.
func (a *Payments) GetPaymentIntentStatus(ctx context.Context, in PaymentStatusInput) (PaymentResult, error) {
	const op = "get payment intent status"
	if err := a.configured(); err != nil {
		return PaymentResult{}, err
	}
	p, err := a.Store.PaymentByStep(ctx, in.JourneyID, in.Step)
	if err != nil {
		return PaymentResult{}, paymentError(op, err)
	}
	if p.ProviderPaymentID == "" {
		return PaymentResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: the PaymentIntent of %s/%s was never created", op, in.JourneyID, in.Step), ErrTypePaymentNotFound, nil)
	}
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := a.Stripe.PaymentIntents.Get(p.ProviderPaymentID, params)
	if err != nil {
		return PaymentResult{}, stripeError(op, err)
	}
	if _, err := a.Store.SetPaymentStatus(ctx, in.JourneyID, p.ProviderPaymentID, string(pi.Status)); err != nil {
		return PaymentResult{}, paymentError(op, err)
	}
	p.Status = string(pi.Status)
	return paymentResult(p), nil
}

// RefundInput refunds (part of) a journey's payment.
type RefundInput struct {
	JourneyID string `json:"journey_id"`
	Step      string `json:"step"`
	// PaymentIntentID names the payment to refund; PaymentStep may name it
	// instead (or as well), which is unambiguous even where a provider
	// reuses IDs, as stripe-mock does.
	PaymentIntentID string `json:"payment_intent_id,omitempty"`
	PaymentStep     string `json:"payment_step,omitempty"`
	// AmountMinor 0 refunds whatever remains of the payment.
	AmountMinor int64 `json:"amount_minor"`
	// Reason is a code such as "doctor_declined" or "late_cancellation".
	Reason string `json:"reason"`
}

// RefundResult is a recorded refund.
type RefundResult struct {
	RefundID         string `json:"refund_id"` // CarePath's
	ProviderRefundID string `json:"provider_refund_id"`
	PaymentIntentID  string `json:"payment_intent_id"`
	AmountMinor      int64  `json:"amount_minor"`
	Currency         string `json:"currency"`
	Status           string `json:"status"`
}

// Refund refunds the payment once per journey step, in the same three steps
// as CreatePaymentIntent (reserve the row, call Stripe with the step's key,
// record the answer). Refunds of one payment never add up to more than it.
func (a *Payments) Refund(ctx context.Context, in RefundInput) (RefundResult, error) {
	const op = "refund"
	if err := a.configured(); err != nil {
		return RefundResult{}, err
	}
	var p store.Payment
	var err error
	switch {
	case in.PaymentStep != "":
		p, err = a.Store.PaymentByStep(ctx, in.JourneyID, in.PaymentStep)
		if err == nil && in.PaymentIntentID != "" && p.ProviderPaymentID != in.PaymentIntentID {
			err = fmt.Errorf("payment step %s is not PaymentIntent %s: %w", in.PaymentStep, in.PaymentIntentID, store.ErrPaymentNotFound)
		}
	case in.PaymentIntentID != "":
		p, err = a.Store.PaymentByIntent(ctx, in.JourneyID, in.PaymentIntentID)
	default:
		err = fmt.Errorf("name the payment by payment_intent_id or payment_step: %w", store.ErrInvalid)
	}
	if err != nil {
		return RefundResult{}, paymentError(op, err)
	}
	if p.ProviderPaymentID == "" {
		return RefundResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: payment %s has no PaymentIntent", op, p.ID), ErrTypePaymentNotFound, nil)
	}
	r, err := a.Store.ReserveRefund(ctx, store.Refund{
		JourneyID: in.JourneyID, Step: in.Step, PaymentID: p.ID, AmountMinor: in.AmountMinor,
		Reason: in.Reason, IdempotencyKey: RefundIdempotencyKey(in.JourneyID, in.Step),
	})
	if err != nil {
		return RefundResult{}, paymentError(op, err)
	}
	if r.ProviderRefundID == "" {
		params := &stripe.RefundParams{
			PaymentIntent: stripe.String(p.ProviderPaymentID),
			Amount:        stripe.Int64(r.AmountMinor),
			Reason:        stripe.String(stripeRefundReason(in.Reason)),
		}
		params.Context = ctx
		params.SetIdempotencyKey(r.IdempotencyKey)
		// As for the PaymentIntent: opaque IDs only.
		params.AddMetadata("journey_id", in.JourneyID)
		params.AddMetadata("refund_id", r.ID)
		re, err := a.Stripe.Refunds.New(params)
		if err != nil {
			return RefundResult{}, stripeError(op, err)
		}
		if r, err = a.Store.RecordRefundResult(ctx, r.ID, re.ID, string(re.Status)); err != nil {
			return RefundResult{}, paymentError(op, err)
		}
	}
	return RefundResult{
		RefundID: r.ID, ProviderRefundID: r.ProviderRefundID, PaymentIntentID: p.ProviderPaymentID,
		AmountMinor: r.AmountMinor, Currency: r.Currency, Status: r.Status,
	}, nil
}

// configured fails an attempt on a worker started without a Stripe client.
// Retryable on purpose: a correctly configured worker can pick it up.
func (a *Payments) configured() error {
	if a.Stripe == nil || a.Store == nil {
		return errors.New("payments: this worker has no Stripe client or store (workers.Deps)")
	}
	return nil
}

// stripeRefundReason maps CarePath's reason codes to the few Stripe accepts.
func stripeRefundReason(reason string) string {
	switch reason {
	case string(stripe.RefundReasonDuplicate), string(stripe.RefundReasonFraudulent):
		return reason
	default:
		return string(stripe.RefundReasonRequestedByCustomer)
	}
}

func paymentResult(p store.Payment) PaymentResult {
	return PaymentResult{
		PaymentID: p.ID, PaymentIntentID: p.ProviderPaymentID, Status: p.Status,
		AmountMinor: p.AmountMinor, Currency: p.Currency, ClientSecret: p.ClientSecret,
	}
}

// paymentError maps the store's payment errors to application error types;
// anything else is retried.
func paymentError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrPaymentNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypePaymentNotFound, err)
	case errors.Is(err, store.ErrPaymentMismatch):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeStepReused, err)
	case errors.Is(err, store.ErrRefundExceedsPayment):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeRefundExceedsPayment, err)
	case errors.Is(err, store.ErrAppointmentNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeAppointmentNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), ErrTypeInvalidInput, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// stripeError decides whether a Stripe failure is worth retrying: rate
// limits, Stripe's own errors, a key still in use by a concurrent request
// and network failures are; any other refusal is not.
func stripeError(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: stripe: %w", op, err)
	}
	msg := fmt.Sprintf("%s: stripe %d %s (%s): %s", op, se.HTTPStatusCode, se.Type, se.Code, se.Msg)
	switch {
	case se.Type == stripe.ErrorTypeIdempotency:
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeStepReused, err)
	case se.HTTPStatusCode == 409, se.HTTPStatusCode == 429, se.HTTPStatusCode >= 500, se.HTTPStatusCode == 0:
		return fmt.Errorf("%s: %w", msg, err)
	default:
		return temporal.NewNonRetryableApplicationError(msg, ErrTypePaymentRejected, err)
	}
}
