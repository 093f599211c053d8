package inference

import "github.com/carepath/carepath/care"

// A measured feature travels through workflow history from the consult to
// the risk model: it is a care domain type.
type (
	Quantity = care.Quantity
)
