package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pathways"
)

// The prescribe step: the consult's medicines become a draft prescription,
// the knowledge graph checks it against the patient, and the prescribing
// doctor approves, amends or overrides it before it is signed. The
// findings support the doctor's judgement; they do not replace it.

const (
	// UpdateReviewPrescription is the prescribing doctor's review of the
	// draft: approve, amend (new items, checked again) or override findings
	// with a written reason.
	UpdateReviewPrescription = "review_prescription"
	// QueryPrescription answers the prescribe step's PrescriptionInfo.
	QueryPrescription = "prescription"
)

// Review actions.
const (
	ReviewApprove  = "approve"
	ReviewAmend    = "amend"
	ReviewOverride = "override"
)

// PrescriptionItem is one medicine: drug, dose, route, frequency, duration,
// quantity and refills.
type PrescriptionItem = care.MedicationItem

// ReviewPrescriptionRequest is the payload of UpdateReviewPrescription.
// Items are the amended medicines (amend only); Reason is required to
// override a major or contraindicated finding, or a check that could not
// resolve every name. The reason is clinical free text: it is stored with
// the prescription and never logged.
type ReviewPrescriptionRequest struct {
	Actor          Actor              `json:"actor"`
	PrescriptionID string             `json:"prescription_id"`
	Action         string             `json:"action"`
	Items          []PrescriptionItem `json:"items,omitempty"`
	Reason         string             `json:"reason,omitempty"`
}

// PrescriptionFinding is a finding as the journey shows it: no free text.
type PrescriptionFinding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	RuleID   string `json:"rule_id"`
}

// PrescriptionInfo is the prescribe step's state.
type PrescriptionInfo struct {
	ID             string                `json:"id"`
	Version        int                   `json:"version"`
	Status         string                `json:"status"` // checking, awaiting_review, signing, signed
	PrescriberID   string                `json:"prescriber_id"`
	CheckComplete  bool                  `json:"check_complete"`
	Highest        string                `json:"highest_severity,omitempty"`
	Findings       []PrescriptionFinding `json:"findings"`
	NeedsOverride  bool                  `json:"needs_override"` // approving takes an override with a reason
	ReviewAction   string                `json:"review_action,omitempty"`
	ReviewedBy     string                `json:"reviewed_by,omitempty"`
	OverrideReason bool                  `json:"override_reason_recorded"`
	SHA256         string                `json:"sha256,omitempty"`
	KeyID          string                `json:"key_id,omitempty"`
}

// prescribeRun is one run of a prescribe step; the update handler and the
// query read it.
type prescribeRun struct {
	info     PrescriptionInfo
	role     string
	awaiting bool
	review   *ReviewPrescriptionRequest
	handled  bool
	at       time.Time
}

func (rx *prescribeRun) validate(req ReviewPrescriptionRequest) error {
	if !rx.awaiting || rx.review != nil {
		return temporal.NewApplicationError("no prescription is waiting for review", ErrTypeNotAwaitingThat)
	}
	if req.PrescriptionID != rx.info.ID {
		return temporal.NewApplicationError("that prescription is not the one under review", ErrTypeNotAwaitingThat)
	}
	if req.Actor.Role != rx.role || req.Actor.ID != rx.info.PrescriberID {
		return temporal.NewApplicationError("only the prescribing doctor may review the prescription", ErrTypeNotAllowed)
	}
	switch req.Action {
	case ReviewApprove:
		if rx.info.NeedsOverride {
			return temporal.NewApplicationError("the check found a major or contraindicated issue (or could not check every drug): override with a written reason, or amend", ErrTypeInvalidMessage)
		}
	case ReviewOverride:
		if !rx.info.NeedsOverride {
			return temporal.NewApplicationError("there is nothing to override: approve instead", ErrTypeInvalidMessage)
		}
		if strings.TrimSpace(req.Reason) == "" {
			return temporal.NewApplicationError("an override needs a written reason", ErrTypeInvalidMessage)
		}
	case ReviewAmend:
		if len(req.Items) == 0 {
			return temporal.NewApplicationError("an amendment lists the medicines", ErrTypeInvalidMessage)
		}
		for i, it := range req.Items {
			if err := it.Validate(); err != nil {
				return temporal.NewApplicationError(fmt.Sprintf("item %d: %v", i, err), ErrTypeInvalidMessage)
			}
		}
	default:
		return temporal.NewApplicationError("action must be approve, amend or override", ErrTypeInvalidMessage)
	}
	return nil
}

