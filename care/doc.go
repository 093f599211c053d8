// Package care holds the domain values that travel through workflow
// history: the appointment and its slot, the encounter and its orders, the
// medication items of a prescription (FHIR MedicationRequest), the findings
// of a prescription check (FHIR DetectedIssue), lab orders, staff
// notifications, meal items and measured quantities, with their status
// codes. Where a FHIR resource exists the type is named after it.
//
// It imports the standard library only. The store reads and writes these
// values (its row types are aliases of them), activities take and return
// them, and workflows decide on them, so workflow code never links a
// database driver, the graph driver, the model runtime or a vendor SDK
// (`make lint` checks). JSON tags are part of recorded workflow histories:
// never rename one.
package care
