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
