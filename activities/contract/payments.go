package contract

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
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

// PaymentStatusInput names a journey step's payment.
type PaymentStatusInput struct {
	JourneyID string `json:"journey_id"`
	Step      string `json:"step"`
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
