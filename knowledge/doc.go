// Package knowledge will hold CarePath's clinical knowledge graph in Neo4j:
// its schema, sourced seed data and queries.
//
// Locally and in tests Neo4j runs embedded, started by the Java launcher in
// neo4j-launcher/ with Bolt on 127.0.0.1:7687, so the Go driver talks to it
// as to any Neo4j 5 server (see internal/devstack).
package knowledge
