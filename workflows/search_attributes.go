package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Custom search attributes, so coordinators can filter journeys in the
// Temporal UI. They hold opaque IDs and statuses only, never health data.
var (
	PatientIDKey      = temporal.NewSearchAttributeKeyKeyword("PatientId")
	PathwayIDKey      = temporal.NewSearchAttributeKeyKeyword("PathwayId")
	PathwayVersionKey = temporal.NewSearchAttributeKeyKeyword("PathwayVersion")
	JourneyStageKey   = temporal.NewSearchAttributeKeyKeyword("JourneyStage")
	RiskLevelKey      = temporal.NewSearchAttributeKeyKeyword("RiskLevel")
	NeedsAttentionKey = temporal.NewSearchAttributeKeyBool("NeedsAttention")
	DoctorIDKey       = temporal.NewSearchAttributeKeyKeyword("DoctorId")
	// StageSinceKey is when the journey entered its current stage, so a
	// coordinator can ask for "journeys waiting on a doctor for more than a
	// day": JourneyStage = 'doctor_review' AND StageSince < '<a day ago>'.
	StageSinceKey = temporal.NewSearchAttributeKeyTime("StageSince")
)

// SearchAttributes lists every custom search attribute with its type, for
// registration on a Temporal namespace (`carepath migrate`).
func SearchAttributes() map[string]enums.IndexedValueType {
	out := map[string]enums.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKey{
		PatientIDKey, PathwayIDKey, PathwayVersionKey, JourneyStageKey, StageSinceKey, RiskLevelKey, NeedsAttentionKey, DoctorIDKey,
	} {
		out[k.GetName()] = k.GetValueType()
	}
	return out
}
