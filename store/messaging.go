package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SMS: a patient's preferences (opt-out, quiet hours) and the record of
// every outbound message, one per journey step.

// ErrPatientNotFound is returned for a patient ID that is not registered.
var ErrPatientNotFound = errors.New("patient not found")

// Quiet hours of a patient who has no preference recorded: no messages
// between 22:00 and 07:00 in the patient's time zone. The seed records the
// same window for every demo patient.
const (
	DefaultQuietHoursStart = "22:00"
	DefaultQuietHoursEnd   = "07:00"
)

// SMSRecipient is what sending an SMS needs to know about a patient.
type SMSRecipient struct {
	PatientID string
	Phone     string // E.164, e.g. +919000000001
	Timezone  string // IANA, e.g. Asia/Kolkata
	OptOut    bool
	// QuietStart and QuietEnd are "HH:MM" local times; both empty when the
	// patient has chosen no quiet hours.
	QuietStart, QuietEnd string
}

// e164 is the shape of an international number after NormalizePhone.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// NormalizePhone reduces a phone number as people write it ("+91-90000-00001",
// "+91 90000 00001") to the E.164 form Twilio uses ("+919000000001"). It
// returns "" for anything that is not an international number.
func NormalizePhone(raw string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(raw) {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == ' ' || r == '(' || r == ')' || r == '.':
		default:
			return ""
		}
	}
	if !e164.MatchString(b.String()) {
		return ""
	}
	return b.String()
}

// normalizedPhoneSQL is NormalizePhone's digits rule in SQL, for matching an
// inbound number against patient.phone as the seed and intake write it.
const normalizedPhoneSQL = `regexp_replace(p.phone, '[^0-9+]', '', 'g')`

// SMSRecipient returns the patient's number, time zone and preferences. A
// patient with no preference row gets the defaults: opted in, quiet hours
// DefaultQuietHoursStart to DefaultQuietHoursEnd.
func (s *Store) SMSRecipient(ctx context.Context, patientID string) (SMSRecipient, error) {
	if !validUUID(patientID) {
		return SMSRecipient{}, fmt.Errorf("store: sms recipient %s: %w", patientID, ErrPatientNotFound)
	}
	var r SMSRecipient
	var hasPref bool
	var start, end *string
	err := s.Pool.QueryRow(ctx, `
		SELECT p.id::text, p.phone, p.timezone, sp.patient_id IS NOT NULL, coalesce(sp.sms_opt_out, false),
			to_char(sp.quiet_hours_start, 'HH24:MI'), to_char(sp.quiet_hours_end, 'HH24:MI')
		FROM patient p LEFT JOIN sms_preference sp ON sp.patient_id = p.id
		WHERE p.id = $1`, patientID).
		Scan(&r.PatientID, &r.Phone, &r.Timezone, &hasPref, &r.OptOut, &start, &end)
	if errors.Is(err, pgx.ErrNoRows) {
		return SMSRecipient{}, fmt.Errorf("store: sms recipient %s: %w", patientID, ErrPatientNotFound)
	}
	if err != nil {
		return SMSRecipient{}, fmt.Errorf("store: sms recipient %s: %w", patientID, err)
	}
	r.Phone = NormalizePhone(r.Phone)
	switch {
	case !hasPref:
		r.QuietStart, r.QuietEnd = DefaultQuietHoursStart, DefaultQuietHoursEnd
	case start != nil && end != nil:
		r.QuietStart, r.QuietEnd = *start, *end
	}
	return r, nil
}

