package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// SpecMetadataKey is the ONNX metadata key that holds a model's Spec as JSON.
const SpecMetadataKey = "carepath.spec"

// Model kinds.
const (
	KindTabular = "tabular-classifier" // one row of named features
	KindWindow  = "window-classifier"  // fixed-length time series on named channels
	KindImage   = "image-classifier"   // one image, preprocessed as the spec declares
)

// Post-processing types: how class probabilities become a decision.
const (
	PostRiskLevels = "risk-levels" // probability of the positive class, and its level
	PostAnomaly    = "anomaly"     // 1 - P(normal) as the score, and the anomaly kind
	PostClasses    = "classes"     // the most probable class
)

// Spec is what a model declares about itself in its ONNX metadata. The
// training scripts in models/ write it; the registry refuses a model whose
// spec is incomplete or disagrees with its graph.
type Spec struct {
	Name        string      `json:"name"`
	Version     string      `json:"version"`
	Kind        string      `json:"kind"`
	Description string      `json:"description"`
	ONNX        ONNXNames   `json:"onnx"`
	Features    []Feature   `json:"features,omitempty"`
	Window      *WindowSpec `json:"window,omitempty"`
	Image       *ImageSpec  `json:"image,omitempty"`
	Classes     []string    `json:"classes"`
	Postprocess Postprocess `json:"postprocess"`
	Card        Card        `json:"card"`
	// Source names where the model's knowledge comes from (its data).
	Source string `json:"source"`
	// Disclaimer says the model supports clinicians and does not replace them.
	Disclaimer string `json:"disclaimer"`
}

// ONNXNames are the graph's input and output tensor names.
type ONNXNames struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// Feature is one named input quantity (a tabular feature or a window
// channel): its unit, the other units accepted and how to convert them, the
// plausible range outside which a value is refused, and the range seen in
// training, outside which a score carries a warning.
type Feature struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Unit        string    `json:"unit"`
	Units       []AltUnit `json:"units,omitempty"`
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
	Allowed     []float64 `json:"allowed,omitempty"`
	TrainMin    *float64  `json:"train_min,omitempty"`
	TrainMax    *float64  `json:"train_max,omitempty"`
	// Source is the feature's column in the source data set, if renamed.
	Source string `json:"source,omitempty"`
}

// AltUnit is another unit a feature accepts: value_in_Unit = value * Scale.
type AltUnit struct {
	Unit  string  `json:"unit"`
	Scale float64 `json:"scale"`
}

// WindowSpec declares a time-series input: Length readings, IntervalMinutes
// apart, on each channel in order. The tensor is [N, channels, length].
type WindowSpec struct {
	Length          int       `json:"length"`
	IntervalMinutes int       `json:"interval_minutes"`
	Channels        []Feature `json:"channels"`
}

// ImageSpec declares an image classifier's preprocessing: the image is
// decoded (PNG or JPEG), resized to Width x Height, converted to Channels
// (3 = RGB, 1 = luminance), each value v in 0..255 becomes
// (v*Scale - Mean[c]) / Std[c], and the tensor is laid out as Layout.
type ImageSpec struct {
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	Channels int       `json:"channels"`
	Layout   string    `json:"layout"` // "NCHW" or "NHWC"
	Resize   string    `json:"resize"` // "bilinear" or "nearest"
	Scale    float64   `json:"scale"`
	Mean     []float64 `json:"mean"`
	Std      []float64 `json:"std"`
	// Output says whether the graph returns "logits" (softmax is applied
	// here) or "probabilities".
	Output string `json:"output"`
}

// Postprocess turns the class probabilities into a decision.
type Postprocess struct {
	Type string `json:"type"`
	// risk-levels: the class whose probability is the risk, and the levels
	// in ascending order; each but the last applies below its bound.
	PositiveClass string  `json:"positive_class,omitempty"`
	Levels        []Level `json:"levels,omitempty"`
	// anomaly: the class that means "nothing abnormal", and the score from
	// which a window is flagged.
	NormalClass string  `json:"normal_class,omitempty"`
	Threshold   float64 `json:"threshold,omitempty"`
}

// Level is a named risk band: probabilities below Below (the last level has
// none and takes the rest).
type Level struct {
	Level string   `json:"level"`
	Below *float64 `json:"below,omitempty"`
}

