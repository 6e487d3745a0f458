-- A data key has generations: `keys rotate-data` adds one (a new key),
-- `keys rewrap` a row per generation (the same key under a new
-- key-encryption key). The rows written before were all one key, the
-- first generation; so is the key made on first use.
ALTER TABLE data_key ADD COLUMN generation integer NOT NULL DEFAULT 1;
