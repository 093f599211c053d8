package pathways

import (
	"fmt"
	"strings"
)

// Risk levels a follow-up's risk_factors may name (risk.level).
var RiskLevels = []string{"low", "medium", "high"}

// checkStageSettings checks the clinical settings of lab_order and
// follow_up steps. Clinical values must come from cited parameters, so
// each is a $parameter of the right type, never a bare literal.
func (v *validator) checkStageSettings(s *Step) {
	pos := at(s.keys, "with", s.Pos)
	switch s.Type {
	case "lab_order":
		if raw, ok := s.With["tests"]; ok {
			if prm, ok := v.cited(raw, "list", "with.tests", pos); ok {
				list, _ := prm.Value.([]any)
				for _, code := range list {
					if _, known := LabAnalytes[fmt.Sprint(code)]; !known {
						v.add(prm.Pos, "with.tests: %v is not a LOINC code of a lab test CarePath takes results of (a panel? order its parts)", code)
					}
				}
			}
		}
	case "follow_up":
		if raw, ok := s.With["interval"]; !ok {
			v.add(pos, "step %q (follow_up) needs with.interval, a cited duration parameter", s.ID)
		} else {
			v.cited(raw, "duration", "with.interval", pos)
		}
		if raw, ok := s.With["risk_factors"]; ok {
			factors, isMap := raw.(map[string]any)
			if !isMap {
				v.add(pos, "with.risk_factors must map risk levels (%s) to number parameters", strings.Join(RiskLevels, ", "))
			}
			for _, level := range sortedKeys(factors) {
				if !contains(RiskLevels, level) {
					v.add(pos, "with.risk_factors: %q is not a risk level (%s)", level, strings.Join(RiskLevels, ", "))
					continue
				}
				if prm, ok := v.cited(factors[level], "number", "with.risk_factors."+level, pos); ok {
					if f, isNum := number(prm.Value); !isNum || f <= 0 || f > 4 {
						v.add(prm.Pos, "with.risk_factors.%s: a factor must be above 0 and at most 4", level)
					}
				}
			}
		}
		if raw, ok := s.With["rebook"]; ok {
			if target, _ := raw.(string); !v.isBook(target) {
				v.add(pos, "with.rebook must name a book step, not %v", raw)
			}
		} else if !v.isBook("book") {
			v.add(pos, "step %q (follow_up) re-enters booking: give with.rebook, the pathway's book step", s.ID)
		}
	}
}

// cited returns the parameter raw names ("$name"), if it has the type.
func (v *validator) cited(raw any, typ, what string, pos Pos) (Parameter, bool) {
	str, _ := raw.(string)
	name, ok := strings.CutPrefix(str, "$")
	prm, found := v.p.Parameters[name]
	switch {
	case !ok:
		v.add(pos, "%s must be a $parameter (clinical values carry their source)", what)
	case !found:
		return prm, false // checkWith reports the unknown parameter
	case prm.Type != typ:
		v.add(pos, "%s: parameter %q is a %s, not a %s", what, name, prm.Type, typ)
	default:
		return prm, true
	}
	return prm, false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func (v *validator) isBook(id string) bool {
	s, ok := v.steps[id]
	return ok && s.Type == "book"
}
