package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

func newFamily() uuid.UUID { return uuid.New() }

// validPatientAndPractitioner checks the IDs a practitioner's access rule
// needs.
func validPatientAndPractitioner(p Principal, patientID string) (bool, string) {
	if uuid.Validate(patientID) != nil {
		return false, "not a patient ID"
	}
	if uuid.Validate(p.PractitionerID) != nil {
		return false, "no practitioner linked"
	}
	return true, ""
}

// CanSeePatient is the object-level rule for a patient's data:
//   - a patient sees only their own;
//   - a doctor or dietitian sees a patient they have an appointment with
//     (any status but cancelled) or an open care assignment to (the
//     dietitian of a diet step), whose active consent to the whole record
//     names them or their organisation, or under a running break-glass
//     access (CanSeePatientData, which also decides per category);
//   - a coordinator sees patients of their care team: an appointment with a
//     team practitioner, or a patient living in a team city;
//   - an admin sees everyone (the audit trail, a later issue, records it);
//   - a lab partner (an integrator holding labs:write) sees the patients
//     enrolled with it (IntegratorMayActFor);
//   - pharmacists and other integrators see no patient's data through
//     these routes.
//
// It answers with the reason, which is logged; never health data.
func (s *Service) CanSeePatient(ctx context.Context, p Principal, patientID string) (bool, string, error) {
	if uuid.Validate(patientID) != nil {
		return false, "not a patient ID", nil
	}
	var q string
	var arg string
	switch p.Role {
	case RoleAdmin:
		return true, "admin", nil
	case RolePatient:
		if p.PatientID == patientID {
			return true, "own data", nil
		}
		return false, "another patient's data", nil
	case RoleDoctor, RoleDietitian:
		return s.CanSeePatientData(ctx, p, patientID, ConsentAll)
	case RoleCoordinator:
		if uuid.Validate(p.Subject) != nil {
			return false, "no care team", nil
		}
		q = `SELECT CASE
			WHEN EXISTS (SELECT 1 FROM care_team t JOIN patient pa ON pa.city = t.city WHERE t.coordinator_id = $2 AND pa.id = $1) THEN 'care team city'
			WHEN EXISTS (SELECT 1 FROM care_team t JOIN appointment a ON a.practitioner_id = t.practitioner_id
				WHERE t.coordinator_id = $2 AND a.patient_id = $1) THEN 'care team practitioner'
			ELSE '' END`
		arg = p.Subject
	case RoleIntegrator:
		// Routes that let integrators in require a scope (api/access.go);
		// only the lab scope reaches patients' data, and only the data of
		// the patients enrolled with the client.
		if !p.HasScope(ScopeLabsWrite) {
			return false, "integrator without a patient-data scope", nil
		}
		return s.IntegratorMayActFor(ctx, p.Subject, patientID)
	default:
		return false, "role has no access to patient data", nil
	}
	var reason string
	if err := s.pool.QueryRow(ctx, q, patientID, arg).Scan(&reason); err != nil {
		return false, "", fmt.Errorf("authorize patient access: %w", err)
	}
	if reason == "" {
		return false, "no appointment, consent or care team link", nil
	}
	return true, reason, nil
}

// CanActForPractitioner is the object-level rule for a doctor's own
// business (earnings, appointment requests):
//   - a doctor or dietitian acts only for their own practitioner record;
//   - a coordinator for the practitioners of their care team (named, or
//     working in a team city);
//   - an admin for everyone;
//   - patients, pharmacists and integrators for nobody.
//
// Routes narrow it further by role (only the doctor withdraws, say).
func (s *Service) CanActForPractitioner(ctx context.Context, p Principal, practitionerID string) (bool, string, error) {
	if uuid.Validate(practitionerID) != nil {
		return false, "not a practitioner ID", nil
	}
	switch p.Role {
	case RoleAdmin:
		return true, "admin", nil
	case RoleDoctor, RoleDietitian:
		if p.PractitionerID != "" && p.PractitionerID == practitionerID {
			return true, "own practice", nil
		}
		return false, "another practitioner's business", nil
	case RoleCoordinator:
		if uuid.Validate(p.Subject) != nil {
			return false, "no care team", nil
		}
		var ok bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM care_team t LEFT JOIN practitioner pr ON pr.city = t.city
			WHERE t.coordinator_id = $2 AND (t.practitioner_id = $1 OR pr.id = $1))`, practitionerID, p.Subject).Scan(&ok)
		if err != nil {
			return false, "", fmt.Errorf("authorize practitioner access: %w", err)
		}
		if ok {
			return true, "care team practitioner", nil
		}
		return false, "not a care team practitioner", nil
	default:
		return false, "role has no access to practitioners' business", nil
	}
}
