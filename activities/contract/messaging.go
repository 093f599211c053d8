package contract

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Application error types of the messaging activities.
const (
	// ErrTypeUnknownTemplate: no SMS template has this ID.
	ErrTypeUnknownTemplate = "UnknownTemplate"
	// ErrTypeSMSRejected: Twilio refused the message (an invalid number, a
	// body it will not send); sending it again would be refused again.
	ErrTypeSMSRejected = "SMSRejected"
)

// Kinds of message. Only essential messages reach a patient who has opted
// out, and only they ignore quiet hours: they are the ones the patient must
// not miss (the clinic cancelled, the consult moved).
const (
	SMSKindReminder     = "reminder"
	SMSKindNotification = "notification"
	SMSKindEssential    = "essential"
)

// Outcomes of SendSMS.
const (
	SMSSent     = "sent"
	SMSSkipped  = "skipped"  // not sent, and it will not be: SkipReason says why
	SMSDeferred = "deferred" // quiet hours: call again at NextAllowedAt
)

// Skip reasons.
const (
	SkipOptedOut              = "opted-out"
	SkipUnsubscribedAtCarrier = "unsubscribed-at-carrier" // the patient texted STOP to our sender; Twilio blocks even essential messages
	SkipNoValidNumber         = "no-valid-number"
)

// Retry policy for SendSMS; the journey sets it where it calls it
// (SMSActivityOptions).
//
// Twilio's Messages API takes no idempotency key. SendSMS records the step's
// message as "sending" before calling Twilio and as "sent" after, so a retry
// after a recorded send never sends again; only a worker that dies between
// Twilio's answer and that write (milliseconds) can cause a duplicate on its
// retry. Retry with backoff (5s doubling to 5 minutes) for at most an hour:
// a reminder that is an hour late is better left to the journey to decide.
const (
	SMSScheduleToClose = time.Hour
	SMSStartToClose    = 30 * time.Second
)

// SMSActivityOptions are the activity options the journey uses for SendSMS.
func SMSActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		ScheduleToCloseTimeout: SMSScheduleToClose,
		StartToCloseTimeout:    SMSStartToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    5 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	}
}

// SendSMSInput asks to send a templated SMS to a patient for a journey step.
type SendSMSInput struct {
	JourneyID  string `json:"journey_id"`
	Step       string `json:"step"`
	PatientID  string `json:"patient_id"`
	Kind       string `json:"kind"` // SMSKindReminder, SMSKindNotification or SMSKindEssential
	TemplateID string `json:"template_id"`
	// Params fill the template: "at" is an RFC 3339 time, shown as {date}
	// and {time} in the patient's time zone; "link" is a path ("/j/...")
	// or a URL under LinkBase, texted as a short link to it (shortLink).
	Params map[string]string `json:"params"`
}

// SendSMSResult says what became of the message.
type SendSMSResult struct {
	Status     string `json:"status"` // SMSSent, SMSSkipped or SMSDeferred
	MessageSID string `json:"message_sid,omitempty"`
	SkipReason string `json:"skip_reason,omitempty"`
	// NextAllowedAt is when quiet hours end, for a deferred message: the
	// journey sleeps until then and calls SendSMS again with the same step.
	NextAllowedAt time.Time `json:"next_allowed_at,omitzero"`
}