// runPrescribe drafts, checks and, once the doctor has reviewed it, signs
// the prescription. The step's approval (role, time limit, on_timeout)
// governs the wait for the review; without one, the step's own limit does.
func (j *journey) runPrescribe(ctx workflow.Context, step pathways.PlanStep) (stepResult, error) {
	if j.state.Appointment == nil {
		return stepResult{}, temporal.NewNonRetryableApplicationError(errNoBooking.Error(), ErrTypeInvalidInput, nil)
	}
	role, limit, onTimeout := "doctor", step.TimeLimit, step.OnTimeout
	if a := step.Approval; a != nil {
		role, limit, onTimeout = a.Role, a.TimeLimit, a.OnTimeout
	}
	rx := &prescribeRun{role: role, info: PrescriptionInfo{PrescriberID: j.state.Appointment.PractitionerID, Findings: []PrescriptionFinding{}}}
	if err := workflow.SetQueryHandler(ctx, QueryPrescription, func() (PrescriptionInfo, error) { return rx.info, nil }); err != nil {
		return stepResult{}, fmt.Errorf("register %s query: %w", QueryPrescription, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReviewPrescription,
		func(ctx workflow.Context, req ReviewPrescriptionRequest) (PrescriptionInfo, error) {
			rx.review, rx.at, rx.handled = &req, workflow.Now(ctx), false
			// Answer once the step has acted on the review (signed, or checked the amendment).
			err := workflow.Await(ctx, func() bool { return rx.handled })
			return rx.info, err
		},
		workflow.UpdateHandlerOptions{Validator: rx.validate},
	); err != nil {
		return stepResult{}, fmt.Errorf("register %s update: %w", UpdateReviewPrescription, err)
	}
	defer func() { rx.awaiting, rx.handled = false, true }()

	var items []PrescriptionItem // none: the consult's
	res := stepResult{result: resultDone}
	for version := 1; ; version++ {
		rx.info.Status, rx.info.Version = "checking", version
		if err := j.draftAndCheck(ctx, step, rx, version, items); err != nil {
			return stepResult{}, err
		}
		rx.handled = true // an amendment's update may answer now
		rx.info.Status, rx.awaiting, rx.review = "awaiting_review", true, nil
		reviewed := func() bool { return rx.review != nil }
		r, err := j.await(ctx, step, role, limit, onTimeout, reviewed)
		rx.awaiting = false
		if err != nil || !reviewed() {
			return r, err
		}
		if r.result != resultDone {
			res = r
		}
		req := *rx.review
		rx.info.ReviewAction, rx.info.ReviewedBy = req.Action, req.Actor.ID
		if req.Action == ReviewAmend {
			items = req.Items
			continue // the update answers once the amendment is checked
		}
		rx.info.Status = "signing"
		var signed contract.SignPrescriptionResult
		if err := workflow.ExecuteActivity(dbOptions(ctx), contract.SignPrescription, contract.SignPrescriptionInput{
			PrescriptionID: rx.info.ID, ActorID: req.Actor.ID, Action: req.Action, Reason: req.Reason, ReviewedAt: rx.at,
		}).Get(ctx, &signed); err != nil {
			return stepResult{}, err
		}
		rx.info.Status, rx.info.SHA256, rx.info.KeyID = "signed", signed.SHA256, signed.KeyID
		rx.info.OverrideReason = req.Action == ReviewOverride
		rx.handled = true
		j.logger.Info("Prescription signed", "Prescription", rx.info.ID, "Version", version, "Action", req.Action)
		if req.Action == ReviewOverride {
			res.result = "overridden"
		}
		return res, nil
	}
}

// draftAndCheck stores version of the draft, checks it through the
// knowledge graph and stores the findings with it.
func (j *journey) draftAndCheck(ctx workflow.Context, step pathways.PlanStep, rx *prescribeRun, version int, items []PrescriptionItem) error {
	var draft contract.DraftPrescriptionResult
	err := workflow.ExecuteActivity(dbOptions(ctx), contract.DraftPrescription, contract.DraftPrescriptionInput{
		JourneyID: j.state.JourneyID, Step: step.ID, Version: version, PatientID: j.state.PatientID,
		PractitionerID: rx.info.PrescriberID, Items: items,
	}).Get(ctx, &draft)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeNothingToPrescribe {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("step %q: the consult ordered a prescription but listed no medicine", step.ID), ErrTypeInvalidInput, err)
	}
	if err != nil {
		return err
	}
	rx.info.ID = draft.PrescriptionID
	checkCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{contract.ErrTypeInvalidRegimen}},
	})
	var check contract.CheckPrescriptionResult
	if err := workflow.ExecuteActivity(checkCtx, contract.CheckPrescription, contract.CheckPrescriptionInput{
		PatientID: j.state.PatientID, Drugs: draft.CheckDrugs, Profile: draft.Profile,
	}).Get(ctx, &check); err != nil {
		// A prescription that was not checked must not reach the doctor as if it had been.
		if attErr := j.setAttention(ctx, true, fmt.Sprintf("step %s: the prescription could not be checked", step.ID)); attErr != nil {
			return attErr
		}
		return err
	}
	if err := workflow.ExecuteActivity(dbOptions(ctx), contract.RecordCheck, contract.RecordCheckInput{
		PrescriptionID: draft.PrescriptionID, Complete: check.Complete, Highest: check.Highest,
		Findings: check.Findings, DetectedIssues: check.DetectedIssues,
	}).Get(ctx, nil); err != nil {
		return err
	}
	rx.info.CheckComplete, rx.info.Highest = check.Complete, string(check.Highest)
	rx.info.Findings = make([]PrescriptionFinding, len(check.Findings))
	for i, f := range check.Findings {
		rx.info.Findings[i] = PrescriptionFinding{Kind: f.Kind, Severity: string(f.Severity), RuleID: f.RuleID}
	}
	rx.info.NeedsOverride = !check.Complete || check.Highest == care.Major || check.Highest == care.Contraindicated
	return nil
}

