package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carepath/carepath/activities/contract"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The Adherence workflow follows one medication request of a signed
// prescription for its whole course: a reminder at each dose time in the
// patient's time zone, the patient's answer (taken or skipped) to each dose,
// an alert to the care team after repeated doses not taken, a refill
// reminder before the supply runs out and refill requests within the
// prescription's refills. It continues as new every DosesPerRun doses (or
// when Temporal suggests it), so a year of reminders keeps each run's
// history to a few thousand events.

// Names of the adherence workflow and its messages.
const (
	AdherenceWorkflowName = "Adherence"
	// SignalDoseReport carries the patient's answer to a dose (DoseReport).
	SignalDoseReport = "dose_report"
	// UpdateRequestRefill asks for the next refill (RefillRequest); the
	// validator refuses when no refill is left or one is already pending.
	UpdateRequestRefill = "request_refill"
	// QueryAdherence answers AdherenceState.
	QueryAdherence = "adherence"
	// SignalAdherenceAlert goes from an adherence workflow to its journey
	// when the care team must look (AdherenceAlert).
	SignalAdherenceAlert = "adherence_alert"
)

// Dose answers and outcomes.
const (
	DoseTaken   = "taken"
	DoseSkipped = "skipped"
	DoseMissed  = "missed" // no answer before the next dose was due
)

// Adherence workflow statuses.
const (
	AdherenceActive    = "active"
	AdherenceCompleted = "completed"
)

// Defaults of AdherenceSettings.
const (
	DefaultMissedInARow   = 3
	DefaultRefillLeadDays = 5
	DefaultDosesPerRun    = 120
)

// DoseReport is the payload of SignalDoseReport. Dose is the dose's number;
// 0 means the dose open now. Only the open dose takes an answer, and only
// its first answer counts.
type DoseReport struct {
	Actor  Actor  `json:"actor"`
	Dose   int    `json:"dose,omitempty"`
	Action string `json:"action"` // DoseTaken or DoseSkipped
}

// RefillRequest is the payload of UpdateRequestRefill.
type RefillRequest struct {
	Actor Actor `json:"actor"`
}

// AdherenceAlert is the payload of SignalAdherenceAlert: Raised true when
// the patient has not taken NotTakenInARow doses in a row, false when they
// are back on track.
type AdherenceAlert struct {
	AdherenceID    string `json:"adherence_id"`
	Raised         bool   `json:"raised"`
	NotTakenInARow int    `json:"not_taken_in_a_row"`
	// Reason, when set, says why in place of the doses not taken (a
	// refill's alert; AdherenceID is then the refill's workflow).
	Reason string `json:"reason,omitempty"`
}

// AdherenceSettings tune the workflow; zero values take the defaults.
type AdherenceSettings struct {
	// MissedInARow doses not taken (missed or skipped) in a row alert the care team.
	MissedInARow int `json:"missed_in_a_row,omitempty"`
	// RefillLeadDays is how many days of supply are left when the refill reminder goes out.
	RefillLeadDays int `json:"refill_lead_days,omitempty"`
	// RefillTimeLimit is how long a refill order may take before the care
	// team is alerted (DefaultRefillTimeLimit when zero).
	RefillTimeLimit time.Duration `json:"refill_time_limit,omitempty"`
	// DosesPerRun is how many doses one run handles before continuing as new.
	DosesPerRun int `json:"doses_per_run,omitempty"`
	// ReminderTimes overrides the local clock times ("HH:MM", one per dose a day).
	ReminderTimes []string `json:"reminder_times,omitempty"`
	// Interval, when set, puts doses this far apart from the start instead
	// of at local clock times: for demos, end-to-end tests and benchmarks.
	Interval time.Duration `json:"interval,omitempty"`
}

func (s AdherenceSettings) withDefaults() AdherenceSettings {
	if s.MissedInARow <= 0 {
		s.MissedInARow = DefaultMissedInARow
	}
	if s.RefillLeadDays <= 0 {
		s.RefillLeadDays = DefaultRefillLeadDays
	}
	if s.DosesPerRun <= 0 {
		s.DosesPerRun = DefaultDosesPerRun
	}
	return s
}

