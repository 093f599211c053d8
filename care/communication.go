package care

// Communication statuses.
const (
	CommunicationSending  = "sending"
	CommunicationSent     = "sent"
	CommunicationSkipped  = "skipped"
	CommunicationDeferred = "deferred"
)

// StaffNotification is a message to a practitioner about a journey step.
type StaffNotification struct {
	JourneyID         string `json:"journey_id"`
	Step              string `json:"step"`
	PractitionerID    string `json:"practitioner_id"`
	TemplateID        string `json:"template_id"`
	Status            string `json:"status"` // sending, sent, skipped
	SkipReason        string `json:"skip_reason,omitempty"`
	ProviderMessageID string `json:"provider_message_id,omitempty"`
}
