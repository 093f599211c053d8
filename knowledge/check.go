package knowledge

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

const actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

var (
	codeDrug      = Coding{System: actCode, Code: "DRG", Display: "Drug Interaction Alert"}
	codeDuplicate = Coding{System: actCode, Code: "DUPTHPY", Display: "Duplicate Therapy Alert"}
	codeAllergy   = Coding{System: actCode, Code: "ALGY", Display: "Allergy Alert"}
	codeCondition = Coding{System: actCode, Code: "COND", Display: "Condition Alert"}
	codePregnancy = Coding{System: actCode, Code: "PREG", Display: "Pregnancy Alert"}
	codeAge       = Coding{System: actCode, Code: "AGE", Display: "Age Alert"}
)

// ConditionMatch says which stored condition a patient's entry matched.
type ConditionMatch struct {
	Input     string        `json:"input"`
	Matched   bool          `json:"matched"`
	Condition *ConditionRef `json:"condition,omitempty"`
}

// AllergyResolution says how a recorded allergy was understood.
type AllergyResolution struct {
	Input   string       `json:"input"`
	Status  string       `json:"status"` // resolved or unknown
	Classes []AllergyRef `json:"classes,omitempty"`
	Drug    *DrugRef     `json:"drug,omitempty"`
	Message string       `json:"message"`
}

// CheckResult is the answer to a regimen check.
type CheckResult struct {
	// Complete is false when a drug name or allergy could not be resolved:
	// the findings then cover only what was understood.
	Complete   bool                `json:"complete"`
	Findings   []Finding           `json:"findings"`
	Diet       []DietAdvice        `json:"diet"` // filled by CheckRegimenWithDiet
	Names      []NameResolution    `json:"names"`
	Allergies  []AllergyResolution `json:"allergies"`
	Conditions []ConditionMatch    `json:"conditions"`
	Warnings   []string            `json:"warnings"`
	Notice     string              `json:"notice"`
}

// CheckRegimen checks every pair of drugs (drug and class rules, a drug
// rule taking precedence over class rules for the same pair), duplicate
// therapy, contraindications in the patient's conditions with eGFR, age and
// pregnancy thresholds, and allergies. Findings come most severe first,
// each with a plain-text summary, evidence and sources.
func (g *Graph) CheckRegimen(ctx context.Context, drugs []string, p Profile) (*CheckResult, error) {
	if len(drugs) == 0 {
		return nil, fmt.Errorf("knowledge: check regimen: %w: no drugs", ErrInvalidInput)
	}
	res, _, err := g.check(ctx, drugs, nil, p, false)
	return res, err
}

// CheckRegimenWithDiet is CheckRegimen that also fills Diet with the foods
// and herbs the regimen asks to avoid, limit or keep steady, in the same
// query.
func (g *Graph) CheckRegimenWithDiet(ctx context.Context, drugs []string, p Profile) (*CheckResult, error) {
	if len(drugs) == 0 {
		return nil, fmt.Errorf("knowledge: check regimen: %w: no drugs", ErrInvalidInput)
	}
	res, _, err := g.check(ctx, drugs, nil, p, true)
	return res, err
}

