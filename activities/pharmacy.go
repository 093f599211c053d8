package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/carepath/carepath/store"
)

// Application error types of the pharmacy activities.
const (
	// ErrTypePharmacyRejected: the partner refused the request as invalid
	// (a 4xx answer). Sending the same request again will not help.
	ErrTypePharmacyRejected = "PharmacyRejected"
	// ErrTypeNoSignedPrescription: the journey has no signed prescription to send.
	ErrTypeNoSignedPrescription = "NoSignedPrescription"
)

// Statuses a pharmacy partner reports for an order, in the order they
// happen; OutOfStock ends an order instead.
const (
	PharmacyAccepted   = "accepted"
	PharmacyReady      = "ready"
	PharmacyDispensed  = "dispensed"
	PharmacyDelivered  = "delivered"
	PharmacyOutOfStock = "out_of_stock"
)

// PharmacyStatusRank orders the statuses: a status of a lower or equal rank
// than the one an order has reached changes nothing (out-of-order webhook).
// Zero means not a status.
func PharmacyStatusRank(status string) int {
	switch status {
	case PharmacyAccepted:
		return 1
	case PharmacyReady:
		return 2
	case PharmacyDispensed:
		return 3
	case PharmacyDelivered, PharmacyOutOfStock:
		return 4
	}
	return 0
}

// Pharmacy talks to the pharmacy partner network over HTTP: stock levels,
// prescriptions sent as FHIR R4 MedicationRequests. Orders are recorded in
// PostgreSQL before they are sent; the order ID is the partner call's
// idempotency key, so a retried activity never orders twice.
type Pharmacy struct {
	Store   *store.Store
	HTTP    *http.Client
	BaseURL string // PHARMACY_API_BASE
}

// ChoosePharmaciesInput names the journey whose signed prescription is to be
// filled. A refill names the prescription and the one item (Position) to
// fill again instead.
type ChoosePharmaciesInput struct {
	JourneyID      string `json:"journey_id"`
	PatientID      string `json:"patient_id"`
	PrescriptionID string `json:"prescription_id,omitempty"`
	Position       *int   `json:"position,omitempty"`
}

// ChoosePharmaciesResult is the prescription to send and the pharmacies to
// try, in order: the patient's preferred one, then the nearest; only those
// that report stock for every item.
type ChoosePharmaciesResult struct {
	PrescriptionID string           `json:"prescription_id"`
	Candidates     []store.Pharmacy `json:"candidates"`
}