// Card is the model card's key facts; the full card is models/cards/NAME.md.
type Card struct {
	Data        string          `json:"data"`
	Licence     string          `json:"licence"`
	Target      string          `json:"target"`
	Split       string          `json:"split"`
	Metrics     json.RawMessage `json:"metrics,omitempty"`
	Calibration string          `json:"calibration"`
	IntendedUse string          `json:"intended_use"`
	Limits      string          `json:"limits"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName reports whether name can name a model (lowercase letters,
// digits and hyphens), as the registry and the API require.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// check reports the first way the spec is incomplete or inconsistent.
func (s *Spec) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !ValidName(s.Name) {
		bad("name %q is not lowercase letters, digits and hyphens", s.Name)
	}
	if s.Version == "" {
		bad("version is empty")
	}
	if s.ONNX.Input == "" || s.ONNX.Output == "" {
		bad("onnx input and output names are required")
	}
	if len(s.Classes) < 2 {
		bad("at least two classes are required, got %d", len(s.Classes))
	}
	if s.Source == "" || s.Disclaimer == "" {
		bad("source and disclaimer are required: clinical content carries its source")
	}
	switch s.Kind {
	case KindTabular:
		if len(s.Features) == 0 {
			bad("a tabular model needs features")
		}
		errs = append(errs, checkFeatures("feature", s.Features)...)
	case KindWindow:
		if s.Window == nil || s.Window.Length < 1 || len(s.Window.Channels) == 0 {
			bad("a window model needs window.length and window.channels")
		} else {
			errs = append(errs, checkFeatures("channel", s.Window.Channels)...)
		}
	case KindImage:
		errs = append(errs, s.Image.check()...)
	default:
		bad("kind %q is not one of %s, %s, %s", s.Kind, KindTabular, KindWindow, KindImage)
	}
	errs = append(errs, s.Postprocess.check(s.Classes)...)
	return errors.Join(errs...)
}

func checkFeatures(what string, fs []Feature) []error {
	var errs []error
	seen := map[string]bool{}
	for _, f := range fs {
		switch {
		case f.Name == "" || seen[f.Name]:
			errs = append(errs, fmt.Errorf("%s name %q is empty or repeated", what, f.Name))
		case f.Unit == "":
			errs = append(errs, fmt.Errorf("%s %s has no unit", what, f.Name))
		case !(f.Min < f.Max) || math.IsInf(f.Min, 0) || math.IsInf(f.Max, 0):
			errs = append(errs, fmt.Errorf("%s %s: plausible range %g..%g is not a finite interval", what, f.Name, f.Min, f.Max))
		}
		for _, u := range f.Units {
			if u.Unit == "" || u.Unit == f.Unit || !(u.Scale > 0) {
				errs = append(errs, fmt.Errorf("%s %s: other unit %q needs a distinct name and a positive scale", what, f.Name, u.Unit))
			}
		}
		seen[f.Name] = true
	}
	return errs
}

func (im *ImageSpec) check() []error {
	if im == nil {
		return []error{errors.New("an image model needs an image spec")}
	}
	var errs []error
	if im.Width < 1 || im.Height < 1 || im.Width > 4096 || im.Height > 4096 {
		errs = append(errs, fmt.Errorf("image size %dx%d is not within 1..4096", im.Width, im.Height))
	}
	if im.Channels != 1 && im.Channels != 3 {
		errs = append(errs, fmt.Errorf("image channels must be 1 or 3, got %d", im.Channels))
	}
	if im.Layout != "NCHW" && im.Layout != "NHWC" {
		errs = append(errs, fmt.Errorf("image layout must be NCHW or NHWC, got %q", im.Layout))
	}
	if im.Resize != "bilinear" && im.Resize != "nearest" {
		errs = append(errs, fmt.Errorf("image resize must be bilinear or nearest, got %q", im.Resize))
	}
	if !(im.Scale > 0) {
		errs = append(errs, fmt.Errorf("image scale must be positive, got %g", im.Scale))
	}
	if len(im.Mean) != im.Channels || len(im.Std) != im.Channels {
		errs = append(errs, fmt.Errorf("image mean and std need one value per channel (%d)", im.Channels))
	}
	for _, sd := range im.Std {
		if !(sd > 0) {
			errs = append(errs, fmt.Errorf("image std values must be positive, got %g", sd))
		}
	}
	if im.Output != "logits" && im.Output != "probabilities" {
		errs = append(errs, fmt.Errorf("image output must be logits or probabilities, got %q", im.Output))
	}
	return errs
}

func (p Postprocess) check(classes []string) []error {
	var errs []error
	switch p.Type {
	case PostRiskLevels:
		if !slices.Contains(classes, p.PositiveClass) {
			errs = append(errs, fmt.Errorf("positive class %q is not a class", p.PositiveClass))
		}
		if len(p.Levels) < 2 {
			errs = append(errs, errors.New("risk-levels needs at least two levels"))
			break
		}
		prev := 0.0
		for i, l := range p.Levels {
			last := i == len(p.Levels)-1
			switch {
			case l.Level == "":
				errs = append(errs, fmt.Errorf("level %d has no name", i))
			case last && l.Below != nil:
				errs = append(errs, fmt.Errorf("the last level %q must take every probability above the others", l.Level))
			case !last && (l.Below == nil || *l.Below <= prev || *l.Below >= 1):
				errs = append(errs, fmt.Errorf("level %q needs a bound above %g and below 1", l.Level, prev))
			case !last:
				prev = *l.Below
			}
		}
	case PostAnomaly:
		if !slices.Contains(classes, p.NormalClass) {
			errs = append(errs, fmt.Errorf("normal class %q is not a class", p.NormalClass))
		}
		if !(p.Threshold > 0 && p.Threshold < 1) {
			errs = append(errs, fmt.Errorf("anomaly threshold must be in (0, 1), got %g", p.Threshold))
		}
	case PostClasses:
	default:
		errs = append(errs, fmt.Errorf("postprocess type %q is not one of %s, %s, %s", p.Type, PostRiskLevels, PostAnomaly, PostClasses))
	}
	return errs
}

// inputShape is the tensor shape for a batch of n inputs.
func (s *Spec) inputShape(n int) []int64 {
	switch s.Kind {
	case KindTabular:
		return []int64{int64(n), int64(len(s.Features))}
	case KindWindow:
		return []int64{int64(n), int64(len(s.Window.Channels)), int64(s.Window.Length)}
	default:
		im := s.Image
		if im.Layout == "NHWC" {
			return []int64{int64(n), int64(im.Height), int64(im.Width), int64(im.Channels)}
		}
		return []int64{int64(n), int64(im.Channels), int64(im.Height), int64(im.Width)}
	}
}