// check runs a regimen check over drugs given by name plus drugs given by
// id (treatment candidates), and returns the drugs it checked by id. With
// withDiet it also reads the food and herb rules.
func (g *Graph) check(ctx context.Context, drugs, extraIDs []string, p Profile, withDiet bool) (*CheckResult, map[string]DrugRef, error) {
	cat, err := g.catalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	res := &CheckResult{Findings: []Finding{}, Diet: []DietAdvice{}, Warnings: []string{}, Notice: Notice,
		Allergies: []AllergyResolution{}, Conditions: []ConditionMatch{}}

	// Conditions and allergy classes are matched against the catalog first,
	// so the query can leave out rules that cannot fire.
	matched := map[string]catalogCondition{}
	for _, c := range p.Conditions {
		cond, ok := cat.matchCondition(c)
		cm := ConditionMatch{Input: c, Matched: ok}
		if ok {
			matched[cond.ID] = cond
			cm.Condition = &ConditionRef{ID: cond.ID, Name: cond.Name, ICD10: cond.ICD10, SNOMED: cond.SNOMED}
		} else {
			res.Warnings = append(res.Warnings, fmt.Sprintf("Condition %q is not in the knowledge graph; no condition rules were checked for it.", c))
		}
		res.Conditions = append(res.Conditions, cm)
	}
	if p.Pregnant {
		if cond, ok := cat.matchCondition("pregnancy"); ok {
			matched[cond.ID] = cond
		}
	}
	conds := make([]string, 0, len(matched))
	for id := range matched {
		conds = append(conds, id)
	}
	// Allergy entries that are not allergy classes are read as drug names.
	var allergyDrugNames, allergyClasses []string
	allergyIdx := map[int]int{}
	for i, a := range p.Allergies {
		if ac, ok := cat.matchAllergy(a); ok {
			res.Allergies = append(res.Allergies, AllergyResolution{Input: a, Status: Resolved,
				Classes: []AllergyRef{{ID: ac.ID, Name: ac.Name, Relation: "recorded"}},
				Message: fmt.Sprintf("%q is read as allergy to %s.", a, ac.Name)})
			allergyClasses = append(allergyClasses, ac.ID)
			continue
		}
		allergyIdx[i] = len(allergyDrugNames)
		allergyDrugNames = append(allergyDrugNames, a)
		res.Allergies = append(res.Allergies, AllergyResolution{Input: a, Status: Unknown})
	}

	// Names are resolved inside the facts query: when every name is an
	// exact match (the usual case) the whole check is one round trip. Names
	// that need fuzzy matching cost a full-text query, and the facts are
	// then read again with the drugs it found.
	all := append(append([]string{}, drugs...), allergyDrugNames...)
	fp := factsParams{keys: make([]string, len(all)), nDrugs: len(drugs), ids: extraIDs, allergyClasses: allergyClasses,
		conds: conds, egfr: p.EGFR, age: p.Age, diet: withDiet}
	resolved := make([]NameResolution, len(all))
	for i, n := range all {
		fp.keys[i] = NormalizeName(n)
		resolved[i] = NameResolution{Input: n, Status: Unknown}
	}
	f, exact, err := g.facts(ctx, fp)
	if err != nil {
		return nil, nil, err
	}
	var fuzzy []int
	for i, e := range exact {
		if !interpretExact(&resolved[i], e.kind, e.drugs) && fp.keys[i] != "" {
			fuzzy = append(fuzzy, i)
		}
	}
	if len(fuzzy) > 0 {
		if err := g.resolveFuzzy(ctx, resolved, fp.keys, fuzzy); err != nil {
			return nil, nil, err
		}
		var moreDrugs, moreAllergy []string
		for _, i := range fuzzy {
			r := resolved[i]
			if r.Status != Resolved {
				continue
			}
			for _, d := range r.Drugs {
				if i < len(drugs) {
					moreDrugs = append(moreDrugs, d.ID)
				} else if len(r.Drugs) == 1 {
					moreAllergy = append(moreAllergy, d.ID)
				}
			}
		}
		if len(moreDrugs)+len(moreAllergy) > 0 {
			fp.ids = append(append([]string{}, extraIDs...), moreDrugs...)
			fp.allergyIDs = moreAllergy
			if f, _, err = g.facts(ctx, fp); err != nil {
				return nil, nil, err
			}
		}
	}
	markUnknown(resolved)
	res.Names = resolved[:len(drugs)]
	allergicDrugs := map[string]string{} // drug id -> the allergy entry
	for i := range p.Allergies {
		j, ok := allergyIdx[i]
		if !ok {
			continue
		}
		nr := resolved[len(drugs)+j]
		ar := &res.Allergies[i]
		if nr.Status == Resolved && len(nr.Drugs) == 1 {
			d := nr.Drugs[0]
			ar.Status, ar.Drug = Resolved, &d
			ar.Message = fmt.Sprintf("%q is read as allergy to %s and the allergy classes it belongs to.", ar.Input, d.Name)
			allergicDrugs[d.ID] = ar.Input
			continue
		}
		ar.Message = fmt.Sprintf("%q is not a known allergy class or drug; allergy checks for it were not done.", ar.Input)
		res.Warnings = append(res.Warnings, ar.Message)
	}

	// The drugs checked, each once; an ingredient named twice is itself a
	// finding.
	sourcesOf := map[string][]string{}
	order := map[string]int{}
	for _, nr := range res.Names {
		if nr.Status != Resolved {
			res.Warnings = append(res.Warnings, nr.Message)
			continue
		}
		for _, d := range nr.Drugs {
			if _, seen := order[d.ID]; !seen {
				order[d.ID] = len(order)
			}
			sourcesOf[d.ID] = append(sourcesOf[d.ID], nr.Input)
		}
	}
	for _, id := range extraIDs {
		if _, seen := order[id]; !seen {
			order[id] = len(order)
			sourcesOf[id] = []string{id}
		}
	}
	sort.SliceStable(f.members, func(i, j int) bool { return order[f.members[i].ref.ID] < order[f.members[j].ref.ID] })
	res.Complete = allOnlyConditionWarnings(res)

	checked := map[string]DrugRef{}
	for _, m := range f.members {
		checked[m.ref.ID] = m.ref
	}
	ev := evaluator{cat: cat, f: f, profile: p, conditions: matched, allergicDrugs: allergicDrugs}
	ev.allergyClasses(res)
	res.Findings = append(res.Findings, ev.interactions()...)
	res.Findings = append(res.Findings, ev.duplicates(sourcesOf)...)
	res.Findings = append(res.Findings, ev.contraindications(res)...)
	res.Findings = append(res.Findings, ev.allergies()...)
	if withDiet {
		res.Diet = ev.diet()
	}
	sortFindings(res.Findings)
	return res, checked, nil
}

