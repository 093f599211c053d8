package journeys

import "github.com/carepath/carepath/workflows"

// Workflow IDs. The templates live in package workflows, which the worker
// and the recorded histories share; these are the edge's names for them.

// ErrBadID is returned by ParseID.
var ErrBadID = workflows.ErrBadJourneyID

// NewID returns a fresh opaque journey ID, journey:PATIENT:TOKEN. It names
// the patient and nothing clinical.
func NewID(patientID string) string { return workflows.NewJourneyWorkflowID(patientID) }

// ParseID checks a journey ID, opaque or legacy, and returns its patient.
func ParseID(id string) (patientID string, err error) {
	patientID, _, _, err = workflows.ParseJourneyWorkflowID(id)
	return patientID, err
}

// ValidID reports whether id is a journey ID (opaque or legacy).
func ValidID(id string) bool {
	_, err := ParseID(id)
	return err == nil
}

// ParseLegacyID is ParseID with the pathway and episode a legacy ID
// (journey:PATIENT:PATHWAY:EPISODE) also names; both are empty for an
// opaque ID.
func ParseLegacyID(id string) (patientID, pathwayID string, episode int, err error) {
	return workflows.ParseJourneyWorkflowID(id)
}

// IsLegacyID reports whether id is a journey ID of the old shape, which
// names the pathway.
func IsLegacyID(id string) bool { return workflows.IsLegacyJourneyWorkflowID(id) }

// AdherenceID is the ID of the adherence course for the medication request
// at position of a prescription.
func AdherenceID(patientID, prescriptionID string, position int) string {
	return workflows.AdherenceWorkflowID(patientID, prescriptionID, position)
}

// ParseAdherenceID splits an adherence course's ID into its parts.
func ParseAdherenceID(id string) (patientID, prescriptionID string, position int, err error) {
	return workflows.ParseAdherenceWorkflowID(id)
}

// RefillOrderID is the ID of refill number of the adherence course.
func RefillOrderID(adherenceID string, number int) string {
	return workflows.RefillOrderWorkflowID(adherenceID, number)
}
