package api

// The HealthLink endpoints: an older contract integrators already use,
// served with its exact paths, parameters and response fields over the same
// services as the v1 API. Parameters come as query parameters on GET and as
// a JSON object or form fields on POST (requestParams reads all three).
// Dates and times ("2024-02-15", "10:30 AM") are wall-clock times in the
// time zone of the doctor's schedule (their clinic's zone). Amounts are in
// the currency's major unit with two decimals (2000.00). Who may call each
// route, and for which patient or doctor, is decided in access.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/carepath/carepath/auth"
	"github.com/carepath/carepath/journeys"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// HealthLink route paths.
const (
	hlBookPath       = "/api/book/appointment/"
	hlCancelPath     = "/api/cancel/appointment/"
	hlEarningsPath   = "/api/doctor/earnings/"
	hlWithdrawPath   = "/api/withdraw/earnings/"
	hlRequestsPath   = "/api/doctor/appointment/requests/"
	hlAcceptPath     = "/api/accept/appointment/request/"
	hlRejectPath     = "/api/reject/appointment/request/"
	hlPurchasePath   = "/api/purchase/medicine/"
	hlConsultPathway = "general-consult"
)

func (s *Server) healthLinkRoutes(r gin.IRoutes) {
	r.POST(hlBookPath, s.hlBookAppointment)
	r.POST(hlCancelPath, s.hlCancelAppointment)
	r.GET(hlEarningsPath, s.hlDoctorEarnings)
	r.POST(hlWithdrawPath, s.hlWithdrawEarnings)
	r.GET(hlRequestsPath, s.hlAppointmentRequests)
	r.POST(hlAcceptPath, func(c *gin.Context) { s.hlAnswerRequest(c, "accepted") })
	r.POST(hlRejectPath, func(c *gin.Context) { s.hlAnswerRequest(c, "rejected") })
	r.POST(hlPurchasePath, s.hlPurchaseMedicine)
}

const paramsCtxKey = "carepath.healthlink.params"

type parsedParams struct {
	values map[string]string
	err    error
}

// requestParams is the one binding helper of the HealthLink routes: the
// query string on GET, a JSON object or form fields on POST, as strings.
// The result is kept on the request, so the access layer and the handler
// read the body once.
func requestParams(c *gin.Context) (map[string]string, error) {
	if v, ok := c.Get(paramsCtxKey); ok {
		p := v.(parsedParams)
		return p.values, p.err
	}
	values, err := readParams(c)
	c.Set(paramsCtxKey, parsedParams{values, err})
	return values, err
}

