// Package journeys is the edge's one way in to Temporal for journeys and
// the workflows they start (adherence courses, refill orders): starting a
// journey, every update, signal and query the API sends, the visibility
// listing, and the parsers for every workflow ID. The API, the benchmarks
// and the tests go through it, so a journey is started with the same
// options everywhere and its answers are decoded in one place.
//
// It is written by hand in the shape cludden's protoc-gen-go-temporal
// generates (a typed method per message; names, task queue and ID template
// in one place), without the code generator. The names themselves stay in
// package workflows, next to the handlers that answer them.
package journeys

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// Refs records which workflow ID is a patient's episode on a pathway
// (store.Store's journey_ref table). The client reserves the ID there before
// it starts the workflow, so a start retried after a crash reuses the ID
// the first attempt chose.
type Refs interface {
	ReserveJourneyRef(ctx context.Context, ref store.JourneyRef) (store.JourneyRef, bool, error)
}

// Client starts journeys and sends them messages. It is safe for
// concurrent use.
type Client struct {
	temporal  client.Client
	taskQueue string
	refs      Refs
}

// New returns a client that starts journeys on taskQueue and records their
// IDs in refs.
func New(tc client.Client, taskQueue string, refs Refs) *Client {
	return &Client{temporal: tc, taskQueue: taskQueue, refs: refs}
}

// BookingWait is how long the API waits for a booking to settle (the slot
// held and the payment created: two activities, normally well under a
// second) before it answers without it.
const BookingWait = 10 * time.Second

// Started is a journey that has started.
type Started struct {
	ID    string
	RunID string
	// Booking is the settled booking when the journey was started with
	// StartBooking; nil otherwise.
	Booking *workflows.BookingStatus
}

// Books reports whether a journey with this input starts by booking a
// slot, so that StartBooking applies.
func Books(in workflows.JourneyInput) bool {
	start := in.Plan.Start
	if in.StartAt != "" {
		start = in.StartAt
	}
	step, ok := in.Plan.Steps[start]
	return ok && step.Type == "book"
}

// Start starts the journey and returns at once.
//
// The ID is opaque (NewID) and recorded in journey_ref for the patient's
// episode on the pathway before the workflow starts; an episode recorded
// already keeps its ID. So a start retried after a crash starts the
// workflow the first attempt chose, and starting a journey that exists is
// serviceerror.WorkflowExecutionAlreadyStarted.
func (c *Client) Start(ctx context.Context, in workflows.JourneyInput) (Started, error) {
	id, err := c.reserve(ctx, in)
	if err != nil {
		return Started{}, err
	}
	run, err := c.temporal.ExecuteWorkflow(ctx, c.startOptions(id, in), workflows.JourneyWorkflowName, in)
	if err != nil {
		return Started{}, fmt.Errorf("start journey %s: %w", id, err)
	}
	return Started{ID: id, RunID: run.GetRunID()}, nil
}

