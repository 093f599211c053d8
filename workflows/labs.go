package workflows

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
)

// The lab_order step: the pathway's tests (with.tests) and the consult's
// lab_tests order are booked as lab orders; results come back through the
// record_lab_result update (the API's lab-results route), are stored as
// Observations, become labs.NAME in expressions, and a result outside its
// reference range is texted to the ordering doctor. A critical one also
// raises NeedsAttention. The step waits for every result within its time
// limit, and its on_timeout applies as for any waiting step; results that
// arrive later are still taken while the journey runs.

// UpdateRecordLabResult records the result of one of the journey's lab
// orders (from the laboratory's integration, a coordinator or the doctor).
const UpdateRecordLabResult = "record_lab_result"

// RecordLabResultRequest is the payload of UpdateRecordLabResult.
type RecordLabResultRequest struct {
	Actor  Actor              `json:"actor"`
	Result pathways.LabResult `json:"result"`
}

// LabOrderInfo is one booked test as the journey shows it.
type LabOrderInfo struct {
	OrderID        string    `json:"order_id"`
	Step           string    `json:"step"`
	LOINC          string    `json:"loinc_code"`
	Name           string    `json:"name"` // the expression name (labs.NAME)
	TestName       string    `json:"test_name"`
	Status         string    `json:"status"` // scheduled, resulted
	Value          *float64  `json:"value,omitempty"`
	Unit           string    `json:"unit,omitempty"`
	Interpretation string    `json:"interpretation,omitempty"` // N, L, H, LL, HH
	DoctorNotified bool      `json:"doctor_notified,omitempty"`
	ResultedAt     time.Time `json:"resulted_at,omitzero"`
}

// Roles that may report a lab result. Which patient's journey they may
// reach is the API's access rule (api/access.go).
var labReporters = []string{"doctor", "coordinator", "admin", "integrator"}

var (
	loincCode = regexp.MustCompile(`^[0-9]{1,7}-[0-9]$`)
)

// runLabOrder books the tests and waits for their results.
func (j *journey) runLabOrder(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	tests, err := j.labTestsFor(step)
	if err != nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %s: %v", step.ID, err), ErrTypeInvalidInput, err)
	}
	if len(tests) == 0 {
		return stepResult{result: "nothing_ordered"}, nil
	}
	in := contract.BookLabTestsInput{
		KeyPrefix: j.state.JourneyID + ":" + step.ID, Origin: care.LabOriginJourney, JourneyID: j.state.JourneyID,
		PatientID: j.state.PatientID, Tests: tests, ScheduledFor: workflow.Now(ctx),
	}
	if j.state.Appointment != nil {
		in.PractitionerID = j.state.Appointment.PractitionerID
	}
	var orders []care.LabOrder
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.BookLabTests, in).Get(ctx, &orders); err != nil {
		return stepResult{}, err
	}
	for _, o := range orders {
		j.state.Labs = append(j.state.Labs, LabOrderInfo{OrderID: o.ID, Step: step.ID, LOINC: o.LOINC,
			Name: pathways.LabAnalytes[o.LOINC].Key, TestName: o.TestName, Status: o.Status})
	}
	allIn := func() bool {
		for _, o := range j.state.Labs {
			if o.Step == step.ID && o.Status != care.LabOrderResulted {
				return false
			}
		}
		return true
	}
	res, err := j.await(ctx, step, "lab results", step.TimeLimit, step.OnTimeout, allIn)
	if err != nil {
		return res, err
	}
	// An escalation that ends clears NeedsAttention; a critical result
	// must keep it raised until a person has looked.
	if j.labAlert != "" && !j.state.NeedsAttention {
		return res, j.setAttention(ctx, true, j.labAlert)
	}
	return res, nil
}

// labTestsFor is the step's tests then the consult's, each once.
func (j *journey) labTestsFor(step pathways.PlanStep) ([]string, error) {
	var tests []string
	if raw, ok := step.With["tests"]; ok {
		list, isList := raw.([]any)
		if !isList {
			return nil, fmt.Errorf("with.tests must be a list of LOINC codes, not %T", raw)
		}
		for _, t := range list {
			code, _ := t.(string)
			if _, known := pathways.LabAnalytes[code]; !known {
				return nil, fmt.Errorf("with.tests: %q is not a lab test CarePath takes results of", code)
			}
			tests = append(tests, code)
		}
	}
	for _, code := range j.consultLabTests {
		if !slices.Contains(tests, code) {
			tests = append(tests, code)
		}
	}
	return tests, nil
}

// openLabOrder is the journey's unresulted order for the test, if any.
func (j *journey) openLabOrder(loinc string) int {
	return slices.IndexFunc(j.state.Labs, func(o LabOrderInfo) bool {
		return o.LOINC == loinc && o.Status != care.LabOrderResulted
	})
}

