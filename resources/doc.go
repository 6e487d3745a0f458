// Package resources implements the FHIR RESTful interactions, one file each
// (read, vread, create, update, patch, delete, history, transaction). It
// validates what clients send and turns requests into storage writes.
package resources