// allOnlyConditionWarnings: an unknown condition does not make a check
// incomplete (the graph holds the conditions our rules need); an
// unresolved drug or allergy does.
func allOnlyConditionWarnings(res *CheckResult) bool {
	for _, nr := range res.Names {
		if nr.Status != Resolved {
			return false
		}
	}
	for _, a := range res.Allergies {
		if a.Status != Resolved {
			return false
		}
	}
	return true
}

func sortFindings(fs []Finding) {
	kindOrder := map[string]int{KindAllergy: 0, KindContraindication: 1, KindInteraction: 2, KindDuplicate: 3}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() < b.Severity.Rank()
		}
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		return joinNames(a.Drugs) < joinNames(b.Drugs)
	})
}

// facts is everything the graph says about a set of drugs, read in one query.
type facts struct {
	members       []member
	interactions  []map[string]any
	duplicates    []map[string]any
	contras       []map[string]any
	allergens     []map[string]any
	diet          []map[string]any
	drugAllergies []map[string]any // allergy classes the patient's allergic drugs belong to
}

type member struct {
	ref     DrugRef
	classes map[string]bool
}

func (m member) covers(key string) bool {
	if id, ok := strings.CutPrefix(key, "drug:"); ok {
		return id == m.ref.ID
	}
	id, _ := strings.CutPrefix(key, "class:")
	return m.classes[id]
}