// ChoosePharmacies reads the signed prescription and asks each partner
// pharmacy for its stock of every item it sends (for a refill, the one).
func (a *Pharmacy) ChoosePharmacies(ctx context.Context, in ChoosePharmaciesInput) (ChoosePharmaciesResult, error) {
	p, err := a.prescriptionToFill(ctx, in)
	if err != nil {
		return ChoosePharmaciesResult{}, err
	}
	all, err := a.Store.PharmaciesFor(ctx, in.PatientID)
	if err != nil {
		return ChoosePharmaciesResult{}, fmt.Errorf("choose pharmacies: %w", err)
	}
	out := ChoosePharmaciesResult{PrescriptionID: p.ID, Candidates: []store.Pharmacy{}}
	var check StockCheck
	for i, it := range p.Items {
		if in.Position == nil || *in.Position == i {
			check.Items = append(check.Items, StockItem{Drug: it.Drug, Quantity: it.Quantity})
		}
	}
	for _, ph := range all {
		ok, err := a.hasStock(ctx, ph.ID, check)
		if err != nil {
			return ChoosePharmaciesResult{}, fmt.Errorf("choose pharmacies: %w", err)
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
func (a *Pharmacy) prescriptionToFill(ctx context.Context, in ChoosePharmaciesInput) (store.Prescription, error) {
	noPrescription := func(why string) error {
		return temporal.NewNonRetryableApplicationError("choose pharmacies: "+why, ErrTypeNoSignedPrescription, nil)
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

// StockCheck asks a pharmacy whether it holds every item
// (POST /pharmacies/{id}/stock-check). Drug names travel in the body, never
// in a URL that proxies would log.
type StockCheck struct {
	Items []StockItem `json:"items"`
}

// StockItem is a drug and the units wanted.
type StockItem struct {
	Drug     string `json:"drug"`
	Quantity int    `json:"quantity"`
}

// StockAnswer is the partner's answer to a StockCheck.
type StockAnswer struct {
	Available bool `json:"available"`
}

func (a *Pharmacy) hasStock(ctx context.Context, pharmacyID string, check StockCheck) (bool, error) {
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
	var ans StockAnswer
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

// SendPrescriptionInput sends the prescription to one pharmacy; Attempt
// counts the pharmacies tried by the step. A refill sends the one item at
// Position, and names the workflow that follows the order (WorkflowID).
type SendPrescriptionInput struct {
	JourneyID      string `json:"journey_id"`
	Step           string `json:"step"`
	Attempt        int    `json:"attempt"`
	PrescriptionID string `json:"prescription_id"`
	PharmacyID     string `json:"pharmacy_id"`
	Position       *int   `json:"position,omitempty"`
	WorkflowID     string `json:"workflow_id,omitempty"`
}

// SendPrescriptionResult names the order, ours and the partner's.
type SendPrescriptionResult struct {
	OrderID        string `json:"order_id"`
	PartnerOrderID string `json:"partner_order_id"`
}

// PartnerOrderAnswer is the partner's answer to an order.
type PartnerOrderAnswer struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
}

// SendPrescription posts the prescription as a FHIR R4 Bundle of
// MedicationRequests to POST /pharmacies/{id}/MedicationRequest.
func (a *Pharmacy) SendPrescription(ctx context.Context, in SendPrescriptionInput) (SendPrescriptionResult, error) {
	order, err := a.Store.CreatePharmacyOrder(ctx, store.PharmacyOrder{JourneyID: in.JourneyID, Step: in.Step, Attempt: in.Attempt,
		PrescriptionID: in.PrescriptionID, PharmacyID: in.PharmacyID, Position: in.Position, WorkflowID: in.WorkflowID})
	if err != nil {
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	if order.PartnerOrderID != "" {
		return SendPrescriptionResult{OrderID: order.ID, PartnerOrderID: order.PartnerOrderID}, nil
	}
	p, err := a.Store.GetPrescription(ctx, in.PrescriptionID)
	if err != nil {
		return SendPrescriptionResult{}, prescriptionError("send prescription", err)
	}
	sig, err := a.Store.GetSignature(ctx, in.PrescriptionID)
	if err != nil {
		return SendPrescriptionResult{}, prescriptionError("send prescription", err)
	}
	body, err := json.Marshal(MedicationRequestBundle(p, sig, order.ID, order.Position))
	if err != nil {
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.BaseURL+"/pharmacies/"+url.PathEscape(in.PharmacyID)+"/MedicationRequest", bytes.NewReader(body))
	if err != nil {
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", order.ID)
	resp, err := a.client().Do(req)
	if err != nil {
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: partner answered %s", resp.Status)
	case resp.StatusCode >= 400:
		return SendPrescriptionResult{}, temporal.NewNonRetryableApplicationError("send prescription: partner refused the request: "+resp.Status, ErrTypePharmacyRejected, nil)
	}
	var ans PartnerOrderAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans); err != nil || ans.OrderID == "" {
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: the partner's answer has no order ID (decode: %v)", err)
	}
	if err := a.Store.SetPartnerOrder(ctx, order.ID, ans.OrderID, "sent"); err != nil {
		return SendPrescriptionResult{}, fmt.Errorf("send prescription: %w", err)
	}
	return SendPrescriptionResult{OrderID: order.ID, PartnerOrderID: ans.OrderID}, nil
}

// FHIR R4 shapes of the MedicationRequest the partner receives.
type (
	// FHIRBundle is a FHIR Bundle of type collection.
	FHIRBundle struct {
		ResourceType string           `json:"resourceType"`
		Type         string           `json:"type"`
		Identifier   FHIRIdentifier   `json:"identifier"`
		Entry        []FHIRBundleItem `json:"entry"`
	}
	// FHIRBundleItem is one entry of a bundle.
	FHIRBundleItem struct {
		Resource FHIRMedicationRequest `json:"resource"`
	}
	// FHIRIdentifier is a FHIR Identifier.
	FHIRIdentifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	// FHIRReference is a FHIR Reference.
	FHIRReference struct {
		Reference string `json:"reference"`
	}
	// FHIRText is a CodeableConcept given by text.
	FHIRText struct {
		Text string `json:"text"`
	}
	// FHIRQuantity is a FHIR Quantity.
	FHIRQuantity struct {
		Value  int    `json:"value"`
		Unit   string `json:"unit,omitempty"`
		System string `json:"system,omitempty"`
		Code   string `json:"code,omitempty"`
	}
	// FHIRDosage is a FHIR Dosage given by text, with its route.
	FHIRDosage struct {
		Text  string   `json:"text"`
		Route FHIRText `json:"route"`
	}
	// FHIRDispenseRequest is MedicationRequest.dispenseRequest.
	FHIRDispenseRequest struct {
		NumberOfRepeatsAllowed int          `json:"numberOfRepeatsAllowed"`
		Quantity               FHIRQuantity `json:"quantity"`
		ExpectedSupplyDuration FHIRQuantity `json:"expectedSupplyDuration"`
	}
	// FHIRMedicationRequest is a FHIR R4 MedicationRequest.
	FHIRMedicationRequest struct {
		ResourceType              string              `json:"resourceType"`
		Identifier                []FHIRIdentifier    `json:"identifier"`
		GroupIdentifier           FHIRIdentifier      `json:"groupIdentifier"`
		Status                    string              `json:"status"`
		Intent                    string              `json:"intent"`
		MedicationCodeableConcept FHIRText            `json:"medicationCodeableConcept"`
		Subject                   FHIRReference       `json:"subject"`
		Requester                 FHIRReference       `json:"requester"`
		AuthoredOn                string              `json:"authoredOn"`
		DosageInstruction         []FHIRDosage        `json:"dosageInstruction"`
		DispenseRequest           FHIRDispenseRequest `json:"dispenseRequest"`
	}
)

// FHIR identifier systems CarePath uses.
const (
	OrderIDSystem        = "urn:carepath:pharmacy-order"
	PrescriptionIDSystem = "urn:carepath:prescription"
	SignatureSystem      = "urn:carepath:prescription-sha256"
)

// MedicationRequestBundle maps a signed prescription to the partner's wire
// format. The bundle's identifier is our order ID, which the partner's
// webhooks quote back; each request carries the signed hash. With only set
// (a refill), the bundle carries that one item, under the same identifier
// as in the first order.
func MedicationRequestBundle(p store.Prescription, sig store.Signature, orderID string, only *int) FHIRBundle {
	b := FHIRBundle{ResourceType: "Bundle", Type: "collection", Identifier: FHIRIdentifier{System: OrderIDSystem, Value: orderID}}
	for i, it := range p.Items {
		if only != nil && *only != i {
			continue
		}
		b.Entry = append(b.Entry, FHIRBundleItem{Resource: FHIRMedicationRequest{
			ResourceType: "MedicationRequest",
			Identifier: []FHIRIdentifier{{System: PrescriptionIDSystem, Value: p.ID + "/" + strconv.Itoa(i)},
				{System: SignatureSystem, Value: sig.SHA256}},
			GroupIdentifier:           FHIRIdentifier{System: PrescriptionIDSystem, Value: p.ID},
			Status:                    "active",
			Intent:                    "order",
			MedicationCodeableConcept: FHIRText{Text: it.Drug},
			Subject:                   FHIRReference{Reference: "Patient/" + p.PatientID},
			Requester:                 FHIRReference{Reference: "Practitioner/" + p.PractitionerID},
			AuthoredOn:                sig.SignedAt.UTC().Format(time.RFC3339),
			DosageInstruction:         []FHIRDosage{{Text: it.Dose + " " + it.Frequency, Route: FHIRText{Text: it.Route}}},
			DispenseRequest: FHIRDispenseRequest{NumberOfRepeatsAllowed: it.Refills,
				Quantity:               FHIRQuantity{Value: it.Quantity, Unit: "unit"},
				ExpectedSupplyDuration: FHIRQuantity{Value: it.DurationDays, Unit: "days", System: "http://unitsofmeasure.org", Code: "d"}},
		}})
	}
	return b
}

// PharmacyEvent is the body of a partner webhook: our order ID (the
// bundle's identifier), the partner's, the status and its sequence number
// within the order.
type PharmacyEvent struct {
	EventID        string    `json:"event_id"`
	OrderID        string    `json:"order_id"`
	PartnerOrderID string    `json:"partner_order_id"`
	Status         string    `json:"status"`
	Sequence       int       `json:"sequence"`
	OccurredAt     time.Time `json:"occurred_at"`
}

// PharmacySignatureHeader carries the webhook's HMAC: "t=UNIX,v1=HEX",
// HEX being HMAC-SHA256 over "UNIX.BODY" with the shared secret.
const PharmacySignatureHeader = "X-Pharmacy-Signature"

// SignPharmacyWebhook computes the signature header for body at t.
func SignPharmacyWebhook(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + pharmacyMAC(secret, ts, body)
}

func pharmacyMAC(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadPharmacySignature is returned when a webhook does not verify.
var ErrBadPharmacySignature = errors.New("pharmacy webhook signature does not verify")

// VerifyPharmacyWebhook checks the header over body and that it was made
// within tolerance of now, so a captured request cannot be replayed later.
func VerifyPharmacyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, mac string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			mac = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || mac == "" {
		return ErrBadPharmacySignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: outside the %s tolerance", ErrBadPharmacySignature, tolerance)
	}
	if !hmac.Equal([]byte(mac), []byte(pharmacyMAC(secret, ts, body))) {
		return ErrBadPharmacySignature
	}
	return nil
}
