// Package smart is the OAuth2 authorization server (ory/fosite, composed
// from an explicit factory list in provider.go) and SMART App Launch:
// discovery (.well-known/smart-configuration), the authorize, token,
// revoke and introspect endpoints, the sign-in, patient picker and consent
// pages (templates in pages/), EHR launch contexts and the launcher, client
// registration and private_key_jwt client assertions, id_token signing
// keys, users and lockouts, scopes v1 and v2, and the bearer-token check
// that tells every FHIR request what its token grants (Access, with
// Access.Allows).
//
// fositeStore (store.go) adapts storage/oauth to fosite's storage
// interfaces, each asserted at compile time; the rest of the package
// reaches the database through the small interfaces it declares (Store).
// It imports storage/oauth, storage (its sentinels, the care context, the
// admin actor), profiles (the resource types scopes name) and outcome. It
// never imports pgx, nor fhirserver, the HTTP server that mounts its
// Handlers.
package smart