// AdherenceInput starts the workflow for one medication request. It holds
// the schedule only, never the drug's name. State is nil on the first run
// and carries everything over on continue-as-new.
type AdherenceInput struct {
	JourneyID      string            `json:"journey_id"`
	PatientID      string            `json:"patient_id"`
	PrescriptionID string            `json:"prescription_id"`
	Position       int               `json:"position"`
	Frequency      string            `json:"frequency"`
	DurationDays   int               `json:"duration_days"`
	Quantity       int               `json:"quantity"`
	Refills        int               `json:"refills"`
	TimeZone       string            `json:"time_zone"` // IANA, the patient's
	Settings       AdherenceSettings `json:"settings"`
	State          *AdherenceState   `json:"state,omitempty"`
}

// OpenDose is the dose the patient may answer now.
type OpenDose struct {
	Number int       `json:"number"`
	DueAt  time.Time `json:"due_at"`
	Answer string    `json:"answer,omitempty"` // DoseTaken or DoseSkipped once answered
}

// RefillRecord is a refill the patient (or the care team) requested.
type RefillRecord struct {
	Number      int       `json:"number"` // 1 for the first refill
	RequestedBy string    `json:"requested_by"`
	Role        string    `json:"role"`
	At          time.Time `json:"at"`
}

// AdherenceState is what the query answers, and what continue-as-new carries.
type AdherenceState struct {
	ID             string    `json:"id"`
	JourneyID      string    `json:"journey_id"`
	PatientID      string    `json:"patient_id"`
	PrescriptionID string    `json:"prescription_id"`
	Position       int       `json:"position"`
	Status         string    `json:"status"`
	Run            int       `json:"run"` // 1 + the number of continue-as-new
	DosesPerDay    int       `json:"doses_per_day"`
	Schedule       doseClock `json:"schedule"`
	// TotalDoses are the doses the fills so far cover; NextDose is the
	// number of the next dose to fall due.
	TotalDoses int       `json:"total_doses"`
	NextDose   int       `json:"next_dose"`
	NextDoseAt time.Time `json:"next_dose_at,omitzero"`
	Open       *OpenDose `json:"open_dose,omitempty"`
	Taken      int       `json:"taken"`
	Skipped    int       `json:"skipped"`
	Missed     int       `json:"missed"`
	// Percent is the share of doses taken among those answered or past.
	Percent        float64 `json:"percent"`
	NotTakenInARow int     `json:"not_taken_in_a_row"`
	Escalations    int     `json:"escalations"`
	NeedsAttention bool    `json:"needs_attention"`
	LateReports    int     `json:"late_reports"` // answers for a dose that was not open
	// RemindersSent counts dose reminders sent; RemindersNotSent those
	// skipped (opt-out), held by quiet hours or failed.
	RemindersSent    int            `json:"reminders_sent"`
	RemindersNotSent int            `json:"reminders_not_sent"`
	Fills            int            `json:"fills"` // 1 + refills requested
	RefillsLeft      int            `json:"refills_left"`
	RefillRemindedAt int            `json:"refill_reminded_fill,omitempty"` // the fill whose refill reminder went out
	RefillRequests   []RefillRecord `json:"refill_requests"`
	// RefillOrders are the RefillOrder workflows started, one per refill.
	RefillOrders []string  `json:"refill_orders,omitempty"`
	SupplyEndsAt time.Time `json:"supply_ends_at,omitzero"`
}

// Adherence runs one medication request's reminders; see the file comment.
func Adherence(ctx workflow.Context, in AdherenceInput) (AdherenceState, error) {
	a, err := newAdherence(ctx, in)
	if err != nil {
		return AdherenceState{}, err
	}
	return a.run(ctx)
}

type adherence struct {
	in       AdherenceInput
	settings AdherenceSettings
	st       AdherenceState
	logger   log.Logger
	doses    workflow.ReceiveChannel
	// times[i] is when dose first+i falls due, for this run.
	first int
	times []time.Time
	// alert is an attention change the loop has yet to publish.
	alert *AdherenceAlert
}

