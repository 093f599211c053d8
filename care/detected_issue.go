package care

import "strings"

// Severity grades a rule. The order is that of the constants: the first is
// the most severe.
type Severity string

// Severities, most severe first.
const (
	Contraindicated Severity = "contraindicated"
	Major           Severity = "major"
	Moderate        Severity = "moderate"
	Minor           Severity = "minor"
)

// Rank orders severities, most severe first; unknown values sort last.
func (s Severity) Rank() int {
	switch s {
	case Contraindicated:
		return 0
	case Major:
		return 1
	case Moderate:
		return 2
	case Minor:
		return 3
	}
	return 4
}

// Valid reports whether s is one of the severities.
func (s Severity) Valid() bool { return s.Rank() < 4 }

// DetectedIssueSeverity maps a severity to FHIR DetectedIssue.severity.
func (s Severity) DetectedIssueSeverity() string {
	switch s {
	case Contraindicated, Major:
		return "high"
	case Moderate:
		return "moderate"
	default:
		return "low"
	}
}

// Profile is what the checks know about the patient. Conditions are our
// ids, ICD-10 codes or SNOMED CT codes; allergies are allergy classes
// ("penicillin", "sulfa") or drug names.
type Profile struct {
	Conditions []string `json:"conditions,omitempty"`
	Allergies  []string `json:"allergies,omitempty"`
	Age        *int     `json:"age,omitempty"`
	EGFR       *float64 `json:"egfr,omitempty"` // mL/min/1.73m2
	Pregnant   bool     `json:"pregnant,omitempty"`
}

// Finding kinds.
const (
	KindInteraction      = "drug-interaction"
	KindDuplicate        = "duplicate-therapy"
	KindContraindication = "contraindication"
	KindAllergy          = "allergy"
)

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

// Evidence names a source and the section cited.
type Evidence struct {
	Source    string `json:"source"`
	Title     string `json:"title"`
	URL       string `json:"url,omitempty"`
	Reference string `json:"reference"`
}

// ConditionRef names a condition in a finding.
type ConditionRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	ICD10  string `json:"icd10,omitempty"`
	SNOMED string `json:"snomed,omitempty"`
}

// AllergyRef names an allergy class in a finding.
type AllergyRef struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Relation string `json:"relation"` // member, cross-reactive or recorded-drug
}

// Finding is one problem with a regimen, shaped to become a FHIR
// DetectedIssue (see DetectedIssue).
type Finding struct {
	Kind                  string        `json:"kind"`
	Severity              Severity      `json:"severity"`
	DetectedIssueSeverity string        `json:"detected_issue_severity"`
	Code                  Coding        `json:"code"`
	Drugs                 []DrugRef     `json:"drugs"`
	Condition             *ConditionRef `json:"condition,omitempty"`
	Allergy               *AllergyRef   `json:"allergy,omitempty"`
	RuleID                string        `json:"rule_id"`
	// RuleLevel is drug (both sides named), drug-class or class: how
	// specific the rule that applied is.
	RuleLevel  string     `json:"rule_level"`
	Via        []string   `json:"via,omitempty"` // the classes a class rule matched through
	Summary    string     `json:"summary"`
	Mechanism  string     `json:"mechanism,omitempty"`
	Effect     string     `json:"effect,omitempty"`
	Management string     `json:"management,omitempty"`
	Evidence   []Evidence `json:"evidence"`
}

// DrugRef identifies a drug in answers.
type DrugRef struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	RxCUI   string   `json:"rxcui,omitempty"`
	ATC     string   `json:"atc,omitempty"`
	Classes []string `json:"classes,omitempty"`
	Brands  []string `json:"brands,omitempty"`
}

// NameResolution says what one input name was taken to mean.
type NameResolution struct {
	Input      string    `json:"input"`
	Status     string    `json:"status"`
	Match      string    `json:"match,omitempty"`
	MatchedAs  string    `json:"matched_as,omitempty"` // the stored name, when not an exact match
	Drugs      []DrugRef `json:"drugs,omitempty"`
	Candidates []DrugRef `json:"candidates,omitempty"`
	Message    string    `json:"message"`
}

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
