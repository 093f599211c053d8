// Package pathways loads, validates and compiles CarePath's pathway
// definitions: versioned YAML files (definitions/*.yaml) that say which
// steps a patient's journey takes, how long each may wait, who must decide,
// and which expressions branch between them.
//
// Loading reports every problem it finds with file:line:column, so an
// invalid pathway never starts a journey. A valid pathway compiles into a
// Plan: plain, serializable data that becomes part of the journey
// workflow's input, so a running journey keeps the version it started with.
//
// Pathways support clinicians; they do not replace clinical judgement. Every
// parameter names the guideline it comes from.
package pathways