func newAdherence(ctx workflow.Context, in AdherenceInput) (*adherence, error) {
	info := workflow.GetInfo(ctx)
	if err := in.validate(info.WorkflowExecution.ID); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, err)
	}
	a := &adherence{in: in, settings: in.Settings.withDefaults(),
		logger: log.With(workflow.GetLogger(ctx), "AdherenceID", info.WorkflowExecution.ID, "JourneyID", in.JourneyID),
		doses:  workflow.GetSignalChannel(ctx, SignalDoseReport)}
	if in.State != nil {
		a.st = *in.State
		a.st.Run++
	} else {
		perDay, _ := DosesPerDay(in.Frequency) // validated
		a.st = AdherenceState{ID: info.WorkflowExecution.ID, JourneyID: in.JourneyID, PatientID: in.PatientID,
			PrescriptionID: in.PrescriptionID, Position: in.Position, Status: AdherenceActive, Run: 1, DosesPerDay: perDay,
			NextDose: 1, Fills: 1, RefillsLeft: in.Refills, RefillRequests: []RefillRecord{}}
		a.st.TotalDoses = a.dosesPerFill()
	}
	if err := workflow.SetQueryHandler(ctx, QueryAdherence, func() (AdherenceState, error) { return a.st, nil }); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryAdherence, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRequestRefill, a.requestRefill,
		workflow.UpdateHandlerOptions{Validator: a.validateRefill}); err != nil {
		return nil, fmt.Errorf("register %s update: %w", UpdateRequestRefill, err)
	}
	return a, nil
}

func (in AdherenceInput) validate(workflowID string) error {
	var errs []error
	if !ValidPatientID(in.PatientID) || !uuidPattern.MatchString(in.PrescriptionID) {
		errs = append(errs, errors.New("patient_id and prescription_id must be lowercase UUIDs"))
	}
	if in.Position < 0 || in.DurationDays <= 0 || in.Quantity <= 0 || in.Refills < 0 {
		errs = append(errs, errors.New("position and refills must not be negative, duration_days and quantity must be positive"))
	}
	perDay, err := DosesPerDay(in.Frequency)
	if err != nil {
		errs = append(errs, err)
	} else if _, err := doseSlots(perDay, in.Settings.ReminderTimes); err != nil {
		errs = append(errs, err)
	}
	if in.TimeZone == "" || in.JourneyID == "" {
		errs = append(errs, errors.New("journey_id and time_zone are required"))
	}
	if len(errs) == 0 && workflowID != AdherenceWorkflowID(in.PatientID, in.PrescriptionID, in.Position) {
		errs = append(errs, fmt.Errorf("workflow ID %q does not match the input", workflowID))
	}
	return errors.Join(errs...)
}

// dosesPerFill is how many doses one fill covers: the course's days, or
// fewer when the quantity dispensed runs out first (one unit per dose).
func (a *adherence) dosesPerFill() int {
	return min(a.st.DosesPerDay*a.in.DurationDays, a.in.Quantity)
}

func (a *adherence) run(ctx workflow.Context) (AdherenceState, error) {
	// Later runs inherit the search attributes (the SDK carries them over
	// on continue-as-new); only a change of attention upserts again.
	if a.st.Run == 1 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, PatientIDKey.ValueSet(a.st.PatientID),
			NeedsAttentionKey.ValueSet(false)); err != nil {
			return a.st, fmt.Errorf("upsert search attributes: %w", err)
		}
	}
	if err := a.planRun(ctx); err != nil {
		return a.st, err
	}
	for handled := 0; ; handled++ {
		n := a.st.NextDose
		a.st.NextDoseAt = a.times[n-a.first]
		a.updateSupply()
		if err := a.waitUntil(ctx, a.st.NextDoseAt); err != nil {
			return a.st, err
		}
		a.closeOpenDose()
		a.publishAlert(ctx)
		if n > a.st.TotalDoses {
			break // the last dose's window has closed and no refill came
		}
		a.openDose(ctx, n)
		if handled+1 >= a.settings.DosesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return a.st, a.continueAsNew(ctx)
		}
	}
	a.st.Status, a.st.NextDoseAt = AdherenceCompleted, time.Time{}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return a.st, err
	}
	a.logger.Info("Adherence course ended", "Taken", a.st.Taken, "Skipped", a.st.Skipped, "Missed", a.st.Missed)
	return a.st, nil
}

// runSchedule is what a run's SideEffect records: the schedule's anchor
// and the due times of the run's doses, plus one more (when the last
// dose's window closes).
type runSchedule struct {
	Clock doseClock   `json:"clock"`
	Times []time.Time `json:"times"`
	Err   string      `json:"err,omitempty"`
}

