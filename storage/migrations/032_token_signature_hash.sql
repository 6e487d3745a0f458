-- Tokens are known by the SHA-256 of their signature, in hex, not by the
-- signature itself: fosite looks an HMAC token up by its signature, so a
-- stored signature is enough to replay the token against a store that
-- keys on it; its hash is not (as hydra stores only a hash,
-- x/sighash.go). Launch values were stored this way from the start.
--
-- Existing rows are rewritten in place, once. The append-only triggers
-- refuse that to everyone, so this migration (run by the owner, in one
-- transaction) sets them aside for the two UPDATEs and puts them back; the
-- foreign key from the revocations is dropped meanwhile and added again,
-- checked against the new keys.

ALTER TABLE oauth2_token_revocation DROP CONSTRAINT oauth2_token_revocation_signature_fkey;
ALTER TABLE oauth2_token DISABLE TRIGGER oauth2_token_append_only;
ALTER TABLE oauth2_token_revocation DISABLE TRIGGER oauth2_token_revocation_append_only;

UPDATE oauth2_token SET signature = encode(sha256(convert_to(signature, 'UTF8')), 'hex');
UPDATE oauth2_token_revocation SET signature = encode(sha256(convert_to(signature, 'UTF8')), 'hex');

ALTER TABLE oauth2_token ENABLE TRIGGER oauth2_token_append_only;
ALTER TABLE oauth2_token_revocation ENABLE TRIGGER oauth2_token_revocation_append_only;
ALTER TABLE oauth2_token_revocation ADD CONSTRAINT oauth2_token_revocation_signature_fkey
  FOREIGN KEY (signature) REFERENCES oauth2_token (signature);

-- Only a hash fits: code that stored a raw signature fails at once.
ALTER TABLE oauth2_token ADD CONSTRAINT oauth2_token_signature_hashed CHECK (signature ~ '^[0-9a-f]{64}$');
ALTER TABLE launch_context ADD CONSTRAINT launch_context_signature_hashed CHECK (signature ~ '^[0-9a-f]{64}$');