// SetSMSOptOut records an inbound STOP (optOut true) or START (false) from a
// phone number for every patient registered with that number, and returns
// how many patients it applies to. source is the inbound message's ID.
func (s *Store) SetSMSOptOut(ctx context.Context, phone string, optOut bool, source string) (int64, error) {
	n := NormalizePhone(phone)
	if n == "" {
		return 0, nil
	}
	tag, err := s.Pool.Exec(ctx, `
		INSERT INTO sms_preference (patient_id, sms_opt_out, opt_out_changed_at, opt_out_source, quiet_hours_start, quiet_hours_end)
		SELECT p.id, $2, now(), $3, $4::time, $5::time FROM patient p WHERE `+normalizedPhoneSQL+` = $1
		ON CONFLICT (patient_id) DO UPDATE SET sms_opt_out = EXCLUDED.sms_opt_out,
			opt_out_changed_at = EXCLUDED.opt_out_changed_at, opt_out_source = EXCLUDED.opt_out_source`,
		n, optOut, source, DefaultQuietHoursStart, DefaultQuietHoursEnd)
	if err != nil {
		return 0, fmt.Errorf("store: set sms opt-out: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SetQuietHours records a patient's quiet hours ("HH:MM" local times; both
// empty for none), keeping the opt-out as it is.
func (s *Store) SetQuietHours(ctx context.Context, patientID, start, end string) error {
	if (start == "") != (end == "") {
		return fmt.Errorf("store: set quiet hours: give both ends or neither: %w", ErrInvalid)
	}
	var st, en *string
	if start != "" {
		st, en = &start, &end
	}
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO sms_preference (patient_id, quiet_hours_start, quiet_hours_end) VALUES ($1, $2::time, $3::time)
		ON CONFLICT (patient_id) DO UPDATE SET quiet_hours_start = EXCLUDED.quiet_hours_start, quiet_hours_end = EXCLUDED.quiet_hours_end`,
		patientID, st, en)
	if IsForeignKeyViolation(err) {
		return fmt.Errorf("store: set quiet hours %s: %w", patientID, ErrPatientNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: set quiet hours %s: %w", patientID, err)
	}
	return nil
}

// Communication is one outbound message of a journey step.
type Communication struct {
	ID                string     `json:"id"`
	JourneyID         string     `json:"journey_id"`
	Step              string     `json:"step"`
	PatientID         string     `json:"patient_id"`
	Kind              string     `json:"kind"`
	TemplateID        string     `json:"template_id"`
	Body              string     `json:"-"`
	Status            string     `json:"status"`
	SkipReason        string     `json:"skip_reason,omitempty"`
	NextAllowedAt     *time.Time `json:"next_allowed_at,omitempty"`
	ProviderMessageID string     `json:"provider_message_id,omitempty"`
	ProviderStatus    string     `json:"provider_status,omitempty"`
	Attempts          int        `json:"attempts"`
	SentAt            *time.Time `json:"sent_at,omitempty"`
}

const communicationColumns = `id::text, journey_id, step, patient_id::text, kind, template_id, body, status,
	coalesce(skip_reason, ''), next_allowed_at, coalesce(provider_message_id, ''), coalesce(provider_status, ''), attempts, sent_at`

func scanCommunication(row pgx.Row) (Communication, error) {
	var c Communication
	err := row.Scan(&c.ID, &c.JourneyID, &c.Step, &c.PatientID, &c.Kind, &c.TemplateID, &c.Body, &c.Status,
		&c.SkipReason, &c.NextAllowedAt, &c.ProviderMessageID, &c.ProviderStatus, &c.Attempts, &c.SentAt)
	c.NextAllowedAt, c.SentAt = utcPtr(c.NextAllowedAt), utcPtr(c.SentAt)
	return c, err
}

// Final reports whether the message's outcome is settled: sent or skipped.
func (c Communication) Final() bool {
	return c.Status == CommunicationSent || c.Status == CommunicationSkipped
}

// CommunicationByStep returns the message of a journey step, or ErrNotFound.
func (s *Store) CommunicationByStep(ctx context.Context, journeyID, step string) (Communication, error) {
	c, err := scanCommunication(s.Pool.QueryRow(ctx, `SELECT `+communicationColumns+` FROM communication
		WHERE journey_id = $1 AND step = $2`, journeyID, step))
	if errors.Is(err, pgx.ErrNoRows) {
		return Communication{}, fmt.Errorf("store: communication %s/%s: %w", journeyID, step, ErrNotFound)
	}
	if err != nil {
		return Communication{}, fmt.Errorf("store: communication %s/%s: %w", journeyID, step, err)
	}
	return c, nil
}

// SaveCommunication writes the step's message in its new state, unless the
// step's message is already final (sent or skipped): then it returns that
// one unchanged, and the caller must not send. Moving to "sending" counts an
// attempt.
func (s *Store) SaveCommunication(ctx context.Context, c Communication) (Communication, error) {
	if err := needIDs(c.JourneyID, c.Step, c.PatientID, c.Kind, c.TemplateID, c.Status); err != nil {
		return Communication{}, fmt.Errorf("store: save communication: %w", err)
	}
	attempt := 0
	if c.Status == CommunicationSending {
		attempt = 1
	}
	var sentAt *time.Time
	if c.Status == CommunicationSent {
		now := time.Now().UTC()
		sentAt = &now
	}
	out, err := scanCommunication(s.Pool.QueryRow(ctx, `
		INSERT INTO communication (id, journey_id, step, patient_id, kind, template_id, body, status, skip_reason,
			next_allowed_at, provider_message_id, provider_status, attempts, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, nullif($11, ''), nullif($12, ''), $13, $14)
		ON CONFLICT (journey_id, step) DO UPDATE SET body = EXCLUDED.body, status = EXCLUDED.status,
			skip_reason = EXCLUDED.skip_reason, next_allowed_at = EXCLUDED.next_allowed_at,
			provider_message_id = EXCLUDED.provider_message_id, provider_status = EXCLUDED.provider_status,
			attempts = communication.attempts + EXCLUDED.attempts, sent_at = EXCLUDED.sent_at, updated_at = now()
		WHERE communication.status NOT IN ('sent', 'skipped')
		RETURNING `+communicationColumns,
		uuid.NewString(), c.JourneyID, c.Step, c.PatientID, c.Kind, c.TemplateID, c.Body, c.Status, c.SkipReason,
		c.NextAllowedAt, c.ProviderMessageID, c.ProviderStatus, attempt, sentAt))
	if errors.Is(err, pgx.ErrNoRows) {
		// The step's message is final already: report it as it stands.
		return s.CommunicationByStep(ctx, c.JourneyID, c.Step)
	}
	if IsForeignKeyViolation(err) {
		return Communication{}, fmt.Errorf("store: save communication: patient %s: %w", c.PatientID, ErrPatientNotFound)
	}
	if err != nil {
		return Communication{}, fmt.Errorf("store: save communication %s/%s: %w", c.JourneyID, c.Step, err)
	}
	return out, nil
}
