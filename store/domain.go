package store

import (
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/diet"
)

// The rows that travel through workflow history are the care domain types;
// the store reads and writes them under these names.
type (
	Slot              = care.Slot
	Appointment       = care.Appointment
	ReschedulePolicy  = care.ReschedulePolicy
	EncounterOrder    = care.EncounterOrder
	Encounter         = care.Encounter
	StaffNotification = care.StaffNotification
	MealItem          = care.MealItem
	LabOrder          = care.LabOrder
	MedicationItem    = care.MedicationItem
	Pharmacy          = care.Pharmacy
)

const (
	SlotFree              = care.SlotFree
	SlotHeld              = care.SlotHeld
	SlotBooked            = care.SlotBooked
	AppointmentPending    = care.AppointmentPending
	AppointmentBooked     = care.AppointmentBooked
	AppointmentFulfilled  = care.AppointmentFulfilled
	AppointmentCancelled  = care.AppointmentCancelled
	AppointmentNoShow     = care.AppointmentNoShow
	ResponseNeedsAction   = care.ResponseNeedsAction
	ResponseAccepted      = care.ResponseAccepted
	ResponseDeclined      = care.ResponseDeclined
	OrderPrescription     = care.OrderPrescription
	OrderLabTest          = care.OrderLabTest
	OrderDietReferral     = care.OrderDietReferral
	OrderFollowUp         = care.OrderFollowUp
	CommunicationSending  = care.CommunicationSending
	CommunicationSent     = care.CommunicationSent
	CommunicationSkipped  = care.CommunicationSkipped
	CommunicationDeferred = care.CommunicationDeferred
	DietAwaitingReview    = care.DietAwaitingReview
	DietInfeasible        = care.DietInfeasible
	DietApproved          = care.DietApproved
	DietSuperseded        = care.DietSuperseded
	DietTriggerInitial    = care.DietTriggerInitial
	DietTriggerAmendment  = care.DietTriggerAmendment
	LabOrderScheduled     = care.LabOrderScheduled
	LabOrderResulted      = care.LabOrderResulted
	LabOriginJourney      = care.LabOriginJourney
	LabOriginLink         = care.LabOriginLink
)

// IntakeLine is one nutrient's intake against its daily target.
type IntakeLine = diet.IntakeLine