// planRun computes this run's dose times in the patient's time zone. It
// runs in a SideEffect: time zone rules come from the worker's tz
// database, which may change between releases, so the answer is recorded
// once and replayed from history.
func (a *adherence) planRun(ctx workflow.Context) error {
	a.first = a.st.NextDose
	count := a.settings.DosesPerRun + 1
	started := a.st.Run > 1 // later runs keep the first run's anchor
	clock, now := a.st.Schedule, workflow.Now(ctx)
	perDay, tz, settings := a.st.DosesPerDay, a.in.TimeZone, a.settings
	var rs runSchedule
	err := workflow.SideEffect(ctx, func(workflow.Context) any {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return runSchedule{Err: fmt.Sprintf("time zone %q: %v", tz, err)}
		}
		if !started {
			slots, err := doseSlots(perDay, settings.ReminderTimes)
			if err != nil {
				return runSchedule{Err: err.Error()}
			}
			clock = newDoseClock(now, loc, slots, settings.Interval)
		}
		times, err := clock.doseTimes(a.first, count, loc)
		if err != nil {
			return runSchedule{Err: err.Error()}
		}
		return runSchedule{Clock: clock, Times: times}
	}).Get(&rs)
	if err != nil {
		return fmt.Errorf("plan doses: %w", err)
	}
	if rs.Err != "" {
		return temporal.NewNonRetryableApplicationError("plan doses: "+rs.Err, ErrTypeInvalidInput, nil)
	}
	a.st.Schedule, a.times = rs.Clock, rs.Times
	return nil
}

// waitUntil sleeps until at, taking the patient's answers meanwhile.
func (a *adherence) waitUntil(ctx workflow.Context, at time.Time) error {
	d := at.Sub(workflow.Now(ctx))
	if d <= 0 {
		a.drainReports()
		return nil
	}
	fired := false
	var timerErr error
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(ctx, d), func(f workflow.Future) { fired, timerErr = true, f.Get(ctx, nil) })
	sel.AddReceive(a.doses, func(c workflow.ReceiveChannel, _ bool) {
		var r DoseReport
		c.Receive(ctx, &r)
		a.report(r)
	})
	for !fired {
		sel.Select(ctx)
	}
	return timerErr
}

// drainReports takes every answer already delivered.
func (a *adherence) drainReports() {
	for {
		var r DoseReport
		if !a.doses.ReceiveAsync(&r) {
			return
		}
		a.report(r)
	}
}

// report applies the patient's answer to the open dose.
func (a *adherence) report(r DoseReport) {
	o := a.st.Open
	if o == nil || o.Answer != "" || (r.Dose != 0 && r.Dose != o.Number) || (r.Action != DoseTaken && r.Action != DoseSkipped) {
		a.st.LateReports++
		return
	}
	o.Answer = r.Action
	if r.Action == DoseTaken {
		a.st.Taken++
	} else {
		a.st.Skipped++
	}
	a.updatePercent()
}

// closeOpenDose ends the open dose's window: unanswered, it was missed.
// Doses not taken in a row alert the care team once the threshold is
// reached; a dose taken afterwards clears the alert.
func (a *adherence) closeOpenDose() {
	o := a.st.Open
	if o == nil {
		return
	}
	a.st.Open = nil
	if o.Answer == "" {
		o.Answer = DoseMissed
		a.st.Missed++
		a.updatePercent()
	}
	if o.Answer == DoseTaken {
		a.st.NotTakenInARow = 0
		if a.st.NeedsAttention {
			a.st.NeedsAttention = false
			a.alert = &AdherenceAlert{AdherenceID: a.st.ID, Raised: false}
		}
		return
	}
	a.st.NotTakenInARow++
	if a.st.NotTakenInARow == a.settings.MissedInARow {
		a.st.NeedsAttention = true
		a.st.Escalations++
		a.alert = &AdherenceAlert{AdherenceID: a.st.ID, Raised: true, NotTakenInARow: a.st.NotTakenInARow}
		a.logger.Warn("Doses not taken in a row; alerting the care team", "InARow", a.st.NotTakenInARow)
	}
}

// publishAlert shows an attention change in the Temporal UI
// (NeedsAttention on this workflow) and tells the journey, which alerts its
// coordinator. A journey that has ended cannot be told; the search
// attribute still shows the alert.
func (a *adherence) publishAlert(ctx workflow.Context) {
	al := a.alert
	if al == nil {
		return
	}
	a.alert = nil
	if err := workflow.UpsertTypedSearchAttributes(ctx, NeedsAttentionKey.ValueSet(al.Raised)); err != nil {
		a.logger.Error("Upserting NeedsAttention failed", "Error", err)
	}
	if err := workflow.SignalExternalWorkflow(ctx, a.in.JourneyID, "", SignalAdherenceAlert, *al).Get(ctx, nil); err != nil {
		a.logger.Warn("The journey could not be told about adherence", "Error", err)
	}
}