// StartBooking starts a journey that starts by booking (Books) and answers
// once the booking has settled, in one call: the start and the
// booking_status update travel together (update-with-start), and the
// update returns when the slot is held and the payment is ready. A slot
// taken in between is the update's application error of type
// activities.ErrTypeSlotUnavailable.
//
// A booking that has not settled within wait (no worker polls the task
// queue, or the machine is swamped) is not an error if the journey did
// start: Started.Booking is then nil, and the caller reads the state later.
//
// The journey_ref reservation and the conflict policy are Start's: a retry
// reuses the ID, and a journey that already runs is
// serviceerror.WorkflowExecutionAlreadyStarted.
func (c *Client) StartBooking(ctx context.Context, in workflows.JourneyInput, wait time.Duration) (Started, error) {
	if !Books(in) {
		return Started{}, fmt.Errorf("start booking: pathway %s does not start by booking", in.PathwayID)
	}
	id, err := c.reserve(ctx, in)
	if err != nil {
		return Started{}, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	op := c.temporal.NewWithStartWorkflowOperation(c.startOptions(id, in), workflows.JourneyWorkflowName, in)
	handle, updErr := c.temporal.UpdateWithStartWorkflow(waitCtx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: workflows.UpdateBookingStatus, Args: []any{workflows.BookingStatusRequest{}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var st workflows.BookingStatus
	if updErr == nil {
		updErr = handle.Get(waitCtx, &st)
	}
	switch {
	case updErr == nil:
		// The update answered, so the start it travelled with has too.
		run, err := op.Get(ctx)
		if err != nil {
			return Started{}, fmt.Errorf("start journey %s: %w", id, err)
		}
		return Started{ID: id, RunID: run.GetRunID(), Booking: &st}, nil
	case waitCtx.Err() != nil && ctx.Err() == nil:
		// Out of time before an answer: the start itself may not have come
		// back either, so ask the server whether the journey runs.
		desc, err := c.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return Started{}, fmt.Errorf("start journey %s: %w", id, errors.Join(updErr, err))
		}
		return Started{ID: id, RunID: desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()}, nil
	default:
		// A refused start (the journey exists) or a refused booking.
		return Started{}, fmt.Errorf("start journey %s: %w", id, updErr)
	}
}

// reserve records the episode's workflow ID in journey_ref, or reads the
// one recorded already.
func (c *Client) reserve(ctx context.Context, in workflows.JourneyInput) (string, error) {
	ref, _, err := c.refs.ReserveJourneyRef(ctx, store.JourneyRef{
		PatientID: in.PatientID, PathwayID: in.PathwayID, Episode: in.Episode,
		WorkflowID: NewID(in.PatientID),
	})
	if err != nil {
		return "", fmt.Errorf("start journey: %w", err)
	}
	return ref.WorkflowID, nil
}

// startOptions are the one set of options every journey starts with.
func (c *Client) startOptions(id string, in workflows.JourneyInput) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: c.taskQueue,
		// Without this the SDK hands back the existing run as if it were new.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// A journey ID names one journey for ever: never run it twice.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.PatientIDKey.ValueSet(in.PatientID),
			workflows.PathwayIDKey.ValueSet(in.PathwayID),
			workflows.PathwayVersionKey.ValueSet(strconv.Itoa(in.Plan.Version)),
			workflows.JourneyStageKey.ValueSet("enrolling"),
		),
	}
}

// Result waits for the journey's run to end and returns its final state.
func (c *Client) Result(ctx context.Context, id string) (workflows.JourneyState, error) {
	var st workflows.JourneyState
	if err := c.temporal.GetWorkflow(ctx, id, "").Get(ctx, &st); err != nil {
		return st, fmt.Errorf("journey %s result: %w", id, err)
	}
	return st, nil
}

// NotAtStepError is an update the workflow has no handler for now: a
// step's updates exist only while the step runs (a prescription review
// after the prescription is signed, a diet review on a journey with no diet
// step).
type NotAtStepError struct {
	Update string
	Err    error
}

func (e *NotAtStepError) Error() string {
	return "the journey is not at a step that takes this request (" + e.Update + ")"
}

func (e *NotAtStepError) Unwrap() error { return e.Err }

// update sends the update name with arg to the workflow id, waits for it to
// complete and decodes its answer as T. A refusal is the validator's
// application error; an update with no handler now is *NotAtStepError.
func update[T any](ctx context.Context, c *Client, id, name string, arg any) (T, error) {
	var answer T
	handle, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &answer)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && strings.HasPrefix(appErr.Message(), "unknown update ") {
		err = &NotAtStepError{Update: name, Err: err}
	}
	if err != nil {
		return answer, fmt.Errorf("%s on %s: %w", name, id, err)
	}
	return answer, nil
}

// query asks the workflow id the query name and decodes its answer as T.
func query[T any](ctx context.Context, c *Client, id, name string) (T, error) {
	var answer T
	resp, err := c.temporal.QueryWorkflow(ctx, id, "", name)
	if err == nil {
		err = resp.Get(&answer)
	}
	if err != nil {
		return answer, fmt.Errorf("query %s on %s: %w", name, id, err)
	}
	return answer, nil
}

// signal sends the signal name with arg to the workflow id.
func (c *Client) signal(ctx context.Context, id, name string, arg any) error {
	if err := c.temporal.SignalWorkflow(ctx, id, "", name, arg); err != nil {
		return fmt.Errorf("%s to %s: %w", name, id, err)
	}
	return nil
}

// Terminate stops a journey at once, with no compensation: for a benchmark
// or a test cleaning up after itself, never for a patient's journey (cancel
// it instead, which refunds and frees the slot).
func (c *Client) Terminate(ctx context.Context, id, reason string) error {
	if err := c.temporal.TerminateWorkflow(ctx, id, "", reason); err != nil {
		return fmt.Errorf("terminate journey %s: %w", id, err)
	}
	return nil
}
