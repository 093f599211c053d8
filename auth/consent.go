package auth

import (
	"context"
	"fmt"
)

// ConsentAll is the category of a consent to the whole record, and what
// a route outside the health record categories requires.
const ConsentAll = "all"

// CanSeePatientData is CanSeePatient for one category of the record
// (condition, allergy, immunization, observation, document; "" or
// ConsentAll for the whole record or data outside these categories). For a
// doctor or dietitian it reads, on every request:
//   - an appointment with the patient (any status but cancelled): the
//     treatment relation, which covers every category;
//   - an open care assignment to the patient (a journey's diet step assigns
//     its dietitian; store.AssignDietitian), until the step ends or its
//     horizon passes, covering every category likewise;
//   - an active, unrevoked, unexpired consent naming the practitioner or
//     their organisation, for all of the record or for this category;
//   - a running break-glass access (reason "break-glass", flagged in the
//     audit trail).
//
// A revocation or an expiry therefore takes effect on the next request.
// Other roles follow CanSeePatient.
func (s *Service) CanSeePatientData(ctx context.Context, p Principal, patientID, category string) (bool, string, error) {
	if p.Role != RoleDoctor && p.Role != RoleDietitian {
		return s.CanSeePatient(ctx, p, patientID)
	}
	if ok, why := validPatientAndPractitioner(p, patientID); !ok {
		return false, why, nil
	}
	if category == "" {
		category = ConsentAll
	}
	var reason string
	err := s.pool.QueryRow(ctx, `SELECT CASE
		WHEN EXISTS (SELECT 1 FROM appointment WHERE patient_id = $1 AND practitioner_id = $2 AND status <> 'cancelled') THEN 'appointment'
		WHEN EXISTS (SELECT 1 FROM care_assignment WHERE patient_id = $1 AND practitioner_id = $2 AND ended_at IS NULL
			AND ends_at > now()) THEN 'care assignment'
		WHEN EXISTS (SELECT 1 FROM consent c WHERE c.patient_id = $1 AND c.status = 'active' AND c.revoked_at IS NULL
			AND (c.expires_at IS NULL OR c.expires_at > now()) AND c.category IN ('all', $3)
			AND (c.practitioner_id = $2 OR c.organization_id = (SELECT organization_id FROM practitioner WHERE id = $2))) THEN 'consent'
		WHEN EXISTS (SELECT 1 FROM break_glass WHERE patient_id = $1 AND practitioner_id = $2 AND expires_at > now()) THEN 'break-glass'
		ELSE '' END`, patientID, p.PractitionerID, category).Scan(&reason)
	if err != nil {
		return false, "", fmt.Errorf("authorize patient access: %w", err)
	}
	if reason == "" {
		return false, "no appointment, consent or care team link", nil
	}
	return true, reason, nil
}
