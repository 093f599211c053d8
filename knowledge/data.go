package knowledge

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The data set ships inside the binary so that `carepath knowledge load`
// loads exactly the files of the commit it was built from.
//
//go:embed data/*.csv data/*.yaml data/VERSION
var embedded embed.FS

// Source is a publication the data cites.
type Source struct {
	ID, Title, Publisher, URL, Licence string
}

// Class is a node of the drug class hierarchy.
type Class struct {
	ID, Name, Parent, ATC string
	Sources               []string
	Ref                   string
}

// Drug is one active ingredient (or a fixed combination sold as one name,
// such as co-amoxiclav).
type Drug struct {
	ID, Name, ATC, RxCUI string
	Classes              []string
	Synonyms, Brands     []string
	Sources              []string
}

// ExtraName is a name that maps to several drugs: a combination product
// (resolves to all its ingredients) or an ambiguous name (resolves to none
// until the prescriber says which).
type ExtraName struct {
	Name, Kind string // kind: combination or ambiguous
	Drugs      []string
	Sources    []string
	Ref        string
}

// Condition is a diagnosis, a state (pregnancy) or a population group used
// by age rules.
type Condition struct {
	ID, Name, Kind, ICD10, SNOMED string
	Synonyms                      []string
	Sources                       []string
}

// AllergyClass groups drugs that share an allergy.
type AllergyClass struct {
	ID, Name string
	Synonyms []string
	Sources  []string
}

// InteractionRule is a drug-drug rule between two agents (drug:ID or class:ID).
type InteractionRule struct {
	A          string   `yaml:"a"`
	B          string   `yaml:"b"`
	Severity   Severity `yaml:"severity"`
	Mechanism  string   `yaml:"mechanism"`
	Effect     string   `yaml:"effect"`
	Management string   `yaml:"management"`
	Sources    []string `yaml:"sources"`
	Ref        string   `yaml:"ref"`
}

// Allergen says that an agent belongs to, or cross-reacts with, an allergy class.
type Allergen struct {
	Subject    string   `yaml:"subject"`
	Allergy    string   `yaml:"allergy"`
	Relation   string   `yaml:"relation"` // member or cross-reactive
	Severity   Severity `yaml:"severity"`
	Note       string   `yaml:"note"`
	Management string   `yaml:"management"`
	Sources    []string `yaml:"sources"`
	Ref        string   `yaml:"ref"`
}

// ContraindicationRule ties an agent to a condition, with optional eGFR and
// age thresholds.
type ContraindicationRule struct {
	Subject    string   `yaml:"subject"`
	Condition  string   `yaml:"condition"`
	Severity   Severity `yaml:"severity"`
	EGFRBelow  *float64 `yaml:"egfr_below"`
	AgeBelow   *int     `yaml:"age_below"`
	AgeAtLeast *int     `yaml:"age_at_least"`
	Effect     string   `yaml:"effect"`
	Management string   `yaml:"management"`
	Sources    []string `yaml:"sources"`
	Ref        string   `yaml:"ref"`
}

// FoodItem is a food or a herb.
type FoodItem struct {
	ID, Kind, Name string // kind: food or herb
	Synonyms       []string
	Sources        []string
}

// FoodLink ties a food of the interaction rules to the IFCT 2017 food
// groups and foods it covers, so the diet planner can leave them out.
type FoodLink struct {
	Food    string
	Groups  []IFCTRef
	Foods   []IFCTRef
	Sources []string
	Ref     string
}

// IFCTRef is an IFCT 2017 food group (its letter) or food (its code), with
// its name in the table.
type IFCTRef struct{ Code, Name string }

func ifctRefs(cell string) []IFCTRef {
	var out []IFCTRef
	for _, item := range list(cell) {
		code, name, _ := strings.Cut(item, " ")
		out = append(out, IFCTRef{Code: code, Name: name})
	}
	return out
}

