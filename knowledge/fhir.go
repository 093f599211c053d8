package knowledge

import "strings"

// DetectedIssue is the FHIR R4 DetectedIssue resource a finding maps to,
// so the prescription step can store and return findings as FHIR.
type DetectedIssue struct {
	ResourceType string              `json:"resourceType"`
	Status       string              `json:"status"`
	Code         CodeableConcept     `json:"code"`
	Severity     string              `json:"severity"`
	Implicated   []Reference         `json:"implicated"`
	Evidence     []DetectedEvidence  `json:"evidence,omitempty"`
	Detail       string              `json:"detail"`
	Reference    string              `json:"reference,omitempty"`
	Extension    []DetectedExtension `json:"extension,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Reference is a FHIR Reference by identifier and display (the drugs are
// knowledge concepts, not resources on a server).
type Reference struct {
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display"`
}

// DetectedEvidence is DetectedIssue.evidence.
type DetectedEvidence struct {
	Detail []Reference `json:"detail"`
}

// DetectedExtension carries the CarePath severity grade and rule id, which
// FHIR's three-level severity cannot hold.
type DetectedExtension struct {
	URL         string `json:"url"`
	ValueString string `json:"valueString"`
}

const (
	rxnormSystem    = "http://www.nlm.nih.gov/research/umls/rxnorm"
	drugIDSystem    = "https://carepath.dev/knowledge/drug"
	conditionSystem = "https://carepath.dev/knowledge/condition"
	icd10System     = "http://hl7.org/fhir/sid/icd-10"
	snomedSystem    = "http://snomed.info/sct"
	gradeExtension  = "https://carepath.dev/fhir/StructureDefinition/interaction-severity"
	ruleIDExtension = "https://carepath.dev/fhir/StructureDefinition/knowledge-rule"
	sourceIDSystem  = "https://carepath.dev/knowledge/source"
)

// DetectedIssue maps the finding to FHIR: severity high (contraindicated or
// major), moderate or low (minor); the implicated drugs by RxNorm code when
// known; the evidence as the cited sources; status preliminary, because a
// clinician has not yet reviewed it.
func (f Finding) DetectedIssue() DetectedIssue {
	di := DetectedIssue{
		ResourceType: "DetectedIssue",
		Status:       "preliminary",
		Code:         CodeableConcept{Coding: []Coding{f.Code}, Text: strings.ReplaceAll(f.Kind, "-", " ")},
		Severity:     f.DetectedIssueSeverity,
		Detail:       f.Summary,
		Extension: []DetectedExtension{
			{URL: gradeExtension, ValueString: string(f.Severity)},
			{URL: ruleIDExtension, ValueString: f.RuleID},
		},
	}
	for _, d := range f.Drugs {
		ref := Reference{Display: d.Name, Identifier: &Identifier{System: drugIDSystem, Value: d.ID}}
		if d.RxCUI != "" {
			ref.Identifier = &Identifier{System: rxnormSystem, Value: d.RxCUI}
		}
		di.Implicated = append(di.Implicated, ref)
	}
	if f.Condition != nil {
		ref := Reference{Display: f.Condition.Name, Identifier: &Identifier{System: conditionSystem, Value: f.Condition.ID}}
		switch {
		case f.Condition.SNOMED != "":
			ref.Identifier = &Identifier{System: snomedSystem, Value: f.Condition.SNOMED}
		case f.Condition.ICD10 != "":
			ref.Identifier = &Identifier{System: icd10System, Value: f.Condition.ICD10}
		}
		di.Evidence = append(di.Evidence, DetectedEvidence{Detail: []Reference{ref}})
	}
	var details []Reference
	for _, e := range f.Evidence {
		display := e.Title
		if e.Reference != "" {
			display += ": " + e.Reference
		}
		details = append(details, Reference{Display: display, Identifier: &Identifier{System: sourceIDSystem, Value: e.Source}})
		if di.Reference == "" && e.URL != "" {
			di.Reference = e.URL
		}
	}
	if len(details) > 0 {
		di.Evidence = append(di.Evidence, DetectedEvidence{Detail: details})
	}
	return di
}

// DetectedIssues maps every finding of a check.
func (r *CheckResult) DetectedIssues() []DetectedIssue {
	out := make([]DetectedIssue, len(r.Findings))
	for i, f := range r.Findings {
		out[i] = f.DetectedIssue()
	}
	return out
}
