package contract

// ErrTypePatientNotFound is the application error type for a journey whose
// patient does not exist; retrying cannot fix it.
const ErrTypePatientNotFound = "PatientNotFound"

// RecordJourneyInput is the journey row to write.
type RecordJourneyInput struct {
	JourneyID string `json:"journey_id"`
	PatientID string `json:"patient_id"`
	PathwayID string `json:"pathway_id"`
	Status    string `json:"status"`
}

// ReserveJourneyInput names a journey to start: the patient's episode on
// the pathway.
type ReserveJourneyInput struct {
	PatientID string `json:"patient_id"`
	PathwayID string `json:"pathway_id"`
	Episode   int    `json:"episode"`
}

// ReserveJourneyResult is the journey's workflow ID, opaque unless the
// episode was started before IDs were (workflows.LegacyJourneyWorkflowID).
type ReserveJourneyResult struct {
	WorkflowID string `json:"workflow_id"`
	// Created is false when the episode had a workflow ID already: it may
	// be running, or its start may have failed before it began.
	Created bool `json:"created"`
}
