package activities

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/store"
)

// Prescriptions drafts, records the checks of and signs prescriptions in
// PostgreSQL. Signing uses the service's Ed25519 key; the signed record is
// written once and never updated, so VerifyPrescription shows any change
// made to the stored prescription afterwards.
type Prescriptions struct {
	Store  *store.Store
	Signer *PrescriptionSigner
}

// PrescriptionSigner holds the service's prescription signing key.
type PrescriptionSigner struct {
	key   ed25519.PrivateKey
	KeyID string // the first 16 hex digits of SHA-256 of the public key
}

// NewPrescriptionSigner takes the 32-byte Ed25519 seed (PRESCRIPTION_SIGNING_KEY).
func NewPrescriptionSigner(seed []byte) (*PrescriptionSigner, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("prescription signer: the key must be a %d-byte Ed25519 seed, got %d bytes", ed25519.SeedSize, len(seed))
	}
	key := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(key.Public().(ed25519.PublicKey))
	return &PrescriptionSigner{key: key, KeyID: hex.EncodeToString(sum[:8])}, nil
}

// PublicKey is the key that verifies signatures.
func (s *PrescriptionSigner) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// DraftPrescription stores the draft and reads the patient's profile.
func (a *Prescriptions) DraftPrescription(ctx context.Context, in contract.DraftPrescriptionInput) (contract.DraftPrescriptionResult, error) {
	items := in.Items
	if len(items) == 0 {
		var err error
		if items, err = a.Store.ConsultPrescriptionItems(ctx, in.JourneyID); err != nil {
			return contract.DraftPrescriptionResult{}, prescriptionError("draft prescription", err)
		}
	}
	if len(items) == 0 {
		return contract.DraftPrescriptionResult{}, temporal.NewNonRetryableApplicationError(
			"draft prescription: the consult listed no medicine", contract.ErrTypeNothingToPrescribe, nil)
	}
	p, err := a.Store.CreatePrescription(ctx, store.NewPrescription{JourneyID: in.JourneyID, Step: in.Step, Version: in.Version,
		PatientID: in.PatientID, PractitionerID: in.PractitionerID, Items: items})
	if err != nil {
		return contract.DraftPrescriptionResult{}, prescriptionError("draft prescription", err)
	}
	prof, err := a.Store.PatientClinicalProfile(ctx, in.PatientID, p.CreatedAt)
	if err != nil {
		return contract.DraftPrescriptionResult{}, prescriptionError("draft prescription", err)
	}
	age := prof.AgeYears
	out := contract.DraftPrescriptionResult{PrescriptionID: p.ID, Version: p.Version, Items: p.Items,
		Profile: care.Profile{Conditions: prof.Conditions, Allergies: prof.Allergies, Age: &age, EGFR: prof.EGFR}}
	for _, it := range p.Items {
		out.CheckDrugs = append(out.CheckDrugs, it.Drug)
	}
	out.CheckDrugs = append(out.CheckDrugs, prof.ActiveDrugs...)
	return out, nil
}

// RecordCheck stores the findings, as FHIR DetectedIssue, with the draft.
func (a *Prescriptions) RecordCheck(ctx context.Context, in contract.RecordCheckInput) error {
	if len(in.Findings) != len(in.DetectedIssues) {
		return temporal.NewNonRetryableApplicationError("record check: findings and detected issues differ in number", contract.ErrTypeInvalidInput, nil)
	}
	issues := make([]store.IssueRecord, len(in.Findings))
	for i, f := range in.Findings {
		res, err := json.Marshal(in.DetectedIssues[i])
		if err != nil {
			return fmt.Errorf("record check: encode detected issue %d: %w", i, err)
		}
		issues[i] = store.IssueRecord{Severity: string(f.Severity), Kind: f.Kind, Resource: res}
	}
	return prescriptionError("record check", a.Store.RecordCheck(ctx, in.PrescriptionID, in.Complete, string(in.Highest), issues))
}

