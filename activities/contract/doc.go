// Package contract is what workflows and activities agree on: each
// activity's name, input and result, the application error types an
// activity fails with, and the options a caller must set (SMS, payments).
// Values it shares with the store are the care domain types.
//
// Workflows call activities by these names, workflow.ExecuteActivity(ctx,
// contract.HoldSlot, contract.HoldSlotInput{...}), instead of through a
// typed nil pointer to the activity struct (var a *activities.Booking;
// a.HoldSlot). The structs live in package activities beside the clients
// they hold (pgx, Neo4j, ONNX Runtime, Stripe, Twilio), and naming a method
// through one links its whole package, and all of those clients, into
// workflow code. A name is the method's name, as RegisterActivity registers
// a struct's methods; the activities package's tests check that every name
// here is an activity method, and the workflows' tests mock activities by
// their methods, so a name and its method cannot drift apart unnoticed.
//
// The package imports care, pathways, diet and the Temporal SDK only
// (`make lint` checks workflows' dependencies). JSON names of inputs and
// results are part of recorded workflow histories: never rename one.
package contract
