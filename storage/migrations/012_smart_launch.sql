-- SMART App Launch: the people who sign in on the authorization pages, the
-- launch contexts an EHR creates, the keys that sign id_tokens, and the
-- per-token revocations that refresh rotation and single-use codes need.
-- Like the rest of the OAuth2 state, every table is append-only: a lockout,
-- a used launch or a rotated token is a new row, never a changed one.

CREATE TABLE app_user (
  username      text        PRIMARY KEY CHECK (username <> ''),
  password_hash text        NOT NULL, -- argon2id, PHC string format
  role          text        NOT NULL CHECK (role <> ''),
  fhir_user     text,                 -- Practitioner/ID, Patient/ID, ...: the fhirUser claim
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every sign-in attempt; repeated failures since the last success lock
-- the account for a while.
CREATE TABLE login_attempt (
  username text        NOT NULL,
  success  boolean     NOT NULL,
  at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_attempt_user ON login_attempt (username, at);

-- An EHR launch: the launch value is known by its SHA-256 only; using it
-- appends a row to launch_use, whose key makes it single-use.
CREATE TABLE launch_context (
  signature  text        PRIMARY KEY,
  context    jsonb       NOT NULL, -- patient, encounter, fhirContext, need_patient_banner, ...
  created_by text        NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE launch_use (
  signature text        PRIMARY KEY REFERENCES launch_context (signature),
  used_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Keys that sign id_tokens. The newest signs; all stay in the JWKS so that
-- tokens signed before a rotation still verify.
CREATE TABLE signing_key (
  kid         text        PRIMARY KEY,
  alg         text        NOT NULL,
  private_key bytea       NOT NULL, -- PKCS #8, DER
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One token revoked on its own: a refresh token rotated away, an access
-- token of the grant before the rotation, a used authorization code.
CREATE TABLE oauth2_token_revocation (
  signature  text        PRIMARY KEY REFERENCES oauth2_token (signature),
  reason     text        NOT NULL CHECK (reason IN ('rotated', 'superseded', 'used')),
  revoked_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The token rotation log: each refresh token exchanged for a new one.
CREATE VIEW oauth2_rotation_log AS
  SELECT t.request_id, t.client_id, r.signature AS refresh_signature, t.created_at AS issued_at, r.revoked_at AS rotated_at
  FROM oauth2_token_revocation r JOIN oauth2_token t USING (signature)
  WHERE r.reason = 'rotated';

-- jti values of client assertions (private_key_jwt), kept until they
-- expire so that a replay is refused.
CREATE TABLE oauth2_jti (
  jti        text        PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

-- The page an EHR sends the browser to for this app (EHR launch).
ALTER TABLE oauth2_client ADD COLUMN launch_url text;

SELECT make_append_only('app_user');
SELECT make_append_only('login_attempt');
SELECT make_append_only('launch_context');
SELECT make_append_only('launch_use');
SELECT make_append_only('signing_key');
SELECT make_append_only('oauth2_token_revocation');
SELECT make_append_only('oauth2_jti');
GRANT SELECT ON oauth2_rotation_log TO fhir_app;
