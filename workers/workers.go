// Package workers wires CarePath's Temporal workers: which task queue each
// polls, which workflows and activities it registers, and how it is tuned.
package workers

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	stripeclient "github.com/stripe/stripe-go/v81/client"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/carepath/carepath/activities"
	"github.com/carepath/carepath/config"
	"github.com/carepath/carepath/diet"
	"github.com/carepath/carepath/inference"
	"github.com/carepath/carepath/knowledge"
	"github.com/carepath/carepath/platform"
	"github.com/carepath/carepath/store"
	"github.com/carepath/carepath/workflows"
)

// Deps are the clients the activities need.
type Deps struct {
	Store *store.Store
	// Stripe is the payments client (platform.NewStripe).
	Stripe *stripeclient.API
	// Twilio sends SMS (platform.NewTwilio); SMSFrom is its sender
	// (TWILIO_FROM_NUMBER).
	Twilio  activities.TwilioAPI
	SMSFrom string
	// PublicBaseURL is the only prefix links in an SMS may have.
	PublicBaseURL string
	// Models holds the clinical models (inference.Open); the inference
	// activities refuse to run without it.
	Models *inference.Registry
	// Knowledge is the treatment and interaction graph (knowledge.New).
	Knowledge *knowledge.Graph
	// PrescriptionSigner signs approved prescriptions (PRESCRIPTION_SIGNING_KEY);
	// PharmacyAPIBase is the pharmacy partner network (PHARMACY_API_BASE).
	PrescriptionSigner *activities.PrescriptionSigner
	PharmacyAPIBase    string
	// DietGuidelines are the sourced targets and meal rules the diet plans
	// use (diet.LoadGuidelines).
	DietGuidelines *diet.Guidelines
}

// NewJourneyWorker returns a worker for the journey task queue with every
// journey workflow and activity registered. The caller runs and stops it.
func NewJourneyWorker(c client.Client, taskQueue string, deps Deps) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{
		// On shutdown, running activities get this long to finish before
		// they are cancelled; Temporal retries whatever did not finish.
		WorkerStopTimeout: 20 * time.Second,
	})
	Register(w, deps)
	return w
}

// Register adds the journey workflows and activities to any registry (a
// worker, or a test environment).
func Register(r worker.Registry, deps Deps) {
	r.RegisterWorkflowWithOptions(workflows.Journey, workflow.RegisterOptions{Name: workflows.JourneyWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Adherence, workflow.RegisterOptions{Name: workflows.AdherenceWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RefillOrder, workflow.RegisterOptions{Name: workflows.RefillOrderWorkflowName})
	r.RegisterActivity(&activities.Journeys{Store: deps.Store, NewID: workflows.NewJourneyWorkflowID})
	r.RegisterActivity(&activities.Inference{Models: deps.Models})
	r.RegisterActivity(&activities.Knowledge{Graph: deps.Knowledge})
	r.RegisterActivity(&activities.Booking{Store: deps.Store})
	r.RegisterActivity(&activities.Payments{Store: deps.Store, Stripe: deps.Stripe})
	r.RegisterActivity(&activities.Messaging{Store: deps.Store, Twilio: deps.Twilio, From: deps.SMSFrom, LinkBase: deps.PublicBaseURL})
	r.RegisterActivity(&activities.Prescriptions{Store: deps.Store, Signer: deps.PrescriptionSigner})
	r.RegisterActivity(&activities.Pharmacy{Store: deps.Store, BaseURL: deps.PharmacyAPIBase})
	r.RegisterActivity(&activities.Labs{Store: deps.Store})
	r.RegisterActivity(&activities.Adherence{Store: deps.Store})
	r.RegisterActivity(&activities.Diet{Store: deps.Store, Graph: deps.Knowledge, Guidelines: deps.DietGuidelines})
}

// DepsFromConfig builds the activities' clients from the configuration:
// Stripe at STRIPE_API_BASE, Twilio at TWILIO_API_BASE. models may be nil
// for a worker without the clinical models.
// The Neo4j driver's connections open on first use; the caller closes it.
func DepsFromConfig(cfg config.Config, s *store.Store, models *inference.Registry) (Deps, error) {
	twilio, err := platform.NewTwilio(cfg)
	if err != nil {
		return Deps{}, err
	}
	driver, err := platform.OpenNeo4j(cfg)
	if err != nil {
		return Deps{}, err
	}
	seed, err := cfg.PrescriptionSigningKey()
	if err != nil {
		return Deps{}, fmt.Errorf("prescription signing key: %w", err)
	}
	signer, err := activities.NewPrescriptionSigner(seed)
	if err != nil {
		return Deps{}, err
	}
	guidelines, err := diet.LoadGuidelines()
	if err != nil {
		return Deps{}, err
	}
	return Deps{Store: s, Models: models, Stripe: platform.NewStripe(cfg), Twilio: twilio,
		SMSFrom: cfg.TwilioFromNumber, PublicBaseURL: cfg.PublicBaseURL, Knowledge: knowledge.New(driver),
		PrescriptionSigner: signer, PharmacyAPIBase: cfg.PharmacyAPIBase, DietGuidelines: guidelines}, nil
}

// slotHorizonDays is how far ahead bookable slots are kept open.
const slotHorizonDays = 14

// KeepSlotsOpen cuts bookable slots from the schedules for the next two
// weeks, now and every six hours until ctx ends. Cutting is idempotent, so
// any number of workers may do it side by side.
func KeepSlotsOpen(ctx context.Context, s *store.Store, logger *slog.Logger) {
	for {
		n, err := s.GenerateSlots(ctx, time.Now(), slotHorizonDays)
		if err != nil && ctx.Err() == nil {
			logger.Error("Cutting slots failed; retrying in six hours", "error", err)
		} else if err == nil {
			logger.Info("Bookable slots kept open", "days", slotHorizonDays, "new", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(6 * time.Hour):
		}
	}
}