func (j *journey) validateLabResult(req RecordLabResultRequest) error {
	if j.state.Status != StatusActive || j.cancelRequested != nil {
		return temporal.NewApplicationError("the journey has ended", ErrTypeJourneyNotActive)
	}
	if req.Actor.ID == "" || !slices.Contains(labReporters, req.Actor.Role) {
		return temporal.NewApplicationError("lab results are reported by the laboratory's integration, a coordinator or the doctor", ErrTypeNotAllowed)
	}
	if req.Actor.Role == "doctor" && (j.state.Appointment == nil || req.Actor.ID != j.state.Appointment.PractitionerID) {
		return temporal.NewApplicationError("only the journey's doctor may report its results", ErrTypeNotAllowed)
	}
	if problems := req.Result.Check(); len(problems) > 0 {
		parts := make([]string, len(problems))
		for i, p := range problems {
			parts[i] = p.Field + ": " + p.Detail
		}
		return temporal.NewApplicationError(strings.Join(parts, "; "), ErrTypeInvalidMessage)
	}
	if j.openLabOrder(req.Result.LOINC) < 0 {
		return temporal.NewApplicationError(fmt.Sprintf("loinc_code: the journey has no open order for test %s", req.Result.LOINC), ErrTypeNotAwaitingThat)
	}
	return nil
}

// recordLabResult stores the result, shows it to expressions, and tells the
// doctor when it is outside its range.
func (j *journey) recordLabResult(ctx workflow.Context, req RecordLabResultRequest) (JourneyState, error) {
	i := j.openLabOrder(req.Result.LOINC)
	if i < 0 { // a concurrent update took it between validation and now
		return j.state, temporal.NewApplicationError("loinc_code: the result of this test is already recorded", ErrTypeNotAwaitingThat)
	}
	interp := req.Result.Interpretation()
	order := j.state.Labs[i]
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.RecordLabResult, contract.RecordLabResultInput{
		LabOrderID: order.OrderID, Result: req.Result, Interpretation: interp, ReportedBy: req.Actor.ID,
	}).Get(ctx, nil); err != nil {
		return j.state, err
	}
	i = slices.IndexFunc(j.state.Labs, func(o LabOrderInfo) bool { return o.OrderID == order.OrderID })
	value := req.Result.Value
	o := &j.state.Labs[i]
	o.Status, o.Value, o.Unit, o.Interpretation, o.ResultedAt = care.LabOrderResulted, &value, req.Result.Unit, interp, workflow.Now(ctx)
	if j.vars.Labs == nil {
		j.vars.Labs = map[string]float64{}
	}
	j.vars.Labs[o.Name] = value
	j.state.UpdatedAt = workflow.Now(ctx)
	if pathways.Abnormal(interp) {
		if err := j.alertAbnormalLab(ctx, i); err != nil {
			return j.state, err
		}
	}
	return j.state, nil
}

// doctorAlertOptions bound the doctor's SMS to two minutes: the laboratory
// waits for its update's answer, and a doctor who cannot be texted is the
// care team's to reach (NeedsAttention), not a reason to hold the result.
var doctorAlertOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    contract.SMSStartToClose,
	ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 4},
}

// alertAbnormalLab texts the ordering doctor. A doctor who cannot be
// reached, or a critical value, raises NeedsAttention for the care team.
func (j *journey) alertAbnormalLab(ctx workflow.Context, i int) error {
	o := j.state.Labs[i]
	critical := pathways.Critical(o.Interpretation)
	template := "lab_result_abnormal"
	if critical {
		template = "lab_result_critical"
		j.labAlert = fmt.Sprintf("critical lab result (%s, order %s)", o.LOINC, o.OrderID)
	}
	reached := false
	if j.state.Appointment != nil {
		var sent care.StaffNotification
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, doctorAlertOptions), contract.NotifyPractitioner,
			contract.NotifyPractitionerInput{JourneyID: j.state.JourneyID, Step: "lab-result-" + o.OrderID,
				PractitionerID: j.state.Appointment.PractitionerID, TemplateID: template, Link: "/journeys/" + j.state.JourneyID},
		).Get(ctx, &sent)
		if err != nil {
			j.logger.Warn("Doctor not notified of an abnormal lab result", "Order", o.OrderID, "Error", err)
		}
		reached = err == nil && sent.Status == care.CommunicationSent
	}
	j.state.Labs[i].DoctorNotified = reached
	switch {
	case critical:
		return j.setAttention(ctx, true, j.labAlert)
	case !reached:
		return j.setAttention(ctx, true, fmt.Sprintf("abnormal lab result (%s, order %s) and the doctor could not be texted", o.LOINC, o.OrderID))
	}
	return nil
}

// labAndFollowUpProblems checks the consult's lab tests and follow-up
// interval: each only with its order, codes CarePath takes results of.
func labAndFollowUpProblems(req CloseConsultRequest) []string {
	var problems []string
	if len(req.LabTests) > 0 && !slices.Contains(req.Orders, "lab_tests") {
		problems = append(problems, "lab_tests need the lab_tests order")
	}
	for i, code := range req.LabTests {
		if _, ok := pathways.LabAnalytes[code]; !ok || !loincCode.MatchString(code) {
			problems = append(problems, fmt.Sprintf("lab test %d is not a LOINC code CarePath takes results of", i))
		}
	}
	if req.FollowUpDays != 0 && (!slices.Contains(req.Orders, "follow_up") || req.FollowUpDays < 1 || req.FollowUpDays > 730) {
		problems = append(problems, "follow_up_days must be 1 to 730, with the follow_up order")
	}
	return problems
}

// labOrders are the encounter's lab_test orders, one per LOINC code.
func labOrders(codes []string) []care.EncounterOrder {
	out := make([]care.EncounterOrder, 0, len(codes))
	for _, c := range codes {
		out = append(out, care.EncounterOrder{Kind: care.OrderLabTest, Code: c})
	}
	return out
}
