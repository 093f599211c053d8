// Package pharmacysim is a partner pharmacy network simulator: its own HTTP
// API, stock levels per pharmacy, FHIR R4 MedicationRequest orders, and
// status callbacks to a webhook signed with HMAC-SHA256. cmd/pharmacy-sim
// runs it as its own process for the local stack; tests run it in-process
// with httptest. It checks the wire format it receives against FHIR's
// field names generically (not with CarePath's Go types), so a change to
// what CarePath sends that breaks the contract fails here.
package pharmacysim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carepath/carepath/pharmacy"
	"github.com/google/uuid"
)

// Options configure the simulator.
type Options struct {
	// WebhookURL receives the status callbacks; empty sends none.
	WebhookURL    string
	WebhookSecret string
	// StepDelay is the time between one status and the next.
	StepDelay time.Duration
	// DefaultStock is what a pharmacy holds of a drug it has no level for.
	DefaultStock int
	HTTP         *http.Client
	Logger       *slog.Logger
}

// Order is an order as the simulator holds it.
type Order struct {
	ID         string          `json:"order_id"`
	Reference  string          `json:"reference"` // the bundle identifier: CarePath's order ID
	PharmacyID string          `json:"pharmacy_id"`
	Status     string          `json:"status"`
	Items      []stockItem     `json:"items"`
	Bundle     json.RawMessage `json:"-"`
}

type stockItem struct {
	Drug     string `json:"drug"`
	Quantity int    `json:"quantity"`
}

// Sim is the simulator. Its zero value is not usable; call New.
type Sim struct {
	opts   Options
	mu     sync.Mutex
	stock  map[string]map[string]int // pharmacy -> lowercase drug -> units
	orders map[string]*Order
	byKey  map[string]string // idempotency key -> order ID
	seq    int
	// instance keeps partner order IDs unique across restarts, as a real
	// partner's are.
	instance string
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sim{opts: o, instance: uuid.NewString()[:8], stock: map[string]map[string]int{}, orders: map[string]*Order{}, byKey: map[string]string{}, ctx: ctx, cancel: cancel}
}

// Close stops sending callbacks and waits for those in flight.
func (s *Sim) Close() {
	s.cancel()
	s.wg.Wait()
}

// SetWebhookURL changes where status callbacks go (a test learns its API
// server's address after starting the simulator).
func (s *Sim) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.WebhookURL = u
}

// SetStock sets a pharmacy's units of a drug.
func (s *Sim) SetStock(pharmacyID, drug string, units int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stock[pharmacyID] == nil {
		s.stock[pharmacyID] = map[string]int{}
	}
	s.stock[pharmacyID][norm(drug)] = units
}

// Orders returns a copy of every order received, with its raw bundle.
func (s *Sim) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, *o)
	}
	return out
}

func norm(drug string) string { return strings.ToLower(strings.TrimSpace(drug)) }

func (s *Sim) units(pharmacyID, drug string) int {
	if n, ok := s.stock[pharmacyID][norm(drug)]; ok {
		return n
	}
	return s.opts.DefaultStock
}

// Handler serves the partner API.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /pharmacies/{id}/stock-check", s.stockCheck)
	mux.HandleFunc("PUT /pharmacies/{id}/stock", s.putStock)
	mux.HandleFunc("POST /pharmacies/{id}/MedicationRequest", s.order)
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	return mux
}

func (s *Sim) stockCheck(w http.ResponseWriter, r *http.Request) {
	var check pharmacy.StockCheck
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&check); err != nil || len(check.Items) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"items\": [{\"drug\", \"quantity\"}]}"})
		return
	}
	s.mu.Lock()
	ok := true
	for _, it := range check.Items {
		ok = ok && s.units(r.PathValue("id"), it.Drug) >= it.Quantity
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, pharmacy.StockAnswer{Available: ok})
}

