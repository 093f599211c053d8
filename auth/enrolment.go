package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// IntegratorMayActFor reports whether the OAuth client may act for the
// patient: an unrevoked enrolment names the patient, or an organisation the
// patient is a patient of (an appointment, not cancelled, with one of its
// practitioners). The client must be active. A scope says what an
// integrator may do; the enrolment says for whom, so that a client holding
// journeys:write or labs:write cannot reach every patient in CarePath.
//
// The reason is logged and audited; it names no health data.
func (s *Service) IntegratorMayActFor(ctx context.Context, clientID, patientID string) (bool, string, error) {
	if clientID == "" || uuid.Validate(patientID) != nil {
		return false, "not a patient ID", nil
	}
	var reason string
	err := s.pool.QueryRow(ctx, `SELECT CASE
		WHEN NOT EXISTS (SELECT 1 FROM oauth_client WHERE id = $1 AND active) THEN ''
		WHEN EXISTS (SELECT 1 FROM integrator_enrolment WHERE client_id = $1 AND patient_id = $2 AND revoked_at IS NULL)
			THEN 'integrator enrolment'
		WHEN EXISTS (SELECT 1 FROM integrator_enrolment e JOIN practitioner pr ON pr.organization_id = e.organization_id
			JOIN appointment a ON a.practitioner_id = pr.id
			WHERE e.client_id = $1 AND e.revoked_at IS NULL AND a.patient_id = $2 AND a.status <> 'cancelled')
			THEN 'integrator enrolment of the organisation'
		ELSE '' END`, clientID, patientID).Scan(&reason)
	if err != nil {
		return false, "", fmt.Errorf("authorize integrator %s: %w", clientID, err)
	}
	if reason == "" {
		return false, "integrator not enrolled for this patient", nil
	}
	return true, reason, nil
}

// EnrolPatient enrols a patient with an integrator client; enrolling again
// changes nothing.
func (s *Service) EnrolPatient(ctx context.Context, clientID, patientID string) error {
	if uuid.Validate(patientID) != nil {
		return fmt.Errorf("enrol patient with %s: not a patient ID", clientID)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO integrator_enrolment (id, client_id, patient_id) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, patient_id) WHERE patient_id IS NOT NULL AND revoked_at IS NULL DO NOTHING`,
		uuid.New(), clientID, patientID); err != nil {
		return fmt.Errorf("enrol patient with %s: %w", clientID, err)
	}
	return nil
}

// EnrolOrganization enrols an organisation's patients with an integrator
// client; enrolling again changes nothing.
func (s *Service) EnrolOrganization(ctx context.Context, clientID, organizationID string) error {
	if uuid.Validate(organizationID) != nil {
		return fmt.Errorf("enrol organisation with %s: not an organisation ID", clientID)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO integrator_enrolment (id, client_id, organization_id) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, organization_id) WHERE organization_id IS NOT NULL AND revoked_at IS NULL DO NOTHING`,
		uuid.New(), clientID, organizationID); err != nil {
		return fmt.Errorf("enrol organisation with %s: %w", clientID, err)
	}
	return nil
}

// EndEnrolment revokes every enrolment of the patient with the client; the
// client loses access on its next request.
func (s *Service) EndEnrolment(ctx context.Context, clientID, patientID string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE integrator_enrolment SET revoked_at = now()
		WHERE client_id = $1 AND patient_id = $2 AND revoked_at IS NULL`, clientID, patientID); err != nil {
		return fmt.Errorf("end enrolment with %s: %w", clientID, err)
	}
	return nil
}

// IsAssignedDietitian reports whether the practitioner is the dietitian
// the journey's diet step assigned, with the assignment still open (store
// care_assignment, migration 0015). Holding the dietitian role, or seeing
// the patient through a consent, does not make someone the reviewer.
func (s *Service) IsAssignedDietitian(ctx context.Context, practitionerID, journeyID string) (bool, error) {
	if uuid.Validate(practitionerID) != nil || journeyID == "" {
		return false, nil
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM care_assignment WHERE journey_id = $1 AND practitioner_id = $2
		AND role = 'dietitian' AND ended_at IS NULL AND ends_at > now())`, journeyID, practitionerID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("authorize diet review on %s: %w", journeyID, err)
	}
	return ok, nil
}
