package pathways

// StepType describes one kind of step of the pathway language.
type StepType struct {
	// Waits: the step waits for a person, a provider or the clock, so it
	// must have a time limit, and a loop through it cannot spin.
	Waits bool
	// Fields the step type requires or allows besides the common ones.
	NeedsRole     bool
	NeedsOutcomes bool
	NeedsTracks   bool
	Summary       string
}

// StepTypes is the pathway language's vocabulary. Whether the engine can run
// a type yet is the engine's business (workflows), not the language's: a
// pathway may name a step the engine does not run yet, and a journey that
// reaches it fails with a clear error instead of skipping it.
var StepTypes = map[string]StepType{
	"book":      {Waits: true, Summary: "hold the chosen slot and create the appointment"},
	"pay":       {Waits: true, Summary: "collect the consultation fee; no payment in time releases the slot"},
	"decide":    {Waits: true, NeedsRole: true, NeedsOutcomes: true, Summary: "a person in a role decides; each outcome leads to a step"},
	"remind":    {Waits: true, Summary: "send reminders before the appointment, honouring quiet hours and opt-out"},
	"consult":   {Waits: true, Summary: "the video consult: opens at the appointment time, closes with notes and orders"},
	"prescribe": {Waits: true, Summary: "draft, check and sign a prescription (doctor approval)"},
	"fulfil":    {Waits: true, Summary: "send the prescription to a pharmacy and follow its status"},
	"adhere":    {Waits: true, Summary: "medication reminders, dose confirmations and refills"},
	"diet":      {Waits: true, Summary: "generate a diet plan and have a dietitian sign it off"},
	"lab_order": {Waits: true, Summary: "order lab tests and wait for results"},
	"follow_up": {Waits: true, Summary: "schedule the next consult after an interval"},
	"notify":    {Waits: false, Summary: "send the patient a message"},
	"wait":      {Waits: true, Summary: "wait for the time limit"},
	"parallel":  {Waits: false, NeedsTracks: true, Summary: "run tracks side by side; continue when all have ended"},
}

// Roles that may decide, approve or be escalated to.
var Roles = []string{"patient", "doctor", "dietitian", "pharmacist", "coordinator"}

// TimeoutActions are what on_timeout may do.
var TimeoutActions = []string{"escalate", "cancel", "continue"}

// End is the step name that ends the journey (or, inside a track, the track).
const End = "end"
