// Package pharmacy is the wire protocol CarePath shares with its pharmacy
// partners: the FHIR R4 MedicationRequest bundle an order is sent as, the
// stock check, the partner's answers, and the signed status webhooks with
// the order in which their statuses happen. The pharmacy activities speak
// it as the client, the API's webhook route and the local simulator
// (internal/pharmacysim) as the other side; none of them owns it, so it
// lives here, free of their clients.
package pharmacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carepath/carepath/care"
)

// Statuses a pharmacy partner reports for an order, in the order they
// happen; OutOfStock ends an order instead.
const (
	Accepted   = "accepted"
	Ready      = "ready"
	Dispensed  = "dispensed"
	Delivered  = "delivered"
	OutOfStock = "out_of_stock"
)

// StatusRank orders the statuses: a status of a lower or equal rank
// than the one an order has reached changes nothing (out-of-order webhook).
// Zero means not a status.
func StatusRank(status string) int {
	switch status {
	case Accepted:
		return 1
	case Ready:
		return 2
	case Dispensed:
		return 3
	case Delivered, OutOfStock:
		return 4
	}
	return 0
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

// OrderAnswer is the partner's answer to an order.
type OrderAnswer struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
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

// SignedPrescription is what an order carries of a signed prescription:
// its items and the hash and time of the doctor's signature.
type SignedPrescription struct {
	ID             string
	PatientID      string
	PractitionerID string
	Items          []care.MedicationItem
	SHA256         string
	SignedAt       time.Time
}

// MedicationRequestBundle maps a signed prescription to the partner's wire
// format. The bundle's identifier is our order ID, which the partner's
// webhooks quote back; each request carries the signed hash. With only set
// (a refill), the bundle carries that one item, under the same identifier
// as in the first order.
func MedicationRequestBundle(p SignedPrescription, orderID string, only *int) FHIRBundle {
	b := FHIRBundle{ResourceType: "Bundle", Type: "collection", Identifier: FHIRIdentifier{System: OrderIDSystem, Value: orderID}}
	for i, it := range p.Items {
		if only != nil && *only != i {
			continue
		}
		b.Entry = append(b.Entry, FHIRBundleItem{Resource: FHIRMedicationRequest{
			ResourceType: "MedicationRequest",
			Identifier: []FHIRIdentifier{{System: PrescriptionIDSystem, Value: p.ID + "/" + strconv.Itoa(i)},
				{System: SignatureSystem, Value: p.SHA256}},
			GroupIdentifier:           FHIRIdentifier{System: PrescriptionIDSystem, Value: p.ID},
			Status:                    "active",
			Intent:                    "order",
			MedicationCodeableConcept: FHIRText{Text: it.Drug},
			Subject:                   FHIRReference{Reference: "Patient/" + p.PatientID},
			Requester:                 FHIRReference{Reference: "Practitioner/" + p.PractitionerID},
			AuthoredOn:                p.SignedAt.UTC().Format(time.RFC3339),
			DosageInstruction:         []FHIRDosage{{Text: it.Dose + " " + it.Frequency, Route: FHIRText{Text: it.Route}}},
			DispenseRequest: FHIRDispenseRequest{NumberOfRepeatsAllowed: it.Refills,
				Quantity:               FHIRQuantity{Value: it.Quantity, Unit: "unit"},
				ExpectedSupplyDuration: FHIRQuantity{Value: it.DurationDays, Unit: "days", System: "http://unitsofmeasure.org", Code: "d"}},
		}})
	}
	return b
}

// Event is the body of a partner webhook: our order ID (the
// bundle's identifier), the partner's, the status and its sequence number
// within the order.
type Event struct {
	EventID        string    `json:"event_id"`
	OrderID        string    `json:"order_id"`
	PartnerOrderID string    `json:"partner_order_id"`
	Status         string    `json:"status"`
	Sequence       int       `json:"sequence"`
	OccurredAt     time.Time `json:"occurred_at"`
}

// SignatureHeader carries the webhook's HMAC: "t=UNIX,v1=HEX",
// HEX being HMAC-SHA256 over "UNIX.BODY" with the shared secret.
const SignatureHeader = "X-Pharmacy-Signature"

// SignWebhook computes the signature header for body at t.
func SignWebhook(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + webhookMAC(secret, ts, body)
}

func webhookMAC(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is returned when a webhook does not verify.
var ErrBadSignature = errors.New("pharmacy webhook signature does not verify")

// VerifyWebhook checks the header over body and that it was made
// within tolerance of now, so a captured request cannot be replayed later.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
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
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: outside the %s tolerance", ErrBadSignature, tolerance)
	}
	if !hmac.Equal([]byte(mac), []byte(webhookMAC(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}