func (s *Sim) putStock(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Items map[string]int `json:"items"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"items\": {\"drug\": units}}"})
		return
	}
	for drug, n := range body.Items {
		s.SetStock(r.PathValue("id"), drug, n)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) getOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o, ok := s.orders[r.PathValue("id")]
	var cp Order
	if ok {
		cp = *o
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// order takes a FHIR Bundle of MedicationRequests. The same Idempotency-Key
// gets the same order back, without a second dispensing.
func (s *Sim) order(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		operationOutcome(w, http.StatusUnsupportedMediaType, "Content-Type must be application/fhir+json")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		operationOutcome(w, http.StatusBadRequest, "Idempotency-Key is required")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		operationOutcome(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	ref, items, err := ValidateBundle(raw)
	if err != nil {
		operationOutcome(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	pharmacyID := r.PathValue("id")
	s.mu.Lock()
	if id, seen := s.byKey[key]; seen {
		o := *s.orders[id]
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, pharmacy.OrderAnswer{OrderID: o.ID, Status: "received"})
		return
	}
	s.seq++
	o := &Order{ID: fmt.Sprintf("PO-%s-%d", s.instance, s.seq), Reference: ref, PharmacyID: pharmacyID, Status: "received", Items: items, Bundle: raw}
	inStock := true
	for _, it := range items {
		inStock = inStock && s.units(pharmacyID, it.Drug) >= it.Quantity
	}
	if inStock {
		for _, it := range items {
			if s.stock[pharmacyID] == nil {
				s.stock[pharmacyID] = map[string]int{}
			}
			s.stock[pharmacyID][norm(it.Drug)] = s.units(pharmacyID, it.Drug) - it.Quantity
		}
	}
	s.orders[o.ID], s.byKey[key] = o, o.ID
	s.mu.Unlock()
	statuses := []string{pharmacy.OutOfStock}
	if inStock {
		statuses = []string{pharmacy.Accepted, pharmacy.Ready, pharmacy.Dispensed, pharmacy.Delivered}
	}
	s.wg.Add(1)
	go s.progress(o.ID, ref, statuses)
	writeJSON(w, http.StatusCreated, pharmacy.OrderAnswer{OrderID: o.ID, Status: "received"})
}

// progress walks an order through its statuses, calling the webhook for each.
func (s *Sim) progress(orderID, ref string, statuses []string) {
	defer s.wg.Done()
	for i, status := range statuses {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.opts.StepDelay):
		}
		s.mu.Lock()
		s.orders[orderID].Status = status
		s.mu.Unlock()
		ev := pharmacy.Event{EventID: "evt_" + uuid.NewString(), OrderID: ref, PartnerOrderID: orderID,
			Status: status, Sequence: i + 1, OccurredAt: time.Now().UTC()}
		s.deliver(ev)
	}
}

// deliver posts an event, retrying with backoff as partners do; a
// delivery that never succeeds is logged and dropped.
func (s *Sim) deliver(ev pharmacy.Event) {
	s.mu.Lock()
	target := s.opts.WebhookURL
	s.mu.Unlock()
	if target == "" {
		return
	}
	body, err := json.Marshal(ev)
	if err != nil {
		s.opts.Logger.Error("Encode webhook", "error", err)
		return
	}
	backoff := 200 * time.Millisecond
	for attempt := 1; attempt <= 6; attempt++ {
		req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			s.opts.Logger.Error("Build webhook request", "error", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(pharmacy.SignatureHeader, pharmacy.SignWebhook(s.opts.WebhookSecret, body, time.Now()))
		resp, err := s.opts.HTTP.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode < 300 {
				s.opts.Logger.Info("Webhook delivered", "event", ev.EventID, "status", ev.Status)
				return
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		s.opts.Logger.Warn("Webhook delivery failed", "event", ev.EventID, "attempt", attempt, "error", err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// ValidateBundle checks a FHIR R4 Bundle of MedicationRequests field by
// field and returns the bundle identifier and the items to dispense.
func ValidateBundle(raw []byte) (string, []stockItem, error) {
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		return "", nil, fmt.Errorf("not JSON: %w", err)
	}
	if b["resourceType"] != "Bundle" || b["type"] != "collection" {
		return "", nil, fmt.Errorf("want a Bundle of type collection")
	}
	ref, _ := path(b, "identifier", "value").(string)
	if ref == "" {
		return "", nil, fmt.Errorf("Bundle.identifier.value is required")
	}
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 {
		return "", nil, fmt.Errorf("Bundle.entry is empty")
	}
	var items []stockItem
	group := ""
	for i, e := range entries {
		mr, _ := path(e, "resource").(map[string]any)
		bad := func(what string) error { return fmt.Errorf("entry %d: %s", i, what) }
		switch {
		case mr == nil || mr["resourceType"] != "MedicationRequest":
			return "", nil, bad("resource must be a MedicationRequest")
		case mr["status"] != "active" || mr["intent"] != "order":
			return "", nil, bad("status must be active and intent order")
		case !strings.HasPrefix(str(path(mr, "subject", "reference")), "Patient/"):
			return "", nil, bad("subject must reference a Patient")
		case !strings.HasPrefix(str(path(mr, "requester", "reference")), "Practitioner/"):
			return "", nil, bad("requester must reference a Practitioner")
		case str(path(mr, "medicationCodeableConcept", "text")) == "":
			return "", nil, bad("medicationCodeableConcept.text is required")
		case str(path(mr, "groupIdentifier", "value")) == "":
			return "", nil, bad("groupIdentifier.value is required")
		case str(path(mr, "dispenseRequest", "expectedSupplyDuration", "code")) != "d":
			return "", nil, bad("dispenseRequest.expectedSupplyDuration must be in days (UCUM d)")
		}
		if _, err := time.Parse(time.RFC3339, str(mr["authoredOn"])); err != nil {
			return "", nil, bad("authoredOn must be a FHIR dateTime")
		}
		dosage, _ := mr["dosageInstruction"].([]any)
		if len(dosage) == 0 || str(path(dosage[0], "text")) == "" || str(path(dosage[0], "route", "text")) == "" {
			return "", nil, bad("dosageInstruction needs text and route")
		}
		qty, _ := path(mr, "dispenseRequest", "quantity", "value").(float64)
		if qty <= 0 || qty != float64(int(qty)) {
			return "", nil, bad("dispenseRequest.quantity.value must be a positive whole number")
		}
		if g := str(path(mr, "groupIdentifier", "value")); group == "" {
			group = g
		} else if g != group {
			return "", nil, bad("every MedicationRequest must share the groupIdentifier")
		}
		items = append(items, stockItem{Drug: str(path(mr, "medicationCodeableConcept", "text")), Quantity: int(qty)})
	}
	return ref, items, nil
}

func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client has gone if this fails; nothing to tell it
}

func operationOutcome(w http.ResponseWriter, status int, diagnostics string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "OperationOutcome",
		"issue": []map[string]string{{"severity": "error", "code": "invalid", "diagnostics": diagnostics}}})
}