// prescriptionProblems checks the consult's prescriptions: only with a
// prescription order, and each item complete. Problems name positions,
// never drugs.
func prescriptionProblems(req CloseConsultRequest) []string {
	var problems []string
	if len(req.Prescriptions) > 0 && !slices.Contains(req.Orders, "prescription") {
		problems = append(problems, "prescriptions need the prescription order")
	}
	for i, it := range req.Prescriptions {
		if err := it.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("prescription %d: %v", i, err))
		}
	}
	return problems
}

// consultOrders are the encounter's orders: the prescription order becomes
// one order per medicine, which the prescribe step reads back as its draft.
func consultOrders(req CloseConsultRequest) []care.EncounterOrder {
	orders := make([]care.EncounterOrder, 0, len(req.Orders)+len(req.Prescriptions))
	for _, o := range req.Orders {
		if o == "prescription" && len(req.Prescriptions) > 0 {
			for _, it := range req.Prescriptions {
				orders = append(orders, care.OrderFromItem(it))
			}
			continue
		}
		switch o {
		case "lab_tests":
			orders = append(orders, labOrders(req.LabTests)...)
		case "follow_up":
			if req.FollowUpDays > 0 {
				orders = append(orders, care.EncounterOrder{Kind: care.OrderFollowUp, AfterDays: req.FollowUpDays})
			}
		default:
			orders = append(orders, care.EncounterOrder{Kind: o})
		}
	}
	return orders
}
