package inference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Probabilities holds each class's probability in the model's class order.
// In JSON it is an object {"class": probability, ...} in that order. It is
// backed by slices shared across a batch, so scoring a thousand rows does
// not build a thousand maps.
type Probabilities struct {
	classes []string
	values  []float64
}

// Of is the probability of class (0 for a class the model does not have).
func (p Probabilities) Of(class string) float64 {
	if i := slices.Index(p.classes, class); i >= 0 {
		return p.values[i]
	}
	return 0
}

// Classes are the model's classes, in order.
func (p Probabilities) Classes() []string { return slices.Clone(p.classes) }

// Values are the probabilities in class order.
func (p Probabilities) Values() []float64 { return slices.Clone(p.values) }

// MarshalJSON writes the classes in the model's order.
func (p Probabilities) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range p.classes {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(p.values[i])
		if err != nil {
			return nil, fmt.Errorf("probability of %s: %w", c, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the object form, keeping its order (for API clients).
func (p *Probabilities) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("probabilities: want a JSON object")
	}
	*p = Probabilities{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("probabilities: %w", err)
		}
		class, ok := tok.(string)
		if !ok {
			return fmt.Errorf("probabilities: want a class name, got %v", tok)
		}
		var v float64
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("probabilities: %s: %w", class, err)
		}
		p.classes = append(p.classes, class)
		p.values = append(p.values, v)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("probabilities: %w", err)
	}
	return nil
}
