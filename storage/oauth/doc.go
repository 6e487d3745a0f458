// Package oauth keeps the authorization server's state: registered clients,
// issued tokens and their revocations, the HMAC key of the token strategy,
// client assertion jtis, the users who sign in on the authorization pages
// and their attempts, the lockout counters of failed authentications, EHR
// launch contexts and the keys that sign id_tokens. smart adapts it to
// fosite's storage interfaces.
//
// Every token kind (access, refresh, code, pkce, oidc) has one row shape in
// oauth2_token, keyed by the SHA-256 of fosite's signature (Hash), never by
// the signature: a reader of the database cannot present a token it finds
// there. Launch values are kept the same way. Revocation appends a row; a
// refresh token's rotation is one statement, so that of two concurrent
// exchanges of one refresh token only one succeeds. Administrative changes
// (clients, users, signing keys) are recorded in the admin audit in the
// statement that makes them.
//
// It imports storage (the pool, the admin audit, the sentinels
// storage.ErrNotFound and storage.ErrConflict) and pgx; its tables are
// created by the migrations in storage/migrations.
package oauth