// SignPrescription records the review and signs the prescription's
// canonical JSON. Signing again returns the first signature.
func (a *Prescriptions) SignPrescription(ctx context.Context, in contract.SignPrescriptionInput) (contract.SignPrescriptionResult, error) {
	if a.Signer == nil {
		return contract.SignPrescriptionResult{}, errors.New("sign prescription: no signing key configured")
	}
	if in.Action != "approve" && in.Action != "override" {
		return contract.SignPrescriptionResult{}, temporal.NewNonRetryableApplicationError("sign prescription: action must be approve or override", contract.ErrTypeInvalidInput, nil)
	}
	if existing, err := a.Store.GetSignature(ctx, in.PrescriptionID); err == nil {
		return contract.SignPrescriptionResult{PrescriptionID: existing.PrescriptionID, SHA256: existing.SHA256, KeyID: existing.KeyID}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return contract.SignPrescriptionResult{}, prescriptionError("sign prescription", err)
	}
	// PostgreSQL keeps microseconds: sign the time as it will be read back.
	review := store.Review{ActorID: in.ActorID, Action: in.Action, Reason: in.Reason, ReviewedAt: in.ReviewedAt.UTC().Truncate(time.Microsecond)}
	canonical, err := a.canonical(ctx, in.PrescriptionID, review)
	if err != nil {
		return contract.SignPrescriptionResult{}, prescriptionError("sign prescription", err)
	}
	sum := sha256.Sum256(canonical)
	sig, err := a.Store.SignPrescription(ctx, in.PrescriptionID, review, store.Signature{
		Canonical: string(canonical), SHA256: hex.EncodeToString(sum[:]), Signature: ed25519.Sign(a.Signer.key, sum[:]), KeyID: a.Signer.KeyID})
	if err != nil {
		return contract.SignPrescriptionResult{}, prescriptionError("sign prescription", err)
	}
	return contract.SignPrescriptionResult{PrescriptionID: sig.PrescriptionID, SHA256: sig.SHA256, KeyID: sig.KeyID}, nil
}

// ErrPrescriptionAltered is returned by VerifyPrescription when the stored
// prescription no longer matches what was signed.
var ErrPrescriptionAltered = errors.New("the prescription differs from what was signed")

// VerifyPrescription rebuilds the canonical JSON from the stored rows and
// checks it against the signed hash and the signature with pub.
func (a *Prescriptions) VerifyPrescription(ctx context.Context, prescriptionID string, pub ed25519.PublicKey) error {
	sig, err := a.Store.GetSignature(ctx, prescriptionID)
	if err != nil {
		return fmt.Errorf("verify prescription: %w", err)
	}
	review, err := a.Store.GetReview(ctx, prescriptionID)
	if err != nil {
		return fmt.Errorf("verify prescription: %w", err)
	}
	canonical, err := a.canonical(ctx, prescriptionID, review)
	if err != nil {
		return fmt.Errorf("verify prescription: %w", err)
	}
	sum := sha256.Sum256(canonical)
	if hex.EncodeToString(sum[:]) != sig.SHA256 || !bytes.Equal(canonical, []byte(sig.Canonical)) {
		return fmt.Errorf("verify prescription %s: %w", prescriptionID, ErrPrescriptionAltered)
	}
	if !ed25519.Verify(pub, sum[:], sig.Signature) {
		return fmt.Errorf("verify prescription %s: the signature does not verify: %w", prescriptionID, ErrPrescriptionAltered)
	}
	return nil
}

// canonicalPrescription is what is signed. Go encodes struct fields in
// declaration order and there are no maps, so the same rows always give
// the same bytes.
type canonicalPrescription struct {
	ResourceType   string                `json:"resource_type"`
	PrescriptionID string                `json:"prescription_id"`
	JourneyID      string                `json:"journey_id"`
	Version        int                   `json:"version"`
	PatientID      string                `json:"patient_id"`
	PractitionerID string                `json:"practitioner_id"`
	Items          []care.MedicationItem `json:"items"`
	Findings       []canonicalFinding    `json:"findings"`
	Review         canonicalReview       `json:"review"`
}

type canonicalFinding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
}

type canonicalReview struct {
	ActorID    string `json:"actor_id"`
	Action     string `json:"action"`
	Reason     string `json:"reason"`
	ReviewedAt string `json:"reviewed_at"`
}

func (a *Prescriptions) canonical(ctx context.Context, id string, r store.Review) ([]byte, error) {
	p, err := a.Store.GetPrescription(ctx, id)
	if err != nil {
		return nil, err
	}
	issues, err := a.Store.DetectedIssues(ctx, id)
	if err != nil {
		return nil, err
	}
	doc := canonicalPrescription{ResourceType: "CarePathSignedPrescription", PrescriptionID: p.ID, JourneyID: p.JourneyID, Version: p.Version,
		PatientID: p.PatientID, PractitionerID: p.PractitionerID, Items: p.Items, Findings: []canonicalFinding{},
		Review: canonicalReview{ActorID: r.ActorID, Action: r.Action, Reason: r.Reason, ReviewedAt: r.ReviewedAt.UTC().Format(time.RFC3339Nano)}}
	for _, is := range issues {
		doc.Findings = append(doc.Findings, canonicalFinding{Severity: is.Severity, Kind: is.Kind})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("canonical prescription: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// prescriptionError marks what retrying cannot fix. Messages name IDs,
// never drugs or reasons: they are stored in workflow history.
func prescriptionError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(op+": the prescription is incomplete", contract.ErrTypeInvalidInput, nil)
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(op+": not found", contract.ErrTypePrescriptionNotFound, nil)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}
