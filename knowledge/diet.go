package knowledge

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// DietAdvice is what a regimen asks of the diet for one food or herb.
type DietAdvice struct {
	Item     string     `json:"item"`
	Name     string     `json:"name"`
	Kind     string     `json:"kind"` // food or herb
	Synonyms []string   `json:"synonyms,omitempty"`
	Advice   string     `json:"advice"` // the strictest: avoid, limit, keep-steady, separate or monitor
	Severity Severity   `json:"severity"`
	Code     Coding     `json:"code"`
	Because  []DietItem `json:"because"`
}

// DietItem is one drug's reason for the advice.
type DietItem struct {
	Drug       DrugRef    `json:"drug"`
	Advice     string     `json:"advice"`
	Severity   Severity   `json:"severity"`
	RuleID     string     `json:"rule_id"`
	Effect     string     `json:"effect"`
	Management string     `json:"management"`
	Evidence   []Evidence `json:"evidence"`
}

var (
	codeFood = Coding{System: actCode, Code: "FOOD", Display: "Food Interaction Alert"}
	codeHerb = Coding{System: actCode, Code: "NHP", Display: "Natural Health Product Alert"}
)

var adviceOrder = map[string]int{"avoid": 0, "limit": 1, "keep-steady": 2, "separate": 3, "monitor": 4}

// DietForRegimen lists the foods and herbs to avoid, limit, keep steady or
// take apart from the doses of a regimen, most severe first. The diet plan
// uses it. Unresolved names are returned so that the caller can say the
// advice is incomplete.
func (g *Graph) DietForRegimen(ctx context.Context, drugs []string) ([]DietAdvice, []NameResolution, error) {
	if len(drugs) == 0 {
		return nil, nil, fmt.Errorf("knowledge: diet for regimen: %w: no drugs", ErrInvalidInput)
	}
	res, _, err := g.check(ctx, drugs, nil, Profile{}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("knowledge: diet for regimen: %w", err)
	}
	return res.Diet, res.Names, nil
}

// diet groups food and herb rules by item. Per drug and item the most
// specific, then most severe, rule applies.
func (e *evaluator) diet() []DietAdvice {
	byItem := map[string]*DietAdvice{}
	for _, m := range e.f.members {
		type pick struct {
			lv int
			r  map[string]any
		}
		best := map[string]pick{}
		for _, r := range e.f.diet {
			a := str(r["a"])
			if !m.covers(a) {
				continue
			}
			lv, _ := level(a)
			item := str(r["item"])
			if cur, ok := best[item]; !ok || better(lv, r, cur.lv, cur.r) {
				best[item] = pick{lv, r}
			}
		}
		for item, p := range best {
			r := p.r
			da, ok := byItem[item]
			if !ok {
				da = &DietAdvice{Item: item, Name: str(r["itemName"]), Kind: str(r["itemKind"]), Synonyms: strs(r["synonyms"]),
					Advice: str(r["advice"]), Severity: Severity(str(r["severity"])), Code: codeFood}
				if da.Kind == "herb" {
					da.Code = codeHerb
				}
				byItem[item] = da
			}
			sev := Severity(str(r["severity"]))
			adv := str(r["advice"])
			if sev.Rank() < da.Severity.Rank() {
				da.Severity = sev
			}
			if adviceOrder[adv] < adviceOrder[da.Advice] {
				da.Advice = adv
			}
			da.Because = append(da.Because, DietItem{Drug: m.ref, Advice: adv, Severity: sev, RuleID: str(r["id"]),
				Effect: str(r["effect"]), Management: str(r["management"]), Evidence: e.cat.evidence(strs(r["sources"]), str(r["ref"]))})
		}
	}
	out := make([]DietAdvice, 0, len(byItem))
	for _, da := range byItem {
		sort.Slice(da.Because, func(i, j int) bool { return da.Because[i].Drug.Name < da.Because[j].Drug.Name })
		out = append(out, *da)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity.Rank() != out[j].Severity.Rank() {
			return out[i].Severity.Rank() < out[j].Severity.Rank()
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out
}

// FoodRestriction is a regimen's advice on one food with the IFCT 2017
// food groups and foods it covers: what the diet planner leaves out
// (avoid, limit) or keeps steady.
type FoodRestriction struct {
	DietAdvice
	IFCTGroups []string `json:"ifct_groups"` // group letters, e.g. C
	IFCTFoods  []string `json:"ifct_foods"`  // food codes, e.g. E056
}

// FoodRestrictions is the diet planner's query: the foods (not herbs) a
// regimen asks to avoid, limit, keep steady, separate or monitor, each with
// the IFCT 2017 groups and foods it maps to. Unresolved drug names are
// returned so the caller can say the restrictions are incomplete.
func (g *Graph) FoodRestrictions(ctx context.Context, drugs []string) ([]FoodRestriction, []NameResolution, error) {
	advice, names, err := g.DietForRegimen(ctx, drugs)
	if err != nil {
		return nil, nil, err
	}
	var items []string
	for _, a := range advice {
		if a.Kind == "food" {
			items = append(items, a.Item)
		}
	}
	links := map[string]*FoodRestriction{}
	if len(items) > 0 {
		recs, err := g.read(ctx, "food restrictions", `MATCH (f:Food)-[:INCLUDES_IFCT]->(x:IFCT) WHERE f.id IN $items
			RETURN f.id AS item, x.kind AS kind, x.code AS code ORDER BY item, code`, map[string]any{"items": items})
		if err != nil {
			return nil, nil, fmt.Errorf("knowledge: food restrictions: %w", err)
		}
		for _, rec := range recs {
			r := rec.AsMap()
			item := str(r["item"])
			l, ok := links[item]
			if !ok {
				l = &FoodRestriction{}
				links[item] = l
			}
			if str(r["kind"]) == "group" {
				l.IFCTGroups = append(l.IFCTGroups, str(r["code"]))
			} else {
				l.IFCTFoods = append(l.IFCTFoods, str(r["code"]))
			}
		}
	}
	out := make([]FoodRestriction, 0, len(items))
	for _, a := range advice {
		if a.Kind != "food" {
			continue
		}
		fr := FoodRestriction{DietAdvice: a, IFCTGroups: []string{}, IFCTFoods: []string{}}
		if l, ok := links[a.Item]; ok {
			fr.IFCTGroups, fr.IFCTFoods = append(fr.IFCTGroups, l.IFCTGroups...), append(fr.IFCTFoods, l.IFCTFoods...)
		}
		out = append(out, fr)
	}
	return out, names, nil
}
