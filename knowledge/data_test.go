package knowledge

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedDatasetIsValid(t *testing.T) {
	d, err := Embedded()
	if err != nil {
		t.Fatalf("embedded data set: %v", err)
	}
	if len(d.Drugs) < 300 {
		t.Errorf("%d drugs, want at least 300", len(d.Drugs))
	}
	withRx, withATC := 0, 0
	for _, dr := range d.Drugs {
		if dr.RxCUI != "" {
			withRx++
		}
		if dr.ATC != "" {
			withATC++
		}
	}
	if withATC < len(d.Drugs)*9/10 {
		t.Errorf("only %d of %d drugs have an ATC code", withATC, len(d.Drugs))
	}
	t.Logf("version %s: %d drugs (%d with RxCUI, %d with ATC), %d classes, %d interaction rules, %d contraindications, %d food/herb rules, %d treatments",
		d.Version, len(d.Drugs), withRx, withATC, len(d.Classes), len(d.Interactions), len(d.Contraindications), len(d.FoodRules), len(d.Treatments))
	severities := map[Severity]int{}
	for _, r := range d.Interactions {
		severities[r.Severity]++
	}
	for _, s := range []Severity{Contraindicated, Major, Moderate, Minor} {
		if severities[s] == 0 {
			t.Errorf("no interaction rule of severity %s", s)
		}
	}
	herbs := 0
	for _, f := range d.Foods {
		if f.Kind == "herb" {
			herbs++
		}
	}
	if herbs < 8 {
		t.Errorf("%d herbs, want the common Ayurvedic and western herbs", herbs)
	}
	for _, cond := range []string{"type-2-diabetes", "hypertension"} {
		first := 0
		for _, tr := range d.Treatments {
			if tr.Condition == cond && tr.Line == "first" {
				first++
			}
		}
		if first == 0 {
			t.Errorf("no first-line treatment for %s", cond)
		}
	}
}

// Validation must catch the mistakes a data author makes.
func TestValidateRejectsBadData(t *testing.T) {
	base := readFiles(t)
	cases := []struct {
		name, file, from, to, want string
	}{
		{"missing source", "interactions.yaml", "sources: [fda-label, bnf], ref: \"Lipitor label section 7; BNF statins: interactions\"}",
			"sources: [], ref: \"x\"}", "no source"},
		{"unknown source", "drugs.csv", "metformin,metformin,biguanides,A10BA02,6809,metformin hydrochloride,Glucophage;Glycomet;Riomet,bnf;who-atc;rxnorm",
			"metformin,metformin,biguanides,A10BA02,6809,metformin hydrochloride,Glucophage;Glycomet;Riomet,drugbank", "unknown source"},
		{"unknown class", "drugs.csv", "metformin,metformin,biguanides,", "metformin,metformin,biguanidez,", "unknown class"},
		{"bad severity", "interactions.yaml", "severity: contraindicated,\n   mechanism: Strong CYP3A4 inhibition raises simvastatin",
			"severity: deadly,\n   mechanism: Strong CYP3A4 inhibition raises simvastatin", "severity"},
		{"silent ambiguity", "drugs.csv", "Glucophage;Glycomet;Riomet", "Glucophage;Glycomet;Riomet;Zocor", "belongs to"},
		{"stray key", "contraindications.yaml", "management: Do not use; stop metformin if eGFR falls below 30.",
			"management: Do not use, stop metformin if eGFR falls below 30.", "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := fstest.MapFS{}
			for k, v := range base {
				files[k] = &fstest.MapFile{Data: []byte(v)}
			}
			orig := base[c.file]
			if !strings.Contains(orig, c.from) {
				t.Fatalf("%s does not contain %q", c.file, c.from)
			}
			files[c.file] = &fstest.MapFile{Data: []byte(strings.Replace(orig, c.from, c.to, 1))}
			_, err := ReadDataset(files)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func readFiles(t *testing.T) map[string]string {
	t.Helper()
	files, err := DataFiles()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name, b := range files {
		out[name] = string(b)
	}
	return out
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Metformin 500 mg tablets":   "metformin",
		"  SIMVASTATIN  ":            "simvastatin",
		"Toprol-XL":                  "toprol-xl",
		"amlodipine 5mg":             "amlodipine",
		"Insulin glargine 100 units": "insulin glargine",
		"St John’s wort":             "st john's wort",
		"Glucophage XR 750":          "glucophage",
		"co-amoxiclav 625":           "co-amoxiclav",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"simvastatin", "simvastatin", 0},
		{"simvastatn", "simvastatin", 1},
		{"metfromin", "metformin", 1}, // transposition
		{"amlodipin", "amlodipine", 1},
		{"lisinopril", "lisinoprol", 1},
		{"warfarin", "warferine", 2},
		{"", "abc", 3},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestSeverityMapsToDetectedIssue(t *testing.T) {
	for s, want := range map[Severity]string{Contraindicated: "high", Major: "high", Moderate: "moderate", Minor: "low"} {
		if got := s.DetectedIssueSeverity(); got != want {
			t.Errorf("%s -> %s, want %s", s, got, want)
		}
	}
}