// FoodRule is a food-drug or herb-drug rule.
type FoodRule struct {
	Subject    string   `yaml:"subject"`
	Food       string   `yaml:"food"`
	Herb       string   `yaml:"herb"`
	Advice     string   `yaml:"advice"`
	Severity   Severity `yaml:"severity"`
	Effect     string   `yaml:"effect"`
	Management string   `yaml:"management"`
	Sources    []string `yaml:"sources"`
	Ref        string   `yaml:"ref"`
}

// Item is the food or herb the rule names.
func (r FoodRule) Item() string {
	if r.Food != "" {
		return r.Food
	}
	return r.Herb
}

// TreatmentRule is a guideline recommendation for a condition.
type TreatmentRule struct {
	ID                   string   `yaml:"id"`
	Condition            string   `yaml:"condition"`
	Line                 string   `yaml:"line"` // first or second
	Subject              string   `yaml:"subject"`
	Guideline            string   `yaml:"guideline"`
	When                 string   `yaml:"when"`
	AppliesAgeBelow      *int     `yaml:"applies_age_below"`
	AppliesAgeAtLeast    *int     `yaml:"applies_age_at_least"`
	AppliesWithCondition string   `yaml:"applies_with_condition"`
	Sources              []string `yaml:"sources"`
	Ref                  string   `yaml:"ref"`
}

// DuplicateRule flags two drugs of the same class (or of two classes that
// do the same job) in one regimen.
type DuplicateRule struct {
	ClassA, ClassB string
	Severity       Severity
	Note           string
	Sources        []string
	Ref            string
}

// Dataset is the whole knowledge data set, as read from knowledge/data.
type Dataset struct {
	// Version is data/VERSION plus a digest of every file, so that any edit
	// to the data changes it.
	Version           string
	Sources           []Source
	Classes           []Class
	Drugs             []Drug
	Names             []ExtraName
	Conditions        []Condition
	AllergyClasses    []AllergyClass
	Interactions      []InteractionRule
	Allergens         []Allergen
	Contraindications []ContraindicationRule
	Foods             []FoodItem
	FoodRules         []FoodRule
	FoodLinks         []FoodLink
	Treatments        []TreatmentRule
	Duplicates        []DuplicateRule
}

// Embedded reads and validates the data set compiled into the binary.
func Embedded() (*Dataset, error) {
	sub, err := fs.Sub(embedded, "data")
	if err != nil {
		return nil, fmt.Errorf("knowledge: embedded data: %w", err)
	}
	return ReadDataset(sub)
}