func (a *adherence) updatePercent() {
	if n := a.st.Taken + a.st.Skipped + a.st.Missed; n > 0 {
		a.st.Percent = float64(a.st.Taken*1000/n) / 10
	}
}

// updateSupply sets when the fills so far run out: when the dose after
// the last one covered would be due.
func (a *adherence) updateSupply() {
	if i := a.st.TotalDoses + 1 - a.first; i >= 0 && i < len(a.times) {
		a.st.SupplyEndsAt = a.times[i]
	}
}

// reminderOptions: a dose reminder more than 15 minutes late is not worth sending.
func reminderOptions(ctx workflow.Context) workflow.Context {
	o := contract.SMSActivityOptions()
	o.ScheduleToCloseTimeout = 15 * time.Minute
	return workflow.WithActivityOptions(ctx, o)
}

// openDose opens dose n and reminds the patient; once the supply is low
// and a refill is left, the refill reminder goes too.
func (a *adherence) openDose(ctx workflow.Context, n int) {
	a.st.Open = &OpenDose{Number: n, DueAt: a.st.NextDoseAt}
	a.st.NextDose = n + 1
	if a.sendReminder(ctx, fmt.Sprintf("dose-%d", n), "medication_reminder", a.st.NextDoseAt) {
		a.st.RemindersSent++
	} else {
		a.st.RemindersNotSent++
	}
	lead := a.settings.RefillLeadDays * a.st.DosesPerDay
	if a.st.RefillsLeft > 0 && a.st.RefillRemindedAt != a.st.Fills && n >= a.st.TotalDoses-lead {
		a.st.RefillRemindedAt = a.st.Fills
		a.sendReminder(ctx, fmt.Sprintf("refill-%d", a.st.Fills), "refill_reminder", a.supplyEnd())
	}
}

// supplyEnd is when the supply runs out, as far as this run can tell.
func (a *adherence) supplyEnd() time.Time {
	a.updateSupply()
	if a.st.SupplyEndsAt.IsZero() {
		return a.st.NextDoseAt
	}
	return a.st.SupplyEndsAt
}

// sendReminder sends one SMS, once per key, and reports whether it went. A
// reminder that is held by quiet hours, skipped or failed is not retried:
// the next dose has its own.
func (a *adherence) sendReminder(ctx workflow.Context, key, template string, at time.Time) bool {
	var res contract.SendSMSResult
	err := workflow.ExecuteActivity(reminderOptions(ctx), contract.SendSMS, contract.SendSMSInput{
		JourneyID: a.in.JourneyID, Step: a.st.ID + ":" + key, PatientID: a.st.PatientID, Kind: contract.SMSKindReminder,
		TemplateID: template, Params: map[string]string{"at": at.Format(time.RFC3339), "link": "/adherence/" + a.st.ID},
	}).Get(ctx, &res)
	if err != nil {
		a.logger.Warn("Reminder not sent", "Key", key, "Error", err)
	}
	return err == nil && res.Status == contract.SMSSent
}

func (a *adherence) validateRefill(req RefillRequest) error {
	switch {
	case a.st.Status != AdherenceActive:
		return temporal.NewApplicationError("the course has ended", ErrTypeJourneyNotActive)
	case a.st.RefillsLeft == 0:
		return temporal.NewApplicationError("the prescription has no refills left; ask the doctor for a new one", ErrTypeNotAwaitingThat)
	case a.st.TotalDoses-a.st.NextDose+1 > a.dosesPerFill()+a.settings.RefillLeadDays*a.st.DosesPerDay:
		return temporal.NewApplicationError("a refill was requested already and the supply lasts beyond the next one", ErrTypeNotAwaitingThat)
	case req.Actor.ID == "" || req.Actor.Role == "":
		return temporal.NewApplicationError("the request names no actor", ErrTypeInvalidMessage)
	}
	return nil
}

