// Package knowledge holds CarePath's clinical knowledge graph in Neo4j: its
// schema, the sourced data set in data/, the loader, and the queries the
// prescription, diet and pathway steps ask.
//
// The data set (data/*.csv and data/*.yaml, described in DATA_CARD.md) is
// compiled into the binary; `carepath knowledge load` writes it with MERGE
// on unique keys in one transaction, so loading twice changes nothing and a
// new version replaces the old one. Every rule carries its sources.
//
// The graph: Drug and DrugClass nodes (both also labelled Agent, keyed
// "drug:ID" and "class:ID") with IN_CLASS and SUBCLASS_OF; Name nodes
// (generic, INN and USAN names, brands, combinations) that NAME drugs;
// Condition (ICD-10, SNOMED CT), AllergyClass, Food, Herb, Treatment and
// Source nodes. Rules are relationships: INTERACTS_WITH between agents,
// CONTRAINDICATED_IN a condition (with eGFR and age thresholds),
// DUPLICATE_THERAPY between classes, HAS_ALLERGEN, INTERACTS_WITH_FOOD and
// INTERACTS_WITH_HERB, and Condition-HAS_TREATMENT->Treatment-USES->agent.
// A class rule applies to every member of the class and its subclasses; a
// rule naming a drug takes precedence over class rules for the same pair.
//
// Graph.CheckRegimen (and CheckRegimenWithDiet) checks a list of drug names against each other and a
// patient profile and returns findings, most severe first, that map to
// FHIR DetectedIssue. Graph.Treatments lists guideline options without the
// contraindicated ones; Graph.DietForRegimen lists foods and herbs to
// avoid or keep steady; Graph.ResolveNames turns typed names into drugs and
// reports ambiguous and unknown names rather than dropping them.
//
// The answers support clinicians; they do not replace clinical judgement
// or a licensed drug database.
//
// Locally and in tests Neo4j runs embedded, started by the Java launcher in
// neo4j-launcher/ with Bolt on 127.0.0.1:7687, so the Go driver talks to it
// as to any Neo4j 5 server (see internal/devstack).
package knowledge
