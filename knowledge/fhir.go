package knowledge

// DetectedIssues maps every finding of a check.
func (r *CheckResult) DetectedIssues() []DetectedIssue {
	out := make([]DetectedIssue, len(r.Findings))
	for i, f := range r.Findings {
		out[i] = f.DetectedIssue()
	}
	return out
}