// factsQuery resolves names exactly ($keys; the first $nDrugs are the
// regimen, the rest allergies recorded as drug names) and reads, for the
// resolved drugs plus $ids, every rule that touches them or their classes.
const factsQuery = `
UNWIND range(0, size($keys) - 1) AS i
OPTIONAL MATCH (n:Name {key: $keys[i]})-[:NAMES]->(d:Drug)
OPTIONAL MATCH (d)-[:IN_CLASS]->(dc:DrugClass)
WITH i, n, d, collect(dc.id) AS direct
WITH i, n.kind AS kind, collect(CASE WHEN d IS NULL THEN null ELSE {id: d.id, name: d.name, rxcui: d.rxcui, atc: d.atc,
     classes: direct} END) AS ds
WITH collect({i: i, kind: kind, drugs: ds}) AS names
WITH names,
     reduce(acc = [], x IN names | CASE WHEN x.i < $nDrugs AND x.kind <> 'ambiguous' AND (size(x.drugs) = 1 OR x.kind = 'combination')
            THEN acc + [y IN x.drugs | y.id] ELSE acc END) + $ids AS drugIds,
     reduce(acc = [], x IN names | CASE WHEN x.i >= $nDrugs AND x.kind <> 'ambiguous' AND size(x.drugs) = 1
            THEN acc + [x.drugs[0].id] ELSE acc END) + $allergyIds AS allergyDrugIds
CALL {
  WITH drugIds
  UNWIND drugIds AS did
  WITH DISTINCT did
  MATCH (d:Drug {id: did})
  OPTIONAL MATCH (d)-[:IN_CLASS]->(:DrugClass)-[:SUBCLASS_OF*0..]->(c:DrugClass)
  WITH d, collect(DISTINCT c) AS cs
  RETURN collect({d: d, cs: cs}) AS members
}
CALL {
  WITH members
  UNWIND members AS m
  UNWIND [m.d] + m.cs AS n
  RETURN collect(DISTINCT n) AS nodes
}
CALL {
  WITH nodes
  UNWIND nodes AS x
  MATCH (x)-[r:INTERACTS_WITH]->(y) WHERE y IN nodes
  RETURN collect(r{a: x.key, b: y.key, .id, .severity, .mechanism, .effect, .management, .sources, .ref}) AS ddis
}
CALL {
  WITH nodes
  UNWIND nodes AS x
  MATCH (x)-[r:DUPLICATE_THERAPY]->(y) WHERE y IN nodes
  RETURN collect(r{a: x.key, b: y.key, an: x.name, bn: y.name, .id, .severity, .note, .sources, .ref}) AS dups
}
CALL {
  // Only the rules that can fire for this patient come back in full; a
  // threshold rule whose eGFR or age is unknown comes back as a stub so
  // that the check can say what it could not decide.
  WITH nodes
  UNWIND nodes AS x
  MATCH (x)-[r:CONTRAINDICATED_IN]->(c:Condition)
  WITH x, r, c, r.egfrBelow IS NOT NULL AS renal,
       r.egfrBelow IS NULL AND (r.ageBelow IS NOT NULL OR r.ageAtLeast IS NOT NULL) AS aged
  WITH x, r, c, renal, aged,
       c.id IN $conds
       OR (renal AND $egfr IS NOT NULL AND $egfr < r.egfrBelow)
       OR (aged AND $age IS NOT NULL AND $age < coalesce(r.ageBelow, 1000) AND $age >= coalesce(r.ageAtLeast, -1)) AS full
  WHERE full OR (renal AND $egfr IS NULL) OR (aged AND $age IS NULL)
  RETURN collect(CASE WHEN full
                 THEN r{a: x.key, cond: c.id, .id, .severity, .egfrBelow, .ageBelow, .ageAtLeast, .effect, .management, .sources, .ref}
                 ELSE r{a: x.key, cond: c.id, .id, .egfrBelow, .ageBelow, .ageAtLeast, stub: true} END) AS contras
}
CALL {
  WITH allergyDrugIds
  UNWIND allergyDrugIds AS aid
  MATCH (d:Drug {id: aid})
  OPTIONAL MATCH (d)-[:IN_CLASS]->(:DrugClass)-[:SUBCLASS_OF*0..]->(c:DrugClass)
  WITH d, [d] + collect(DISTINCT c) AS owners
  UNWIND owners AS o
  MATCH (o)-[r:HAS_ALLERGEN {relation: 'member'}]->(al:AllergyClass)
  RETURN collect(DISTINCT {drug: d.id, allergy: al.id, allergyName: al.name}) AS drugAllergies
}
CALL {
  WITH nodes, drugAllergies
  WITH nodes, $allergyClasses + [x IN drugAllergies | x.allergy] AS allergic
  UNWIND CASE WHEN size(allergic) > 0 THEN nodes ELSE [] END AS x
  MATCH (x)-[r:HAS_ALLERGEN]->(al:AllergyClass) WHERE al.id IN allergic
  RETURN collect(r{a: x.key, allergy: al.id, allergyName: al.name, .id, .relation, .severity, .note, .management, .sources, .ref}) AS allergens
}
CALL {
  WITH nodes
  UNWIND CASE WHEN $diet THEN nodes ELSE [] END AS x
  MATCH (x)-[r:INTERACTS_WITH_FOOD|INTERACTS_WITH_HERB]->(f)
  RETURN collect(r{a: x.key, item: f.id, itemName: f.name, itemKind: CASE WHEN f:Herb THEN 'herb' ELSE 'food' END,
                   synonyms: f.synonyms, .id, .advice, .severity, .effect, .management, .sources, .ref}) AS diet
}
RETURN names,
       [m IN members | {id: m.d.id, name: m.d.name, rxcui: m.d.rxcui, atc: m.d.atc,
                        classes: [c IN m.cs | c.id]}] AS members,
       ddis, dups, contras, allergens, diet, drugAllergies`

