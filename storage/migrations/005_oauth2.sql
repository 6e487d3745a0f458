-- The OAuth2 authorization server's state. Every table is append-only:
-- clients are registered once, tokens are issued once, and revocation is a
-- row of its own rather than a deletion, so the history of every grant stays.

-- The key of the HMAC token strategy: one row, made on first start.
CREATE TABLE oauth2_secret (
  id         integer     PRIMARY KEY CHECK (id = 1),
  secret     bytea       NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE oauth2_client (
  id             text        PRIMARY KEY CHECK (id <> ''),
  secret_hash    text,       -- bcrypt; NULL for public clients
  public         boolean     NOT NULL,
  redirect_uris  text[]      NOT NULL DEFAULT '{}',
  grant_types    text[]      NOT NULL DEFAULT '{}',
  response_types text[]      NOT NULL DEFAULT '{}',
  scopes         text[]      NOT NULL DEFAULT '{}',
  jwks           jsonb,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (public = (secret_hash IS NULL))
);

-- A token is known by its HMAC signature, never by its value.
CREATE TABLE oauth2_token (
  signature  text        PRIMARY KEY,
  kind       text        NOT NULL CHECK (kind IN ('access', 'refresh', 'code', 'pkce', 'oidc')),
  request_id text        NOT NULL,
  client_id  text        NOT NULL REFERENCES oauth2_client (id),
  request    jsonb       NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX oauth2_token_request ON oauth2_token (request_id);

CREATE TABLE oauth2_revocation (
  request_id text        NOT NULL,
  kind       text        NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (request_id, kind)
);

SELECT make_append_only('oauth2_secret');
SELECT make_append_only('oauth2_client');
SELECT make_append_only('oauth2_token');
SELECT make_append_only('oauth2_revocation');
