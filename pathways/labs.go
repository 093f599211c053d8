package pathways

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// LabAnalyte is a lab test CarePath can take a numeric result of: the short
// name pathway expressions use for its latest value (labs.hba1c) and the
// UCUM units a result may be reported in. A result in another unit is
// refused rather than converted.
type LabAnalyte struct {
	Key   string
	Units []string
}

// LabUnitsSource is where the units below come from.
const LabUnitsSource = "LOINC (loinc.org) example UCUM units of each code; UCUM (ucum.org)"

// LabAnalytes are keyed by LOINC code; they cover the lab_test catalogue
// (store/seed.go). Panels (lipid panel 57698-3, CBC 58410-2, urinalysis
// 24356-8) have no single value: order their components.
var LabAnalytes = map[string]LabAnalyte{
	"4548-4":  {"hba1c", []string{"%"}},
	"1558-6":  {"fasting_glucose", []string{"mg/dL", "mmol/L"}},
	"2093-3":  {"total_cholesterol", []string{"mg/dL", "mmol/L"}},
	"13457-7": {"ldl_cholesterol", []string{"mg/dL", "mmol/L"}},
	"2085-9":  {"hdl_cholesterol", []string{"mg/dL", "mmol/L"}},
	"2571-8":  {"triglycerides", []string{"mg/dL", "mmol/L"}},
	"2160-0":  {"creatinine", []string{"mg/dL", "umol/L"}},
	"33914-3": {"egfr", []string{"mL/min/{1.73_m2}"}},
	"9318-7":  {"uacr", []string{"mg/g", "mg/mmol"}},
	"2823-3":  {"potassium", []string{"mmol/L", "meq/L"}},
	"2951-2":  {"sodium", []string{"mmol/L", "meq/L"}},
	"3016-3":  {"tsh", []string{"m[IU]/L", "u[IU]/mL"}},
	"3024-7":  {"free_t4", []string{"ng/dL", "pmol/L"}},
	"718-7":   {"hemoglobin", []string{"g/dL", "g/L"}},
	"1742-6":  {"alt", []string{"U/L"}},
	"1989-3":  {"vitamin_d", []string{"ng/mL", "nmol/L"}},
	"2132-9":  {"vitamin_b12", []string{"pg/mL", "pmol/L"}},
	"17861-6": {"calcium", []string{"mg/dL", "mmol/L"}},
}

// LabKeys lists the names expressions may use after labs., sorted.
func LabKeys() []string {
	keys := make([]string, 0, len(LabAnalytes))
	for _, a := range LabAnalytes {
		keys = append(keys, a.Key)
	}
	sort.Strings(keys)
	return keys
}

// Interpretations of a result against its ranges (HL7 v3
// ObservationInterpretation codes).
const (
	InterpNormal       = "N"
	InterpLow          = "L"
	InterpHigh         = "H"
	InterpCriticalLow  = "LL"
	InterpCriticalHigh = "HH"
)

// LabResult is one reported value of a test, with the reference range the
// laboratory reported it against and, optionally, its critical limits.
type LabResult struct {
	LOINC         string   `json:"loinc_code"`
	Value         float64  `json:"value"`
	Unit          string   `json:"unit"`
	ReferenceLow  *float64 `json:"reference_low,omitempty"`
	ReferenceHigh *float64 `json:"reference_high,omitempty"`
	CriticalLow   *float64 `json:"critical_low,omitempty"`
	CriticalHigh  *float64 `json:"critical_high,omitempty"`
}

// FieldProblem names a field of a lab result and what is wrong with it.
type FieldProblem struct {
	Field  string
	Detail string
}

// Check returns what is wrong with the result as fields and details.
// Whether the test was ordered is the caller's to check.
func (r LabResult) Check() []FieldProblem {
	var out []FieldProblem
	add := func(field, format string, args ...any) {
		out = append(out, FieldProblem{field, fmt.Sprintf(format, args...)})
	}
	analyte, ok := LabAnalytes[r.LOINC]
	if !ok {
		add("loinc_code", "is not a lab test CarePath takes results of")
	} else if !slices.Contains(analyte.Units, r.Unit) {
		add("unit", "must be one of %v for this test", analyte.Units)
	}
	finite := func(f *float64) bool { return f == nil || (!math.IsNaN(*f) && !math.IsInf(*f, 0)) }
	if !finite(&r.Value) {
		add("value", "must be a finite number")
	}
	for _, b := range []struct {
		name string
		v    *float64
	}{{"reference_low", r.ReferenceLow}, {"reference_high", r.ReferenceHigh}, {"critical_low", r.CriticalLow}, {"critical_high", r.CriticalHigh}} {
		if !finite(b.v) {
			add(b.name, "must be a finite number")
		}
	}
	if r.ReferenceLow == nil && r.ReferenceHigh == nil {
		add("reference_low", "a reference range needs a low or a high bound")
	}
	if r.ReferenceLow != nil && r.ReferenceHigh != nil && *r.ReferenceLow >= *r.ReferenceHigh {
		add("reference_high", "must be above reference_low")
	}
	if r.CriticalLow != nil && r.ReferenceLow != nil && *r.CriticalLow > *r.ReferenceLow {
		add("critical_low", "must not be above reference_low")
	}
	if r.CriticalHigh != nil && r.ReferenceHigh != nil && *r.CriticalHigh < *r.ReferenceHigh {
		add("critical_high", "must not be below reference_high")
	}
	return out
}

// Interpretation places the value against its ranges: critical beyond a
// critical limit, low or high outside the reference range, else normal.
func (r LabResult) Interpretation() string {
	switch {
	case r.CriticalLow != nil && r.Value <= *r.CriticalLow:
		return InterpCriticalLow
	case r.CriticalHigh != nil && r.Value >= *r.CriticalHigh:
		return InterpCriticalHigh
	case r.ReferenceLow != nil && r.Value < *r.ReferenceLow:
		return InterpLow
	case r.ReferenceHigh != nil && r.Value > *r.ReferenceHigh:
		return InterpHigh
	}
	return InterpNormal
}

// Abnormal reports whether an interpretation is outside the reference range.
func Abnormal(interp string) bool { return interp != InterpNormal }

// Critical reports whether an interpretation is beyond a critical limit.
func Critical(interp string) bool { return interp == InterpCriticalLow || interp == InterpCriticalHigh }
