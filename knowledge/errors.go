package knowledge

import "errors"

// Errors callers can test with errors.Is. Error messages never carry the
// drug names or codes a caller passed in: they may end up in logs.
var (
	// ErrNotLoaded: the graph holds no data set; run `carepath knowledge load`.
	ErrNotLoaded = errors.New("the knowledge graph is not loaded; run `carepath knowledge load`")
	// ErrUnknownCondition: no condition has that id, ICD-10 or SNOMED CT code.
	ErrUnknownCondition = errors.New("unknown condition")
	// ErrInvalidInput: the request cannot be checked as given.
	ErrInvalidInput = errors.New("invalid input")
)
