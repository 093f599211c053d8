// Package auth owns identity and access: who a caller is (password and SMS
// code sign-in, OAuth 2.0 client credentials for integrators), the EdDSA
// access tokens and rotating refresh tokens CarePath issues, the signing
// keys published as a JWKS, and the object-level rule that decides whether
// a principal may see a patient's data.
//
// # Tokens
//
// Access tokens are JWTs signed with Ed25519 (alg "EdDSA"), valid for
// AccessTTL (15 minutes by default). The header's kid names the key; the
// public keys are served at /.well-known/jwks.json. Rotate makes a new key
// the signer and retires the old one, which stays in the JWKS until every
// token it signed has expired, so nobody is logged out by a rotation.
// Private keys live in PostgreSQL sealed with AES-256-GCM under the master
// key (CAREPATH_AUTH_MASTER_KEY).
//
// Refresh tokens are opaque random strings (only their SHA-256 is stored).
// Each use returns a new one in the same family; presenting a used one again
// revokes the whole family, which signs the thief and the victim out.
//
// A refresh family also has an absolute lifetime, SessionMaxAge (30 days
// by default, CAREPATH_AUTH_SESSION_MAX_AGE) from the sign-in that began
// it: rotation renews the token, never the sign-in.
//
// # Deactivation
//
// Deactivate marks the account inactive and revokes its refresh tokens in
// one transaction. Verify checks the account behind every access token
// (the app_user row, or the OAuth client for an integrator) and trusts
// what it read for at most ActiveCheckTTL (30 s), so a deactivated user's
// access ends within that on every API instance, and at once on the one
// that deactivated it.
//
// # Integrators
//
// A scope says what an integrator may do; its enrolments
// (integrator_enrolment: patients, or organisations whose practitioners
// see the patient) say for whom. IntegratorMayActFor is the rule; the API's
// access layer asks it for every route that lets an integrator act on a
// patient's behalf. A lab partner reports results only for the orders sent
// to it (lab_order.lab_client_id).
//
// # Guessing
//
// The API (api/ratelimit.go) backs off failed sign-ins per account (an
// email, or a client ID) and per address, whatever the address of each
// attempt: past a threshold every attempt is refused 429 for a lock that
// doubles with each failure. SMS codes are capped per number per day, and
// unknown numbers are answered exactly like known ones.
//
// # Passwords
//
// Passwords and client secrets are hashed with argon2id, stored as PHC
// strings so that the parameters can be raised later without breaking old
// hashes: memory 19 MiB, 2 passes, 1 lane, 16-byte salt, 32-byte key. These
// are OWASP's minimum recommendation for argon2id; they cost about 30 ms per
// hash on one core here, which keeps sign-in cheap for us and guessing
// expensive for an attacker who steals the table.
//
// # Plugging in an external OpenID Connect provider
//
// Social sign-in (Google, Apple, an NHS or ABHA login) fits beside the
// password and SMS code paths; it changes how a user proves who they are,
// not what CarePath's tokens say:
//
//  1. Register CarePath with the provider as a confidential client with the
//     redirect URI <PUBLIC_BASE_URL>/api/v1/auth/oidc/callback, and keep the
//     issuer URL, client ID and secret in configuration.
//  2. Start the authorization code flow with PKCE (S256) and a state and
//     nonce kept in Redis with a short TTL, using golang.org/x/oauth2 and an
//     OIDC verifier such as github.com/coreos/go-oidc, which reads the
//     provider's discovery document and JWKS.
//  3. In the callback, exchange the code, verify the ID token's signature,
//     issuer, audience, expiry and nonce, and require email_verified.
//  4. Map the provider's (iss, sub) pair to an app_user row through a link
//     table (user_identity: provider issuer, subject, user_id). Link on first
//     sign-in only when the verified email matches an existing user, or create
//     a patient user; never map a provider account to a clinical role
//     automatically: doctors, coordinators and admins are provisioned.
//  5. Issue CarePath's own access and refresh tokens (Service.issuePair) as
//     after a password sign-in. Every route keeps authorizing on CarePath's
//     token, so the provider's tokens never reach the rest of the API.
package auth
