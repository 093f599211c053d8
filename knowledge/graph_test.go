package knowledge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/carepath/carepath/internal/testenv"
	"github.com/carepath/carepath/knowledge"
)

var (
	loadOnce  sync.Once
	loadErr   error
	loadStats knowledge.LoadStats
)

// graph returns a Graph over the local Neo4j with the embedded data set
// loaded (once per test binary). Loading is idempotent, so it is safe
// against the graph a running `make run` uses.
func graph(t testing.TB) (*knowledge.Graph, neo4j.DriverWithContext) {
	t.Helper()
	driver := testenv.Neo4j(t)
	g := knowledge.New(driver)
	loadOnce.Do(func() {
		d, err := knowledge.Embedded()
		if err != nil {
			loadErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		loadStats, loadErr = g.Load(ctx, d)
	})
	if loadErr != nil {
		t.Fatalf("load the knowledge graph: %v", loadErr)
	}
	return g, driver
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func check(t *testing.T, g *knowledge.Graph, drugs []string, p knowledge.Profile) *knowledge.CheckResult {
	t.Helper()
	res, err := g.CheckRegimen(ctx(t), drugs, p)
	if err != nil {
		t.Fatalf("CheckRegimen(%v): %v", drugs, err)
	}
	return res
}

// find returns the first finding of kind that names all the drug ids.
func find(res *knowledge.CheckResult, kind string, ids ...string) *knowledge.Finding {
	for i, f := range res.Findings {
		if f.Kind != kind {
			continue
		}
		have := map[string]bool{}
		for _, d := range f.Drugs {
			have[d.ID] = true
		}
		all := true
		for _, id := range ids {
			all = all && have[id]
		}
		if all {
			return &res.Findings[i]
		}
	}
	return nil
}

func must(t *testing.T, res *knowledge.CheckResult, kind string, ids ...string) knowledge.Finding {
	t.Helper()
	f := find(res, kind, ids...)
	if f == nil {
		raw, _ := json.MarshalIndent(res.Findings, "", "  ")
		t.Fatalf("no %s finding for %v; findings:\n%s", kind, ids, raw)
	}
	if len(f.Evidence) == 0 || f.Evidence[0].Title == "" || f.Summary == "" {
		t.Errorf("finding %s has no evidence or summary: %+v", f.RuleID, f)
	}
	return *f
}

func TestLoadTwiceChangesNothing(t *testing.T) {
	g, driver := graph(t)
	d, err := knowledge.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	before := counts(t, driver)
	stats, err := g.Load(ctx(t), d)
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	after := counts(t, driver)
	if before != after {
		t.Errorf("counts changed on reload:\nbefore %s\nafter  %s", before, after)
	}
	if stats.Removed != 0 {
		t.Errorf("second load removed %d items, want 0", stats.Removed)
	}
	if stats.Drugs < 300 {
		t.Errorf("loaded %d drugs, want at least 300", stats.Drugs)
	}
	info, err := g.Info(ctx(t))
	if err != nil || info.Version != d.Version || info.Drugs != int64(len(d.Drugs)) {
		t.Errorf("Info = %+v, %v; want version %s", info, err, d.Version)
	}
	t.Log(stats)
}

func counts(t *testing.T, driver neo4j.DriverWithContext) string {
	t.Helper()
	res, err := neo4j.ExecuteQuery(ctx(t), driver, `
		CALL { MATCH (n) WHERE n:Agent OR n:Name OR n:Condition OR n:AllergyClass OR n:Food OR n:Herb OR n:Treatment OR n:Source
		       RETURN count(n) AS nodes }
		CALL { MATCH ()-[r:IN_CLASS|SUBCLASS_OF|NAMES|INTERACTS_WITH|CONTRAINDICATED_IN|HAS_ALLERGEN|INTERACTS_WITH_FOOD|INTERACTS_WITH_HERB|HAS_TREATMENT|USES|DUPLICATE_THERAPY]->()
		       RETURN count(r) AS rels }
		CALL { MATCH (m:KnowledgeGraph) RETURN count(m) AS metas }
		RETURN nodes, rels, metas`, nil, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("count graph: %v", err)
	}
	r := res.Records[0]
	raw, _ := json.Marshal(r.AsMap())
	return string(raw)
}

func TestEachSeverity(t *testing.T) {
	g, _ := graph(t)
	cases := []struct {
		drugs []string
		ids   []string
		want  knowledge.Severity
		di    string
	}{
		{[]string{"simvastatin", "clarithromycin"}, []string{"simvastatin", "clarithromycin"}, knowledge.Contraindicated, "high"},
		{[]string{"warfarin", "ibuprofen"}, []string{"warfarin", "ibuprofen"}, knowledge.Major, "high"},
		{[]string{"sertraline", "naproxen"}, []string{"sertraline", "naproxen"}, knowledge.Moderate, "moderate"},
		{[]string{"clopidogrel", "pantoprazole"}, []string{"clopidogrel", "pantoprazole"}, knowledge.Minor, "low"},
	}
	for _, c := range cases {
		t.Run(string(c.want), func(t *testing.T) {
			res := check(t, g, c.drugs, knowledge.Profile{})
			f := must(t, res, knowledge.KindInteraction, c.ids...)
			if f.Severity != c.want || f.DetectedIssueSeverity != c.di {
				t.Errorf("%v: severity %s (%s), want %s (%s)", c.drugs, f.Severity, f.DetectedIssueSeverity, c.want, c.di)
			}
			if !res.Complete {
				t.Errorf("complete = false for known drugs: %v", res.Warnings)
			}
		})
	}
	// Warfarin with an NSAID cites the HL7 PDDI-CDS rule.
	res := check(t, g, []string{"Coumadin", "Advil"}, knowledge.Profile{})
	f := must(t, res, knowledge.KindInteraction, "warfarin", "ibuprofen")
	if f.Evidence[0].Source != "hl7-pddi-cds" {
		t.Errorf("warfarin + ibuprofen evidence %+v, want hl7-pddi-cds first", f.Evidence)
	}
}

func TestClassRulesAndDrugOverrides(t *testing.T) {
	g, _ := graph(t)
	t.Run("class rule expands to members", func(t *testing.T) {
		res := check(t, g, []string{"atorvastatin", "itraconazole"}, knowledge.Profile{})
		f := must(t, res, knowledge.KindInteraction, "atorvastatin", "itraconazole")
		if f.RuleLevel != "class" || f.Severity != knowledge.Major {
			t.Errorf("got %s rule %s (%s), want the class rule statins + strong CYP3A4 inhibitors (major)", f.RuleLevel, f.RuleID, f.Severity)
		}
		if strings.Join(f.Via, ",") != "statins,strong-cyp3a4-inhibitors" {
			t.Errorf("via %v", f.Via)
		}
	})
	t.Run("subclass member inherits the parent rule", func(t *testing.T) {
		// Losartan is in arbs, under raas-agents; liquorice is ruled for raas-agents.
		diet, _, err := g.DietForRegimen(ctx(t), []string{"losartan"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range diet {
			found = found || d.Item == "liquorice"
		}
		if !found {
			t.Errorf("losartan diet advice lacks liquorice (raas-agents rule): %+v", diet)
		}
		res := check(t, g, []string{"lisinopril", "valsartan"}, knowledge.Profile{})
		if f := must(t, res, knowledge.KindInteraction, "lisinopril", "valsartan"); f.Severity != knowledge.Major {
			t.Errorf("ACE inhibitor + ARB: %s", f.Severity)
		}
	})
	overrides := []struct {
		drugs []string
		want  knowledge.Severity
		class knowledge.Severity
	}{
		// The class rule (statins + strong CYP3A4 inhibitors) says major;
		// pravastatin's label says moderate.
		{[]string{"pravastatin", "clarithromycin"}, knowledge.Moderate, knowledge.Major},
		// The class rule (clopidogrel + PPIs) says minor; omeprazole's own rule says major.
		{[]string{"clopidogrel", "omeprazole"}, knowledge.Major, knowledge.Minor},
		// Factor Xa inhibitors + strong CYP3A4 inhibitors is major; apixaban's label says clarithromycin needs no change.
		{[]string{"apixaban", "clarithromycin"}, knowledge.Moderate, knowledge.Major},
	}
	for _, o := range overrides {
		t.Run("drug rule overrides class rule: "+strings.Join(o.drugs, "+"), func(t *testing.T) {
			res := check(t, g, o.drugs, knowledge.Profile{})
			f := must(t, res, knowledge.KindInteraction, o.drugs...)
			if f.RuleLevel != "drug" || f.Severity != o.want {
				t.Errorf("got %s rule %s (%s), want the drug rule (%s) over the class rule (%s)", f.RuleLevel, f.RuleID, f.Severity, o.want, o.class)
			}
			if n := len(res.Findings); n != 1 {
				t.Errorf("%d findings, want only the drug rule", n)
			}
		})
	}
}

func TestContraindicationThresholds(t *testing.T) {
	g, _ := graph(t)
	egfr := func(v float64) *float64 { return &v }
	age := func(v int) *int { return &v }
	for _, c := range []struct {
		name string
		p    knowledge.Profile
		want knowledge.Severity // "" = no finding
	}{
		{"eGFR 25", knowledge.Profile{EGFR: egfr(25)}, knowledge.Contraindicated},
		{"eGFR 40", knowledge.Profile{EGFR: egfr(40)}, knowledge.Moderate},
		{"eGFR 45", knowledge.Profile{EGFR: egfr(45)}, ""},
		{"eGFR 90", knowledge.Profile{EGFR: egfr(90)}, ""},
		{"CKD by ICD-10 without eGFR", knowledge.Profile{Conditions: []string{"N18.4"}}, knowledge.Contraindicated},
	} {
		t.Run("metformin "+c.name, func(t *testing.T) {
			res := check(t, g, []string{"metformin"}, c.p)
			f := find(res, knowledge.KindContraindication, "metformin")
			switch {
			case c.want == "" && f != nil:
				t.Errorf("unexpected finding %s (%s)", f.RuleID, f.Severity)
			case c.want != "" && f == nil:
				t.Errorf("no finding, want %s", c.want)
			case c.want != "" && f.Severity != c.want:
				t.Errorf("severity %s, want %s", f.Severity, c.want)
			}
		})
	}
	t.Run("no eGFR warns", func(t *testing.T) {
		res := check(t, g, []string{"metformin"}, knowledge.Profile{})
		if find(res, knowledge.KindContraindication, "metformin") != nil {
			t.Error("a kidney rule fired without eGFR or CKD")
		}
		if !strings.Contains(strings.Join(res.Warnings, " "), "eGFR not given: metformin") {
			t.Errorf("warnings %v do not ask for eGFR", res.Warnings)
		}
	})
	t.Run("ACE inhibitor in pregnancy", func(t *testing.T) {
		for _, p := range []knowledge.Profile{{Pregnant: true}, {Conditions: []string{"Z33.1"}}, {Conditions: []string{"77386006"}}} {
			res := check(t, g, []string{"Zestril"}, p)
			f := must(t, res, knowledge.KindContraindication, "lisinopril")
			if f.Severity != knowledge.Contraindicated || f.Code.Code != "PREG" || f.Condition.ID != "pregnancy" {
				t.Errorf("%+v: got %s %s %+v", p, f.Severity, f.Code.Code, f.Condition)
			}
		}
	})
	t.Run("aspirin by age", func(t *testing.T) {
		res := check(t, g, []string{"aspirin"}, knowledge.Profile{Age: age(10)})
		if f := must(t, res, knowledge.KindContraindication, "aspirin"); f.Severity != knowledge.Contraindicated || f.Code.Code != "AGE" {
			t.Errorf("aspirin at 10: %s %s", f.Severity, f.Code.Code)
		}
		res = check(t, g, []string{"aspirin"}, knowledge.Profile{Age: age(40)})
		if f := find(res, knowledge.KindContraindication, "aspirin"); f != nil {
			t.Errorf("aspirin at 40: %s", f.RuleID)
		}
	})
	t.Run("older adult", func(t *testing.T) {
		res := check(t, g, []string{"diazepam", "glibenclamide"}, knowledge.Profile{Age: age(80)})
		if f := must(t, res, knowledge.KindContraindication, "diazepam"); f.Severity != knowledge.Major {
			t.Errorf("diazepam at 80: %s", f.Severity)
		}
		// The drug rule for glibenclamide (major) beats the sulfonylurea class rule (moderate).
		if f := must(t, res, knowledge.KindContraindication, "glibenclamide"); f.Severity != knowledge.Major || f.RuleLevel != "drug" {
			t.Errorf("glibenclamide at 80: %s %s", f.Severity, f.RuleLevel)
		}
	})
	t.Run("condition by name and by SNOMED", func(t *testing.T) {
		res := check(t, g, []string{"propranolol"}, knowledge.Profile{Conditions: []string{"asthma"}})
		if f := must(t, res, knowledge.KindContraindication, "propranolol"); f.Severity != knowledge.Contraindicated {
			t.Errorf("propranolol in asthma: %s", f.Severity)
		}
		res = check(t, g, []string{"pioglitazone"}, knowledge.Profile{Conditions: []string{"84114007"}})
		must(t, res, knowledge.KindContraindication, "pioglitazone")
	})
}

func TestAllergies(t *testing.T) {
	g, _ := graph(t)
	res := check(t, g, []string{"amoxicillin", "cefalexin", "azithromycin"}, knowledge.Profile{Allergies: []string{"Penicillin"}})
	if f := must(t, res, knowledge.KindAllergy, "amoxicillin"); f.Severity != knowledge.Contraindicated || f.Allergy.Relation != "member" {
		t.Errorf("amoxicillin: %s %+v", f.Severity, f.Allergy)
	}
	if f := must(t, res, knowledge.KindAllergy, "cefalexin"); f.Severity != knowledge.Major || f.Allergy.Relation != "cross-reactive" {
		t.Errorf("cefalexin: %s %+v", f.Severity, f.Allergy)
	}
	if f := find(res, knowledge.KindAllergy, "azithromycin"); f != nil {
		t.Errorf("azithromycin flagged for penicillin allergy: %+v", f)
	}
	if res.Findings[0].Kind != knowledge.KindAllergy {
		t.Errorf("most severe first: first finding is %s", res.Findings[0].Kind)
	}

	res = check(t, g, []string{"celecoxib"}, knowledge.Profile{Allergies: []string{"sulpha"}})
	if f := must(t, res, knowledge.KindAllergy, "celecoxib"); f.Severity != knowledge.Contraindicated {
		t.Errorf("celecoxib with sulfa allergy: %s", f.Severity)
	}

	// An allergy recorded as a drug covers that drug and its allergy class.
	res = check(t, g, []string{"Augmentin", "amoxicillin"}, knowledge.Profile{Allergies: []string{"amoxycillin"}})
	if f := must(t, res, knowledge.KindAllergy, "amoxicillin"); f.RuleID != "recorded-drug-allergy" {
		t.Errorf("amoxicillin: %s", f.RuleID)
	}
	must(t, res, knowledge.KindAllergy, "co-amoxiclav")

	res = check(t, g, []string{"amoxicillin"}, knowledge.Profile{Allergies: []string{"bee stings"}})
	if res.Complete || res.Allergies[0].Status != knowledge.Unknown {
		t.Errorf("unknown allergy: complete=%v %+v", res.Complete, res.Allergies)
	}
}

func TestNameResolution(t *testing.T) {
	g, _ := graph(t)
	resolved := map[string][]string{
		"acetaminophen":            {"paracetamol"},
		"Rifampin":                 {"rifampicin"},
		"glyburide":                {"glibenclamide"},
		"Zocor":                    {"simvastatin"},
		"CROCIN":                   {"paracetamol"},
		"Glycomet":                 {"metformin"},
		"Metformin 500 mg tablets": {"metformin"},
		"simvastatn":               {"simvastatin"},
		"metfromin":                {"metformin"},
		"amlodipin":                {"amlodipine"},
		"atorvastatine":            {"atorvastatin"},
		"Janumet":                  {"metformin", "sitagliptin"},
	}
	for in, want := range resolved {
		r, err := g.ResolveName(ctx(t), in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var got []string
		for _, d := range r.Drugs {
			got = append(got, d.ID)
		}
		if r.Status != knowledge.Resolved || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%q -> %s %v (%s), want %v", in, r.Status, got, r.Message, want)
		}
	}
	for in, want := range map[string][]string{
		"HCT":    {"hydrochlorothiazide", "hydrocortisone"},
		"Zantac": {"famotidine", "ranitidine"},
		"predni": {"prednisolone", "prednisone"},
	} {
		r, err := g.ResolveName(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range r.Candidates {
			got = append(got, d.ID)
		}
		if r.Status != knowledge.Ambiguous || len(r.Drugs) != 0 {
			t.Errorf("%q -> %s, want ambiguous", in, r.Status)
		}
		for _, w := range want {
			if !strings.Contains(","+strings.Join(got, ",")+",", ","+w+",") {
				t.Errorf("%q candidates %v lack %s", in, got, w)
			}
		}
	}
	r, err := g.ResolveName(ctx(t), "flurbozine")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != knowledge.Unknown || !strings.Contains(r.Message, "not been checked") {
		t.Errorf("unknown name: %+v", r)
	}
	// An unknown name in a regimen is reported, and the rest is still checked.
	res := check(t, g, []string{"simvastatin", "flurbozine", "clarithromycin"}, knowledge.Profile{})
	if res.Complete || res.Names[1].Status != knowledge.Unknown {
		t.Errorf("unknown drug in regimen: complete=%v names=%+v", res.Complete, res.Names)
	}
	must(t, res, knowledge.KindInteraction, "simvastatin", "clarithromycin")
}

func TestDuplicateTherapy(t *testing.T) {
	g, _ := graph(t)
	res := check(t, g, []string{"Janumet", "metformin", "lisinopril", "enalapril", "liraglutide"}, knowledge.Profile{})
	if f := must(t, res, knowledge.KindDuplicate, "metformin"); f.RuleID != "duplicate-ingredient" {
		t.Errorf("metformin twice: %s", f.RuleID)
	}
	if f := must(t, res, knowledge.KindDuplicate, "lisinopril", "enalapril"); f.Severity != knowledge.Major {
		t.Errorf("two ACE inhibitors: %s", f.Severity)
	}
	must(t, res, knowledge.KindDuplicate, "sitagliptin", "liraglutide")
}

func TestRegimenOfTwentyDrugs(t *testing.T) {
	g, _ := graph(t)
	drugs := twentyDrugs
	egfr, age := 38.0, 72
	start := time.Now()
	res := check(t, g, drugs, knowledge.Profile{Age: &age, EGFR: &egfr, Conditions: []string{"E11.9", "I10"}, Allergies: []string{"sulfa"}})
	t.Logf("20-drug check: %d findings in %s", len(res.Findings), time.Since(start))
	if !res.Complete {
		t.Fatalf("incomplete: %v", res.Warnings)
	}
	for i := 1; i < len(res.Findings); i++ {
		if rank(res.Findings[i-1].Severity) > rank(res.Findings[i].Severity) {
			t.Fatalf("findings not sorted by severity at %d: %s then %s", i, res.Findings[i-1].Severity, res.Findings[i].Severity)
		}
	}
	must(t, res, knowledge.KindInteraction, "warfarin", "ibuprofen")
	must(t, res, knowledge.KindInteraction, "amiodarone", "digoxin")
	must(t, res, knowledge.KindInteraction, "clopidogrel", "omeprazole")
	must(t, res, knowledge.KindInteraction, "tramadol", "sertraline")
	must(t, res, knowledge.KindContraindication, "metformin") // eGFR 38
	must(t, res, knowledge.KindContraindication, "ibuprofen") // age 72
	pairs := 0
	for _, f := range res.Findings {
		if f.Kind == knowledge.KindInteraction {
			pairs++
		}
	}
	if pairs < 15 {
		t.Errorf("only %d interacting pairs among 20 drugs", pairs)
	}
	issues := res.DetectedIssues()
	raw, err := json.Marshal(issues[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"resourceType":"DetectedIssue"`, `"severity":"high"`, `"implicated":[`, `"evidence":[`, `"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("DetectedIssue %s lacks %s", raw, want)
		}
	}
}

var twentyDrugs = []string{"Glucophage", "Januvia", "lisinopril", "amlodipine", "Lipitor", "aspirin", "clopidogrel",
	"omeprazole", "warfarin", "ibuprofen", "sertraline", "tramadol", "levothyroxine", "furosemide", "spironolactone",
	"digoxin", "amiodarone", "clarithromycin", "gabapentin", "paracetamol"}

func rank(s knowledge.Severity) int {
	return map[knowledge.Severity]int{knowledge.Contraindicated: 0, knowledge.Major: 1, knowledge.Moderate: 2, knowledge.Minor: 3}[s]
}

func TestTreatments(t *testing.T) {
	g, _ := graph(t)
	egfr := 25.0
	plan, err := g.Treatments(ctx(t), "E11.9", knowledge.Profile{EGFR: &egfr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Condition.ID != "type-2-diabetes" {
		t.Errorf("condition %+v", plan.Condition)
	}
	for _, o := range plan.Options {
		for _, d := range o.Drugs {
			if d.ID == "metformin" {
				t.Errorf("metformin offered at eGFR 25 in %s", o.ID)
			}
		}
	}
	excluded := false
	for _, o := range plan.Excluded {
		excluded = excluded || o.ID == "t2d-metformin"
	}
	if !excluded {
		t.Errorf("t2d-metformin not excluded at eGFR 25: %+v", plan.Excluded)
	}

	age := 30
	plan, err = g.Treatments(ctx(t), "hypertension", knowledge.Profile{Age: &age, Pregnant: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range plan.Options {
		if strings.Contains(o.ID, "acei") || strings.Contains(o.ID, "arb") {
			t.Errorf("option %s offered in pregnancy with drugs %v", o.ID, o.Drugs)
		}
	}
	if len(plan.Options) == 0 {
		t.Error("no hypertension option in pregnancy")
	}

	age = 60
	plan, err = g.Treatments(ctx(t), "I10", knowledge.Profile{Age: &age}, []string{"lisinopril"})
	if err != nil {
		t.Fatal(err)
	}
	na := map[string]bool{}
	for _, n := range plan.NotApplicable {
		na[n.ID] = true
	}
	if !na["htn-acei-arb-under55"] || !na["htn-acei-diabetes"] {
		t.Errorf("not applicable at 60 without diabetes: %+v", plan.NotApplicable)
	}
	for _, o := range plan.Options {
		if o.ID == "htn-step2-ccb" && len(o.Drugs) == 0 {
			t.Errorf("no CCB for a patient on lisinopril")
		}
	}

	if _, err := g.Treatments(ctx(t), "Z99.99", knowledge.Profile{}, nil); !errors.Is(err, knowledge.ErrUnknownCondition) {
		t.Errorf("unknown condition: %v", err)
	}
}

func TestDietAdvice(t *testing.T) {
	g, _ := graph(t)
	diet, names, err := g.DietForRegimen(ctx(t), []string{"warfarin", "simvastatin", "metronidazole", "sertraline", "metformin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 5 {
		t.Fatalf("names %+v", names)
	}
	want := map[string]string{"vitamin-k-foods": "keep-steady", "grapefruit": "avoid", "alcohol": "avoid", "st-johns-wort": "avoid",
		"bitter-melon": "monitor"}
	got := map[string]string{}
	for _, d := range diet {
		got[d.Item] = d.Advice
		if len(d.Because) == 0 || len(d.Because[0].Evidence) == 0 {
			t.Errorf("%s has no reason or evidence", d.Item)
		}
	}
	for item, advice := range want {
		if got[item] != advice {
			t.Errorf("%s: advice %q, want %q (all: %v)", item, got[item], advice, got)
		}
	}
	if diet[0].Severity != knowledge.Major && diet[0].Severity != knowledge.Contraindicated {
		t.Errorf("most severe first: %s", diet[0].Severity)
	}
}

// A new version of the data set replaces the old one: what the old version
// had and the new one lacks is removed. The test only adds a made-up brand
// and takes it away again, so it never removes data others rely on.
func TestNewVersionRemovesStaleData(t *testing.T) {
	g, _ := graph(t)
	files := fstest.MapFS{}
	entries, err := knowledge.DataFiles()
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range entries {
		files[name] = &fstest.MapFile{Data: raw}
	}
	drugs := string(files["drugs.csv"].Data)
	const line = "Glucophage;Glycomet;Riomet,"
	if !strings.Contains(drugs, line) {
		t.Fatalf("drugs.csv changed; update the test")
	}
	files["drugs.csv"] = &fstest.MapFile{Data: []byte(strings.Replace(drugs, line, "Glucophage;Glycomet;Riomet;Zzqtestbrand,", 1))}
	changed, err := knowledge.ReadDataset(files)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := knowledge.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if changed.Version == embedded.Version {
		t.Fatalf("an edited data set kept version %s", changed.Version)
	}
	defer func() {
		if _, err := g.Load(context.Background(), embedded); err != nil {
			t.Errorf("restore the embedded data set: %v", err)
		}
	}()
	// Other test packages load the embedded data set too and may do so in
	// the middle of this sequence, so a failed attempt is tried again; a
	// real fault fails every attempt.
	var problems []string
	for attempt := 0; attempt < 3; attempt++ {
		problems = nil
		if _, err := g.Load(ctx(t), changed); err != nil {
			t.Fatalf("load edited data set: %v", err)
		}
		if r, err := g.ResolveName(ctx(t), "Zzqtestbrand"); err != nil || r.Status != knowledge.Resolved {
			problems = append(problems, fmt.Sprintf("made-up brand after loading it: %+v %v", r, err))
		}
		stats, err := g.Load(ctx(t), embedded)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Removed == 0 {
			problems = append(problems, "reloading the embedded data set removed nothing")
		}
		if r, err := g.ResolveName(ctx(t), "Zzqtestbrand"); err != nil || r.Status != knowledge.Unknown {
			problems = append(problems, fmt.Sprintf("made-up brand after reloading the embedded data set: %+v %v", r, err))
		}
		if len(problems) == 0 {
			break
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	if r, err := g.ResolveName(ctx(t), "Glycomet"); err != nil || r.Status != knowledge.Resolved {
		t.Errorf("real brand lost: %+v %v", r, err)
	}
}

// Checks run concurrently from API handlers and activities; they share the
// catalog cache.
func TestConcurrentChecks(t *testing.T) {
	g, _ := graph(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				res, err := g.CheckRegimen(context.Background(), twentyDrugs[:5+j], knowledge.Profile{})
				if err == nil && (!res.Complete || len(res.Names) != 5+j) {
					err = errors.New("incomplete check")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFoodRestrictionsLinkIFCT(t *testing.T) {
	g, _ := graph(t)
	got, names, err := g.FoodRestrictions(ctx(t), []string{"warfarin", "simvastatin", "metronidazole", "phenelzine"})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 4 {
		t.Fatalf("names %+v", names)
	}
	by := map[string]knowledge.FoodRestriction{}
	for _, r := range got {
		if r.Kind != "food" {
			t.Errorf("%s is a %s; restrictions list foods only", r.Item, r.Kind)
		}
		by[r.Item] = r
	}
	for _, want := range []struct {
		item, advice string
		groups       []string
		foods        []string
	}{
		{"grapefruit", "avoid", []string{}, []string{"E056"}},
		{"vitamin-k-foods", "keep-steady", []string{"C"}, []string{}},
		{"tyramine-foods", "avoid", []string{}, []string{}},
		{"alcohol", "avoid", []string{}, []string{"K001"}},
	} {
		r, ok := by[want.item]
		if !ok {
			t.Errorf("no restriction on %s (got %v)", want.item, got)
			continue
		}
		if r.Advice != want.advice || fmt.Sprint(r.IFCTGroups) != fmt.Sprint(want.groups) || fmt.Sprint(r.IFCTFoods) != fmt.Sprint(want.foods) {
			t.Errorf("%s: %s groups %v foods %v, want %s %v %v", want.item, r.Advice, r.IFCTGroups, r.IFCTFoods, want.advice, want.groups, want.foods)
		}
		if len(r.Because) == 0 || len(r.Because[0].Evidence) == 0 {
			t.Errorf("%s has no sourced reason", want.item)
		}
	}
}
