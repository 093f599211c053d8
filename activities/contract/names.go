package contract

// Activity names, by the struct in package activities that implements them.
const (
	// Journeys.
	RecordJourney  = "RecordJourney"
	ReserveJourney = "ReserveJourney"

	// Booking.
	HoldSlot             = "HoldSlot"
	ReleaseSlot          = "ReleaseSlot"
	ConfirmAppointment   = "ConfirmAppointment"
	RecordDoctorResponse = "RecordDoctorResponse"
	Reschedule           = "Reschedule"
	CancelAppointment    = "CancelAppointment"
	MarkNoShow           = "MarkNoShow"
	CloseEncounter       = "CloseEncounter"
	FindFreeSlot         = "FindFreeSlot"

	// Payments.
	CreatePaymentIntent    = "CreatePaymentIntent"
	GetPaymentIntentStatus = "GetPaymentIntentStatus"
	Refund                 = "Refund"

	// Messaging.
	SendSMS            = "SendSMS"
	NotifyPractitioner = "NotifyPractitioner"

	// Inference.
	ScoreRisk = "ScoreRisk"

	// Knowledge.
	CheckPrescription = "CheckPrescription"

	// Prescriptions.
	DraftPrescription = "DraftPrescription"
	RecordCheck       = "RecordCheck"
	SignPrescription  = "SignPrescription"

	// Pharmacy.
	ChoosePharmacies = "ChoosePharmacies"
	SendPrescription = "SendPrescription"

	// Labs.
	BookLabTests    = "BookLabTests"
	RecordLabResult = "RecordLabResult"

	// Adherence.
	AdherencePlan       = "AdherencePlan"
	RecordRefillRequest = "RecordRefillRequest"

	// Diet.
	GenerateDietPlan  = "GenerateDietPlan"
	ReviewDietPlan    = "ReviewDietPlan"
	EndDietAssignment = "EndDietAssignment"
	RecordMeal        = "RecordMeal"
)

// Names lists every activity name above, for the check that each is an
// activity method.
var Names = []string{
	RecordJourney, ReserveJourney,
	HoldSlot, ReleaseSlot, ConfirmAppointment, RecordDoctorResponse, Reschedule, CancelAppointment, MarkNoShow, CloseEncounter, FindFreeSlot,
	CreatePaymentIntent, GetPaymentIntentStatus, Refund,
	SendSMS, NotifyPractitioner,
	ScoreRisk,
	CheckPrescription,
	DraftPrescription, RecordCheck, SignPrescription,
	ChoosePharmacies, SendPrescription,
	BookLabTests, RecordLabResult,
	AdherencePlan, RecordRefillRequest,
	GenerateDietPlan, ReviewDietPlan, EndDietAssignment, RecordMeal,
}
