// Package smart is the OAuth2 authorization server (ory/fosite) and the SMART
// App Launch rules: scopes v1 and v2, discovery, token checks on every FHIR
// interaction.
package smart
