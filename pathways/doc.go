// Package pathways will load, validate and compile the versioned pathway
// definitions (YAML files in this folder) that the journey workflow runs.
//
// Until the pathway engine lands, a journey names its pathway by ID only and
// the journey workflow enrols the patient without running pathway steps.
package pathways
