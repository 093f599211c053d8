package inference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ErrUnknownModel is returned for a model name the registry does not hold.
var ErrUnknownModel = errors.New("no model has this name")

// InputError is an input refused before inference. It names every field at
// fault; no input of the batch is scored.
type InputError struct {
	Model    string
	Problems []InputProblem
}

// InputProblem is one field at fault. Input is the index in the batch;
// Field is a slash-separated path inside that input, such as
// "features/glucose" or "channels/spo2/3". Reason is a stable code without
// the value (safe to record where health data must not go, such as an
// error message in workflow history); Detail explains it for a person and
// may quote the value.
type InputProblem struct {
	Input  int    `json:"input"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Reasons an input is refused.
const (
	ReasonBatch       = "batch-size"
	ReasonRequired    = "required"
	ReasonUnknown     = "unknown-field"
	ReasonWrongKind   = "wrong-input-kind"
	ReasonNotFinite   = "not-finite"
	ReasonUnit        = "unit-not-accepted"
	ReasonNotAllowed  = "value-not-allowed"
	ReasonImplausible = "outside-plausible-range"
	ReasonLength      = "wrong-length"
	ReasonImage       = "bad-image"
)

func (e *InputError) Error() string {
	if len(e.Problems) == 0 {
		return fmt.Sprintf("invalid input for model %s", e.Model)
	}
	p := e.Problems[0]
	more := ""
	if n := len(e.Problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more)", n)
	}
	return fmt.Sprintf("invalid input for model %s: input %d: %s: %s%s", e.Model, p.Input, p.Field, p.Detail, more)
}

// Input is one item to score. Set the part that matches the model's kind:
// Features for a tabular model, Channels for a window model, Image for an
// image model.
type Input struct {
	Features map[string]Quantity `json:"features,omitempty"`
	Channels map[string]Series   `json:"channels,omitempty"`
	// Image is a PNG or JPEG file (base64 in JSON).
	Image []byte `json:"image,omitempty"`
}

// Series is a channel's readings, oldest first, with their unit (empty means
// the channel's declared unit). In JSON it is a bare array (declared unit) or
// {"values": [...], "unit": "mmol/L"}.
type Series struct {
	Values []float64 `json:"values"`
	Unit   string    `json:"unit,omitempty"`
}

// UnmarshalJSON accepts a bare array or a {"values", "unit"} object.
func (s *Series) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var v []float64
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("a series is an array of numbers or {\"values\": [...], \"unit\": string}: %v", err)
		}
		*s = Series{Values: v}
		return nil
	}
	type plain Series
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("a series is an array of numbers or {\"values\": [...], \"unit\": string}: %v", err)
	}
	*s = Series(p)
	return nil
}

// problems collects the faults of one batch.
type problems struct {
	list []InputProblem
}

func (p *problems) add(input int, field, reason, format string, args ...any) {
	p.list = append(p.list, InputProblem{Input: input, Field: field, Reason: reason, Detail: fmt.Sprintf(format, args...)})
}

// toUnit converts v from unit to the feature's declared unit.
func (f *Feature) toUnit(v float64, unit string) (float64, bool) {
	if unit == "" || unit == f.Unit {
		return v, true
	}
	for _, u := range f.Units {
		if u.Unit == unit {
			return v * u.Scale, true
		}
	}
	return 0, false
}

func (f *Feature) acceptedUnits() string {
	units := []string{f.Unit}
	for _, u := range f.Units {
		units = append(units, u.Unit)
	}
	return strings.Join(units, " or ")
}

// checkValue validates one value already in the declared unit; it returns
// false (and records why) when the value cannot be scored. The field's name
// is built only on failure: this runs for every value of every batch.
func (f *Feature) checkValue(p *problems, input int, prefix string, reading int, v float64) bool {
	field := func() string {
		if reading < 0 {
			return prefix + f.Name
		}
		return prefix + f.Name + "/" + strconv.Itoa(reading)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		p.add(input, field(), ReasonNotFinite, "must be a finite number")
		return false
	}
	if len(f.Allowed) > 0 && !slices.Contains(f.Allowed, v) {
		p.add(input, field(), ReasonNotAllowed, "must be one of %s", formatList(f.Allowed))
		return false
	}
	if v < f.Min || v > f.Max {
		p.add(input, field(), ReasonImplausible, "%g %s is outside the plausible range %g–%g %s; check the value and its unit", v, f.Unit, f.Min, f.Max, f.Unit)
		return false
	}
	return true
}

// outsideTraining reports whether v lies outside the range the model was
// trained on; such a score is an extrapolation and carries a warning.
func (f *Feature) outsideTraining(v float64) bool {
	return f.TrainMin != nil && f.TrainMax != nil && (v < *f.TrainMin || v > *f.TrainMax)
}

func formatList(vs []float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%g", v)
	}
	return strings.Join(parts, ", ")
}

// encodeTabular validates each input's features and writes them, in the
// spec's order and declared units, into dst ([n, features]).
func (s *Spec) encodeTabular(inputs []Input, dst []float32, p *problems, warn func(int, string)) {
	width := len(s.Features)
	for i, in := range inputs {
		if in.Channels != nil || in.Image != nil {
			p.add(i, "", ReasonWrongKind, "this model takes features only")
		}
		present := 0
		for j := range s.Features {
			f := &s.Features[j]
			q, ok := in.Features[f.Name]
			if ok {
				present++
			}
			if !ok {
				p.add(i, "features/"+f.Name, ReasonRequired, "is required (%s, in %s)", f.Description, f.acceptedUnits())
				continue
			}
			v, ok := f.toUnit(q.Value, q.Unit)
			if !ok {
				p.add(i, "features/"+f.Name, ReasonUnit, "unit %q is not accepted; use %s", q.Unit, f.acceptedUnits())
				continue
			}
			if !f.checkValue(p, i, "features/", -1, v) {
				continue
			}
			if f.outsideTraining(v) {
				warn(i, fmt.Sprintf("%s %g %s is outside the training range %g–%g; the score is an extrapolation", f.Name, v, f.Unit, *f.TrainMin, *f.TrainMax))
			}
			dst[i*width+j] = float32(v)
		}
		// Only an input with more names than it matched can hold unknown
		// ones; most inputs skip this scan.
		if present != len(in.Features) {
			for _, name := range slices.Sorted(maps.Keys(in.Features)) {
				if !slices.ContainsFunc(s.Features, func(f Feature) bool { return f.Name == name }) {
					p.add(i, "features/"+name, ReasonUnknown, "is not a feature of model %s", s.Name)
				}
			}
		}
	}
}

// encodeWindow validates each input's channels and writes them into dst
// ([n, channels, length]).
func (s *Spec) encodeWindow(inputs []Input, dst []float32, p *problems, warn func(int, string)) {
	w := s.Window
	stride := len(w.Channels) * w.Length
	for i, in := range inputs {
		if in.Features != nil || in.Image != nil {
			p.add(i, "", ReasonWrongKind, "this model takes channels only")
		}
		present := 0
		for c := range w.Channels {
			f := &w.Channels[c]
			series, ok := in.Channels[f.Name]
			if ok {
				present++
			}
			field := func() string { return "channels/" + f.Name }
			if !ok {
				p.add(i, field(), ReasonRequired, "is required: %d readings %d minutes apart, oldest first, in %s", w.Length, w.IntervalMinutes, f.acceptedUnits())
				continue
			}
			if len(series.Values) != w.Length {
				p.add(i, field(), ReasonLength, "needs exactly %d readings (%d minutes apart, oldest first), got %d", w.Length, w.IntervalMinutes, len(series.Values))
				continue
			}
			if _, ok := f.toUnit(0, series.Unit); !ok {
				p.add(i, field(), ReasonUnit, "unit %q is not accepted; use %s", series.Unit, f.acceptedUnits())
				continue
			}
			extrapolated := false
			for t, raw := range series.Values {
				v, _ := f.toUnit(raw, series.Unit)
				if !f.checkValue(p, i, "channels/", t, v) {
					continue
				}
				extrapolated = extrapolated || f.outsideTraining(v)
				dst[i*stride+c*w.Length+t] = float32(v)
			}
			if extrapolated {
				warn(i, fmt.Sprintf("%s has readings outside the training range %g–%g %s; the score is an extrapolation", f.Name, *f.TrainMin, *f.TrainMax, f.Unit))
			}
		}
		if present != len(in.Channels) {
			for _, name := range slices.Sorted(maps.Keys(in.Channels)) {
				if !slices.ContainsFunc(w.Channels, func(f Feature) bool { return f.Name == name }) {
					p.add(i, "channels/"+name, ReasonUnknown, "is not a channel of model %s", s.Name)
				}
			}
		}
	}
}
