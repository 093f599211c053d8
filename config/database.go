package config

import (
	"net/url"
)

// PostgreSQL is used through two roles, so that a compromised API or worker
// cannot rewrite what must stay as written:
//
//   - the owner role (DATABASE_OWNER_URL) owns the schema. Only `carepath
//     migrate`, the stack launcher's migrate step and the demo seed connect
//     as it.
//   - the application role (DATABASE_URL) is what the API and the worker
//     connect as. It owns nothing: migration 0017 grants it row access, and
//     on the audit trail, the ledger and signed records only INSERT and
//     SELECT, so it can neither rewrite those rows nor disable their
//     triggers (ALTER TABLE needs ownership).
//
// Locally the stack creates both roles (owner carepath, application
// carepath_app with the local password below). On a managed PostgreSQL the
// operator creates them; see the README's "On a managed PostgreSQL".
const (
	// DefaultAppRole is the application role's name when DATABASE_URL does
	// not name one (the local stack and the tests).
	DefaultAppRole = "carepath_app"
	// LocalAppPassword is the local application role's password: public,
	// like the local owner's, and never used outside the local stack.
	LocalAppPassword = "carepath_app"
	// DefaultDatabaseOwnerURL is the local owner role's connection string.
	DefaultDatabaseOwnerURL = "postgres://carepath:carepath@127.0.0.1:5432/carepath?sslmode=disable"
)

// AppRole is the application role: the user DATABASE_URL connects as, to
// whom migrations grant the application's privileges.
func (c Config) AppRole() string {
	if u, err := url.Parse(c.DatabaseURL); err == nil && u.User != nil && u.User.Username() != "" {
		return u.User.Username()
	}
	return DefaultAppRole
}

// WithUser returns the connection URL raw with its user and password
// replaced: the tests derive their application role's URL from the owner's
// this way. raw is returned unchanged when it does not parse.
func WithUser(raw, user, password string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}