// exactName is what the facts query found for one name.
type exactName struct {
	kind  string
	drugs []DrugRef
}

// factsParams are the parameters of factsQuery. The profile parts let the
// server leave out rules that cannot fire, which keeps the answer small.
type factsParams struct {
	keys           []string
	nDrugs         int
	ids            []string // drugs given by id
	allergyIDs     []string // drugs the patient is allergic to
	allergyClasses []string // allergy classes the patient has
	conds          []string // condition ids the patient has
	egfr           *float64
	age            *int
	diet           bool
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (g *Graph) facts(ctx context.Context, fp factsParams) (*facts, []exactName, error) {
	params := map[string]any{"keys": nonNil(fp.keys), "nDrugs": int64(fp.nDrugs), "ids": nonNil(fp.ids),
		"allergyIds": nonNil(fp.allergyIDs), "allergyClasses": nonNil(fp.allergyClasses), "conds": nonNil(fp.conds),
		"egfr": nil, "age": nil, "diet": fp.diet}
	if fp.egfr != nil {
		params["egfr"] = *fp.egfr
	}
	if fp.age != nil {
		params["age"] = int64(*fp.age)
	}
	keys := fp.keys
	recs, err := g.read(ctx, "read regimen facts", factsQuery, params)
	if err != nil {
		return nil, nil, err
	}
	if len(recs) != 1 {
		return nil, nil, fmt.Errorf("knowledge: read regimen facts: %d rows, want 1", len(recs))
	}
	r := recs[0]
	exact := make([]exactName, len(keys))
	for _, n := range maps(r.Values[0]) {
		i, _ := n["i"].(int64)
		exact[i] = exactName{kind: str(n["kind"]), drugs: drugRefs(n["drugs"])}
	}
	f := &facts{}
	for _, m := range drugRefs(r.Values[1]) {
		mem := member{ref: m, classes: map[string]bool{}}
		for _, c := range m.Classes {
			mem.classes[c] = true
		}
		f.members = append(f.members, mem)
	}
	f.interactions = maps(r.Values[2])
	f.duplicates = maps(r.Values[3])
	f.contras = maps(r.Values[4])
	f.allergens = maps(r.Values[5])
	f.diet = maps(r.Values[6])
	f.drugAllergies = maps(r.Values[7])
	return f, exact, nil
}

func maps(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// evaluator turns facts into findings for one patient.
type evaluator struct {
	cat           *catalog
	f             *facts
	profile       Profile
	conditions    map[string]catalogCondition
	allergicDrugs map[string]string // drug id -> allergy entry
	allergySet    map[string]AllergyRef
}

func isClassKey(k string) bool { return strings.HasPrefix(k, "class:") }

func level(keys ...string) (int, string) {
	n := 0
	for _, k := range keys {
		if isClassKey(k) {
			n++
		}
	}
	if len(keys) == 1 {
		return n, []string{"drug", "class"}[n]
	}
	return n, []string{"drug", "drug-class", "class"}[n]
}

// better reports whether rule a beats rule b: the more specific rule wins,
// then the more severe, then the lower id (so answers are stable).
func better(aLevel int, a map[string]any, bLevel int, b map[string]any) bool {
	if aLevel != bLevel {
		return aLevel < bLevel
	}
	as, bs := Severity(str(a["severity"])), Severity(str(b["severity"]))
	if as.Rank() != bs.Rank() {
		return as.Rank() < bs.Rank()
	}
	return str(a["id"]) < str(b["id"])
}

func via(keys ...string) []string {
	var out []string
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, "class:"); ok {
			out = append(out, id)
		}
	}
	return out
}

