// Package keys owns the data keys and the cryptography of field
// encryption: the data_key table (each key stored only wrapped by the key
// provider, storage/keyring), the generations of the field encryption key
// and their rotation, the blind index key, and their rewrap under another
// key-encryption key. A Cipher seals and opens values with AES-256-GCM,
// naming the generation it sealed under, and computes blind index values
// (a keyed HMAC), so that an exact search finds what is stored encrypted.
//
// It knows nothing of FHIR. What is encrypted is what the type rules
// declare (resources' Protection); the root storage package applies a
// Cipher to resources, index values and inbound bodies as that Protection
// says (storage.Store.SetFieldCipher and Protect). The audit chain's key
// is storage/audit's; `keys rewrap` moves both.
//
// It imports storage (the pool, plain transactions, the admin audit,
// storage.Unrestricted and the storage.Cipher it implements),
// storage/keyring and pgx, and nothing else of the server. Its table is
// created by the migrations in storage/migrations.
package keys
