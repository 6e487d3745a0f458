-- Confidential clients may authenticate with a signed JWT (SMART's
-- private_key_jwt) instead of a secret: their public keys are registered
-- inline (jwks) or fetched from a URL (jwks_uri), and they have no secret.
ALTER TABLE oauth2_client ADD COLUMN jwks_uri text;
ALTER TABLE oauth2_client DROP CONSTRAINT oauth2_client_check;
ALTER TABLE oauth2_client ADD CONSTRAINT oauth2_client_credentials CHECK (
  CASE WHEN public THEN secret_hash IS NULL AND jwks IS NULL AND jwks_uri IS NULL
       ELSE secret_hash IS NOT NULL OR jwks IS NOT NULL OR jwks_uri IS NOT NULL END);