func (e *evaluator) interactions() []Finding {
	var out []Finding
	ms := e.f.members
	for i := 0; i < len(ms); i++ {
		for j := i + 1; j < len(ms); j++ {
			var best map[string]any
			bestLevel := 99
			for _, r := range e.f.interactions {
				a, b := str(r["a"]), str(r["b"])
				if !(ms[i].covers(a) && ms[j].covers(b)) && !(ms[i].covers(b) && ms[j].covers(a)) {
					continue
				}
				lv, _ := level(a, b)
				if best == nil || better(lv, r, bestLevel, best) {
					best, bestLevel = r, lv
				}
			}
			if best == nil {
				continue
			}
			a, b := str(best["a"]), str(best["b"])
			_, lvName := level(a, b)
			sev := Severity(str(best["severity"]))
			f := Finding{Kind: KindInteraction, Severity: sev, DetectedIssueSeverity: sev.DetectedIssueSeverity(),
				Code: codeDrug, Drugs: []DrugRef{ms[i].ref, ms[j].ref}, RuleID: str(best["id"]), RuleLevel: lvName,
				Via: via(a, b), Mechanism: str(best["mechanism"]), Effect: str(best["effect"]),
				Management: str(best["management"]), Evidence: e.cat.evidence(strs(best["sources"]), str(best["ref"]))}
			f.Summary = fmt.Sprintf("%s with %s (%s): %s %s", ms[i].ref.Name, ms[j].ref.Name, sev, f.Effect, f.Management)
			if lvName != "drug" {
				f.Summary += fmt.Sprintf(" (Rule for %s.)", ruleSubject(a, b))
			}
			out = append(out, f)
		}
	}
	return out
}

func ruleSubject(keys ...string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		_, id, _ := strings.Cut(k, ":")
		parts[i] = strings.ReplaceAll(id, "-", " ")
	}
	return strings.Join(parts, " with ")
}

