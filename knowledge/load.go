package knowledge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// schema creates a constraint or index for every key a query looks up by.
// Drug and DrugClass nodes also carry the Agent label with a "drug:ID" or
// "class:ID" key, so that rules can name either kind of node.
var schema = []string{
	`CREATE CONSTRAINT knowledge_agent_key IF NOT EXISTS FOR (n:Agent) REQUIRE n.key IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_drug_id IF NOT EXISTS FOR (n:Drug) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_class_id IF NOT EXISTS FOR (n:DrugClass) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_name_key IF NOT EXISTS FOR (n:Name) REQUIRE n.key IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_condition_id IF NOT EXISTS FOR (n:Condition) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_allergy_id IF NOT EXISTS FOR (n:AllergyClass) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_food_id IF NOT EXISTS FOR (n:Food) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_herb_id IF NOT EXISTS FOR (n:Herb) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_treatment_id IF NOT EXISTS FOR (n:Treatment) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_ifct_id IF NOT EXISTS FOR (n:IFCT) REQUIRE n.code IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_source_id IF NOT EXISTS FOR (n:Source) REQUIRE n.id IS UNIQUE`,
	`CREATE CONSTRAINT knowledge_meta_id IF NOT EXISTS FOR (n:KnowledgeGraph) REQUIRE n.id IS UNIQUE`,
	`CREATE INDEX knowledge_drug_rxcui IF NOT EXISTS FOR (n:Drug) ON (n.rxcui)`,
	`CREATE INDEX knowledge_drug_atc IF NOT EXISTS FOR (n:Drug) ON (n.atc)`,
	`CREATE INDEX knowledge_class_atc IF NOT EXISTS FOR (n:DrugClass) ON (n.atc)`,
	`CREATE INDEX knowledge_condition_icd10 IF NOT EXISTS FOR (n:Condition) ON (n.icd10)`,
	`CREATE INDEX knowledge_condition_snomed IF NOT EXISTS FOR (n:Condition) ON (n.snomed)`,
	`CREATE FULLTEXT INDEX knowledge_names IF NOT EXISTS FOR (n:Name) ON EACH [n.key]`,
}

// LoadStats counts what one load wrote.
type LoadStats struct {
	Version                                         string
	Drugs, Classes, Names, Conditions, Interactions int
	Contraindications, Allergens, FoodRules         int
	Treatments, Duplicates, Removed                 int
}

func (s LoadStats) String() string {
	return fmt.Sprintf("version %s: %d drugs, %d classes, %d names, %d conditions, %d interaction rules, "+
		"%d contraindications, %d allergy rules, %d food and herb rules, %d treatments, %d duplicate-therapy rules (%d stale items removed)",
		s.Version, s.Drugs, s.Classes, s.Names, s.Conditions, s.Interactions, s.Contraindications, s.Allergens,
		s.FoodRules, s.Treatments, s.Duplicates, s.Removed)
}

// EnsureSchema creates the constraints and indexes and waits until they are
// online.
func (g *Graph) EnsureSchema(ctx context.Context) error {
	sess := g.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: g.database, AccessMode: neo4j.AccessModeWrite})
	defer sess.Close(ctx)
	for _, stmt := range schema {
		// Schema commands run in their own auto-commit transactions: Neo4j
		// refuses to mix them with data writes.
		res, err := sess.Run(ctx, stmt, nil)
		if err == nil {
			_, err = res.Consume(ctx)
		}
		if err != nil {
			return fmt.Errorf("knowledge: schema %q: %w", stmt, err)
		}
	}
	res, err := sess.Run(ctx, `CALL db.awaitIndexes(300)`, nil)
	if err == nil {
		_, err = res.Consume(ctx)
	}
	if err != nil {
		return fmt.Errorf("knowledge: wait for indexes: %w", err)
	}
	return nil
}

