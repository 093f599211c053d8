package knowledge

import (
	"context"
	"fmt"
	"sort"
)

// TreatmentOption is one guideline recommendation with the drugs that suit
// the patient.
type TreatmentOption struct {
	ID          string     `json:"id"`
	Line        string     `json:"line"` // first or second
	Guideline   string     `json:"guideline"`
	When        string     `json:"when"`
	Subject     string     `json:"subject"` // the drug or class the guideline names
	SubjectName string     `json:"subject_name"`
	Drugs       []DrugRef  `json:"drugs"`              // members that are not contraindicated
	Cautions    []Finding  `json:"cautions,omitempty"` // moderate and minor findings for those drugs
	Excluded    []Excluded `json:"excluded,omitempty"` // members left out and why
	Evidence    []Evidence `json:"evidence"`
}

// Excluded is a drug left out of an option, with the findings that did it.
type Excluded struct {
	Drug    DrugRef   `json:"drug"`
	Reasons []Finding `json:"reasons"`
}

// NotApplicable is an option whose guideline criteria the profile does not meet.
type NotApplicable struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// TreatmentPlan answers "what may this patient be given for this condition".
type TreatmentPlan struct {
	Condition     ConditionRef      `json:"condition"`
	Options       []TreatmentOption `json:"options"`
	Excluded      []TreatmentOption `json:"excluded"` // options with no suitable drug left
	NotApplicable []NotApplicable   `json:"not_applicable"`
	Warnings      []string          `json:"warnings"`
	Notice        string            `json:"notice"`
}

// Treatments returns the first- and second-line options for a condition,
// leaving out every drug that is contraindicated, or to be avoided (major),
// for this patient: by condition, eGFR, age, pregnancy, allergy, or by an
// interaction with a drug the patient already takes (current).
func (g *Graph) Treatments(ctx context.Context, condition string, p Profile, current []string) (*TreatmentPlan, error) {
	cat, err := g.catalog(ctx)
	if err != nil {
		return nil, err
	}
	cond, ok := cat.matchCondition(condition)
	if !ok {
		return nil, fmt.Errorf("knowledge: treatments: %w", ErrUnknownCondition)
	}
	recs, err := g.read(ctx, "read treatments", `
		MATCH (c:Condition {id: $cond})-[:HAS_TREATMENT]->(t:Treatment)-[:USES]->(s:Agent)
		OPTIONAL MATCH (d:Drug)-[:IN_CLASS]->(:DrugClass)-[:SUBCLASS_OF*0..]->(s)
		WITH t, s, collect(DISTINCT d.id) AS members
		RETURN t{.id, .line, .guideline, .when, .appliesWithCondition, .appliesAgeBelow, .appliesAgeAtLeast, .sources, .ref} AS t,
		       s.key AS subject, s.name AS subjectName,
		       CASE WHEN s:Drug THEN [s.id] ELSE members END AS drugs
		ORDER BY t.line, t.id`, map[string]any{"cond": cond.ID})
	if err != nil {
		return nil, err
	}
	plan := &TreatmentPlan{Condition: ConditionRef{ID: cond.ID, Name: cond.Name, ICD10: cond.ICD10, SNOMED: cond.SNOMED},
		Options: []TreatmentOption{}, Excluded: []TreatmentOption{}, NotApplicable: []NotApplicable{}, Warnings: []string{}, Notice: Notice}
	patientConds := map[string]bool{}
	for _, c := range p.Conditions {
		if m, ok := cat.matchCondition(c); ok {
			patientConds[m.ID] = true
		}
	}
	type raw struct {
		opt   TreatmentOption
		drugs []string
	}
	var opts []raw
	candidates := map[string]bool{}
	for _, r := range recs {
		t := r.Values[0].(map[string]any)
		o := TreatmentOption{ID: str(t["id"]), Line: str(t["line"]), Guideline: str(t["guideline"]), When: str(t["when"]),
			Subject: str(r.Values[1]), SubjectName: str(r.Values[2]), Drugs: []DrugRef{},
			Evidence: cat.evidence(strs(t["sources"]), str(t["ref"]))}
		if need := str(t["appliesWithCondition"]); need != "" && !patientConds[need] {
			plan.NotApplicable = append(plan.NotApplicable, NotApplicable{ID: o.ID, Reason: "applies only with " + need})
			continue
		}
		if below, ok := num(t["appliesAgeBelow"]); ok && p.Age != nil && float64(*p.Age) >= below {
			plan.NotApplicable = append(plan.NotApplicable, NotApplicable{ID: o.ID, Reason: fmt.Sprintf("applies under age %g", below)})
			continue
		}
		if atLeast, ok := num(t["appliesAgeAtLeast"]); ok && p.Age != nil && float64(*p.Age) < atLeast {
			plan.NotApplicable = append(plan.NotApplicable, NotApplicable{ID: o.ID, Reason: fmt.Sprintf("applies from age %g", atLeast)})
			continue
		}
		ds := strs(r.Values[3])
		for _, d := range ds {
			candidates[d] = true
		}
		opts = append(opts, raw{opt: o, drugs: ds})
	}
	// Check every candidate together with the current drugs in one pass,
	// then keep, for each candidate, the findings that concern it alone or
	// it with a current drug (not two candidates with each other).
	ids := make([]string, 0, len(candidates))
	for d := range candidates {
		ids = append(ids, d)
	}
	sort.Strings(ids)
	check, refs, err := g.check(ctx, current, ids, p, false)
	if err != nil {
		return nil, fmt.Errorf("knowledge: treatments: %w", err)
	}
	currentIDs := map[string]bool{}
	for _, nr := range check.Names {
		for _, d := range nr.Drugs {
			currentIDs[d.ID] = true
		}
	}
	plan.Warnings = append(plan.Warnings, check.Warnings...)
	concerns := map[string][]Finding{}
	for _, f := range check.Findings {
		var cands, curr []string
		for _, d := range f.Drugs {
			if currentIDs[d.ID] {
				curr = append(curr, d.ID)
			} else if candidates[d.ID] {
				cands = append(cands, d.ID)
			}
		}
		switch {
		case f.Kind == KindDuplicate && len(curr) > 0:
			for _, c := range cands {
				concerns[c] = append(concerns[c], f)
			}
		case f.Kind == KindInteraction && len(cands) == 1 && len(curr) == 1:
			concerns[cands[0]] = append(concerns[cands[0]], f)
		case (f.Kind == KindContraindication || f.Kind == KindAllergy) && len(cands) == 1:
			concerns[cands[0]] = append(concerns[cands[0]], f)
		}
	}
	for _, o := range opts {
		for _, id := range o.drugs {
			d, ok := refs[id]
			if !ok {
				continue
			}
			var blocking, cautions []Finding
			for _, f := range concerns[id] {
				if f.Severity.Rank() <= Major.Rank() {
					blocking = append(blocking, f)
				} else {
					cautions = append(cautions, f)
				}
			}
			if len(blocking) > 0 {
				o.opt.Excluded = append(o.opt.Excluded, Excluded{Drug: d, Reasons: blocking})
				continue
			}
			o.opt.Drugs = append(o.opt.Drugs, d)
			o.opt.Cautions = append(o.opt.Cautions, cautions...)
		}
		if len(o.opt.Drugs) == 0 {
			plan.Excluded = append(plan.Excluded, o.opt)
			continue
		}
		plan.Options = append(plan.Options, o.opt)
	}
	return plan, nil
}