func (e *evaluator) duplicates(sourcesOf map[string][]string) []Finding {
	var out []Finding
	for _, m := range e.f.members {
		if names := sourcesOf[m.ref.ID]; len(names) > 1 {
			out = append(out, Finding{Kind: KindDuplicate, Severity: Major, DetectedIssueSeverity: Major.DetectedIssueSeverity(),
				Code: codeDuplicate, Drugs: []DrugRef{m.ref}, RuleID: "duplicate-ingredient", RuleLevel: "drug",
				Effect:     "The same ingredient would be given twice.",
				Management: "Keep one prescription for this ingredient (check combination products).",
				Summary: fmt.Sprintf("%s appears more than once in the regimen (as %s): the dose would be doubled.",
					m.ref.Name, strings.Join(quoteAll(names), " and ")),
				Evidence: []Evidence{{Source: "regimen", Title: "The regimen as entered", Reference: "names: " + strings.Join(quoteAll(names), ", ")}}})
		}
	}
	for _, r := range e.f.duplicates {
		a, b := str(r["a"]), str(r["b"])
		var drugs []DrugRef
		inA, inB := 0, 0
		for _, m := range e.f.members {
			ca, cb := m.covers(a), m.covers(b)
			if ca {
				inA++
			}
			if cb {
				inB++
			}
			if ca || cb {
				drugs = append(drugs, m.ref)
			}
		}
		dup := len(drugs) >= 2 && (a == b || (inA > 0 && inB > 0))
		if !dup {
			continue
		}
		sev := Severity(str(r["severity"]))
		subject := str(r["an"])
		if a != b {
			subject += " with " + str(r["bn"])
		}
		f := Finding{Kind: KindDuplicate, Severity: sev, DetectedIssueSeverity: sev.DetectedIssueSeverity(), Code: codeDuplicate,
			Drugs: drugs, RuleID: str(r["id"]), RuleLevel: "class", Via: via(a, b), Effect: str(r["note"]),
			Evidence: e.cat.evidence(strs(r["sources"]), str(r["ref"]))}
		f.Summary = fmt.Sprintf("Duplicate therapy (%s): %s. %s", strings.ToLower(subject), joinNames(drugs), f.Effect)
		out = append(out, f)
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// contraindications applies condition rules. A rule with an eGFR threshold
// fires on the patient's eGFR; without an eGFR it fires only if the patient
// has the condition, and the check warns that kidney function is unknown.
// Age rules fire on the age. Per drug and condition the most specific, then
// most severe, rule is reported.
func (e *evaluator) contraindications(res *CheckResult) []Finding {
	type pick struct {
		lv   int
		r    map[string]any
		why  string
		code Coding
	}
	var out []Finding
	needEGFR, needAge := map[string]bool{}, map[string]bool{}
	for _, m := range e.f.members {
		best := map[string]pick{}
		for _, r := range e.f.contras {
			a := str(r["a"])
			if !m.covers(a) {
				continue
			}
			cond := str(r["cond"])
			_, has := e.conditions[cond]
			if stub, _ := r["stub"].(bool); stub {
				// A threshold rule the query could not decide: say so.
				if _, renal := num(r["egfrBelow"]); renal {
					needEGFR[m.ref.Name] = true
				} else {
					needAge[m.ref.Name] = true
				}
				continue
			}
			fires, why, code := false, "", codeCondition
			if cond == "pregnancy" {
				code = codePregnancy
			}
			egfr, hasEGFR := num(r["egfrBelow"])
			ageBelow, hasAgeBelow := num(r["ageBelow"])
			ageAtLeast, hasAgeAtLeast := num(r["ageAtLeast"])
			switch {
			case hasEGFR:
				if e.profile.EGFR != nil {
					fires = *e.profile.EGFR < egfr
					why = fmt.Sprintf("eGFR %g is below %g", *e.profile.EGFR, egfr)
				} else {
					needEGFR[m.ref.Name] = true
					fires = has
					why = fmt.Sprintf("eGFR not given; the rule applies below %g", egfr)
				}
			case hasAgeBelow || hasAgeAtLeast:
				code = codeAge
				if e.profile.Age != nil {
					age := float64(*e.profile.Age)
					fires = (!hasAgeBelow || age < ageBelow) && (!hasAgeAtLeast || age >= ageAtLeast)
					if hasAgeBelow {
						why = fmt.Sprintf("age %d is under %g", *e.profile.Age, ageBelow)
					} else {
						why = fmt.Sprintf("age %d is %g or over", *e.profile.Age, ageAtLeast)
					}
				} else {
					needAge[m.ref.Name] = true
					fires = has
					why = "age not given; the patient is recorded in this group"
				}
			default:
				fires = has
			}
			if !fires {
				continue
			}
			lv, _ := level(a)
			if cur, ok := best[cond]; !ok || better(lv, r, cur.lv, cur.r) {
				best[cond] = pick{lv, r, why, code}
			}
		}
		conds := make([]string, 0, len(best))
		for c := range best {
			conds = append(conds, c)
		}
		sort.Strings(conds)
		for _, c := range conds {
			p := best[c]
			cond := e.condition(c)
			sev := Severity(str(p.r["severity"]))
			a := str(p.r["a"])
			_, lvName := level(a)
			f := Finding{Kind: KindContraindication, Severity: sev, DetectedIssueSeverity: sev.DetectedIssueSeverity(),
				Code: p.code, Drugs: []DrugRef{m.ref}, Condition: &cond, RuleID: str(p.r["id"]), RuleLevel: lvName,
				Via: via(a), Effect: str(p.r["effect"]), Management: str(p.r["management"]),
				Evidence: e.cat.evidence(strs(p.r["sources"]), str(p.r["ref"]))}
			f.Summary = fmt.Sprintf("%s in %s (%s): %s %s", m.ref.Name, strings.ToLower(cond.Name), sev, f.Effect, f.Management)
			if p.why != "" {
				f.Summary += " (" + p.why + ".)"
			}
			out = append(out, f)
		}
	}
	if len(needEGFR) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("eGFR not given: %s have kidney-function limits; give eGFR for a full check.",
			strings.Join(sortedKeys(needEGFR), ", ")))
	}
	if len(needAge) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("Age not given: %s have age limits; give the age for a full check.",
			strings.Join(sortedKeys(needAge), ", ")))
	}
	return out
}