// readParams takes the values parseRequest read (api/request.go), so the
// HealthLink handlers bind exactly what the access rule saw.
func readParams(c *gin.Context) (map[string]string, error) {
	req := parsedFrom(c)
	switch {
	case c.Request.Method == http.MethodGet:
		return maps.Clone(req.query), nil
	case req.form != nil:
		return maps.Clone(req.form), nil
	case req.members == nil && len(bytes.TrimSpace(req.body)) > 0:
		return nil, &malformedError{detail: "the body is neither form fields nor a JSON object"}
	}
	values := make(map[string]string, len(req.members))
	var fields []FieldError
	for k, v := range req.members {
		var str string
		var num json.Number
		switch {
		case json.Unmarshal(v, &str) == nil && !usableText(str):
			fields = append(fields, FieldError{Pointer: "/" + k, Detail: "holds a NUL byte"})
		case json.Unmarshal(v, &str) == nil:
			values[k] = str
		case json.Unmarshal(v, &num) == nil:
			values[k] = num.String()
		default:
			fields = append(fields, FieldError{Pointer: "/" + k, Detail: "must be a string or a number"})
		}
	}
	if len(fields) > 0 {
		slices.SortFunc(fields, func(a, b FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
		return nil, &invalidError{fields: fields}
	}
	return values, nil
}

// bindParams reads the request's parameters and refuses any not in names.
func bindParams(c *gin.Context, names ...string) (map[string]string, error) {
	values, err := requestParams(c)
	if err != nil {
		return nil, err
	}
	var fields []FieldError
	for k := range values {
		if !slices.Contains(names, k) {
			fields = append(fields, FieldError{Pointer: "/" + k, Detail: "is not a parameter of this operation"})
		}
	}
	if len(fields) > 0 {
		slices.SortFunc(fields, func(a, b FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
		return nil, &invalidError{fields: fields}
	}
	return values, nil
}

// checker collects field errors while a handler reads its parameters.
type checker struct {
	values map[string]string
	fields []FieldError
}

func (v *checker) fail(name, detail string) {
	v.fields = append(v.fields, FieldError{Pointer: "/" + name, Detail: detail})
}

func (v *checker) text(name string, maxLen int) string {
	s := strings.TrimSpace(v.values[name])
	switch {
	case s == "":
		v.fail(name, "is required")
	case len(s) > maxLen:
		v.fail(name, fmt.Sprintf("must be at most %d characters", maxLen))
	}
	return s
}

func (v *checker) id(name string) string {
	s := v.values[name]
	if !workflows.ValidPatientID(s) {
		v.fail(name, "must be an ID (a lowercase UUID)")
	}
	return s
}

func (v *checker) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &invalidError{fields: v.fields}
}

// money is an amount in minor units, written in major units with two
// decimals (a JSON number: 2000.00).
type money int64

func (m money) String() string {
	sign, n := "", int64(m)
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

func (m money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

var amountPattern = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,2})?$`)

// parseMoney reads "2000", "2000.5" or "2000.00" as minor units.
func parseMoney(s string) (money, bool) {
	if !amountPattern.MatchString(s) {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	return money(w*100 + f), true
}

// hlAppointment is the booking's answer.
type hlAppointment struct {
	ID              string `json:"id"`
	DoctorID        string `json:"doctor_id"`
	PatientName     string `json:"patient_name"`
	AppointmentDate string `json:"appointment_date"`
	AppointmentTime string `json:"appointment_time"`
	Status          string `json:"status"`
}

const (
	hlDateLayout = "2006-01-02"
	hlTimeLayout = "03:04 PM" // answers; requests may also say "3:04 pm" or "3:04PM"
)

// hlBookAppointment starts a general consultation journey on the doctor's
// slot at the given local date and time and answers once the journey holds
// the slot. The patient is the caller, or for coordinators, admins and
// integrators the patient registered with patient_email (access.go).
func (s *Server) hlBookAppointment(c *gin.Context) {
	values, err := bindParams(c, "doctor_id", "appointment_date", "appointment_time", "patient_name", "patient_email")
	if err != nil {
		s.writeError(c, err)
		return
	}
	v := &checker{values: values}
	doctorID := v.id("doctor_id")
	date, errDate := time.Parse(hlDateLayout, values["appointment_date"])
	if errDate != nil {
		v.fail("appointment_date", "must be a date, YYYY-MM-DD (2024-02-15), in the doctor's time zone")
	}
	// "10:30 AM", "9:05 pm" and "10:30am" all read the same.
	clock, errClock := time.Parse("3:04PM", strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(values["appointment_time"]), " ", "")))
	if errClock != nil {
		v.fail("appointment_time", `must be a time like "10:30 AM", in the doctor's time zone`)
	}
	v.text("patient_name", 200)
	email := v.text("patient_email", 254)
	if email != "" && !strings.Contains(email, "@") {
		v.fail("patient_email", "must be an email address")
	}
	if err := v.err(); err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	patient, err := s.hlBookingPatient(c, email)
	if err != nil {
		s.writeError(c, err)
		return
	}
	slot, err := s.store.SlotAtLocalTime(ctx, doctorID, date.Format(hlDateLayout), clock.Format("15:04"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/doctor_id", Detail: "no doctor has this ID"}}})
		return
	case errors.Is(err, store.ErrSlotNotFound):
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/appointment_time",
			Detail: "the doctor has no upcoming slot at this date and time (in the doctor's time zone)"}}})
		return
	case err != nil:
		s.writeError(c, err)
		return
	case slot.Status != store.SlotFree:
		s.writeError(c, &conflictError{detail: "this slot is already taken; choose another time"})
		return
	}
	plan, err := s.pathways.Get(hlConsultPathway, 0)
	if err != nil {
		s.writeError(c, fmt.Errorf("book: %w", err))
		return
	}
	started, err := s.startNextEpisode(ctx, workflows.JourneyInput{PatientID: patient.ID, PathwayID: hlConsultPathway, Plan: plan, SlotID: slot.ID})
	if err != nil {
		s.writeError(c, err)
		return
	}
	appt := started.Booking.Journey.Appointment
	if appt == nil {
		s.writeError(c, &conflictError{detail: "the booking did not go through: " + started.Booking.Journey.Outcome})
		return
	}
	loc, err := time.LoadLocation(slot.TimeZone)
	if err != nil {
		s.writeError(c, fmt.Errorf("book: time zone of slot %s: %w", slot.ID, err))
		return
	}
	local := appt.Start.In(loc)
	c.JSON(http.StatusCreated, gin.H{"appointment": hlAppointment{
		ID: appt.ID, DoctorID: appt.PractitionerID, PatientName: patient.Name,
		AppointmentDate: local.Format(hlDateLayout), AppointmentTime: local.Format(hlTimeLayout), Status: appt.Status,
	}})
}