// requestRefill records the refill in PostgreSQL (which checks it against
// medication_request.refills) and extends the course by one fill.
func (a *adherence) requestRefill(ctx workflow.Context, req RefillRequest) (AdherenceState, error) {
	number := a.st.Fills // the first refill is the second fill
	a.st.RefillsLeft--
	a.st.Fills++
	at := workflow.Now(ctx)
	a.st.RefillRequests = append(a.st.RefillRequests, RefillRecord{Number: number, RequestedBy: req.Actor.ID, Role: req.Actor.Role, At: at})
	a.st.TotalDoses += a.dosesPerFill()
	err := workflow.ExecuteActivity(dbOptions(ctx), contract.RecordRefillRequest, contract.RecordRefillInput{
		PrescriptionID: a.st.PrescriptionID, Position: a.st.Position, Number: number, PatientID: a.st.PatientID,
		ActorID: req.Actor.ID, ActorRole: req.Actor.Role, RequestedAt: at,
	}).Get(ctx, nil)
	if err != nil {
		// Undo: the refill is not on record, so it did not happen.
		a.st.RefillsLeft++
		a.st.Fills--
		a.st.RefillRequests = a.st.RefillRequests[:len(a.st.RefillRequests)-1]
		a.st.TotalDoses -= a.dosesPerFill()
		return a.st, err
	}
	a.updateSupply()
	a.logger.Info("Refill requested", "Number", number)
	// Courses that began before refills were ordered from a pharmacy
	// replay without the order.
	if workflow.GetVersion(ctx, "refill-order", workflow.DefaultVersion, 1) == 1 {
		a.orderRefill(ctx, number)
	}
	return a.st, nil
}

// orderRefill starts the RefillOrder workflow that sends refill number to
// a pharmacy. It outlives the course (ABANDON): a refill already ordered is
// delivered even if the course ends. A refill whose order cannot start is
// still on record; the care team is alerted through the journey.
func (a *adherence) orderRefill(ctx workflow.Context, number int) {
	id := RefillOrderWorkflowID(workflow.GetInfo(ctx).WorkflowExecution.ID, number)
	child := workflow.ExecuteChildWorkflow(abandonedChild(ctx, id, a.st.PatientID), RefillOrderWorkflowName, RefillOrderInput{
		JourneyID: a.in.JourneyID, PatientID: a.st.PatientID, PrescriptionID: a.st.PrescriptionID, Position: a.st.Position,
		Number: number, TimeLimit: a.settings.RefillTimeLimit,
	})
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		a.logger.Error("Refill order not started", "Number", number, "Error", err)
		al := AdherenceAlert{AdherenceID: id, Raised: true, Reason: fmt.Sprintf("refill %d could not be ordered", number)}
		if err := workflow.SignalExternalWorkflow(ctx, a.in.JourneyID, "", SignalAdherenceAlert, al).Get(ctx, nil); err != nil {
			a.logger.Warn("The journey could not be told about the refill", "Error", err)
		}
		return
	}
	a.st.RefillOrders = append(a.st.RefillOrders, id)
}

// continueAsNew hands the state to a fresh run once every answer delivered
// so far is counted and every update handler has finished.
func (a *adherence) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	a.drainReports()
	next := a.in
	st := a.st
	next.State = &st
	a.logger.Info("Continuing as new", "Run", a.st.Run, "NextDose", a.st.NextDose)
	return workflow.NewContinueAsNewError(ctx, AdherenceWorkflowName, next)
}

// AdherenceWorkflowID is the workflow ID of the adherence workflow for the
// medication request at position of a prescription. The patient's ID leads,
// so access to it is decided like a journey's.
func AdherenceWorkflowID(patientID, prescriptionID string, position int) string {
	return fmt.Sprintf("adherence:%s:%s:%d", patientID, prescriptionID, position)
}

// ErrBadAdherenceID is returned by ParseAdherenceWorkflowID.
var ErrBadAdherenceID = errors.New("not an adherence ID (want adherence:PATIENT:PRESCRIPTION:POSITION)")

// ParseAdherenceWorkflowID splits an adherence workflow ID into its parts.
func ParseAdherenceWorkflowID(id string) (patientID, prescriptionID string, position int, err error) {
	parts := strings.Split(id, ":")
	if len(parts) != 4 || parts[0] != "adherence" || !ValidPatientID(parts[1]) || !uuidPattern.MatchString(parts[2]) {
		return "", "", 0, ErrBadAdherenceID
	}
	var p int
	if _, err := fmt.Sscanf(parts[3], "%d", &p); err != nil || p < 0 || fmt.Sprint(p) != parts[3] {
		return "", "", 0, ErrBadAdherenceID
	}
	return parts[1], parts[2], p, nil
}
