package knowledge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// catalog holds the small, slowly changing tables every check needs
// (sources, conditions, allergy classes). It is read from the graph and
// kept for catalogTTL so that a check costs no extra round trip, while a
// reload of the data set shows up within a minute.
type catalog struct {
	fetched        time.Time
	sources        map[string]Source
	conditions     []catalogCondition
	allergyClasses []catalogAllergy
}

type catalogCondition struct {
	ID, Name, Kind, ICD10, SNOMED string
	Keys                          []string
}

type catalogAllergy struct {
	ID, Name string
	Keys     []string
}

const catalogTTL = time.Minute

type catalogCache struct {
	mu  sync.Mutex
	cur *catalog
}

func (g *Graph) catalog(ctx context.Context) (*catalog, error) {
	g.cache.mu.Lock()
	defer g.cache.mu.Unlock()
	if c := g.cache.cur; c != nil && time.Since(c.fetched) < catalogTTL {
		return c, nil
	}
	recs, err := g.read(ctx, "read catalog", `
		CALL { MATCH (s:Source) RETURN collect(s{.id, .title, .publisher, .url, .licence}) AS sources }
		CALL { MATCH (c:Condition) RETURN collect(c{.id, .name, .kind, .icd10, .snomed, .keys}) AS conditions }
		CALL { MATCH (a:AllergyClass) RETURN collect(a{.id, .name, .keys}) AS allergies }
		RETURN sources, conditions, allergies`, nil)
	if err != nil {
		return nil, err
	}
	c := &catalog{fetched: time.Now(), sources: map[string]Source{}}
	r := recs[0]
	for _, v := range r.Values[0].([]any) {
		m := v.(map[string]any)
		s := Source{ID: str(m["id"]), Title: str(m["title"]), Publisher: str(m["publisher"]), URL: str(m["url"]), Licence: str(m["licence"])}
		c.sources[s.ID] = s
	}
	for _, v := range r.Values[1].([]any) {
		m := v.(map[string]any)
		c.conditions = append(c.conditions, catalogCondition{ID: str(m["id"]), Name: str(m["name"]), Kind: str(m["kind"]),
			ICD10: str(m["icd10"]), SNOMED: str(m["snomed"]), Keys: strs(m["keys"])})
	}
	for _, v := range r.Values[2].([]any) {
		m := v.(map[string]any)
		c.allergyClasses = append(c.allergyClasses, catalogAllergy{ID: str(m["id"]), Name: str(m["name"]), Keys: strs(m["keys"])})
	}
	if len(c.conditions) == 0 {
		return nil, fmt.Errorf("knowledge: read catalog: %w", ErrNotLoaded)
	}
	g.cache.cur = c
	return c, nil
}

// matchCondition finds the condition a patient's entry names: our id, its
// name or a synonym, a SNOMED CT code, or an ICD-10 code at or below the
// stored code ("E11.9" is type 2 diabetes). The longest ICD-10 match wins.
func (c *catalog) matchCondition(input string) (catalogCondition, bool) {
	p := strings.ToLower(strings.TrimSpace(input))
	if p == "" {
		return catalogCondition{}, false
	}
	var best catalogCondition
	bestLen := -1
	for _, cond := range c.conditions {
		if p == strings.ToLower(cond.ID) || (cond.SNOMED != "" && p == cond.SNOMED) {
			return cond, true
		}
		for _, k := range cond.Keys {
			if p == k {
				return cond, true
			}
		}
		if cond.ICD10 != "" && strings.HasPrefix(strings.ToUpper(p), strings.ToUpper(cond.ICD10)) && len(cond.ICD10) > bestLen {
			best, bestLen = cond, len(cond.ICD10)
		}
	}
	return best, bestLen >= 0
}

func (c *catalog) matchAllergy(term string) (catalogAllergy, bool) {
	k := NormalizeName(term)
	for _, a := range c.allergyClasses {
		for _, key := range a.Keys {
			if k == key {
				return a, true
			}
		}
	}
	return catalogAllergy{}, false
}

func (c *catalog) evidence(ids []string, ref string) []Evidence {
	out := make([]Evidence, 0, len(ids))
	for _, id := range ids {
		s := c.sources[id]
		out = append(out, Evidence{Source: id, Title: s.Title, URL: s.URL, Reference: ref})
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