// hlBookingPatient is the patient the access layer resolved for the
// booking; a patient booking for themselves must give their own email.
func (s *Server) hlBookingPatient(c *gin.Context, email string) (store.PatientContact, error) {
	o, _ := c.Get(ownerCtxKey)
	owner, _ := o.(objectOwner)
	if owner.patientID == "" {
		return store.PatientContact{}, &invalidError{fields: []FieldError{{Pointer: "/patient_email", Detail: "no patient is registered with this email"}}}
	}
	patient, err := s.store.GetPatientContact(c.Request.Context(), owner.patientID)
	if errors.Is(err, store.ErrNotFound) {
		return store.PatientContact{}, &invalidError{fields: []FieldError{{Pointer: "/patient_email", Detail: "no patient is registered for this account"}}}
	}
	if err != nil {
		return store.PatientContact{}, err
	}
	if !strings.EqualFold(patient.Email, email) {
		return store.PatientContact{}, &invalidError{fields: []FieldError{{Pointer: "/patient_email", Detail: "is not the email of the signed-in patient"}}}
	}
	return patient, nil
}

// hlBookingWait bounds how long a HealthLink booking waits for its slot;
// the contract answers with the appointment, so there is no answer without.
const hlBookingWait = 20 * time.Second

// startNextEpisode starts the patient's next journey on the pathway, which
// starts by booking, and answers once the slot is held (launchJourney). A
// journey started a moment ago may not be recorded yet, so a taken episode
// moves on to the next number.
func (s *Server) startNextEpisode(ctx context.Context, in workflows.JourneyInput) (journeys.Started, error) {
	episode, err := s.store.NextJourneyEpisode(ctx, in.PatientID, in.PathwayID)
	if err != nil {
		return journeys.Started{}, err
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	for try := 0; ; try++ {
		in.Episode = episode + try
		st, err := s.launchJourney(ctx, in, hlBookingWait)
		if err == nil && st.Booking == nil {
			return st, fmt.Errorf("book: journey %s did not hold its slot within %v", st.ID, hlBookingWait)
		}
		if err == nil {
			return st, nil
		}
		if !errors.As(err, &started) || try == 9 {
			return journeys.Started{}, err
		}
	}
}

// hlCancelAppointment cancels the appointment's journey; the journey
// refunds as the pathway's cancellation policy says and frees the slot.
func (s *Server) hlCancelAppointment(c *gin.Context) {
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	appt, err := s.hlAppointmentParam(c, "appointment_id")
	if err != nil {
		s.writeError(c, err)
		return
	}
	if appt.Status == store.AppointmentCancelled {
		s.writeError(c, &conflictError{detail: "the appointment is already cancelled"})
		return
	}
	state, err := s.journeys.Cancel(c.Request.Context(), appt.JourneyID,
		workflows.CancelRequest{Actor: actor, Reason: "cancelled through HealthLink"})
	err = notAtThatStep(err)
	var ended *serviceerror.NotFound
	if errors.As(err, &ended) {
		err = &conflictError{detail: "the appointment's journey has ended; it can no longer be cancelled"}
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	if state.Status == workflows.StatusCancelled {
		// The update answers once the journey is cancelled; the refund and
		// the freed slot follow. Answer when they are done.
		err = s.awaitCancelled(c.Request.Context(), appt)
	} else {
		err = fmt.Errorf("cancel %s: journey ended %s: %s", appt.JourneyID, state.Status, state.Outcome)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "cancelled", "message": "Appointment successfully cancelled."})
}

// awaitCancelled waits until the journey's compensation has cancelled the
// appointment in PostgreSQL (it refunds first, so the refund is recorded
// too). The journey may linger afterwards, sending its notice after the
// patient's quiet hours.
func (s *Server) awaitCancelled(ctx context.Context, appt store.Appointment) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		a, err := s.store.GetAppointment(ctx, appt.JourneyID, appt.ID)
		if err == nil && a.Status == store.AppointmentCancelled {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("appointment %s not cancelled yet: %w", appt.ID, ctx.Err())
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// hlAppointmentParam reads the one parameter of a route about an
// appointment and returns the appointment.
func (s *Server) hlAppointmentParam(c *gin.Context, name string) (store.Appointment, error) {
	values, err := bindParams(c, name)
	if err != nil {
		return store.Appointment{}, err
	}
	v := &checker{values: values}
	id := v.id(name)
	if err := v.err(); err != nil {
		return store.Appointment{}, err
	}
	appt, err := s.store.AppointmentByID(c.Request.Context(), id)
	if errors.Is(err, store.ErrAppointmentNotFound) {
		return store.Appointment{}, &notFoundError{detail: "no appointment has this " + name}
	}
	return appt, err
}

// hlDoctorParams reads doctor_id (and any other names) for a route about a
// doctor's own business.
func hlDoctorParams(c *gin.Context, names ...string) (*checker, string, error) {
	values, err := bindParams(c, append([]string{"doctor_id"}, names...)...)
	if err != nil {
		return nil, "", err
	}
	v := &checker{values: values}
	return v, v.id("doctor_id"), nil
}

// hlDoctorOnly reads the doctor_id of a route that takes nothing else.
func hlDoctorOnly(c *gin.Context) (string, error) {
	v, doctorID, err := hlDoctorParams(c)
	if err != nil {
		return "", err
	}
	return doctorID, v.err()
}

func unknownDoctor(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &invalidError{fields: []FieldError{{Pointer: "/doctor_id", Detail: "no doctor has this ID"}}}
	}
	return err
}

// hlDoctorEarnings answers from the earnings ledger (store/ledger.go).
func (s *Server) hlDoctorEarnings(c *gin.Context) {
	doctorID, err := hlDoctorOnly(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	e, err := s.store.DoctorEarnings(c.Request.Context(), doctorID)
	if err != nil {
		s.writeError(c, unknownDoctor(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"earnings": gin.H{
		"doctor_id": doctorID, "total_earnings": money(e.TotalMinor), "withdrawable_amount": money(e.WithdrawableMinor),
	}})
}

// hlWithdrawEarnings pays out part of the withdrawable earnings; the ledger
// refuses more than is withdrawable, however many requests race.
func (s *Server) hlWithdrawEarnings(c *gin.Context) {
	v, doctorID, err := hlDoctorParams(c, "amount")
	if err != nil {
		s.writeError(c, err)
		return
	}
	amount, ok := parseMoney(strings.TrimSpace(v.values["amount"]))
	if !ok || amount <= 0 {
		v.fail("amount", "must be a positive amount with at most two decimals, like 2000.00")
	}
	if err := v.err(); err != nil {
		s.writeError(c, err)
		return
	}
	_, err = s.store.Withdraw(c.Request.Context(), doctorID, int64(amount))
	if errors.Is(err, store.ErrInsufficientEarnings) {
		e, readErr := s.store.DoctorEarnings(c.Request.Context(), doctorID)
		if readErr != nil {
			s.writeError(c, readErr)
			return
		}
		s.writeError(c, &invalidError{fields: []FieldError{{Pointer: "/amount",
			Detail: "exceeds the withdrawable amount, " + money(e.WithdrawableMinor).String()}}})
		return
	}
	if err != nil {
		s.writeError(c, unknownDoctor(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "success", "message": "Earnings withdrawal successful. Amount: " + amount.String()})
}

type hlRequest struct {
	RequestID       string `json:"request_id"`
	PatientName     string `json:"patient_name"`
	AppointmentDate string `json:"appointment_date"`
	AppointmentTime string `json:"appointment_time"`
	Status          string `json:"status"` // pending, accepted, rejected
}

var requestStatus = map[string]string{
	store.ResponseNeedsAction: "pending", store.ResponseAccepted: "accepted", store.ResponseDeclined: "rejected",
}

// hlAppointmentRequests lists the doctor's upcoming appointments with the
// doctor's answer so far.
func (s *Server) hlAppointmentRequests(c *gin.Context) {
	doctorID, err := hlDoctorOnly(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	reqs, err := s.store.AppointmentRequests(c.Request.Context(), doctorID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]hlRequest, 0, len(reqs))
	for _, r := range reqs {
		touchedPatients(c, r.PatientID)
		out = append(out, hlRequest{RequestID: r.ID, PatientName: r.PatientName, AppointmentDate: r.Date,
			AppointmentTime: r.Time, Status: requestStatus[r.DoctorResponse]})
	}
	c.JSON(http.StatusOK, gin.H{"appointment_requests": out})
}

// hlAnswerRequest sends the doctor's decision to the journey's decide step
// that waits for the doctor; the journey's validator checks that the caller
// is the appointment's doctor.
func (s *Server) hlAnswerRequest(c *gin.Context, outcome string) {
	actor, err := actorFrom(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	appt, err := s.hlAppointmentParam(c, "request_id")
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	step, err := s.doctorDecisionStep(ctx, appt.JourneyID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if _, err := s.journeys.Decide(ctx, appt.JourneyID,
		workflows.DecideRequest{Actor: actor, StepID: step, Outcome: outcome}); err != nil {
		err = notAtThatStep(err)
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": outcome, "message": "Appointment request successfully " + outcome + "."})
}

// doctorDecisionStep is the step at which the journey waits for the doctor.
func (s *Server) doctorDecisionStep(ctx context.Context, journeyID string) (string, error) {
	state, err := s.journeys.State(ctx, journeyID)
	if err != nil {
		return "", err
	}
	for _, w := range state.Waiting {
		if w.For == auth.RoleDoctor {
			return w.StepID, nil
		}
	}
	return "", &conflictError{detail: "this appointment request is not waiting for the doctor's answer (not paid yet, or already answered)"}
}

// hlPurchaseMedicine buys a product for the patient, delivery pending.
func (s *Server) hlPurchaseMedicine(c *gin.Context) {
	values, err := bindParams(c, "patient_id", "medicine_name", "quantity")
	if err != nil {
		s.writeError(c, err)
		return
	}
	v := &checker{values: values}
	patientID := v.id("patient_id")
	name := v.text("medicine_name", 200)
	quantity, qErr := strconv.Atoi(strings.TrimSpace(values["quantity"]))
	if qErr != nil || quantity < 1 || quantity > 100 {
		v.fail("quantity", "must be a whole number from 1 to 100")
	}
	if err := v.err(); err != nil {
		s.writeError(c, err)
		return
	}
	p, err := s.store.PurchaseMedicine(c.Request.Context(), patientID, name, quantity)
	medicineErr := func(detail string) error {
		return &invalidError{fields: []FieldError{{Pointer: "/medicine_name", Detail: detail}}}
	}
	switch {
	case errors.Is(err, store.ErrProductNotFound):
		err = medicineErr("no product has this name")
	case errors.Is(err, store.ErrProductAmbiguous):
		err = medicineErr("several products match this name; give the full name")
	case errors.Is(err, store.ErrPrescriptionRequired):
		err = medicineErr("this medicine is prescription-only and the patient has no active signed prescription for it")
	case errors.Is(err, store.ErrNotFound):
		err = &invalidError{fields: []FieldError{{Pointer: "/patient_id", Detail: "no patient has this ID"}}}
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"medicine_purchase": gin.H{
		"purchase_id": p.ID, "patient_id": p.PatientID, "medicine_name": p.Name, "quantity": p.Quantity,
		"total_cost": money(p.TotalMinor), "delivery_status": p.DeliveryStatus,
	}})
}
