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

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/store"
)

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
func (a *Messaging) checkSMS(in contract.SendSMSInput) (smsTemplate, smsParams, error) {
	t, ok := smsTemplates[in.TemplateID]
	if !ok {
		return t, smsParams{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("send sms: unknown template %q", in.TemplateID), contract.ErrTypeUnknownTemplate, nil)
	}
	bad := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError("send sms: "+fmt.Sprintf(format, args...), contract.ErrTypeInvalidInput, nil)
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
		return "", temporal.NewNonRetryableApplicationError("short link: "+err.Error(), contract.ErrTypeInvalidInput, err)
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
	if kind != contract.SMSKindEssential {
		body += stopFooter
	}
	return body
}

// SendSMS sends the step's message once. In order: a message already sent or
// skipped for this step is returned as it was; a non-essential message to a
// patient who opted out is skipped; a non-essential message inside the
// patient's quiet hours (in their time zone) is deferred with the time they
// end; otherwise the message is sent through Twilio and recorded with its SID.
func (a *Messaging) SendSMS(ctx context.Context, in contract.SendSMSInput) (contract.SendSMSResult, error) {
	const op = "send sms"
	if a.Twilio == nil || a.Store == nil {
		// Retryable on purpose: a correctly configured worker can pick it up.
		return contract.SendSMSResult{}, errors.New("send sms: this worker has no Twilio client or store (workers.Deps)")
	}
	if in.JourneyID == "" || in.Step == "" || in.PatientID == "" {
		return contract.SendSMSResult{}, temporal.NewNonRetryableApplicationError(op+": journey, step and patient are required", contract.ErrTypeInvalidInput, nil)
	}
	if in.Kind != contract.SMSKindReminder && in.Kind != contract.SMSKindNotification && in.Kind != contract.SMSKindEssential {
		return contract.SendSMSResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: unknown kind %q", op, in.Kind), contract.ErrTypeInvalidInput, nil)
	}
	tmpl, params, err := a.checkSMS(in)
	if err != nil {
		return contract.SendSMSResult{}, err
	}
	prev, err := a.Store.CommunicationByStep(ctx, in.JourneyID, in.Step)
	switch {
	case err == nil && prev.Final():
		return smsResult(prev), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return contract.SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
	}

	rcpt, err := a.Store.SMSRecipient(ctx, in.PatientID)
	if errors.Is(err, store.ErrPatientNotFound) {
		return contract.SendSMSResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: patient %s does not exist", op, in.PatientID), contract.ErrTypePatientNotFound, err)
	}
	if err != nil {
		return contract.SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
	}
	record := store.Communication{JourneyID: in.JourneyID, Step: in.Step, PatientID: in.PatientID,
		Kind: in.Kind, TemplateID: in.TemplateID}
	save := func(c store.Communication) (contract.SendSMSResult, error) {
		saved, err := a.Store.SaveCommunication(ctx, c)
		if err != nil {
			return contract.SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
		}
		// Never the number or the body: the template, the kind and the outcome say enough.
		if activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Info("SMS outcome", "template", in.TemplateID, "kind", in.Kind, "status", saved.Status, "skip_reason", saved.SkipReason)
		}
		return smsResult(saved), nil
	}

	loc, err := time.LoadLocation(rcpt.Timezone)
	if err != nil {
		return contract.SendSMSResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: patient %s has time zone %q: %v", op, in.PatientID, rcpt.Timezone, err), contract.ErrTypeInvalidInput, err)
	}
	essential := in.Kind == contract.SMSKindEssential
	switch {
	case rcpt.OptOut && !essential:
		record.Status, record.SkipReason = care.CommunicationSkipped, contract.SkipOptedOut
		return save(record)
	case rcpt.Phone == "":
		record.Status, record.SkipReason = care.CommunicationSkipped, contract.SkipNoValidNumber
		return save(record)
	}
	if !essential && rcpt.QuietStart != "" {
		until, err := quietUntil(a.now(), loc, rcpt.QuietStart, rcpt.QuietEnd)
		if err != nil {
			return contract.SendSMSResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: patient %s: %v", op, in.PatientID, err), contract.ErrTypeInvalidInput, err)
		}
		if !until.IsZero() {
			record.Status, record.NextAllowedAt = care.CommunicationDeferred, &until
			return save(record)
		}
	}

	if params.link != "" {
		if params.link, err = a.shortLink(ctx, linkScopeSMS, in.JourneyID, in.Step, params.link); err != nil {
			return contract.SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	body := tmpl.render(params, loc, in.Kind)
	record.Status, record.Body = care.CommunicationSending, body
	claimed, err := a.Store.SaveCommunication(ctx, record)
	if err != nil {
		return contract.SendSMSResult{}, fmt.Errorf("%s: %w", op, err)
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
			record.Status, record.SkipReason, record.Body = care.CommunicationSkipped, contract.SkipUnsubscribedAtCarrier, ""
			return save(record)
		case errors.As(err, &te) && te.Status >= 400 && te.Status < 500 && te.Status != 429:
			return contract.SendSMSResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: twilio refused: error %d (HTTP %d)", op, te.Code, te.Status), contract.ErrTypeSMSRejected, err)
		case errors.As(err, &te):
			return contract.SendSMSResult{}, fmt.Errorf("%s: twilio error %d (HTTP %d)", op, te.Code, te.Status)
		}
		return contract.SendSMSResult{}, fmt.Errorf("%s: twilio: %w", op, err)
	}
	record.Status = care.CommunicationSent
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

func smsResult(c store.Communication) contract.SendSMSResult {
	r := contract.SendSMSResult{MessageSID: c.ProviderMessageID, SkipReason: c.SkipReason}
	switch c.Status {
	case care.CommunicationSent:
		r.Status = contract.SMSSent
	case care.CommunicationSkipped:
		r.Status = contract.SMSSkipped
	default:
		r.Status = contract.SMSDeferred
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
