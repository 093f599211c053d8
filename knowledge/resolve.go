package knowledge

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Resolution statuses.
const (
	Resolved  = "resolved"  // the name identifies one drug (or the ingredients of a combination)
	Ambiguous = "ambiguous" // the name could be several drugs; Candidates lists them
	Unknown   = "unknown"   // nothing matched; the drug has not been checked
)

// How a name matched.
const (
	MatchGeneric     = "generic"
	MatchSynonym     = "synonym"
	MatchBrand       = "brand"
	MatchCombination = "combination"
	MatchMisspelling = "misspelling"
	MatchPartial     = "partial"
)

// ResolveName resolves one name; see ResolveNames.
func (g *Graph) ResolveName(ctx context.Context, name string) (NameResolution, error) {
	out, err := g.ResolveNames(ctx, []string{name})
	if err != nil {
		return NameResolution{}, err
	}
	return out[0], nil
}

// ResolveNames maps names as people type them (generic, INN or USAN names,
// brands, any case, with dose and form words, small misspellings) to drugs.
// Every input gets an answer in the same order: a name that matches nothing
// is reported as unknown, never dropped, because a missed drug is a missed
// interaction. Exact names cost one query; names that need fuzzy matching
// cost one more, together.
func (g *Graph) ResolveNames(ctx context.Context, names []string) ([]NameResolution, error) {
	out := make([]NameResolution, len(names))
	keys := make([]string, len(names))
	for i, n := range names {
		out[i] = NameResolution{Input: n, Status: Unknown}
		keys[i] = NormalizeName(n)
	}
	recs, err := g.read(ctx, "resolve names", `
		UNWIND range(0, size($keys) - 1) AS i
		OPTIONAL MATCH (n:Name {key: $keys[i]})-[:NAMES]->(d:Drug)
		OPTIONAL MATCH (d)-[:IN_CLASS]->(c:DrugClass)
		WITH i, n, d, collect(c.id) AS classes
		RETURN i, n.kind AS kind, n.display AS display,
		       collect(CASE WHEN d IS NULL THEN null ELSE {id: d.id, name: d.name, rxcui: d.rxcui, atc: d.atc,
		               classes: classes, brands: d.brands} END) AS drugs`,
		map[string]any{"keys": keys})
	if err != nil {
		return nil, err
	}
	var fuzzy []int
	for _, r := range recs {
		i := int(r.Values[0].(int64))
		kind, _ := r.Values[1].(string)
		if !interpretExact(&out[i], kind, drugRefs(r.Values[3])) && keys[i] != "" {
			fuzzy = append(fuzzy, i)
		}
	}
	if len(fuzzy) > 0 {
		if err := g.resolveFuzzy(ctx, out, keys, fuzzy); err != nil {
			return nil, err
		}
	}
	markUnknown(out)
	return out, nil
}

// interpretExact records what an exact name match means and reports
// whether the name matched at all.
func interpretExact(res *NameResolution, kind string, drugs []DrugRef) bool {
	switch {
	case len(drugs) == 0:
		return false
	case kind == "ambiguous", len(drugs) > 1 && kind != "combination":
		// The data set forbids undeclared shared names (validation), but
		// never guess between drugs.
		res.Status, res.Candidates = Ambiguous, drugs
		res.Message = fmt.Sprintf("%q can mean %s; say which.", res.Input, joinNames(drugs))
	default:
		res.Status, res.Match, res.Drugs = Resolved, kind, drugs
		if kind == "combination" {
			res.Message = fmt.Sprintf("%q is a combination of %s; each ingredient is checked.", res.Input, joinNames(drugs))
		} else {
			res.Message = fmt.Sprintf("%q is %s.", res.Input, drugs[0].Name)
		}
	}
	return true
}

func markUnknown(out []NameResolution) {
	for i := range out {
		if out[i].Status == Unknown {
			out[i].Message = fmt.Sprintf("%q matches no drug in the knowledge graph; it has not been checked. Check the spelling or check it by hand.", out[i].Input)
		}
	}
}

type fuzzyHit struct {
	key, display, kind string
	dist               int
	partial            bool
	drugs              []DrugRef
}