// Load writes the data set into the graph so that the graph ends up holding
// exactly that data set: nodes and relationships are MERGEd on their keys,
// and anything a previous version left behind is removed. Loading the same
// data twice changes nothing. The whole load is one transaction that first
// locks the KnowledgeGraph node, so concurrent loads run one after another
// and readers never see half a data set.
func (g *Graph) Load(ctx context.Context, d *Dataset) (LoadStats, error) {
	if err := g.EnsureSchema(ctx); err != nil {
		return LoadStats{}, err
	}
	stats := LoadStats{Version: d.Version}
	sess := g.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: g.database, AccessMode: neo4j.AccessModeWrite})
	defer sess.Close(ctx)
	_, err := sess.ExecuteWrite(ctx, func(tx neo4j.ManagedTransaction) (any, error) {
		stats = LoadStats{Version: d.Version}
		return nil, g.loadTx(ctx, tx, d, &stats)
	}, neo4j.WithTxTimeout(5*time.Minute))
	if err != nil {
		return LoadStats{}, fmt.Errorf("knowledge: load %s: %w", d.Version, err)
	}
	return stats, nil
}

type step struct {
	name   string
	cypher string
	rows   []map[string]any
}

func (g *Graph) loadTx(ctx context.Context, tx neo4j.ManagedTransaction, d *Dataset, stats *LoadStats) error {
	v := d.Version
	run := func(name, cypher string, params map[string]any) (neo4j.ResultWithContext, error) {
		res, err := tx.Run(ctx, cypher, params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return res, nil
	}
	// The lock: every loader writes this node first.
	if _, err := run("lock", `MERGE (m:KnowledgeGraph {id: 'carepath'}) SET m.loading = $v`, map[string]any{"v": v}); err != nil {
		return err
	}
	for _, s := range loadSteps(d, stats) {
		res, err := run(s.name, s.cypher, map[string]any{"rows": s.rows, "v": v})
		if err != nil {
			return err
		}
		if _, err := res.Consume(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	// Remove whatever an older version of the data set left behind.
	for _, q := range []string{
		`MATCH ()-[r:IN_CLASS|SUBCLASS_OF|NAMES|INTERACTS_WITH|CONTRAINDICATED_IN|HAS_ALLERGEN|INTERACTS_WITH_FOOD|INTERACTS_WITH_HERB|HAS_TREATMENT|USES|DUPLICATE_THERAPY|INCLUDES_IFCT]->()
		 WHERE r.version <> $v DELETE r RETURN count(*) AS removed`,
		`MATCH (n) WHERE (n:Agent OR n:Name OR n:Condition OR n:AllergyClass OR n:Food OR n:Herb OR n:Treatment OR n:Source OR n:IFCT)
		 AND n.version <> $v DETACH DELETE n RETURN count(*) AS removed`,
	} {
		res, err := run("remove stale", q, map[string]any{"v": v})
		if err != nil {
			return err
		}
		recs, err := res.Collect(ctx)
		if err != nil {
			return fmt.Errorf("remove stale: %w", err)
		}
		for _, r := range recs {
			if n, ok := r.Values[0].(int64); ok {
				stats.Removed += int(n)
			}
		}
	}
	_, err := run("meta", `MATCH (m:KnowledgeGraph {id: 'carepath'})
		SET m.version = $v, m.loadedAt = datetime(), m.drugs = $drugs, m.loading = null`,
		map[string]any{"v": v, "drugs": len(d.Drugs)})
	return err
}

// loadSteps turns the data set into UNWIND batches, one per kind of row.
func loadSteps(d *Dataset, stats *LoadStats) []step {
	var sources, classes, drugs, names, conditions, allergyClasses, foods []map[string]any
	for _, s := range d.Sources {
		sources = append(sources, map[string]any{"id": s.ID, "title": s.Title, "publisher": s.Publisher, "url": s.URL, "licence": s.Licence})
	}
	for _, c := range d.Classes {
		classes = append(classes, map[string]any{"id": c.ID, "key": "class:" + c.ID, "name": c.Name, "parent": c.Parent,
			"atc": c.ATC, "sources": c.Sources, "ref": c.Ref})
	}
	nameRows := map[string]map[string]any{}
	addName := func(display, kind, drug string) {
		k := NormalizeName(display)
		row, ok := nameRows[k]
		if !ok {
			row = map[string]any{"key": k, "display": display, "kind": kind, "drugs": []string{}}
			nameRows[k] = row
		}
		row["drugs"] = append(row["drugs"].([]string), drug)
	}
	for _, dr := range d.Drugs {
		drugs = append(drugs, map[string]any{"id": dr.ID, "key": "drug:" + dr.ID, "name": dr.Name, "atc": dr.ATC,
			"rxcui": dr.RxCUI, "classes": dr.Classes, "synonyms": dr.Synonyms, "brands": dr.Brands, "sources": dr.Sources})
		addName(dr.Name, "generic", dr.ID)
		for _, s := range dr.Synonyms {
			addName(s, "synonym", dr.ID)
		}
		for _, b := range dr.Brands {
			addName(b, "brand", dr.ID)
		}
	}
	for _, n := range d.Names {
		for _, id := range n.Drugs {
			addName(n.Name, n.Kind, id)
		}
		row := nameRows[NormalizeName(n.Name)]
		row["sources"], row["ref"] = n.Sources, n.Ref
	}
	for _, row := range nameRows {
		if _, ok := row["sources"]; !ok {
			row["sources"], row["ref"] = []string{}, ""
		}
		names = append(names, row)
	}
	for _, c := range d.Conditions {
		keys := []string{strings.ToLower(c.ID), strings.ToLower(c.Name)}
		for _, s := range c.Synonyms {
			keys = append(keys, strings.ToLower(s))
		}
		conditions = append(conditions, map[string]any{"id": c.ID, "name": c.Name, "kind": c.Kind, "icd10": c.ICD10,
			"snomed": c.SNOMED, "synonyms": c.Synonyms, "keys": keys, "sources": c.Sources})
	}
	for _, a := range d.AllergyClasses {
		keys := []string{NormalizeName(a.ID), NormalizeName(a.Name)}
		for _, s := range a.Synonyms {
			keys = append(keys, NormalizeName(s))
		}
		allergyClasses = append(allergyClasses, map[string]any{"id": a.ID, "name": a.Name, "keys": keys, "sources": a.Sources})
	}
	for _, f := range d.Foods {
		foods = append(foods, map[string]any{"id": f.ID, "kind": f.Kind, "name": f.Name, "synonyms": f.Synonyms, "sources": f.Sources})
	}
	var ddis, contras, allergens, foodRules, herbRules, treatments, dups []map[string]any
	for _, r := range d.Interactions {
		ddis = append(ddis, map[string]any{"id": "ddi:" + r.A + "+" + r.B, "a": r.A, "b": r.B, "severity": string(r.Severity),
			"mechanism": r.Mechanism, "effect": r.Effect, "management": r.Management, "sources": r.Sources, "ref": r.Ref})
	}
	for i, r := range d.Contraindications {
		row := map[string]any{"id": fmt.Sprintf("ci:%s@%s#%d", r.Subject, r.Condition, i), "subject": r.Subject,
			"condition": r.Condition, "severity": string(r.Severity), "effect": r.Effect, "management": r.Management,
			"sources": r.Sources, "ref": r.Ref, "egfrBelow": nil, "ageBelow": nil, "ageAtLeast": nil}
		if r.EGFRBelow != nil {
			row["egfrBelow"] = *r.EGFRBelow
		}
		if r.AgeBelow != nil {
			row["ageBelow"] = int64(*r.AgeBelow)
		}
		if r.AgeAtLeast != nil {
			row["ageAtLeast"] = int64(*r.AgeAtLeast)
		}
		contras = append(contras, row)
	}
	for _, r := range d.Allergens {
		allergens = append(allergens, map[string]any{"id": "allergy:" + r.Subject + "@" + r.Allergy, "subject": r.Subject,
			"allergy": r.Allergy, "relation": r.Relation, "severity": string(r.Severity), "note": r.Note,
			"management": r.Management, "sources": r.Sources, "ref": r.Ref})
	}
	for _, r := range d.FoodRules {
		row := map[string]any{"id": "diet:" + r.Subject + "@" + r.Item(), "subject": r.Subject, "item": r.Item(),
			"advice": r.Advice, "severity": string(r.Severity), "effect": r.Effect, "management": r.Management,
			"sources": r.Sources, "ref": r.Ref}
		if r.Herb != "" {
			herbRules = append(herbRules, row)
		} else {
			foodRules = append(foodRules, row)
		}
	}
	var ifctLinks []map[string]any
	for _, l := range d.FoodLinks {
		for kind, refs := range map[string][]IFCTRef{"group": l.Groups, "food": l.Foods} {
			for _, ref := range refs {
				ifctLinks = append(ifctLinks, map[string]any{"food": l.Food, "kind": kind, "code": ref.Code, "name": ref.Name,
					"sources": l.Sources, "ref": l.Ref})
			}
		}
	}
	for _, t := range d.Treatments {
		row := map[string]any{"id": t.ID, "condition": t.Condition, "line": t.Line, "subject": t.Subject,
			"guideline": t.Guideline, "when": t.When, "appliesWithCondition": t.AppliesWithCondition,
			"appliesAgeBelow": nil, "appliesAgeAtLeast": nil, "sources": t.Sources, "ref": t.Ref}
		if t.AppliesAgeBelow != nil {
			row["appliesAgeBelow"] = int64(*t.AppliesAgeBelow)
		}
		if t.AppliesAgeAtLeast != nil {
			row["appliesAgeAtLeast"] = int64(*t.AppliesAgeAtLeast)
		}
		treatments = append(treatments, row)
	}
	for _, r := range d.Duplicates {
		dups = append(dups, map[string]any{"id": "dup:" + r.ClassA + "|" + r.ClassB, "a": "class:" + r.ClassA,
			"b": "class:" + r.ClassB, "severity": string(r.Severity), "note": r.Note, "sources": r.Sources, "ref": r.Ref})
	}
	stats.Drugs, stats.Classes, stats.Names, stats.Conditions = len(drugs), len(classes), len(names), len(conditions)
	stats.Interactions, stats.Contraindications, stats.Allergens = len(ddis), len(contras), len(allergens)
	stats.FoodRules, stats.Treatments, stats.Duplicates = len(foodRules)+len(herbRules), len(treatments), len(dups)

	return []step{
		{"sources", `UNWIND $rows AS row MERGE (s:Source {id: row.id})
			SET s.title = row.title, s.publisher = row.publisher, s.url = row.url, s.licence = row.licence, s.version = $v`, sources},
		{"classes", `UNWIND $rows AS row MERGE (c:Agent {key: row.key}) SET c:DrugClass
			SET c.id = row.id, c.name = row.name, c.atc = row.atc, c.sources = row.sources, c.ref = row.ref, c.version = $v`, classes},
		{"class hierarchy", `UNWIND $rows AS row WITH row WHERE row.parent <> ''
			MATCH (c:DrugClass {id: row.id}), (p:DrugClass {id: row.parent})
			MERGE (c)-[r:SUBCLASS_OF]->(p) SET r.version = $v`, classes},
		{"drugs", `UNWIND $rows AS row MERGE (d:Agent {key: row.key}) SET d:Drug
			SET d.id = row.id, d.name = row.name, d.atc = row.atc, d.rxcui = row.rxcui, d.synonyms = row.synonyms,
			    d.brands = row.brands, d.sources = row.sources, d.version = $v
			WITH d, row UNWIND row.classes AS cid MATCH (c:DrugClass {id: cid})
			MERGE (d)-[r:IN_CLASS]->(c) SET r.version = $v`, drugs},
		{"names", `UNWIND $rows AS row MERGE (n:Name {key: row.key})
			SET n.display = row.display, n.kind = row.kind, n.sources = row.sources, n.ref = row.ref, n.version = $v
			WITH n, row UNWIND row.drugs AS did MATCH (d:Drug {id: did})
			MERGE (n)-[r:NAMES]->(d) SET r.version = $v`, names},
		{"conditions", `UNWIND $rows AS row MERGE (c:Condition {id: row.id})
			SET c.name = row.name, c.kind = row.kind, c.icd10 = row.icd10, c.snomed = row.snomed,
			    c.synonyms = row.synonyms, c.keys = row.keys, c.sources = row.sources, c.version = $v`, conditions},
		{"allergy classes", `UNWIND $rows AS row MERGE (a:AllergyClass {id: row.id})
			SET a.name = row.name, a.keys = row.keys, a.sources = row.sources, a.version = $v`, allergyClasses},
		{"foods", `UNWIND $rows AS row WITH row WHERE row.kind = 'food' MERGE (f:Food {id: row.id})
			SET f.name = row.name, f.synonyms = row.synonyms, f.sources = row.sources, f.version = $v`, foods},
		{"herbs", `UNWIND $rows AS row WITH row WHERE row.kind = 'herb' MERGE (f:Herb {id: row.id})
			SET f.name = row.name, f.synonyms = row.synonyms, f.sources = row.sources, f.version = $v`, foods},
		{"IFCT links", `UNWIND $rows AS row MATCH (f:Food {id: row.food})
			MERGE (x:IFCT {code: row.code}) SET x.kind = row.kind, x.name = row.name, x.version = $v
			MERGE (f)-[r:INCLUDES_IFCT]->(x) SET r.sources = row.sources, r.ref = row.ref, r.version = $v`, ifctLinks},
		{"interactions", `UNWIND $rows AS row MATCH (a:Agent {key: row.a}), (b:Agent {key: row.b})
			MERGE (a)-[r:INTERACTS_WITH {id: row.id}]->(b)
			SET r.severity = row.severity, r.mechanism = row.mechanism, r.effect = row.effect,
			    r.management = row.management, r.sources = row.sources, r.ref = row.ref, r.version = $v`, ddis},
		{"contraindications", `UNWIND $rows AS row MATCH (a:Agent {key: row.subject}), (c:Condition {id: row.condition})
			MERGE (a)-[r:CONTRAINDICATED_IN {id: row.id}]->(c)
			SET r.severity = row.severity, r.effect = row.effect, r.management = row.management,
			    r.egfrBelow = row.egfrBelow, r.ageBelow = row.ageBelow, r.ageAtLeast = row.ageAtLeast,
			    r.sources = row.sources, r.ref = row.ref, r.version = $v`, contras},
		{"allergens", `UNWIND $rows AS row MATCH (a:Agent {key: row.subject}), (al:AllergyClass {id: row.allergy})
			MERGE (a)-[r:HAS_ALLERGEN {id: row.id}]->(al)
			SET r.relation = row.relation, r.severity = row.severity, r.note = row.note, r.management = row.management,
			    r.sources = row.sources, r.ref = row.ref, r.version = $v`, allergens},
		{"food rules", `UNWIND $rows AS row MATCH (a:Agent {key: row.subject}), (f:Food {id: row.item})
			MERGE (a)-[r:INTERACTS_WITH_FOOD {id: row.id}]->(f)
			SET r.advice = row.advice, r.severity = row.severity, r.effect = row.effect, r.management = row.management,
			    r.sources = row.sources, r.ref = row.ref, r.version = $v`, foodRules},
		{"herb rules", `UNWIND $rows AS row MATCH (a:Agent {key: row.subject}), (f:Herb {id: row.item})
			MERGE (a)-[r:INTERACTS_WITH_HERB {id: row.id}]->(f)
			SET r.advice = row.advice, r.severity = row.severity, r.effect = row.effect, r.management = row.management,
			    r.sources = row.sources, r.ref = row.ref, r.version = $v`, herbRules},
		{"treatments", `UNWIND $rows AS row MATCH (c:Condition {id: row.condition}), (a:Agent {key: row.subject})
			MERGE (t:Treatment {id: row.id})
			SET t.line = row.line, t.guideline = row.guideline, t.when = row.when,
			    t.appliesWithCondition = row.appliesWithCondition, t.appliesAgeBelow = row.appliesAgeBelow,
			    t.appliesAgeAtLeast = row.appliesAgeAtLeast, t.sources = row.sources, t.ref = row.ref, t.version = $v
			MERGE (c)-[h:HAS_TREATMENT]->(t) SET h.line = row.line, h.version = $v
			MERGE (t)-[u:USES]->(a) SET u.version = $v`, treatments},
		{"duplicate therapy", `UNWIND $rows AS row MATCH (a:Agent {key: row.a}), (b:Agent {key: row.b})
			MERGE (a)-[r:DUPLICATE_THERAPY {id: row.id}]->(b)
			SET r.severity = row.severity, r.note = row.note, r.sources = row.sources, r.ref = row.ref, r.version = $v`, dups},
	}
}
