package activities

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/store"
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

// TwilioAPI returns a twilio-go REST API client bound to a context
// (platform.Twilio).
type TwilioAPI interface {
	API(ctx context.Context) *twapi.ApiService
}

// Messaging sends SMS through Twilio, honouring each patient's opt-out and
// quiet hours, once per journey step.
type Messaging struct {
	Store  *store.Store
	Twilio TwilioAPI
	// From is the sender: an E.164 number, or a Messaging Service SID ("MG...").
	From string
	// LinkBase is the only URL prefix a "link" parameter may have
	// (PUBLIC_BASE_URL): links point at CarePath, nowhere else.
	LinkBase string
	// LinkTTL is how long the short link in a text works; zero means
	// DefaultLinkTTL.
	LinkTTL time.Duration
	// Now is the clock for quiet hours; nil means time.Now.
	Now func() time.Time
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

// smsTemplate is a fixed text with {placeholders}. Templates carry
// scheduling facts and links only: no diagnosis, medicine, specialty or
// doctor's name, since an SMS can be read by anyone holding the phone. And
// no parameter is free text: a time and a CarePath link are all they take.
type smsTemplate struct {
	text   string
	params []string // of "at" and "link"
}

var smsTemplates = map[string]smsTemplate{
	"appointment_reminder":    {"CarePath: reminder of your appointment on {date} at {time}. Details: {link}", []string{"at", "link"}},
	"payment_request":         {"CarePath: to keep your appointment on {date} at {time}, please complete payment: {link}", []string{"at", "link"}},
	"appointment_confirmed":   {"CarePath: your appointment on {date} at {time} is confirmed. Details: {link}", []string{"at", "link"}},
	"appointment_rescheduled": {"CarePath: your appointment has moved to {date} at {time}. Details: {link}", []string{"at", "link"}},
	"appointment_cancelled":   {"CarePath: your appointment on {date} at {time} has been cancelled. Details: {link}", []string{"at", "link"}},
	"consult_starting":        {"CarePath: your consultation starts at {time}. Join: {link}", []string{"at", "link"}},
	// Pharmacy fulfilment: no medicine names, only that something happened.
	"prescription_accepted":  {"CarePath: a pharmacy has accepted your prescription. Track it: {link}", []string{"at", "link"}},
	"prescription_ready":     {"CarePath: your prescription is ready at the pharmacy. Details: {link}", []string{"at", "link"}},
	"prescription_delivered": {"CarePath: your prescription has been delivered. Details: {link}", []string{"at", "link"}},
	"prescription_rerouted":  {"CarePath: the pharmacy could not fill your prescription; we are sending it to another one. Details: {link}", []string{"at", "link"}},
	"prescription_delayed":   {"CarePath: no pharmacy could fill your prescription yet; our care team will contact you. Details: {link}", []string{"at", "link"}},
	// Adherence: the dose's time, never what the medicine is.
	"medication_reminder": {"CarePath: time for your {time} dose. Tell us you took or skipped it: {link}", []string{"at", "link"}},
	"refill_reminder":     {"CarePath: your medicine runs out around {date}. Request a refill: {link}", []string{"at", "link"}},
}

// SMSTemplateIDs lists the templates SendSMS knows, sorted.
func SMSTemplateIDs() []string {
	ids := make([]string, 0, len(smsTemplates))
	for id := range smsTemplates {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// linkPath is what may follow LinkBase in a link: a path of ID-like
// segments and an optional query of the same, nothing that reads as prose.
var linkPath = regexp.MustCompile(`^(/[A-Za-z0-9._:~-]+)*/?(\?[A-Za-z0-9._:~=&-]*)?$`)

const stopFooter = " Reply STOP to opt out."

// smsParams are a template's checked parameters.
type smsParams struct {
	at   time.Time
	link string
}

// checkSMS refuses unknown templates and kinds, missing or extra
// parameters, a time that is not RFC 3339 and a link outside CarePath.
func (a *Messaging) checkSMS(in SendSMSInput) (smsTemplate, smsParams, error) {
	t, ok := smsTemplates[in.TemplateID]
	if !ok {
		return t, smsParams{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("send sms: unknown template %q", in.TemplateID), ErrTypeUnknownTemplate, nil)
	}
	bad := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError("send sms: "+fmt.Sprintf(format, args...), ErrTypeInvalidInput, nil)
	}
	for name := range in.Params {
		if !slices.Contains(t.params, name) {
			return t, smsParams{}, bad("template %s takes no parameter %q", in.TemplateID, name)
		}
	}
	var p smsParams
	for _, name := range t.params {
		v, ok := in.Params[name]
		if !ok {
			return t, smsParams{}, bad("template %s needs parameter %q", in.TemplateID, name)
		}
		switch name {
		case "at":
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return t, smsParams{}, bad("parameter at of template %s is not an RFC 3339 time", in.TemplateID)
			}
			p.at = at
		case "link":
			link, ok := a.carePathLink(v)
			if !ok {
				return t, smsParams{}, bad("parameter link of template %s is not a CarePath link", in.TemplateID)
			}
			p.link = link
		}
	}
	return t, p, nil
}

// carePathLink turns a path or a URL under LinkBase into the full link,
// refusing anything that leads elsewhere or reads as prose.
func (a *Messaging) carePathLink(v string) (string, bool) {
	base := strings.TrimRight(a.LinkBase, "/")
	rest, found := strings.CutPrefix(v, base)
	if strings.HasPrefix(v, "/") {
		rest, found = v, true // a path: the link is LinkBase + path
	}
	if base == "" || !found || len(base+rest) > 200 || !linkPath.MatchString(rest) {
		return "", false
	}
	return base + rest, true
}

// DefaultLinkTTL is how long the link in a text works: long enough for a
// reminder sent days ahead, short enough that an old phone's messages do not
// open the patient's journey for ever.
const DefaultLinkTTL = 7 * 24 * time.Hour

// Scopes of short links: one per sending activity, keyed by its step.
const (
	linkScopeSMS   = "sms"
	linkScopeStaff = "staff"
)

// shortLink replaces a CarePath link (LinkBase + path) with LinkBase +
// "/l/" + a random token that stands for the path until it expires (GET
// /l/{token} redirects). The path names a journey or a course; the token
// names nothing, so a text read over someone's shoulder, or kept by the
// carrier, says nothing about the patient's care. The token is keyed by
// the message's idempotency key (journey and step), so a retried send
// texts the same one.
func (a *Messaging) shortLink(ctx context.Context, scope, journeyID, step, link string) (string, error) {
	base := strings.TrimRight(a.LinkBase, "/")
	target := strings.TrimPrefix(link, base)
	if target == "" {
		target = "/"
	}
	ttl := a.LinkTTL
	if ttl <= 0 {
		ttl = DefaultLinkTTL
	}
	l, err := a.Store.CreateShortLink(ctx, scope, journeyID+"/"+step, target, ttl)
	if errors.Is(err, store.ErrInvalid) {
		return "", temporal.NewNonRetryableApplicationError("short link: "+err.Error(), ErrTypeInvalidInput, err)
	}
	if err != nil {
		return "", err
	}
	return base + ShortLinkPath(l.Token), nil
}

// ShortLinkPath is the path of a short link's token (the API's GET route).
func ShortLinkPath(token string) string { return "/l/" + token }

// setSender sets the sender: a Messaging Service SID ("MG...") or a number.
func setSender(req *twapi.CreateMessageParams, from string) {
	if strings.HasPrefix(from, "MG") {
		req.SetMessagingServiceSid(from)
	} else {
		req.SetFrom(from)
	}
}

// render fills the template, showing the time in the patient's zone.
func (t smsTemplate) render(p smsParams, loc *time.Location, kind string) string {
	local := p.at.In(loc)
	body := strings.NewReplacer(
		"{date}", local.Format("Mon 2 Jan 2006"),
		"{time}", local.Format("15:04 MST"),
		"{link}", p.link,
	).Replace(t.text)
	if kind != SMSKindEssential {
		body += stopFooter
	}
	return body
}

// SendSMS sends the step's message once. In order: a message already sent or
// skipped for this step is returned as it was; a non-essential message to a
// patient who opted out is skipped; a non-essential message inside the
// patient's quiet hours (in their time zone) is deferred with the time they
// end; otherwise the message is sent through Twilio and recorded with its SID.
func (a *Messaging) SendSMS(ctx context.Context, in SendSMSInput) (SendSMSResult, error) {
	const op = "send sms"
	if a.Twilio == nil || a.Store == nil {
		// Retryable on purpose: a correctly configured worker can pick it up.
		return SendSMSResult{}, errors.New("send sms: this worker has no Twilio client or store (workers.Deps)")
	}
	if in.JourneyID == "" || in.Step == "" || in.PatientID == "" {
		return SendSMSResult{}, temporal.NewNonRetryableApplicationError(op+": journey, step and patient are required", ErrTypeInvalidInput, nil)
	}
	if in.Kind != SMSKindReminder && in.Kind != SMSKindNotification && in.Kind != SMSKindEssential {
		return SendSMSResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: unknown kind %q", op, in.Kind), ErrTypeInvalidInput, nil)
	}
	tmpl, params, err := a.checkSMS(in)
	if err != nil {
		return SendSMSResult{}, err
	}
	prev, err := a.Store.CommunicationByStep(ctx, in.JourneyID, in.Step)
	switch {
	case err == nil && prev.Final():
		return smsResult(prev), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
	}

	rcpt, err := a.Store.SMSRecipient(ctx, in.PatientID)
	if errors.Is(err, store.ErrPatientNotFound) {
		return SendSMSResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: patient %s does not exist", op, in.PatientID), ErrTypePatientNotFound, err)
	}
	if err != nil {
		return SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
	}
	record := store.Communication{JourneyID: in.JourneyID, Step: in.Step, PatientID: in.PatientID,
		Kind: in.Kind, TemplateID: in.TemplateID}
	save := func(c store.Communication) (SendSMSResult, error) {
		saved, err := a.Store.SaveCommunication(ctx, c)
		if err != nil {
			return SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
		}
		// Never the number or the body: the template, the kind and the outcome say enough.
		if activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Info("SMS outcome", "template", in.TemplateID, "kind", in.Kind, "status", saved.Status, "skip_reason", saved.SkipReason)
		}
		return smsResult(saved), nil
	}

	loc, err := time.LoadLocation(rcpt.Timezone)
	if err != nil {
		return SendSMSResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: patient %s has time zone %q: %v", op, in.PatientID, rcpt.Timezone, err), ErrTypeInvalidInput, err)
	}
	essential := in.Kind == SMSKindEssential
	switch {
	case rcpt.OptOut && !essential:
		record.Status, record.SkipReason = store.CommunicationSkipped, SkipOptedOut
		return save(record)
	case rcpt.Phone == "":
		record.Status, record.SkipReason = store.CommunicationSkipped, SkipNoValidNumber
		return save(record)
	}
	if !essential && rcpt.QuietStart != "" {
		until, err := quietUntil(a.now(), loc, rcpt.QuietStart, rcpt.QuietEnd)
		if err != nil {
			return SendSMSResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: patient %s: %v", op, in.PatientID, err), ErrTypeInvalidInput, err)
		}
		if !until.IsZero() {
			record.Status, record.NextAllowedAt = store.CommunicationDeferred, &until
			return save(record)
		}
	}

	if params.link != "" {
		if params.link, err = a.shortLink(ctx, linkScopeSMS, in.JourneyID, in.Step, params.link); err != nil {
			return SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	body := tmpl.render(params, loc, in.Kind)
	record.Status, record.Body = store.CommunicationSending, body
	claimed, err := a.Store.SaveCommunication(ctx, record)
	if err != nil {
		return SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
	}
	if claimed.Final() {
		return smsResult(claimed), nil // a concurrent attempt finished first
	}

	req := &twapi.CreateMessageParams{}
	req.SetTo(rcpt.Phone)
	req.SetBody(body)
	setSender(req, a.From)
	msg, err := a.Twilio.API(ctx).CreateMessage(req)
	if err != nil {
		var te *twclient.TwilioRestError
		switch {
		case errors.As(err, &te) && te.Code == 21610:
			record.Status, record.SkipReason, record.Body = store.CommunicationSkipped, SkipUnsubscribedAtCarrier, ""
			return save(record)
		case errors.As(err, &te) && te.Status >= 400 && te.Status < 500 && te.Status != 429:
			return SendSMSResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: twilio refused: error %d (HTTP %d)", op, te.Code, te.Status), ErrTypeSMSRejected, err)
		case errors.As(err, &te):
			return SendSMSResult{}, fmt.Errorf("%s: twilio error %d (HTTP %d)", op, te.Code, te.Status)
		}
		return SendSMSResult{}, fmt.Errorf("%s: twilio: %w", op, err)
	}
	record.Status = store.CommunicationSent
	if msg.Sid != nil {
		record.ProviderMessageID = *msg.Sid
	}
	if msg.Status != nil {
		record.ProviderStatus = *msg.Status
	}
	return save(record)
}

func (a *Messaging) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func smsResult(c store.Communication) SendSMSResult {
	r := SendSMSResult{MessageSID: c.ProviderMessageID, SkipReason: c.SkipReason}
	switch c.Status {
	case store.CommunicationSent:
		r.Status = SMSSent
	case store.CommunicationSkipped:
		r.Status = SMSSkipped
	default:
		r.Status = SMSDeferred
		if c.NextAllowedAt != nil {
			r.NextAllowedAt = *c.NextAllowedAt
		}
	}
	return r
}

// quietUntil returns when the quiet window that contains now ends, or the
// zero time if now is outside it. start and end are "HH:MM" wall-clock times
// in loc; a window whose end is not after its start spans midnight (22:00 to
// 07:00). Equal ends mean no quiet hours.
func quietUntil(now time.Time, loc *time.Location, start, end string) (time.Time, error) {
	s, err := minutesOfDay(start)
	if err != nil {
		return time.Time{}, err
	}
	e, err := minutesOfDay(end)
	if err != nil {
		return time.Time{}, err
	}
	if s == e {
		return time.Time{}, nil
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	var inside, endsTomorrow bool
	if s < e {
		inside = m >= s && m < e
	} else {
		inside = m >= s || m < e
		endsTomorrow = m >= s
	}
	if !inside {
		return time.Time{}, nil
	}
	day := local.Day()
	if endsTomorrow {
		day++
	}
	// time.Date normalises the day overflow at a month's end.
	until := time.Date(local.Year(), local.Month(), day, e/60, e%60, 0, 0, loc)
	if until.Hour()*60+until.Minute() != e {
		// The end falls in a gap the clocks skip (DST starts), and time.Date
		// picked the earlier offset, which can be before now. Move it by the
		// gap, to the same elapsed time under the new offset.
		_, before := until.Zone()
		_, after := until.Add(6 * time.Hour).Zone()
		until = until.Add(time.Duration(after-before) * time.Second)
	}
	if !until.After(now) {
		// Never answer "wait until now": the journey would loop without sleeping.
		until = now.Add(time.Minute)
	}
	return until.UTC(), nil
}

func minutesOfDay(hhmm string) (int, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return 0, fmt.Errorf("quiet hours %q: want HH:MM", hhmm)
	}
	return t.Hour()*60 + t.Minute(), nil
}
