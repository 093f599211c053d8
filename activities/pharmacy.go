package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/activities/contract"
	"github.com/carepath/carepath/care"
	"github.com/carepath/carepath/pharmacy"
	"github.com/carepath/carepath/store"
)

// Pharmacy talks to the pharmacy partner network over HTTP: stock levels,
// prescriptions sent as FHIR R4 MedicationRequests. Orders are recorded in
// PostgreSQL before they are sent; the order ID is the partner call's
// idempotency key, so a retried activity never orders twice.
type Pharmacy struct {
	Store   *store.Store
	HTTP    *http.Client
	BaseURL string // PHARMACY_API_BASE
}

// ChoosePharmacies reads the signed prescription and asks each partner
// pharmacy for its stock of every item it sends (for a refill, the one).
func (a *Pharmacy) ChoosePharmacies(ctx context.Context, in contract.ChoosePharmaciesInput) (contract.ChoosePharmaciesResult, error) {
	p, err := a.prescriptionToFill(ctx, in)
	if err != nil {
		return contract.ChoosePharmaciesResult{}, err
	}
	all, err := a.Store.PharmaciesFor(ctx, in.PatientID)
	if err != nil {
		return contract.ChoosePharmaciesResult{}, fmt.Errorf("choose pharmacies: %w", err)
	}
	out := contract.ChoosePharmaciesResult{PrescriptionID: p.ID, Candidates: []care.Pharmacy{}}
	var check pharmacy.StockCheck
	for i, it := range p.Items {
		if in.Position == nil || *in.Position == i {
			check.Items = append(check.Items, pharmacy.StockItem{Drug: it.Drug, Quantity: it.Quantity})
		}
	}
	for _, ph := range all {
		ok, err := a.hasStock(ctx, ph.ID, check)
		if err != nil {
			return contract.ChoosePharmaciesResult{}, fmt.Errorf("choose pharmacies: %w", err)
		}
		if ok {
			out.Candidates = append(out.Candidates, ph)
		}
	}
	return out, nil
}

// prescriptionToFill is the journey's latest signed prescription, or for a
// refill the named one, which must be the patient's, signed, and hold the
// item.
func (a *Pharmacy) prescriptionToFill(ctx context.Context, in contract.ChoosePharmaciesInput) (store.Prescription, error) {
	noPrescription := func(why string) error {
		return temporal.NewNonRetryableApplicationError("choose pharmacies: "+why, contract.ErrTypeNoSignedPrescription, nil)
	}
	if in.PrescriptionID == "" {
		p, err := a.Store.LatestSignedPrescription(ctx, in.JourneyID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Prescription{}, noPrescription("the journey has no signed prescription")
		}
		if err != nil {
			return store.Prescription{}, fmt.Errorf("choose pharmacies: %w", err)
		}
		return p, nil
	}
	p, err := a.Store.GetPrescription(ctx, in.PrescriptionID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Prescription{}, noPrescription("the prescription does not exist")
	}
	if err != nil {
		return store.Prescription{}, fmt.Errorf("choose pharmacies: %w", err)
	}
	switch {
	case p.PatientID != in.PatientID:
		return store.Prescription{}, noPrescription("the prescription is not the patient's")
	case p.Status != store.PrescriptionSigned:
		return store.Prescription{}, noPrescription("the prescription is not signed")
	case in.Position != nil && (*in.Position < 0 || *in.Position >= len(p.Items)):
		return store.Prescription{}, noPrescription("the prescription has no such item")
	}
	return p, nil
}

func (a *Pharmacy) hasStock(ctx context.Context, pharmacyID string, check pharmacy.StockCheck) (bool, error) {
	body, err := json.Marshal(check)
	if err != nil {
		return false, fmt.Errorf("stock of %s: %w", pharmacyID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.BaseURL+"/pharmacies/"+url.PathEscape(pharmacyID)+"/stock-check", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("stock of %s: %w", pharmacyID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client().Do(req)
	if err != nil {
		return false, fmt.Errorf("stock of %s: %w", pharmacyID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil // not on the partner network
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("stock of %s: partner answered %s", pharmacyID, resp.Status)
	}
	var ans pharmacy.StockAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans); err != nil {
		return false, fmt.Errorf("stock of %s: decode: %w", pharmacyID, err)
	}
	return ans.Available, nil
}

func (a *Pharmacy) client() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return &http.Client{Timeout: 20 * time.Second}
}

// SendPrescription posts the prescription as a FHIR R4 Bundle of
// MedicationRequests to POST /pharmacies/{id}/MedicationRequest.
func (a *Pharmacy) SendPrescription(ctx context.Context, in contract.SendPrescriptionInput) (contract.SendPrescriptionResult, error) {
	order, err := a.Store.CreatePharmacyOrder(ctx, store.PharmacyOrder{JourneyID: in.JourneyID, Step: in.Step, Attempt: in.Attempt,
		PrescriptionID: in.PrescriptionID, PharmacyID: in.PharmacyID, Position: in.Position, WorkflowID: in.WorkflowID})
	if err != nil {
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	if order.PartnerOrderID != "" {
		return contract.SendPrescriptionResult{OrderID: order.ID, PartnerOrderID: order.PartnerOrderID}, nil
	}
	p, err := a.Store.GetPrescription(ctx, in.PrescriptionID)
	if err != nil {
		return contract.SendPrescriptionResult{}, prescriptionError("send prescription", err)
	}
	sig, err := a.Store.GetSignature(ctx, in.PrescriptionID)
	if err != nil {
		return contract.SendPrescriptionResult{}, prescriptionError("send prescription", err)
	}
	body, err := json.Marshal(pharmacy.MedicationRequestBundle(signedPrescription(p, sig), order.ID, order.Position))
	if err != nil {
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.BaseURL+"/pharmacies/"+url.PathEscape(in.PharmacyID)+"/MedicationRequest", bytes.NewReader(body))
	if err != nil {
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", order.ID)
	resp, err := a.client().Do(req)
	if err != nil {
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: partner answered %s", resp.Status)
	case resp.StatusCode >= 400:
		return contract.SendPrescriptionResult{}, temporal.NewNonRetryableApplicationError("send prescription: partner refused the request: "+resp.Status, contract.ErrTypePharmacyRejected, nil)
	}
	var ans pharmacy.OrderAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans); err != nil || ans.OrderID == "" {
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: the partner's answer has no order ID (decode: %v)", err)
	}
	if err := a.Store.SetPartnerOrder(ctx, order.ID, ans.OrderID, "sent"); err != nil {
		return contract.SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	return contract.SendPrescriptionResult{OrderID: order.ID, PartnerOrderID: ans.OrderID}, nil
}

// signedPrescription is what the partner's order carries of a stored,
// signed prescription.
func signedPrescription(p store.Prescription, sig store.Signature) pharmacy.SignedPrescription {
	return pharmacy.SignedPrescription{ID: p.ID, PatientID: p.PatientID, PractitionerID: p.PractitionerID, Items: p.Items,
		SHA256: sig.SHA256, SignedAt: sig.SignedAt}
}
