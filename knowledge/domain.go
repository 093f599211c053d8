package knowledge

import "github.com/carepath/carepath/care"

// The findings a check returns, and the patient profile it takes, travel
// through workflow history: they are care domain types.
type (
	Severity          = care.Severity
	Profile           = care.Profile
	Coding            = care.Coding
	Evidence          = care.Evidence
	ConditionRef      = care.ConditionRef
	AllergyRef        = care.AllergyRef
	Finding           = care.Finding
	DrugRef           = care.DrugRef
	NameResolution    = care.NameResolution
	DetectedIssue     = care.DetectedIssue
	CodeableConcept   = care.CodeableConcept
	Identifier        = care.Identifier
	Reference         = care.Reference
	DetectedEvidence  = care.DetectedEvidence
	DetectedExtension = care.DetectedExtension
)

const (
	Contraindicated      = care.Contraindicated
	Major                = care.Major
	Moderate             = care.Moderate
	Minor                = care.Minor
	KindInteraction      = care.KindInteraction
	KindDuplicate        = care.KindDuplicate
	KindContraindication = care.KindContraindication
	KindAllergy          = care.KindAllergy
)
