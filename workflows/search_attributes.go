package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Custom search attributes, so coordinators can filter journeys in the
// Temporal UI. They hold opaque IDs and statuses only, never health data.
var (
	PatientIDKey      = temporal.NewSearchAttributeKeyKeyword("PatientID")
	PathwayIDKey      = temporal.NewSearchAttributeKeyKeyword("PathwayID")
	PathwayVersionKey = temporal.NewSearchAttributeKeyKeyword("PathwayVersion")
	JourneyStageKey   = temporal.NewSearchAttributeKeyKeyword("JourneyStage")
	RiskLevelKey      = temporal.NewSearchAttributeKeyKeyword("RiskLevel")
	NeedsAttentionKey = temporal.NewSearchAttributeKeyBool("NeedsAttention")
	DoctorIDKey       = temporal.NewSearchAttributeKeyKeyword("DoctorID")
)

// SearchAttributes lists every custom search attribute with its type, for
// registration on a Temporal namespace (`carepath migrate`).
func SearchAttributes() map[string]enums.IndexedValueType {
	out := map[string]enums.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKey{
		PatientIDKey, PathwayIDKey, PathwayVersionKey, JourneyStageKey, RiskLevelKey, NeedsAttentionKey, DoctorIDKey,
	} {
		out[k.GetName()] = k.GetValueType()
	}
	return out
}