// resolveFuzzy looks up the remaining names in the full-text index (fuzzy
// and prefix terms), then decides in Go with an edit distance: a single
// drug within the allowed number of slips resolves; two or more drugs at
// the best distance, or only partial (prefix) matches, are ambiguous.
func (g *Graph) resolveFuzzy(ctx context.Context, out []NameResolution, keys []string, idx []int) error {
	var queries []map[string]any
	for _, i := range idx {
		if q := luceneQuery(keys[i]); q != "" {
			queries = append(queries, map[string]any{"i": int64(i), "q": q})
		}
	}
	if len(queries) == 0 {
		return nil
	}
	recs, err := g.read(ctx, "resolve names (fuzzy)", `
		UNWIND $queries AS q
		CALL db.index.fulltext.queryNodes('knowledge_names', q.q, {limit: 25}) YIELD node, score
		MATCH (node)-[:NAMES]->(d:Drug)
		OPTIONAL MATCH (d)-[:IN_CLASS]->(c:DrugClass)
		WITH q, node, d, collect(c.id) AS classes
		RETURN q.i AS i, node.key AS key, node.display AS display, node.kind AS kind,
		       collect({id: d.id, name: d.name, rxcui: d.rxcui, atc: d.atc, classes: classes, brands: d.brands}) AS drugs`,
		map[string]any{"queries": queries})
	if err != nil {
		return err
	}
	hits := map[int][]fuzzyHit{}
	for _, r := range recs {
		i := int(r.Values[0].(int64))
		h := fuzzyHit{key: r.Values[1].(string), drugs: drugRefs(r.Values[4])}
		h.display, _ = r.Values[2].(string)
		h.kind, _ = r.Values[3].(string)
		h.dist = editDistance(keys[i], h.key)
		h.partial = len([]rune(keys[i])) >= 4 && strings.HasPrefix(h.key, keys[i])
		hits[i] = append(hits[i], h)
	}
	for i, hs := range hits {
		res := &out[i]
		limit := allowedEdits(len([]rune(keys[i])))
		best := -1
		for _, h := range hs {
			if h.dist <= limit && (best < 0 || h.dist < best) {
				best = h.dist
			}
		}
		if best >= 0 {
			byDrug := map[string]DrugRef{}
			var matched fuzzyHit
			ambiguousName := false
			for _, h := range hs {
				if h.dist != best {
					continue
				}
				matched = h
				if h.kind == "ambiguous" {
					ambiguousName = true
				}
				for _, d := range h.drugs {
					byDrug[d.ID] = d
				}
			}
			drugs := sortedRefs(byDrug)
			combination := matched.kind == "combination" && allSame(hs, best)
			if !ambiguousName && (len(drugs) == 1 || combination) {
				res.Status, res.Match, res.MatchedAs, res.Drugs = Resolved, MatchMisspelling, matched.display, drugs
				res.Message = fmt.Sprintf("%q was read as %q (%s); confirm the spelling.", res.Input, matched.display, joinNames(drugs))
				continue
			}
			res.Status, res.Candidates = Ambiguous, drugs
			res.Message = fmt.Sprintf("%q is close to several drugs (%s); say which.", res.Input, joinNames(drugs))
			continue
		}
		byDrug := map[string]DrugRef{}
		for _, h := range hs {
			if h.partial {
				for _, d := range h.drugs {
					byDrug[d.ID] = d
				}
			}
		}
		if len(byDrug) > 0 {
			// A partial name is never taken as a drug on its own: the
			// prescriber confirms which one was meant.
			res.Status, res.Match, res.Candidates = Ambiguous, MatchPartial, sortedRefs(byDrug)
			res.Message = fmt.Sprintf("%q is only part of a name; candidates: %s.", res.Input, joinNames(res.Candidates))
		}
	}
	return nil
}

// allSame reports whether every hit at distance best is the same stored name.
func allSame(hs []fuzzyHit, best int) bool {
	key := ""
	for _, h := range hs {
		if h.dist != best {
			continue
		}
		if key != "" && h.key != key {
			return false
		}
		key = h.key
	}
	return true
}

func drugRefs(v any) []DrugRef {
	list, _ := v.([]any)
	var out []DrugRef
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		d := DrugRef{}
		d.ID, _ = m["id"].(string)
		d.Name, _ = m["name"].(string)
		d.RxCUI, _ = m["rxcui"].(string)
		d.ATC, _ = m["atc"].(string)
		d.Classes = strs(m["classes"])
		d.Brands = strs(m["brands"])
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func sortedRefs(m map[string]DrugRef) []DrugRef {
	out := make([]DrugRef, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func joinNames(ds []DrugRef) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}