// DataFiles returns the raw files of the embedded data set by name, for
// tools and tests that derive a data set from it.
func DataFiles() (map[string][]byte, error) {
	entries, err := embedded.ReadDir("data")
	if err != nil {
		return nil, fmt.Errorf("knowledge: embedded data: %w", err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := embedded.ReadFile("data/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("knowledge: embedded data: %w", err)
		}
		out[e.Name()] = b
	}
	return out, nil
}

// ReadDataset reads and validates a data set from a directory laid out like
// knowledge/data.
func ReadDataset(fsys fs.FS) (*Dataset, error) {
	d := &Dataset{}
	digest := sha256.New()
	read := func(name string) ([]byte, error) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("knowledge: read %s: %w", name, err)
		}
		fmt.Fprintf(digest, "%s\x00%d\x00", name, len(b))
		digest.Write(b)
		return b, nil
	}
	version, err := read("VERSION")
	if err != nil {
		return nil, err
	}
	type table struct {
		file   string
		header string
		row    func(rec map[string]string) error
	}
	tables := []table{
		{"sources.csv", "id,title,publisher,url,licence", func(r map[string]string) error {
			d.Sources = append(d.Sources, Source{ID: r["id"], Title: r["title"], Publisher: r["publisher"], URL: r["url"], Licence: r["licence"]})
			return nil
		}},
		{"classes.csv", "id,name,parent,atc,sources,source_ref", func(r map[string]string) error {
			d.Classes = append(d.Classes, Class{ID: r["id"], Name: r["name"], Parent: r["parent"], ATC: r["atc"],
				Sources: list(r["sources"]), Ref: r["source_ref"]})
			return nil
		}},
		{"drugs.csv", "id,name,classes,atc,rxcui,synonyms,brands,sources", func(r map[string]string) error {
			d.Drugs = append(d.Drugs, Drug{ID: r["id"], Name: r["name"], Classes: list(r["classes"]), ATC: r["atc"],
				RxCUI: r["rxcui"], Synonyms: list(r["synonyms"]), Brands: list(r["brands"]), Sources: list(r["sources"])})
			return nil
		}},
		{"names.csv", "name,kind,drugs,sources,source_ref", func(r map[string]string) error {
			d.Names = append(d.Names, ExtraName{Name: r["name"], Kind: r["kind"], Drugs: list(r["drugs"]),
				Sources: list(r["sources"]), Ref: r["source_ref"]})
			return nil
		}},
		{"conditions.csv", "id,name,kind,icd10,snomed,synonyms,sources", func(r map[string]string) error {
			d.Conditions = append(d.Conditions, Condition{ID: r["id"], Name: r["name"], Kind: r["kind"], ICD10: r["icd10"],
				SNOMED: r["snomed"], Synonyms: list(r["synonyms"]), Sources: list(r["sources"])})
			return nil
		}},
		{"allergy_classes.csv", "id,name,synonyms,sources", func(r map[string]string) error {
			d.AllergyClasses = append(d.AllergyClasses, AllergyClass{ID: r["id"], Name: r["name"],
				Synonyms: list(r["synonyms"]), Sources: list(r["sources"])})
			return nil
		}},
		{"foods.csv", "id,kind,name,synonyms,sources", func(r map[string]string) error {
			d.Foods = append(d.Foods, FoodItem{ID: r["id"], Kind: r["kind"], Name: r["name"],
				Synonyms: list(r["synonyms"]), Sources: list(r["sources"])})
			return nil
		}},
		{"food_ifct.csv", "food,ifct_groups,ifct_codes,sources,source_ref", func(r map[string]string) error {
			d.FoodLinks = append(d.FoodLinks, FoodLink{Food: r["food"], Groups: ifctRefs(r["ifct_groups"]),
				Foods: ifctRefs(r["ifct_codes"]), Sources: list(r["sources"]), Ref: r["source_ref"]})
			return nil
		}},
		{"duplicate_therapy.csv", "class,severity,note,sources,source_ref", func(r map[string]string) error {
			a, b, _ := strings.Cut(r["class"], "|")
			if b == "" {
				b = a
			}
			d.Duplicates = append(d.Duplicates, DuplicateRule{ClassA: a, ClassB: b, Severity: Severity(r["severity"]),
				Note: r["note"], Sources: list(r["sources"]), Ref: r["source_ref"]})
			return nil
		}},
	}
	for _, t := range tables {
		raw, err := read(t.file)
		if err != nil {
			return nil, err
		}
		if err := readCSV(t.file, raw, t.header, t.row); err != nil {
			return nil, err
		}
	}
	yamls := []struct {
		file string
		into any
	}{
		{"interactions.yaml", &d.Interactions},
		{"allergens.yaml", &d.Allergens},
		{"contraindications.yaml", &d.Contraindications},
		{"food_interactions.yaml", &d.FoodRules},
		{"treatments.yaml", &d.Treatments},
	}
	for _, y := range yamls {
		raw, err := read(y.file)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true) // a stray comma in a flow map must not become a silent extra key
		if err := dec.Decode(y.into); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("knowledge: %s: %w", y.file, err)
		}
	}
	d.Version = strings.TrimSpace(string(version)) + "+" + hex.EncodeToString(digest.Sum(nil))[:12]
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func readCSV(file string, raw []byte, header string, row func(map[string]string) error) error {
	r := csv.NewReader(bytes.NewReader(raw))
	recs, err := r.ReadAll()
	if err != nil {
		return fmt.Errorf("knowledge: %s: %w", file, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != header {
		return fmt.Errorf("knowledge: %s: header must be %q", file, header)
	}
	cols := recs[0]
	for i, rec := range recs[1:] {
		m := make(map[string]string, len(cols))
		for j, c := range cols {
			m[c] = strings.TrimSpace(rec[j])
		}
		if err := row(m); err != nil {
			return fmt.Errorf("knowledge: %s line %d: %w", file, i+2, err)
		}
	}
	return nil
}

var (
	ifctGroup = regexp.MustCompile(`^[A-U]$`)
	ifctCode  = regexp.MustCompile(`^[A-U][0-9]{3}$`)
)

// list splits a semicolon-separated cell.
func list(cell string) []string {
	var out []string
	for _, p := range strings.Split(cell, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// agentRef splits "drug:ID" or "class:ID".
func agentRef(ref string) (kind, id string, ok bool) {
	kind, id, ok = strings.Cut(ref, ":")
	return kind, id, ok && (kind == "drug" || kind == "class") && id != ""
}

// Validate checks that every reference resolves, every row names a source,
// enumerations hold valid values, the class hierarchy has no cycle and no
// name silently points at two drugs.
func (d *Dataset) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	sources := map[string]bool{}
	for _, s := range d.Sources {
		if s.ID == "" || s.Title == "" || s.URL == "" {
			bad("sources.csv: %q needs id, title and url", s.ID)
		}
		if sources[s.ID] {
			bad("sources.csv: duplicate id %q", s.ID)
		}
		sources[s.ID] = true
	}
	cited := func(where string, ids []string, ref string, needRef bool) {
		if len(ids) == 0 {
			bad("%s: no source", where)
		}
		for _, id := range ids {
			if !sources[id] {
				bad("%s: unknown source %q", where, id)
			}
		}
		if needRef && strings.TrimSpace(ref) == "" {
			bad("%s: no section cited (ref)", where)
		}
	}

	classes := map[string]Class{}
	for _, c := range d.Classes {
		if _, dup := classes[c.ID]; dup || c.ID == "" || c.Name == "" {
			bad("classes.csv: duplicate or empty id %q", c.ID)
		}
		classes[c.ID] = c
		cited("classes.csv "+c.ID, c.Sources, c.Ref, true)
	}
	for _, c := range d.Classes {
		if c.Parent != "" {
			if _, ok := classes[c.Parent]; !ok {
				bad("classes.csv %s: unknown parent %q", c.ID, c.Parent)
			}
		}
		seen := map[string]bool{}
		for p := c.ID; p != ""; p = classes[p].Parent {
			if seen[p] {
				bad("classes.csv %s: cycle in the hierarchy", c.ID)
				break
			}
			seen[p] = true
		}
	}

	drugs := map[string]Drug{}
	nameOwners := map[string]map[string]bool{} // normalised name -> drug ids
	own := func(name, drug string) {
		k := NormalizeName(name)
		if k == "" {
			bad("drugs.csv %s: name %q normalises to nothing", drug, name)
			return
		}
		if nameOwners[k] == nil {
			nameOwners[k] = map[string]bool{}
		}
		nameOwners[k][drug] = true
	}
	for _, dr := range d.Drugs {
		if _, dup := drugs[dr.ID]; dup || dr.ID == "" || dr.Name == "" {
			bad("drugs.csv: duplicate or empty id %q", dr.ID)
		}
		drugs[dr.ID] = dr
		cited("drugs.csv "+dr.ID, dr.Sources, "-", false)
		for _, c := range dr.Classes {
			if _, ok := classes[c]; !ok {
				bad("drugs.csv %s: unknown class %q", dr.ID, c)
			}
		}
		if dr.RxCUI != "" {
			if _, err := strconv.Atoi(dr.RxCUI); err != nil {
				bad("drugs.csv %s: RxCUI %q is not a number", dr.ID, dr.RxCUI)
			}
		}
		own(dr.Name, dr.ID)
		for _, n := range append(append([]string{}, dr.Synonyms...), dr.Brands...) {
			own(n, dr.ID)
		}
	}
	declared := map[string]ExtraName{}
	for _, n := range d.Names {
		k := NormalizeName(n.Name)
		if n.Kind != "combination" && n.Kind != "ambiguous" {
			bad("names.csv %s: kind must be combination or ambiguous", n.Name)
		}
		if len(n.Drugs) < 2 {
			bad("names.csv %s: needs at least two drugs", n.Name)
		}
		for _, id := range n.Drugs {
			if _, ok := drugs[id]; !ok {
				bad("names.csv %s: unknown drug %q", n.Name, id)
			}
		}
		if _, dup := declared[k]; dup {
			bad("names.csv: %q declared twice", n.Name)
		}
		if owners := nameOwners[k]; len(owners) > 0 {
			bad("names.csv %s: the name is also a name of %v in drugs.csv", n.Name, keys(owners))
		}
		declared[k] = n
		cited("names.csv "+n.Name, n.Sources, n.Ref, true)
	}
	for k, owners := range nameOwners {
		if len(owners) > 1 {
			bad("drugs.csv: name %q belongs to %v; declare it in names.csv as ambiguous or rename it", k, keys(owners))
		}
	}

	agent := func(where, ref string) {
		kind, id, ok := agentRef(ref)
		switch {
		case !ok:
			bad("%s: %q must be drug:ID or class:ID", where, ref)
		case kind == "drug":
			if _, ok := drugs[id]; !ok {
				bad("%s: unknown drug %q", where, id)
			}
		default:
			if _, ok := classes[id]; !ok {
				bad("%s: unknown class %q", where, id)
			}
		}
	}
	severity := func(where string, s Severity) {
		if !s.Valid() {
			bad("%s: severity %q is not one of contraindicated, major, moderate, minor", where, s)
		}
	}

	conditions := map[string]Condition{}
	for _, c := range d.Conditions {
		if _, dup := conditions[c.ID]; dup || c.ID == "" {
			bad("conditions.csv: duplicate or empty id %q", c.ID)
		}
		if c.Kind != "condition" && c.Kind != "state" && c.Kind != "population" {
			bad("conditions.csv %s: kind must be condition, state or population", c.ID)
		}
		if c.Kind != "population" && c.ICD10 == "" {
			bad("conditions.csv %s: needs an ICD-10 code", c.ID)
		}
		conditions[c.ID] = c
		cited("conditions.csv "+c.ID, c.Sources, "-", false)
	}
	allergies := map[string]bool{}
	for _, a := range d.AllergyClasses {
		if allergies[a.ID] || a.ID == "" {
			bad("allergy_classes.csv: duplicate or empty id %q", a.ID)
		}
		allergies[a.ID] = true
		cited("allergy_classes.csv "+a.ID, a.Sources, "-", false)
	}
	pairs := map[string]bool{}
	for i, r := range d.Interactions {
		where := fmt.Sprintf("interactions.yaml #%d (%s + %s)", i+1, r.A, r.B)
		agent(where, r.A)
		agent(where, r.B)
		severity(where, r.Severity)
		if r.Effect == "" || r.Management == "" || r.Mechanism == "" {
			bad("%s: needs mechanism, effect and management", where)
		}
		cited(where, r.Sources, r.Ref, true)
		key := pairKey(r.A, r.B)
		if pairs[key] {
			bad("%s: the pair is listed twice", where)
		}
		pairs[key] = true
	}
	for i, a := range d.Allergens {
		where := fmt.Sprintf("allergens.yaml #%d (%s)", i+1, a.Subject)
		agent(where, a.Subject)
		severity(where, a.Severity)
		if !allergies[a.Allergy] {
			bad("%s: unknown allergy class %q", where, a.Allergy)
		}
		if a.Relation != "member" && a.Relation != "cross-reactive" {
			bad("%s: relation must be member or cross-reactive", where)
		}
		cited(where, a.Sources, a.Ref, true)
	}
	for i, c := range d.Contraindications {
		where := fmt.Sprintf("contraindications.yaml #%d (%s in %s)", i+1, c.Subject, c.Condition)
		agent(where, c.Subject)
		severity(where, c.Severity)
		cond, ok := conditions[c.Condition]
		if !ok {
			bad("%s: unknown condition %q", where, c.Condition)
		}
		if cond.Kind == "population" && c.AgeBelow == nil && c.AgeAtLeast == nil {
			bad("%s: a population rule needs an age threshold", where)
		}
		if c.Effect == "" || c.Management == "" {
			bad("%s: needs effect and management", where)
		}
		cited(where, c.Sources, c.Ref, true)
	}
	foods := map[string]FoodItem{}
	for _, f := range d.Foods {
		if _, dup := foods[f.ID]; dup || f.ID == "" {
			bad("foods.csv: duplicate or empty id %q", f.ID)
		}
		if f.Kind != "food" && f.Kind != "herb" {
			bad("foods.csv %s: kind must be food or herb", f.ID)
		}
		foods[f.ID] = f
		cited("foods.csv "+f.ID, f.Sources, "-", false)
	}
	for _, l := range d.FoodLinks {
		where := "food_ifct.csv " + l.Food
		if f, ok := foods[l.Food]; !ok || f.Kind != "food" {
			bad("%s: unknown food", where)
		}
		for _, g := range l.Groups {
			if !ifctGroup.MatchString(g.Code) || g.Name == "" {
				bad("%s: group %q must be an IFCT group letter and its name", where, g.Code)
			}
		}
		for _, f := range l.Foods {
			if !ifctCode.MatchString(f.Code) || f.Name == "" {
				bad("%s: food %q must be an IFCT code and its name", where, f.Code)
			}
		}
		cited(where, l.Sources, l.Ref, true)
	}
	for i, r := range d.FoodRules {
		where := fmt.Sprintf("food_interactions.yaml #%d (%s)", i+1, r.Subject)
		agent(where, r.Subject)
		severity(where, r.Severity)
		if (r.Food == "") == (r.Herb == "") {
			bad("%s: name exactly one of food or herb", where)
		}
		f, ok := foods[r.Item()]
		want := "food"
		if r.Herb != "" {
			want = "herb"
		}
		if !ok || f.Kind != want {
			bad("%s: unknown %s %q", where, want, r.Item())
		}
		switch r.Advice {
		case "avoid", "limit", "keep-steady", "separate", "monitor":
		default:
			bad("%s: advice %q is not one of avoid, limit, keep-steady, separate, monitor", where, r.Advice)
		}
		cited(where, r.Sources, r.Ref, true)
	}
	treatments := map[string]bool{}
	for _, t := range d.Treatments {
		where := "treatments.yaml " + t.ID
		if treatments[t.ID] || t.ID == "" {
			bad("%s: duplicate or empty id", where)
		}
		treatments[t.ID] = true
		agent(where, t.Subject)
		if _, ok := conditions[t.Condition]; !ok {
			bad("%s: unknown condition %q", where, t.Condition)
		}
		if t.AppliesWithCondition != "" {
			if _, ok := conditions[t.AppliesWithCondition]; !ok {
				bad("%s: unknown condition %q", where, t.AppliesWithCondition)
			}
		}
		if t.Line != "first" && t.Line != "second" {
			bad("%s: line must be first or second", where)
		}
		if t.Guideline == "" {
			bad("%s: needs the guideline", where)
		}
		cited(where, t.Sources, t.Ref, true)
	}
	for _, r := range d.Duplicates {
		where := "duplicate_therapy.csv " + r.ClassA + "|" + r.ClassB
		for _, c := range []string{r.ClassA, r.ClassB} {
			if _, ok := classes[c]; !ok {
				bad("%s: unknown class %q", where, c)
			}
		}
		severity(where, r.Severity)
		cited(where, r.Sources, r.Ref, true)
	}
	return errors.Join(errs...)
}

func pairKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "|" + b
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
