package care

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Quantity is a measured value with its unit. An empty Unit means the
// feature's declared unit. In JSON it is either a bare number (declared
// unit) or {"value": 5.4, "unit": "mmol/L"}.
type Quantity struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// UnmarshalJSON accepts a bare number or a {"value", "unit"} object. Its
// errors deliberately do not wrap encoding/json's type errors: those would
// point at the quantity's own (empty) path instead of saying what it takes.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '{' {
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("a quantity is a number or {\"value\": number, \"unit\": string}: %v", err)
		}
		*q = Quantity{Value: v}
		return nil
	}
	type plain Quantity
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("a quantity is a number or {\"value\": number, \"unit\": string}: %v", err)
	}
	*q = Quantity(p)
	return nil
}