func (e *evaluator) condition(id string) ConditionRef {
	for _, c := range e.cat.conditions {
		if c.ID == id {
			return ConditionRef{ID: c.ID, Name: c.Name, ICD10: c.ICD10, SNOMED: c.SNOMED}
		}
	}
	return ConditionRef{ID: id, Name: id}
}

func sortedKeys(m map[string]bool) []string { return keys(m) }

// allergyClasses collects the allergy classes the patient is allergic to:
// those named directly and those the named drugs belong to.
func (e *evaluator) allergyClasses(res *CheckResult) {
	e.allergySet = map[string]AllergyRef{}
	for _, a := range res.Allergies {
		for _, c := range a.Classes {
			e.allergySet[c.ID] = c
		}
	}
	for _, da := range e.f.drugAllergies {
		ref := AllergyRef{ID: str(da["allergy"]), Name: str(da["allergyName"]), Relation: "recorded"}
		e.allergySet[ref.ID] = ref
		for i := range res.Allergies {
			if d := res.Allergies[i].Drug; d != nil && d.ID == str(da["drug"]) {
				res.Allergies[i].Classes = append(res.Allergies[i].Classes, ref)
			}
		}
	}
}

func (e *evaluator) allergies() []Finding {
	var out []Finding
	for _, m := range e.f.members {
		if entry, ok := e.allergicDrugs[m.ref.ID]; ok {
			out = append(out, Finding{Kind: KindAllergy, Severity: Contraindicated,
				DetectedIssueSeverity: Contraindicated.DetectedIssueSeverity(), Code: codeAllergy, Drugs: []DrugRef{m.ref},
				Allergy: &AllergyRef{ID: m.ref.ID, Name: m.ref.Name, Relation: "recorded-drug"}, RuleID: "recorded-drug-allergy",
				RuleLevel: "drug", Effect: "The patient has a recorded allergy to this drug.",
				Management: "Do not give; choose an alternative.",
				Summary:    fmt.Sprintf("%s: the patient has a recorded allergy (%q).", m.ref.Name, entry),
				Evidence:   []Evidence{{Source: "patient-record", Title: "The patient's recorded allergies", Reference: entry}}})
			continue
		}
		type pick struct {
			lv int
			r  map[string]any
		}
		best := map[string]pick{}
		for _, r := range e.f.allergens {
			a, al := str(r["a"]), str(r["allergy"])
			if _, allergic := e.allergySet[al]; !allergic || !m.covers(a) {
				continue
			}
			lv, _ := level(a)
			if cur, ok := best[al]; !ok || better(lv, r, cur.lv, cur.r) {
				best[al] = pick{lv, r}
			}
		}
		als := make([]string, 0, len(best))
		for al := range best {
			als = append(als, al)
		}
		sort.Strings(als)
		for _, al := range als {
			r := best[al].r
			sev := Severity(str(r["severity"]))
			a := str(r["a"])
			_, lvName := level(a)
			ref := AllergyRef{ID: al, Name: str(r["allergyName"]), Relation: str(r["relation"])}
			f := Finding{Kind: KindAllergy, Severity: sev, DetectedIssueSeverity: sev.DetectedIssueSeverity(), Code: codeAllergy,
				Drugs: []DrugRef{m.ref}, Allergy: &ref, RuleID: str(r["id"]), RuleLevel: lvName, Via: via(a),
				Effect: str(r["note"]), Management: str(r["management"]), Evidence: e.cat.evidence(strs(r["sources"]), str(r["ref"]))}
			rel := "belongs to"
			if ref.Relation == "cross-reactive" {
				rel = "may cross-react with"
			}
			f.Summary = fmt.Sprintf("%s %s the patient's allergy to %s (%s): %s %s", m.ref.Name, rel, strings.ToLower(ref.Name), sev, f.Effect, f.Management)
			out = append(out, f)
		}
	}
	return out
}
